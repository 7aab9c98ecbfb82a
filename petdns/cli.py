"""The `petdns` command line: argument parsing and exit codes only."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from kubeapi import auth
from petdns import corefile_command, explain_command
from petdns.app import ConfigSource, build_zone, one_malloc_arena, run
from petdns.corefile import report
from petdns.corefile.syntax import CorefileError
from petdns.forward.upstream_health import POLICIES
from petdns.peers import command as peers_command
from petdns.schema.loader import LoadError
from petdns.serve import logs
from petdns.settings import config_file, scope_flags
from petdns.settings.options import RESOLV_CONF, OptionError, build
from petdns.settings.values import PodsMode


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="petdns", description="Cluster DNS for Kubernetes pets.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="serve the cluster-DNS schema from object files or a live cluster",
        argument_default=argparse.SUPPRESS,  # a flag not given leaves its key to --config or the default
    )
    source = serve.add_mutually_exclusive_group()
    source.add_argument(
        "--config",
        metavar="FILE",
        help="YAML settings, one key per flag (config/petdns.yaml); flags given here win over it; "
        "the file is followed and changes apply live",
    )
    source.add_argument(
        "--corefile",
        "-conf",
        dest="corefile",
        metavar="FILE",
        help="a CoreDNS Corefile instead (docs/deploy.md; `petdns corefile check FILE` shows what each "
        "line becomes); followed with its imports like --config",
    )
    serve.add_argument(
        "--objects",
        action="append",
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
        "--zone",
        dest="zones",
        action="append",
        metavar="ZONE",
        help="cluster domain; repeatable (default cluster.local)",
    )
    serve.add_argument(
        "--pods",
        choices=[m.value for m in PodsMode],
        help="pod records: disabled, insecure or verified (default disabled)",
    )
    serve.add_argument(
        "--endpoint-pod-names",
        action="store_true",
        help="name endpoints without a hostname after their pod, not their dashed IP",
    )
    serve.add_argument(
        "--ptr-hostname-only",
        action="store_true",
        help="the PTR of a pet's IP is only its pet name (its hostname under a headless service)",
    )
    serve.add_argument("--ttl", type=int, help="TTL of every record, 0-3600 (default 5)")
    serve.add_argument(
        "--ns-address",
        dest="ns_addresses",
        action="append",
        metavar="IP",
        help="address of ns.dns.<zone>, the apex NS target (default: the listen addresses)",
    )
    serve.add_argument(
        "--max-udp-size",
        type=int,
        metavar="N",
        help="largest UDP reply, 512-65535 bytes, whatever the client offers; larger answers are "
        "truncated (TC) and come whole over TCP; also the size our OPT records advertise (default 1232)",
    )
    scope_flags.add_arguments(serve)
    _operations_arguments(serve)
    _forward_arguments(serve)
    plugins = serve.add_argument_group(
        "rewrite, template, hosts (CoreDNS's plugins; full shapes in --config)"
    )
    plugins.add_argument(
        "--hosts-file", dest="hosts", action="append", metavar="FILE", help="hosts file, fallthrough"
    )
    plugins.add_argument(
        "--rewrite", action="append", metavar="RULE", help="rewrite rule as CoreDNS writes it"
    )
    plugins.add_argument(
        "--template", dest="templates", action="append", metavar="YAML", help="template mapping"
    )
    explain_command.add_parser(sub)
    corefile_command.add_parser(sub)
    peers_command.add_parser(sub)
    # `petdns local` has a parser of its own (localcluster.cli); this entry lists it in --help
    sub.add_parser("local", help="run the embedded local control plane (kubectl and dig can use it)")
    return parser


def _operations_arguments(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group("operations (health, readiness, metrics, logs, stopping)")
    group.add_argument(
        "--health-listen",
        action="append",
        metavar="HOST:PORT",
        help="HTTP /health address; repeatable (default: none)",
    )
    group.add_argument(
        "--ready-listen",
        action="append",
        metavar="HOST:PORT",
        help="HTTP /ready address, 503 until the watch has synced and once stopping; repeatable "
        "(default: none)",
    )
    group.add_argument(
        "--metrics-listen",
        action="append",
        metavar="HOST:PORT",
        help="HTTP /metrics address (Prometheus, CoreDNS names); repeatable (default :9153)",
    )
    group.add_argument(
        "--no-metrics", dest="metrics_listen", action="store_const", const=[], help="serve no /metrics"
    )
    group.add_argument(
        "--lameduck",
        type=float,
        metavar="SECONDS",
        help="after SIGTERM or SIGINT, keep answering this long with /ready at 503 (default 5)",
    )
    group.add_argument(
        "--tcp-idle-timeout",
        type=_duration,
        metavar="DURATION",
        help="close a TCP connection that sends no complete query this long, e.g. 10s (default 10s)",
    )
    group.add_argument(
        "--tcp-write-timeout",
        type=_duration,
        metavar="DURATION",
        help="close a TCP connection whose reply cannot be sent this long, e.g. 5s (default 5s)",
    )
    group.add_argument(
        "--max-tcp-connections",
        type=int,
        metavar="N",
        help="TCP connections open at once; the next ones wait to be accepted (default 1000)",
    )
    group.add_argument("--workers", type=int, metavar="N", help="UDP threads per address (0: one per CPU)")
    group.add_argument("--log-level", choices=list(config_file.LOG_LEVELS), help="(default info)")
    group.add_argument(
        "--log-format",
        choices=list(config_file.LOG_FORMATS),
        help="text, or one JSON object a line (default text)",
    )
    group.add_argument(
        "--query-log",
        action="store_true",
        help="log every query, as the CoreDNS log plugin does (default off)",
    )


def _forward_arguments(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group("forwarding (names outside the zones, and unknown reverse names)")
    group.add_argument(
        "--upstream",
        action="append",
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
        dest="stub_domains",
        action="append",
        metavar="DOMAIN=IP[:PORT][,...]",
        help="upstreams for names in DOMAIN (the longest matching domain wins); repeatable",
    )
    group.add_argument("--upstream-timeout", type=float, metavar="SECONDS", help="per upstream (default 2)")
    group.add_argument(
        "--upstream-policy",
        choices=POLICIES,
        help="order of the healthy upstreams: as given, random per query, or round_robin (default "
        "sequential; CoreDNS's is random)",
    )
    group.add_argument(
        "--forward-max-concurrent",
        type=int,
        metavar="N",
        help="upstream fetches in flight at once; beyond, REFUSED (CoreDNS max_concurrent; "
        "default 0: no cap)",
    )
    group.add_argument(
        "--forward-force-tcp", action="store_true", help="ask upstreams over TCP only (CoreDNS force_tcp)"
    )
    group.add_argument(
        "--forward-prefer-udp",
        action="store_true",
        help="ask upstreams over UDP first even for TCP clients (CoreDNS prefer_udp; default: the "
        "client's transport)",
    )
    group.add_argument(
        "--forward-health-check",
        type=_duration,
        metavar="DURATION",
        help="probe a down upstream at this fixed interval (CoreDNS health_check; default 0: 1s "
        "doubling up to 30s)",
    )
    group.add_argument(
        "--forward-max-fails",
        type=int,
        metavar="N",
        help="failures in a row that take an upstream down; 0: never (default 2)",
    )
    group.add_argument(
        "--forward-expire",
        type=_duration,
        metavar="DURATION",
        help="CoreDNS expire, accepted: upstream connections are never reused (default 10s)",
    )
    group.add_argument(
        "--forward-except",
        action="append",
        metavar="ZONE",
        help="names in ZONE are not forwarded (CoreDNS except); repeatable",
    )
    group.add_argument(
        "--loop-detect",
        action="store_true",
        help="at start, probe for a forwarding loop and exit 1 when one is found (CoreDNS loop)",
    )
    group.add_argument(
        "--acl",
        action="append",
        metavar="RULE",
        help="access rule '[ZONES] allow|block|filter|drop [type TYPES] [net NETS]', first match wins; "
        "repeatable (CoreDNS acl)",
    )
    group.add_argument(
        "--allow-recursion",
        action="append",
        metavar="CIDR",
        help="clients that may have names forwarded; repeatable (default: loopback, 10/8, 172.16/12, "
        "192.168/16, 100.64/10, fc00::/7, fe80::/10)",
    )
    group.add_argument(
        "--cache-size", type=int, metavar="N", help="cached answers, 0: no cache (default 10000)"
    )
    group.add_argument("--cache-max-ttl", type=int, metavar="SECONDS", help="(default 3600)")
    group.add_argument("--cache-min-ttl", type=int, metavar="SECONDS", help="(default 0)")
    group.add_argument(
        "--cache-max-negative-ttl",
        type=int,
        metavar="SECONDS",
        help="cap on NXDOMAIN/NODATA caching (default 1800)",
    )
    group.add_argument(
        "--serve-stale",
        type=_duration,
        metavar="DURATION",
        help="answer from expired entries this long when no upstream answers, e.g. 30s, 5m; 0: never "
        "(default 30s)",
    )
    group.add_argument(
        "--cache-success",
        metavar="'CAPACITY [TTL [MINTTL]]'",
        help="positive answers: capacity and TTL bounds (CoreDNS cache success)",
    )
    group.add_argument(
        "--cache-denial",
        metavar="'CAPACITY [TTL [MINTTL]]'",
        help="NXDOMAIN/NODATA answers: their own capacity and TTL bounds (CoreDNS cache denial)",
    )
    group.add_argument(
        "--cache-prefetch",
        metavar="'AMOUNT [DURATION [PCT%]]'",
        help="fetch again an entry asked AMOUNT times within DURATION (1m) once PCT (10%%) of its "
        "TTL is left",
    )
    group.add_argument(
        "--cache-disable",
        action="append",
        choices=["success", "denial"],
        help="do not cache that kind of answer; repeatable",
    )


def _duration(text: str) -> float:
    try:
        return config_file.duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def main(argv: list[str] | None = None) -> int:
    """Run the command; 2 on bad arguments, a bad configuration file or a malformed object file."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["local"]:
        # the only upward import: the local cluster's own command line, loaded when it is asked for
        from localcluster import cli as local_cli  # noqa: PLC0415

        return local_cli.main(argv[1:])
    if argv[:1] and argv[0].split("=")[0] in ("-conf", "--corefile"):
        argv = ["serve", *argv]  # CoreDNS's command line: the image's Deployment args, unchanged
    args = _parser().parse_args(argv)
    verbs = {"explain": explain_command.run, "corefile": corefile_command.run, "peers": peers_command.run}
    return verbs.get(args.command, _serve)(args)


def _flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line, by key; ValueError naming the flag."""
    out = {}
    for name, value in vars(args).items():
        key = config_file.BY_NAME.get(name)
        if key is None:
            continue
        try:
            out[name] = config_file.normalize(key, value)
        except ValueError as err:
            raise ValueError(f"{key.flag}: {err}") from None
    return out


def _serve(args: argparse.Namespace) -> int:
    path = getattr(args, "config", None)
    corefile = getattr(args, "corefile", None)
    where_set: Callable[[str], str | None] = lambda key: None  # noqa: E731
    try:
        flags = _flag_values(args)
        if corefile:
            translation = report.load(corefile)
            file_values, where_set = translation.values, translation.where
        else:
            file_values = config_file.load(path) if path else {}
        values = config_file.merge(file_values, flags)
        logs.configure(values["log_level"], values["log_format"])
        options = build(values)
        one_malloc_arena()
        zone = build_zone(options)
    except config_file.ConfigError as err:
        print(f"petdns: error: config {err}", file=sys.stderr)
        return 2
    except CorefileError as err:
        print(f"petdns: error: corefile {err}", file=sys.stderr)
        return 2
    except OptionError as err:
        source = f"corefile {where_set(err.key) or corefile}" if corefile else f"config {path}"
        given = err.key in flags or not (path or corefile)
        where = config_file.BY_NAME[err.key].flag if given else f"{source}: {err.key}"
        print(f"petdns: error: {where}: {err.message}", file=sys.stderr)
        return 2
    except (ValueError, OSError, LoadError, auth.ConfigError) as err:
        print(f"petdns: error: {err}", file=sys.stderr)
        return 2
    config = None
    if corefile:
        config = ConfigSource(
            corefile, flags, values, load=corefile_command.values, watch=corefile_command.fingerprint
        )
    elif path:
        config = ConfigSource(path, flags, values)
    try:
        run(options, zone, config=config)
    except OSError as err:
        print(f"petdns: error: cannot serve: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
