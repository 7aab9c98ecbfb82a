"""The `kubectl-petset` executable: `kubectl petset why POD [-n NS] [--zone Z] [-o text|json]` and
`kubectl petset rollout status|history|undo|restart|pause|resume NAME` (see rollout_cli)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import NoReturn

import aiohttp

from kubeapi import auth
from kubeapi.errors import ApiError
from kubectl_petset.rollout_cli import add_rollout, normalize, run_rollout

PROG = "kubectl petset"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message}\n")


def _connection_flags(parser: argparse.ArgumentParser, default: object) -> None:
    """kubectl's flags, accepted before or after the subcommand as kubectl users type them."""
    parser.add_argument(
        "--kubeconfig", default=default, help="kubeconfig (default: $KUBECONFIG, ~/.kube/config)"
    )
    parser.add_argument("--context", default=default, help="kubeconfig context")
    parser.add_argument("-n", "--namespace", default=default, help="namespace (default: the context's)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="PetSet tools for kubectl.")
    _connection_flags(parser, None)
    after = _Parser(add_help=False)
    _connection_flags(after, argparse.SUPPRESS)  # given after the subcommand: overrides, absent: keeps
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    why_cmd = sub.add_parser("why", parents=[after], help="why a pet's DNS name does or does not resolve")
    why_cmd.add_argument("pod", help="the pet's pod, e.g. web-0")
    why_cmd.add_argument("--zone", default="cluster.local", help="cluster domain (default cluster.local)")
    why_cmd.add_argument("-o", "--output", choices=("text", "json"), default="text")
    add_rollout(sub, [after])
    return parser


def main(argv: list[str] | None = None) -> int:
    """why: 0 the pet's name resolves, 1 it does not, 2 bad arguments or an unreadable cluster;
    rollout: 0 done, 1 failed (as kubectl), 2 bad arguments."""
    args = _parser().parse_args(normalize(sys.argv[1:] if argv is None else argv))
    if args.command == "rollout":
        return run_rollout(args)
    from kubectl_petset.why import WhyError, why  # noqa: PLC0415 - the DNS explainer, for `why` only

    try:
        conn = auth.load(args.kubeconfig, args.context)
        namespace = args.namespace or conn.namespace or "default"
        diagnosis = why(conn, namespace, args.pod, zone=args.zone)
    except (WhyError, auth.ConfigError, ValueError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as err:
        print(f"{PROG}: error: cannot read the cluster: {err}", file=sys.stderr)
        return 2
    if args.output == "json":
        print(json.dumps(diagnosis.to_json(), indent=2))
    else:
        sys.stdout.write(diagnosis.to_text())
    return 0 if diagnosis.resolves else 1


if __name__ == "__main__":
    raise SystemExit(main())
