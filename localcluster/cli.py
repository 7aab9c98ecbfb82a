"""The `petdns local` command line: its arguments, the banner and exit codes (`petdns` hands `local` here)."""

from __future__ import annotations

import argparse
import sys

from kubeapi.manifests import ManifestError
from localcluster.app import DEFAULT_HTTP, LocalOptions, Running, run, try_lines
from localcluster.kubelet.kubelet import KubeletConfig
from petdns.forward.upstreams import Upstream, parse_upstream
from petdns.serve import logs
from petdns.serve.listen import parse_listen
from petdns.settings import config_file
from petdns.settings.values import DEFAULT_MAX_UDP, UDP_SIZES

Address = tuple[str, int]


def parser(prog: str = "petdns local") -> argparse.ArgumentParser:
    """The arguments of `petdns local`."""
    local = argparse.ArgumentParser(
        prog=prog, description="Run the embedded local control plane (kubectl and dig can use it)."
    )
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
        "--resolv-conf",
        default="/etc/resolv.conf",
        metavar="FILE",
        help="where the default upstreams are read",
    )
    local.add_argument(
        "--ready-after",
        type=float,
        metavar="SECONDS",
        help="make every started pod Ready after SECONDS (default: as its readiness probes say)",
    )
    local.add_argument(
        "--nodes", type=int, default=3, metavar="N", help="how many nodes to simulate (default 3)"
    )
    local.add_argument(
        "--run-pods",
        action="store_true",
        help="run the containers of pods annotated localcluster.petdns.dev/run=host as host processes "
        "(Linux, root, util-linux unshare/nsenter/setpriv; DNS also served on port 53 of address 10 of the "
        "pod range)",
    )
    _operations(local)
    return local


def _operations(local: argparse.ArgumentParser) -> None:
    group = local.add_argument_group("operations of the DNS server (as `petdns serve`)")
    default = f"{DEFAULT_HTTP[0]}:{DEFAULT_HTTP[1]}"
    for flag, path in (("--health-listen", "/health"), ("--ready-listen", "/ready")):
        group.add_argument(
            flag,
            action="append",
            metavar="HOST:PORT",
            help=f"HTTP {path} address; repeatable (default {default})",
        )
    group.add_argument(
        "--metrics-listen",
        action="append",
        metavar="HOST:PORT",
        help=f"HTTP /metrics address (Prometheus, CoreDNS names); repeatable (default {default})",
    )
    group.add_argument(
        "--no-metrics", dest="metrics_listen", action="store_const", const=[], help="serve no /metrics"
    )
    group.add_argument(
        "--lameduck",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="after SIGTERM or SIGINT, keep answering DNS this long with /ready at 503 (default 0)",
    )
    group.add_argument(
        "--max-udp-size",
        type=int,
        default=DEFAULT_MAX_UDP,
        metavar="N",
        help=f"largest UDP reply, 512-65535 bytes; larger answers are truncated (default {DEFAULT_MAX_UDP})",
    )
    group.add_argument("--log-level", default="info", choices=list(config_file.LOG_LEVELS))


def _upstreams(texts: list[str] | None) -> tuple[Upstream, ...] | None:
    return tuple(parse_upstream(text) for text in texts) if texts else None


def _addresses(texts: list[str] | None) -> tuple[Address, ...] | None:
    """None when the flag was not given (its default applies)."""
    return None if texts is None else tuple(parse_listen(text) for text in texts)


def options_of(args: argparse.Namespace) -> LocalOptions:
    """The options the arguments ask for; ValueError or OSError naming what is wrong."""
    if args.lameduck < 0:
        raise ValueError(f"--lameduck: {args.lameduck:g} is negative")
    if not 1 <= args.nodes <= 250:
        raise ValueError(f"--nodes: {args.nodes} is outside 1..250")
    if args.max_udp_size not in UDP_SIZES:
        raise ValueError(f"--max-udp-size: {args.max_udp_size} is outside 512..65535 bytes")
    return LocalOptions(
        api=parse_listen(args.api),
        dns=parse_listen(args.dns),
        kubeconfig=args.kubeconfig,
        state=args.state,
        token_file=args.token_file,
        files=tuple(args.filename),
        zone=args.zone.lower().rstrip("."),
        kubelet=KubeletConfig(
            nodes=tuple(f"node-{n}" for n in range(1, args.nodes + 1)),
            pod_cidr=args.pod_cidr,
            pod_cidr6=args.pod_cidr6,
            ready_after=args.ready_after,
            run_pods=args.run_pods,
        ),
        upstreams=() if args.no_forward else _upstreams(args.upstream),
        resolv_conf=args.resolv_conf,
        health_listen=_addresses(args.health_listen),
        ready_listen=_addresses(args.ready_listen),
        metrics_listen=_addresses(args.metrics_listen),
        lameduck=args.lameduck,
        max_udp_size=args.max_udp_size,
    )


def main(argv: list[str], *, prog: str = "petdns local") -> int:
    """Run `petdns local`; 2 on bad arguments or a malformed manifest, 1 when it cannot serve."""
    args = parser(prog).parse_args(argv)
    logs.configure(args.log_level)
    try:
        options = options_of(args)
    except (ValueError, OSError) as err:
        print(f"petdns: error: {err}", file=sys.stderr)
        return 2

    def banner(running: Running) -> None:
        print("petdns local is running (Ctrl-C stops it). Try:", flush=True)
        for line in try_lines(running, options.zone):
            print(f"  {line}", flush=True)

    try:
        run(options, started=banner)
    except KeyboardInterrupt:
        return 0
    except ManifestError as err:
        print(f"petdns: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"petdns: error: cannot serve: {err}", file=sys.stderr)
        return 1
    return 0
