"""The `rollout` subcommands' flags, and their outcome as kubectl reports it: the result on stdout,
`error: ...` (or `Error from server (Reason): ...`) on stderr and exit code 1 on failure."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

import aiohttp

from kubeapi import auth
from kubeapi.errors import ApiError
from kubectl_petset import rollout
from kubectl_petset.rollout_args import dry_run, duration, flag_bool, target
from kubectl_petset.rollout_status import RolloutError

VERBS = {
    "status": "show the status of the rollout",
    "history": "view the rollout history",
    "undo": "roll back to a previous revision",
    "restart": "restart the pets, one at a time, by stamping the template",
    "pause": "refused, as for a StatefulSet",
    "resume": "refused, as for a StatefulSet",
}
_BOOL_FLAGS = {"--watch": ("--watch", "--no-watch"), "-w": ("--watch", "--no-watch")}


def normalize(argv: list[str]) -> list[str]:
    """`--watch=false` and `-w=true` (Go's bool flags take a value only after `=`) as plain switches."""
    out = []
    for word in argv:
        flag, eq, value = word.partition("=")
        if eq and flag in _BOOL_FLAGS:
            try:
                out.append(_BOOL_FLAGS[flag][0 if flag_bool(value) else 1])
            except ValueError as err:
                raise SystemExit(f'error: invalid argument "{value}" for "-w, --watch" flag: {err}') from None
        else:
            out.append(word)
    return out


def _go_duration(text: str) -> float:
    try:
        return duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_rollout(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """`rollout VERB TYPE/NAME` under the plugin's subcommands."""
    cmd = sub.add_parser(
        "rollout", help="manage the rollout of a PetSet (as kubectl rollout does a StatefulSet's)"
    )
    verbs = cmd.add_subparsers(dest="verb", required=True, parser_class=type(cmd))
    for verb, text in VERBS.items():
        parser = verbs.add_parser(verb, parents=parents, help=text)
        parser.add_argument("resource", nargs="+", metavar="NAME", help="web, petset/web or petset web")
        if verb == "status":
            parser.add_argument(
                "-w",
                "--watch",
                dest="watch",
                action="store_true",
                default=True,
                help="until done (--watch=false: once)",
            )
            parser.add_argument("--no-watch", dest="watch", action="store_false", help=argparse.SUPPRESS)
            parser.add_argument("--timeout", type=_go_duration, default=0.0, help="e.g. 30s, 2m; 0: never")
            parser.add_argument(
                "--revision", type=int, default=0, help="accepted; ignored for sets, as kubectl"
            )
        elif verb == "history":
            parser.add_argument("--revision", type=int, default=0, help="print this revision's pod template")
        elif verb == "undo":
            parser.add_argument("--to-revision", type=int, default=0, help="default: the previous revision")
            parser.add_argument("--dry-run", default="none", metavar="none|client|server")


def _call(
    args: argparse.Namespace, conn: auth.Connection, namespace: str, name: str
) -> Coroutine[Any, Any, None]:
    def out(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    if args.verb == "status":
        return rollout.status(conn, namespace, name, watch=args.watch, timeout=args.timeout, out=out)
    if args.verb == "history":
        return rollout.history(conn, namespace, name, revision=args.revision, out=out)
    if args.verb == "undo":
        return rollout.undo(
            conn, namespace, name, to_revision=args.to_revision, dry_run=dry_run(args.dry_run), out=out
        )
    if args.verb == "restart":
        return rollout.restart(conn, namespace, name, out=out)
    return rollout.pause(conn, namespace, name, verb="pausing" if args.verb == "pause" else "resuming")


def run_rollout(args: argparse.Namespace) -> int:
    """0 when the verb did its work (status: the rollout is complete, or was printed once); else 1."""
    try:
        name = target(args.resource)
        conn = auth.load(args.kubeconfig, args.context)
        namespace = args.namespace or conn.namespace or "default"
        asyncio.run(_call(args, conn, namespace, name))
    except RolloutError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except ApiError as err:
        reason = err.reason
        print(f"Error from server ({reason}): {err}" if reason else f"error: {err}", file=sys.stderr)
        return 1
    except (auth.ConfigError, ValueError, aiohttp.ClientError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
