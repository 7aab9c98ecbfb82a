"""The `petdns` command line: argument parsing and exit codes only."""

from __future__ import annotations

import argparse
import logging
import sys

from kubeapi import auth
from petdns.acl import DEFAULT_RECURSION
from petdns.app import ServeOptions, build_zone, run
from petdns.config import PodsMode, Settings
from petdns.forward import ForwardConfig
from petdns.health import POLICIES
from petdns.loader import LoadError
from petdns.respcache import CachePolicy
from petdns.server import parse_listen
from petdns.upstream import Routes, Upstream, default_upstreams, parse_stub_domain, parse_upstream

RESOLV_CONF = "/etc/resolv.conf"


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
    _forward_arguments(serve)
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
        metavar="FILE",
        help="where to write a kubeconfig for kubectl (default DIR/kubeconfig with --state, else "
        ".petdns/kubeconfig)",
    )
    local.add_argument("--state", metavar="DIR", help="keep every object and volume in DIR across restarts")
    local.add_argument("--token-file", metavar="FILE", help="require this bearer token from clients")
    local.add_argument("--zone", default="cluster.local", help="cluster domain (default cluster.local)")
    local.add_argument(
        "--pod-cidr", default="127.244.0.0/16", metavar="CIDR", help="pod IPs (default 127.244.0.0/16)"
    )
    local.add_argument("--pod-cidr6", metavar="CIDR", help="also give pods an IPv6 address from CIDR")
    local.add_argument(
        "--upstream",
        action="append",
        metavar="IP[:PORT]",
        help="where other names go; repeatable (default: the nameservers of /etc/resolv.conf)",
    )
    local.add_argument("--no-forward", action="store_true", help="refuse names outside the cluster zone")
    local.add_argument(
        "--ready-after",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="how long a started pod takes to become Ready (default 0.5)",
    )
    local.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def _forward_arguments(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group("forwarding (names outside the zones, and unknown reverse names)")
    group.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="IP[:PORT]",
        help="upstream DNS server, port 53 unless given, IPv6 as [IP]:PORT; repeatable "
        "(default: the nameservers of --resolv-conf, except this server's own addresses)",
    )
    group.add_argument(
        "--resolv-conf", metavar="FILE", help=f"where the default upstreams come from (default {RESOLV_CONF})"
    )
    group.add_argument("--no-forward", action="store_true", help="refuse names outside the zones")
    group.add_argument(
        "--stub-domain",
        action="append",
        default=[],
        metavar="DOMAIN=IP[:PORT][,...]",
        help="upstreams for names in DOMAIN (the longest matching domain wins); repeatable",
    )
    group.add_argument(
        "--upstream-timeout", type=float, default=2.0, metavar="SECONDS", help="per upstream (default 2)"
    )
    group.add_argument(
        "--upstream-policy",
        choices=POLICIES,
        default="sequential",
        help="order of the healthy upstreams: as given, or random per query (default sequential)",
    )
    group.add_argument(
        "--allow-recursion",
        action="append",
        default=[],
        metavar="CIDR",
        help="clients that may have names forwarded; repeatable (default: loopback, 10/8, 172.16/12, "
        "192.168/16, 100.64/10, fc00::/7, fe80::/10)",
    )
    group.add_argument(
        "--cache-size",
        type=int,
        default=10000,
        metavar="N",
        help="cached answers, 0: no cache (default 10000)",
    )
    group.add_argument("--cache-max-ttl", type=int, default=3600, metavar="SECONDS", help="(default 3600)")
    group.add_argument("--cache-min-ttl", type=int, default=0, metavar="SECONDS", help="(default 0)")
    group.add_argument(
        "--cache-max-negative-ttl",
        type=int,
        default=1800,
        metavar="SECONDS",
        help="cap on NXDOMAIN/NODATA caching (default 1800)",
    )
    group.add_argument(
        "--serve-stale",
        type=_duration,
        default=30.0,
        metavar="DURATION",
        help="answer from expired entries this long when no upstream answers, e.g. 30s, 5m; 0: never "
        "(default 30s)",
    )


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    scale = units.get(text[-1:], 0)
    try:
        value = float(text[:-1] if scale else text) * (scale or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30s, 5m or 1h") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _forward_config(args: argparse.Namespace, listen: tuple[tuple[str, int], ...]) -> ForwardConfig | None:
    """Forwarding from the arguments; None with --no-forward or when no upstream is left."""
    if args.no_forward:
        return None
    if args.upstream:
        default = tuple(dict.fromkeys(parse_upstream(text) for text in args.upstream))
    else:
        try:
            with open(args.resolv_conf or RESOLV_CONF, encoding="utf-8", errors="replace") as f:
                default = default_upstreams(f.read(), listen)
        except FileNotFoundError:
            if args.resolv_conf:
                raise
            default = ()
    routes = Routes(default, dict(parse_stub_domain(text) for text in args.stub_domain))
    if not routes:
        return None
    cache = CachePolicy(
        size=args.cache_size,
        max_ttl=args.cache_max_ttl,
        min_ttl=args.cache_min_ttl,
        max_negative_ttl=args.cache_max_negative_ttl,
        stale=args.serve_stale,
    )
    return ForwardConfig(
        routes,
        allow=tuple(args.allow_recursion) or DEFAULT_RECURSION,
        timeout=args.upstream_timeout,
        policy=args.upstream_policy,
        cache=cache,
    )


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
            forward=_forward_config(args, listen),
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


def _upstreams(texts: list[str] | None) -> tuple[Upstream, ...] | None:
    return tuple(parse_upstream(text) for text in texts) if texts else None


def _local(args: argparse.Namespace) -> int:
    # the only upward imports: the entry point of the local cluster
    from kubeapi.manifests import ManifestError  # noqa: PLC0415
    from localcluster.app import LocalOptions, Running, try_lines  # noqa: PLC0415
    from localcluster.app import run as run_cluster  # noqa: PLC0415
    from localcluster.kubelet import KubeletConfig  # noqa: PLC0415

    try:
        options = LocalOptions(
            api=parse_listen(args.api),
            dns=parse_listen(args.dns),
            kubeconfig=args.kubeconfig,
            state=args.state,
            token_file=args.token_file,
            files=tuple(args.filename),
            zone=args.zone.lower().rstrip("."),
            kubelet=KubeletConfig(
                pod_cidr=args.pod_cidr, pod_cidr6=args.pod_cidr6, ready_after=args.ready_after
            ),
            upstreams=() if args.no_forward else _upstreams(args.upstream),
        )
    except (ValueError, OSError) as err:
        print(f"petdns: error: {err}", file=sys.stderr)
        return 2

    def banner(running: Running) -> None:
        print("petdns local is running (Ctrl-C stops it). Try:", flush=True)
        for line in try_lines(running, options.zone):
            print(f"  {line}", flush=True)

    try:
        run_cluster(options, started=banner)
    except KeyboardInterrupt:
        return 0
    except ManifestError as err:
        print(f"petdns: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"petdns: error: cannot serve: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
