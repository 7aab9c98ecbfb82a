"""What `petdns serve` was asked to do (`ServeOptions`), built from merged settings values.

`build` checks what every value means (addresses, networks, zone names, ranges) and names the key
of the first one that is wrong (`OptionError`), so that the command line can name the flag and a
reload the configuration file's key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kubeapi import auth
from kubeapi.auth import Connection
from petdns.forward.acl import DEFAULT_RECURSION, Acl
from petdns.forward.forwarder import ForwardConfig
from petdns.forward.response_cache import CachePolicy
from petdns.forward.upstreams import Routes, default_upstreams, parse_stub_domain, parse_upstream
from petdns.serve.listen import parse_listen
from petdns.serve.tcp import TcpLimits
from petdns.settings import config_file
from petdns.settings.values import UDP_SIZES, PodsMode, Settings

RESOLV_CONF = "/etc/resolv.conf"
T = TypeVar("T")
Address = tuple[str, int]


class OptionError(ValueError):
    """The value of `key` cannot be used."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Everything `petdns serve` was asked to do."""

    settings: Settings
    objects: tuple[str, ...]
    listen: tuple[Address, ...]
    kube: Connection | None = None  # watch this API server
    health_listen: tuple[Address, ...] = ()
    ready_listen: tuple[Address, ...] = ()
    forward: ForwardConfig | None = None  # names outside the zones: None refuses them
    metrics_listen: tuple[Address, ...] = ()
    lameduck: float = 0.0  # seconds of answering after a stop signal, with /ready already 503
    log_level: str = "info"
    log_format: str = "text"
    query_log: bool = False
    tcp: TcpLimits = field(default_factory=TcpLimits)  # TCP deadlines and the cap on connections
    workers: int = 1  # UDP threads (SO_REUSEPORT sockets) per listen address
    default_http: frozenset[str] = frozenset()  # paths at their default address: failing to bind is a warning


def _checked(key: str, make: Callable[[], T]) -> T:
    try:
        return make()
    except (ValueError, OSError) as err:
        raise OptionError(key, str(err)) from None


def _addresses(values: Mapping[str, Any], key: str) -> tuple[Address, ...]:
    return _checked(key, lambda: tuple(parse_listen(text) for text in values[key]))


def build(values: Mapping[str, Any], *, connect: bool = True, kube: Connection | None = None) -> ServeOptions:
    """The options of merged settings values (`config_file.merge`); OptionError naming the key.

    With `connect`, the kubeconfig (or the in-cluster account) is loaded when watching; otherwise
    `kube` is used as it is (a reload keeps the running connection).
    """
    listen = _addresses(values, "listen")
    if not listen:
        raise OptionError("listen", "at least one address is needed")
    settings = settings_of(values, listen)
    objects = tuple(values["objects"])
    if connect:
        watching = bool(values["kubeconfig"]) or not objects
        kube = (
            _checked("kubeconfig", lambda: auth.load(values["kubeconfig"], values["context"]))
            if watching
            else None
        )
    lameduck = float(values["lameduck"])
    if not 0 <= lameduck <= 600:
        raise OptionError("lameduck", f"{lameduck} is outside 0..600 seconds")
    return ServeOptions(
        settings,
        objects,
        listen,
        kube=kube,
        health_listen=_addresses(values, "health_listen"),
        ready_listen=_addresses(values, "ready_listen"),
        forward=forward_config(values, listen),
        metrics_listen=_addresses(values, "metrics_listen"),
        lameduck=lameduck,
        log_level=values["log_level"],
        log_format=values["log_format"],
        query_log=values["query_log"],
        tcp=tcp_limits(values),
        workers=workers(values),
        default_http=frozenset(
            {"/metrics"} if values["metrics_listen"] == config_file.BY_NAME["metrics_listen"].default else ()
        ),
    )


MAX_WORKERS = 256


def workers(values: Mapping[str, Any]) -> int:
    """UDP threads per listen address: `workers`, 0 for one per CPU this process may run on."""
    n = values["workers"]
    if not 0 <= n <= MAX_WORKERS:
        raise OptionError("workers", f"{n} is outside 0..{MAX_WORKERS} (0: one per CPU)")
    return n or len(os.sched_getaffinity(0))


def tcp_limits(values: Mapping[str, Any]) -> TcpLimits:
    """The TCP deadlines (seconds, above 0 and at most an hour) and the cap on connections."""
    for key in ("tcp_idle_timeout", "tcp_write_timeout"):
        if not 0 < values[key] <= 3600:
            raise OptionError(key, f"{values[key]} is outside (0, 3600] seconds")
    if values["max_tcp_connections"] < 1:
        raise OptionError("max_tcp_connections", f"{values['max_tcp_connections']} is below 1")
    return TcpLimits(
        idle_timeout=values["tcp_idle_timeout"],
        write_timeout=values["tcp_write_timeout"],
        max_connections=values["max_tcp_connections"],
    )


def settings_of(values: Mapping[str, Any], listen: tuple[Address, ...]) -> Settings:
    """The zone settings; the NS addresses default to the specific listen addresses."""
    zones = tuple(z.lower().rstrip(".") for z in values["zones"])
    if not zones:
        raise OptionError("zones", "at least one zone is needed")
    ttl = values["ttl"]
    if not 0 <= ttl <= 3600:
        raise OptionError("ttl", f"{ttl} is outside 0..3600")
    max_udp = values["max_udp_size"]
    if max_udp not in UDP_SIZES:
        raise OptionError("max_udp_size", f"{max_udp} is outside 512..65535 bytes")
    ns = tuple(values["ns_addresses"]) or tuple(h for h, _ in listen if h not in ("0.0.0.0", "::"))
    _checked("zones", lambda: Settings(zones=zones))
    _checked("ns_addresses", lambda: Settings(ns_addresses=ns))
    return Settings(
        zones=zones,
        ttl=ttl,
        pods=PodsMode(values["pods"]),
        endpoint_pod_names=values["endpoint_pod_names"],
        ptr_hostname_only=values["ptr_hostname_only"],
        ns_addresses=ns,
        max_udp=max_udp,
    )


def forward_config(values: Mapping[str, Any], listen: tuple[Address, ...]) -> ForwardConfig | None:
    """Forwarding; None with `no_forward` or when no upstream is left."""
    if values["no_forward"]:
        return None
    if values["upstream"]:
        default = _checked(
            "upstream", lambda: tuple(dict.fromkeys(parse_upstream(t) for t in values["upstream"]))
        )
    else:
        path = values["resolv_conf"] or RESOLV_CONF
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                default = default_upstreams(f.read(), listen)
        except OSError as err:
            if values["resolv_conf"]:
                raise OptionError("resolv_conf", str(err)) from None
            default = ()
    stubs = _checked(
        "stub_domains",
        lambda: dict(parse_stub_domain(f"{d}={','.join(a)}") for d, a in values["stub_domains"].items()),
    )
    routes = Routes(default, stubs)
    if not routes:
        return None
    allow = tuple(values["allow_recursion"]) or DEFAULT_RECURSION
    _checked("allow_recursion", lambda: Acl(allow))
    for key in ("cache_size", "cache_max_ttl", "cache_min_ttl", "cache_max_negative_ttl"):
        if values[key] < 0:
            raise OptionError(key, f"{values[key]} is negative")
    if values["cache_min_ttl"] > values["cache_max_ttl"]:
        raise OptionError("cache_min_ttl", f"{values['cache_min_ttl']} is above cache_max_ttl")
    cache = CachePolicy(
        size=values["cache_size"],
        max_ttl=values["cache_max_ttl"],
        min_ttl=values["cache_min_ttl"],
        max_negative_ttl=values["cache_max_negative_ttl"],
        stale=values["serve_stale"],
    )
    timeout = values["upstream_timeout"]
    if not 0 < timeout <= 60:
        raise OptionError("upstream_timeout", f"{timeout} is outside (0, 60] seconds")
    return ForwardConfig(routes, allow=allow, timeout=timeout, policy=values["upstream_policy"], cache=cache)
