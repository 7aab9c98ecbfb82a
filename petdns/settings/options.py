"""What `petdns serve` was asked to do (`ServeOptions`), built from merged settings values.

`build` checks what every value means (addresses, networks, zone names, ranges) and names the key
of the first one that is wrong (`OptionError`), so that the command line can name the flag and a
reload the configuration file's key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kubeapi import auth
from kubeapi.auth import Connection
from kubeapi.labels import parse as parse_selector
from petdns.forward.acl import DEFAULT_RECURSION, Acl
from petdns.forward.forwarder import ForwardConfig
from petdns.forward.response_cache import CachePolicy
from petdns.forward.upstream_health import HealthPolicy
from petdns.forward.upstreams import Routes, default_upstreams, parse_stub_domain, parse_upstream
from petdns.schema.scope import Scope
from petdns.serve.acl import AclRule, QueryAcl
from petdns.serve.listen import parse_listen
from petdns.serve.tcp import TcpLimits
from petdns.settings import config_file
from petdns.settings.plugins import PluginError, plugins_of
from petdns.settings.values import UDP_SIZES, PodsMode, Settings

RESOLV_CONF = "/etc/resolv.conf"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
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
    acl: QueryAcl | None = None  # access rules judging every query first
    loop_detect: bool = False  # probe for a forwarding loop at start; halt when one is found
    default_http: frozenset[str] = frozenset()  # paths at their default address: failing to bind is a warning
    scope: Scope = field(default_factory=Scope)  # which objects are watched and served


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
        watching = bool(settings.zones) and (bool(values["kubeconfig"]) or not objects)
        kube = (
            _checked("kubeconfig", lambda: auth.load(values["kubeconfig"], values["context"]))
            if watching
            else None
        )
    lameduck = float(values["lameduck"])
    if not 0 <= lameduck <= 600:
        raise OptionError("lameduck", f"{lameduck} is outside 0..600 seconds")
    options = ServeOptions(
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
        acl=query_acl(values),
        loop_detect=values["loop_detect"],
        scope=scope_of(values),
        default_http=frozenset(
            {"/metrics"} if values["metrics_listen"] == config_file.BY_NAME["metrics_listen"].default else ()
        ),
    )
    if not settings.zones:  # after each value's own check: those name their line first
        _forward_only(values)
    return options


def _forward_only(values: Mapping[str, Any]) -> None:
    """No cluster zone (`zones: []`, a Corefile without `kubernetes`): nothing is watched or loaded,
    every name is forwarded; what only a cluster zone uses is refused."""
    for key in ("objects", "kubeconfig", "context"):
        if values[key]:
            raise OptionError(key, "no cluster zone to serve objects in (zones is empty: forward only)")


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
    zones = tuple(z.lower().rstrip(".") for z in values["zones"])  # none: forward only
    ttl = values["ttl"]
    if not 0 <= ttl <= 3600:
        raise OptionError("ttl", f"{ttl} is outside 0..3600")
    max_udp = values["max_udp_size"]
    if max_udp not in UDP_SIZES:
        raise OptionError("max_udp_size", f"{max_udp} is outside 512..65535 bytes")
    ns = tuple(values["ns_addresses"]) or tuple(h for h, _ in listen if h not in ("0.0.0.0", "::"))
    _checked("zones", lambda: Settings(zones=zones))
    _checked("ns_addresses", lambda: Settings(ns_addresses=ns))
    try:
        plugins = plugins_of(values)
    except PluginError as err:
        raise OptionError(err.key, err.message) from None
    return Settings(
        zones=zones,
        ttl=ttl,
        pods=PodsMode(values["pods"]),
        endpoint_pod_names=values["endpoint_pod_names"],
        ptr_hostname_only=values["ptr_hostname_only"],
        ns_addresses=ns,
        max_udp=max_udp,
        plugins=plugins,
        loadbalance=values["loadbalance"],
        fallthrough=fallthrough_of(values),
    )


def fallthrough_of(values: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The zones whose NXDOMAIN is forwarded: None when not given, () for every zone (none named, or
    the root)."""
    given = values["fallthrough"]
    if given is None:
        return None
    zones = tuple(dict.fromkeys(z.strip().lower().strip(".") for z in given))
    if "" in zones:
        return ()
    _checked("fallthrough", lambda: Settings(fallthrough=zones))
    return zones


def scope_of(values: Mapping[str, Any]) -> Scope:
    """Which namespaces and objects are served; errors name the key."""
    for namespace in values["namespaces"]:
        if not DNS_LABEL.fullmatch(namespace):
            raise OptionError("namespaces", f"{namespace!r} is not a namespace name")
    _checked("labels", lambda: parse_selector(values["labels"]))
    _checked("namespace_labels", lambda: parse_selector(values["namespace_labels"]))
    return Scope.of(
        values["namespaces"],
        values["labels"],
        values["namespace_labels"],
        noendpoints=values["noendpoints"],
    )


def query_acl(values: Mapping[str, Any]) -> QueryAcl | None:
    """The access rules (None when there are none)."""
    rules = values["acl"]
    if not rules:
        return None
    return _checked(
        "acl", lambda: QueryAcl([AclRule(r["action"], *map(tuple, _acl_lists(r))) for r in rules])
    )


def _acl_lists(rule: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    return rule["zones"], rule["types"], rule["nets"]


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
    routes = _checked("forward_except", lambda: Routes(default, stubs, values["forward_except"]))
    if not routes:
        return None
    allow = tuple(values["allow_recursion"]) or DEFAULT_RECURSION
    _checked("allow_recursion", lambda: Acl(allow))
    for key in ("cache_size", "cache_max_ttl", "cache_min_ttl", "cache_max_negative_ttl"):
        if values[key] < 0:
            raise OptionError(key, f"{values[key]} is negative")
    if values["cache_min_ttl"] > values["cache_max_ttl"]:
        raise OptionError("cache_min_ttl", f"{values['cache_min_ttl']} is above cache_max_ttl")
    cache = cache_policy(values)
    timeout = values["upstream_timeout"]
    if not 0 < timeout <= 60:
        raise OptionError("upstream_timeout", f"{timeout} is outside (0, 60] seconds")
    for key in ("forward_max_concurrent", "forward_max_fails"):
        if values[key] < 0:
            raise OptionError(key, f"{values[key]} is negative")
    interval = values["forward_health_check"]
    if interval > 3600:
        raise OptionError("forward_health_check", f"{interval} is above an hour")
    health = HealthPolicy(max_fails=values["forward_max_fails"])
    if interval > 0:  # a fixed interval, as CoreDNS's health_check; else petdns's doubling backoff
        health = HealthPolicy(max_fails=values["forward_max_fails"], backoff=interval, max_backoff=interval)
    return ForwardConfig(
        routes,
        allow=allow,
        timeout=timeout,
        policy=values["upstream_policy"],
        cache=cache,
        health=health,
        max_concurrent=values["forward_max_concurrent"],
        force_tcp=values["forward_force_tcp"],
        prefer_udp=values["forward_prefer_udp"],
        expire=values["forward_expire"],
    )


def cache_policy(values: Mapping[str, Any]) -> CachePolicy:
    """The forward cache: cache_success / cache_denial (CoreDNS's capacity, TTL, MINTTL) over the
    cache_size and cache_*_ttl keys, what is disabled, prefetching, serve-stale."""
    success = values["cache_success"] or {}
    denial = values["cache_denial"] or {}
    prefetch = values["cache_prefetch"] or {}
    for key, given in (("cache_success", success), ("cache_denial", denial)):
        if any(v is not None and v < 0 for v in given.values()):
            raise OptionError(key, f"{given} has a negative number")
    max_ttl = values["cache_max_ttl"] if success.get("ttl") is None else success["ttl"]
    min_ttl = values["cache_min_ttl"] if success.get("min_ttl") is None else success["min_ttl"]
    if min_ttl > max_ttl:
        raise OptionError(
            "cache_success" if success else "cache_min_ttl", f"minimum TTL {min_ttl} above {max_ttl}"
        )
    negative_ttl = values["cache_max_negative_ttl"] if denial.get("ttl") is None else denial["ttl"]
    if denial.get("min_ttl") is not None and denial["min_ttl"] > negative_ttl:
        raise OptionError("cache_denial", f"minimum TTL {denial['min_ttl']} above {negative_ttl}")
    if prefetch and (
        prefetch["amount"] < 1 or not 0 <= prefetch["percentage"] <= 100 or prefetch["duration"] <= 0
    ):
        raise OptionError("cache_prefetch", f"{prefetch}: amount >= 1, duration > 0, percentage 0-100")
    return CachePolicy(
        size=values["cache_size"] if success.get("capacity") is None else success["capacity"],
        max_ttl=max_ttl,
        min_ttl=min_ttl,
        max_negative_ttl=negative_ttl,
        stale=values["serve_stale"],
        denial_size=denial.get("capacity"),
        denial_min_ttl=denial.get("min_ttl"),
        disable_success="success" in values["cache_disable"],
        disable_denial="denial" in values["cache_disable"],
        prefetch=prefetch.get("amount", 0),
        prefetch_window=prefetch.get("duration", 60.0),
        prefetch_percentage=prefetch.get("percentage", 10),
    )
