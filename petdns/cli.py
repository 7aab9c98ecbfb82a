"""The `petdns` command line: argument parsing and exit codes only."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from kubeapi import auth
from petdns.app import ServeOptions, build_zone, run
from petdns.config import PodsMode, Settings
from petdns.loader import LoadError
from petdns.server import parse_listen


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="petdns", description="Cluster DNS for Kubernetes pets.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the cluster-DNS schema from object files or a live cluster")
    serve.add_argument(
        "--objects",
        action="append",
        default=[],
        metavar="FILE",
        help="YAML or JSON objects (Namespace, Service, EndpointSlice, Pod); repeatable",
    )
    serve.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="watch the cluster of this kubeconfig (default without --objects: $KUBECONFIG, "
        "in-cluster, ~/.kube/config)",
    )
    serve.add_argument("--context", help="kubeconfig context (default: the current one)")
    serve.add_argument(
        "--listen",
        action="append",
        metavar="HOST:PORT",
        help="UDP and TCP address, IPv4 or [IPv6]; repeatable (default 127.0.0.1:5353)",
    )
    serve.add_argument(
        "--zone", action="append", metavar="ZONE", help="cluster domain; repeatable (default cluster.local)"
    )
    serve.add_argument(
        "--pods",
        choices=[m.value for m in PodsMode],
        default="disabled",
        help="pod records: disabled, insecure or verified (default disabled)",
    )
    serve.add_argument(
        "--endpoint-pod-names",
        action="store_true",
        help="name endpoints without a hostname after their pod, not their dashed IP",
    )
    serve.add_argument("--ttl", type=int, default=5, help="TTL of every record, 0-3600 (default 5)")
    serve.add_argument(
        "--ns-address",
        action="append",
        default=[],
        metavar="IP",
        help="address of ns.dns.<zone>, the apex NS target (default: the listen addresses)",
    )
    serve.add_argument(
        "--health-listen",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="HTTP /health address; repeatable (default: none)",
    )
    serve.add_argument(
        "--ready-listen",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="HTTP /ready address, 503 until the watch has synced; repeatable (default: none)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    local = sub.add_parser("local", help="run the embedded local control plane (kubectl and dig can use it)")
    local.add_argument(
        "-f",
        "--filename",
        action="append",
        default=[],
        metavar="FILE",
        help="objects to create at start; repeatable",
    )
    local.add_argument("--api", default="127.0.0.1:6443", metavar="HOST:PORT", help="API server address")
    local.add_argument("--dns", default="127.0.0.1:5353", metavar="HOST:PORT", help="DNS address")
    local.add_argument(
        "--kubeconfig",
        default=".petdns/kubeconfig",
        metavar="FILE",
        help="where to write a kubeconfig for kubectl (default .petdns/kubeconfig)",
    )
    local.add_argument("--state", metavar="DIR", help="keep every object in DIR across restarts")
    local.add_argument("--token-file", metavar="FILE", help="require this bearer token from clients")
    local.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; 2 on bad arguments or a malformed object file."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "local":
        return _local(args)
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    try:
        listen = tuple(parse_listen(text) for text in (args.listen or ["127.0.0.1:5353"]))
        ns_addresses = tuple(args.ns_address) or tuple(h for h, _ in listen if h not in ("0.0.0.0", "::"))
        settings = Settings(
            zones=tuple(z.lower().rstrip(".") for z in (args.zone or ["cluster.local"])),
            ttl=args.ttl,
            pods=PodsMode(args.pods),
            endpoint_pod_names=args.endpoint_pod_names,
            ns_addresses=ns_addresses,
        )
        kube = auth.load(args.kubeconfig, args.context) if args.kubeconfig or not args.objects else None
        options = ServeOptions(
            settings,
            tuple(args.objects),
            listen,
            kube=kube,
            health_listen=tuple(parse_listen(t) for t in args.health_listen),
            ready_listen=tuple(parse_listen(t) for t in args.ready_listen),
        )
        zone = build_zone(options)
    except (ValueError, OSError, LoadError, auth.ConfigError) as err:
        print(f"petdns: error: {err}", file=sys.stderr)
        return 2
    try:
        run(options, zone)
    except OSError as err:
        print(f"petdns: error: cannot serve: {err}", file=sys.stderr)
        return 1
    return 0


def _local(args: argparse.Namespace) -> int:
    try:
        api, dns = parse_listen(args.api), parse_listen(args.dns)
    except (ValueError, OSError) as err:
        print(f"petdns: error: {err}", file=sys.stderr)
        return 2
    from localcluster.app import run_local  # noqa: PLC0415  (the only upward import: the entry point)

    try:
        asyncio.run(
            run_local(
                api=api,
                kubeconfig=args.kubeconfig,
                state=args.state,
                token_file=args.token_file,
                dns=dns,
                files=list(args.filename),
            )
        )
    except KeyboardInterrupt:
        return 0
    except OSError as err:
        print(f"petdns: error: cannot serve: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
