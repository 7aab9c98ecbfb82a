"""The configuration file of `petdns serve` (`--config FILE`, YAML): its keys, reading and validation.

Every `serve` flag has a key (`--zone` is `zones`, `--stub-domain` is `stub_domains`, the others are
the flag's name with `_`). A value comes from the command line when the flag was given there, else
from the file, else from the default: flags win, and a flag given once replaces the file's whole list.

Checked here: unknown keys, YAML errors and each value's type (a list of strings, an integer, one of
the choices, ...); what the values mean (addresses, networks, ranges) is checked by `options.build`.
Each key belongs to a group that says what a reload does when it changes (see `GROUPS`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubeapi.decode import DecodeError, load_yaml
from petdns.settings import shapes
from petdns.settings.values import DEFAULT_MAX_UDP

# What a changed key takes on a reload.
ZONE: Final = "zone"  # the zone is rendered again from the current objects
FORWARD: Final = "forward"  # a new forwarder (and cache) replaces the old one
LOG: Final = "log"  # logging is reconfigured
LIVE: Final = "live"  # read when needed (the lame duck)
RESTART: Final = "restart"  # only a restart applies it: a reload logs that
GROUPS: Final = (ZONE, FORWARD, LOG, LIVE, RESTART)


class ConfigError(ValueError):
    """A configuration that cannot be used; `key` is the offending key when there is one."""

    def __init__(self, source: str, key: str | None, message: str) -> None:
        super().__init__(f"{source}: {key}: {message}" if key else f"{source}: {message}")
        self.source = source
        self.key = key
        self.message = message


@dataclass(frozen=True, slots=True)
class Key:
    """One setting: its key, its flag, its kind of value, its default and its reload group."""

    name: str
    flag: str
    kind: str  # str, optional_str, int, float, duration, bool, list, optional_list, choice, stubs, mappings,
    # acl, cache_kind, prefetch, cache_disable (the last four: `shapes`)
    default: Any
    group: str
    choices: tuple[str, ...] = ()


LOG_LEVELS: Final = ("debug", "info", "warning", "error")
LOG_FORMATS: Final = ("text", "json")
PODS: Final = ("disabled", "insecure", "verified")
POLICIES: Final = ("sequential", "random", "round_robin")

KEYS: Final = (
    Key("objects", "--objects", "list", [], ZONE),
    Key("kubeconfig", "--kubeconfig", "optional_str", None, RESTART),
    Key("context", "--context", "optional_str", None, RESTART),
    Key("listen", "--listen", "list", ["127.0.0.1:5353"], RESTART),
    Key("zones", "--zone", "list", ["cluster.local"], ZONE),
    Key("pods", "--pods", "choice", "disabled", ZONE, PODS),
    Key("endpoint_pod_names", "--endpoint-pod-names", "bool", False, ZONE),
    Key("ptr_hostname_only", "--ptr-hostname-only", "bool", False, ZONE),
    Key("ttl", "--ttl", "int", 5, ZONE),
    Key("ns_addresses", "--ns-address", "list", [], ZONE),
    Key("max_udp_size", "--max-udp-size", "int", DEFAULT_MAX_UDP, ZONE),
    Key("loadbalance", "--loadbalance", "bool", False, ZONE),
    Key("namespaces", "--namespace", "list", [], RESTART),
    Key("labels", "--labels", "str", "", RESTART),
    Key("namespace_labels", "--namespace-labels", "str", "", RESTART),
    Key("noendpoints", "--noendpoints", "bool", False, RESTART),
    Key("fallthrough", "--fallthrough", "optional_list", None, ZONE),
    Key("health_listen", "--health-listen", "list", [], RESTART),
    Key("ready_listen", "--ready-listen", "list", [], RESTART),
    Key("metrics_listen", "--metrics-listen", "list", [":9153"], RESTART),
    Key("lameduck", "--lameduck", "float", 5.0, LIVE),
    Key("tcp_idle_timeout", "--tcp-idle-timeout", "duration", 10.0, RESTART),
    Key("tcp_write_timeout", "--tcp-write-timeout", "duration", 5.0, RESTART),
    Key("max_tcp_connections", "--max-tcp-connections", "int", 1000, RESTART),
    Key("workers", "--workers", "int", 0, RESTART),  # 0: one per CPU this process may use
    Key("upstream", "--upstream", "list", [], FORWARD),
    Key("resolv_conf", "--resolv-conf", "optional_str", None, FORWARD),
    Key("no_forward", "--no-forward", "bool", False, FORWARD),
    Key("stub_domains", "--stub-domain", "stubs", {}, FORWARD),
    Key("upstream_timeout", "--upstream-timeout", "float", 2.0, FORWARD),
    Key("upstream_policy", "--upstream-policy", "choice", "sequential", FORWARD, POLICIES),
    Key("forward_max_concurrent", "--forward-max-concurrent", "int", 0, FORWARD),
    Key("forward_force_tcp", "--forward-force-tcp", "bool", False, FORWARD),
    Key("forward_prefer_udp", "--forward-prefer-udp", "bool", False, FORWARD),
    Key("forward_health_check", "--forward-health-check", "duration", 0.0, FORWARD),
    Key("forward_max_fails", "--forward-max-fails", "int", 2, FORWARD),
    Key("forward_expire", "--forward-expire", "duration", 10.0, FORWARD),
    Key("forward_except", "--forward-except", "list", [], FORWARD),
    Key("loop_detect", "--loop-detect", "bool", False, RESTART),
    Key("acl", "--acl", "acl", [], LIVE),
    Key("allow_recursion", "--allow-recursion", "list", [], FORWARD),
    Key("cache_size", "--cache-size", "int", 10000, FORWARD),
    Key("cache_max_ttl", "--cache-max-ttl", "int", 3600, FORWARD),
    Key("cache_min_ttl", "--cache-min-ttl", "int", 0, FORWARD),
    Key("cache_max_negative_ttl", "--cache-max-negative-ttl", "int", 1800, FORWARD),
    Key("serve_stale", "--serve-stale", "duration", 30.0, FORWARD),
    Key("cache_success", "--cache-success", "cache_kind", None, FORWARD),
    Key("cache_denial", "--cache-denial", "cache_kind", None, FORWARD),
    Key("cache_prefetch", "--cache-prefetch", "prefetch", None, FORWARD),
    Key("cache_disable", "--cache-disable", "cache_disable", [], FORWARD),
    Key("log_level", "--log-level", "choice", "info", LOG, LOG_LEVELS),
    Key("log_format", "--log-format", "choice", "text", LOG, LOG_FORMATS),
    Key("query_log", "--query-log", "bool", False, LOG),
    Key("hosts", "--hosts-file", "mappings", [], ZONE),
    Key("rewrite", "--rewrite", "list", [], ZONE),
    Key("templates", "--template", "mappings", [], ZONE),
)
BY_NAME: Final = {key.name: key for key in KEYS}


def defaults() -> dict[str, Any]:
    """Every key's default value (fresh lists and mappings)."""
    return {key.name: _copy(key.default) for key in KEYS}


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return {k: list(v) for k, v in value.items()}
    return value


_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)")
_SCALES: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def duration(value: Any) -> float:
    """Seconds from a number or a text such as `30s`, `5m`, `1h`, `0`, or Go's (as a Corefile writes
    them) `500ms`, `1m30s`; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        parts = _DURATION_PART.findall(text)
        try:
            if parts and "".join(n + unit for n, unit in parts) == text:
                seconds = sum(float(n) * _SCALES[unit] for n, unit in parts)
            else:
                seconds = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a duration such as 30s, 5m or 1h") from None
    if seconds < 0:
        raise ValueError(f"{value!r} is negative")
    return seconds


def stub_entry(text: str) -> tuple[str, list[str]]:
    """`corp.example=10.0.0.53[:PORT][,IP...]` (the flag's form) into (domain, addresses)."""
    domain, sep, servers = text.partition("=")
    addresses = [s.strip() for s in servers.split(",") if s.strip()]
    if not sep or not domain.strip() or not addresses:
        raise ValueError(f"{text!r} is not DOMAIN=IP[:PORT][,IP[:PORT]...]")
    return domain.strip(), addresses


def normalize(key: Key, value: Any) -> Any:
    """A value of `key`'s kind, in its canonical shape; ValueError saying what was expected."""
    kind = key.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if kind == "duration":
        return duration(value)
    if kind == "choice":
        if value not in key.choices:
            raise ValueError(f"expected one of {', '.join(key.choices)}, got {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    if kind == "optional_list" and value is None:
        return None
    if kind == "optional_str":
        if value is not None and not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    if kind in ("list", "optional_list"):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise ValueError(f"expected a list of strings, got {value!r}")
        return list(items)
    if kind == "stubs":
        return _stubs(value)
    if kind == "mappings":  # the fields are checked by `options.build` (`settings.plugins`)
        items = [value] if isinstance(value, dict) else value
        if isinstance(items, list):  # the flags: a hosts file (with fallthrough), a template in YAML
            items = [_mapping_flag(key.name, item) if isinstance(item, str) else item for item in items]
        if not isinstance(items, list) or not all(
            isinstance(item, dict) and all(isinstance(k, str) for k in item) for item in items
        ):
            raise ValueError(f"expected a list of mappings, got {value!r}")
        return [dict(item) for item in items]
    return _shaped(kind, value)


def _shaped(kind: str, value: Any) -> Any:
    if kind == "acl":
        return shapes.acl(value)
    if kind == "cache_kind":
        return shapes.cache_kind(value)
    if kind == "prefetch":
        return shapes.prefetch(value, duration)
    if kind == "cache_disable":
        return shapes.cache_disable(value)
    raise AssertionError(f"unknown kind {kind}")


def _mapping_flag(name: str, text: str) -> Any:
    if name == "hosts":
        return {"file": text, "fallthrough": []}
    try:
        return load_yaml(text, "flag")
    except DecodeError as err:
        raise ValueError(f"{text!r} is not a YAML mapping: {err.reason}") from None


def _stubs(value: Any) -> dict[str, list[str]]:
    """A mapping domain -> address or list of addresses, or a list of `DOMAIN=IP,...` texts."""
    out: dict[str, list[str]] = {}
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"expected DOMAIN=IP[:PORT][,...] texts, got {item!r}")
            domain, addresses = stub_entry(item)
            out.setdefault(domain, []).extend(addresses)
        return out
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping of domain to upstream addresses, got {value!r}")
    for domain, servers in value.items():
        addresses = [servers] if isinstance(servers, str) else servers
        if not isinstance(domain, str) or not isinstance(addresses, list) or not addresses:
            raise ValueError(f"expected a domain and its upstream addresses, got {domain!r}: {servers!r}")
        if not all(isinstance(a, str) for a in addresses):
            raise ValueError(f"{domain}: expected upstream addresses as strings, got {servers!r}")
        out[domain] = list(addresses)
    return out


def parse(text: str, source: str) -> dict[str, Any]:
    """The settings a YAML text gives (only the keys it has), checked; ConfigError naming the key."""
    try:
        document = load_yaml(text, source)
    except DecodeError as err:
        where = f"line {err.line}, column {err.column}: " if err.line is not None else ""
        raise ConfigError(source, None, f"not valid YAML: {where}{err.reason}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(source, None, "expected a mapping of settings at the top")
    values = {}
    for name, value in document.items():
        key = BY_NAME.get(name) if isinstance(name, str) else None
        if key is None:
            raise ConfigError(source, str(name), "unknown key")
        try:
            values[name] = normalize(key, value)
        except ValueError as err:
            raise ConfigError(source, name, str(err)) from None
    return values


def load(path: str) -> dict[str, Any]:
    """`parse` of a file; ConfigError when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(path, None, f"cannot be read: {err}") from None
    return parse(text, path)


def merge(file_values: Mapping[str, Any], flag_values: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults, overridden by the file, overridden by the flags given on the command line."""
    return {**defaults(), **file_values, **flag_values}


def changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, set[str]]:
    """The keys whose values differ, by reload group."""
    out: dict[str, set[str]] = {}
    for key in KEYS:
        if old.get(key.name) != new.get(key.name):
            out.setdefault(key.group, set()).add(key.name)
    return out


def fingerprint(path: str) -> tuple[int, int, int, int] | None:
    """What tells that a file changed (device, inode, mtime, size); None when it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size
