"""The `hosts`, `rewrite` and `templates` settings turned into `petdns.plugins.chain.Plugins`, checked.

`hosts`: a list of mappings, one per `hosts` block: `file` (default /etc/hosts, as CoreDNS; "" for
none), `zones` (default every name), `entries` ("IP name..." lines), `ttl` (1-65535, default 3600),
`fallthrough` (zones; an empty list is every zone; absent: off), `no_reverse`, `reload` (default 5s,
0 never). `rewrite`: rule texts as CoreDNS writes them after `rewrite`. `templates`: a list of
mappings `class`, `type`, `zones`, `match`, `answer`, `additional`, `authority`, `rcode`, `fallthrough`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from petdns.plugins.chain import Plugins
from petdns.plugins.hosts import HostsSpec
from petdns.plugins.message import fqdn
from petdns.settings.config_file import duration

HOSTS_FIELDS: Final = ("file", "zones", "entries", "ttl", "fallthrough", "no_reverse", "reload")
TEMPLATE_FIELDS: Final = (
    "class", "type", "zones", "match", "answer", "additional", "authority", "rcode", "fallthrough",
)  # fmt: skip
DEFAULT_HOSTS_FILE: Final = "/etc/hosts"


class PluginError(ValueError):
    """A plugin setting that cannot be used: `key` is the setting."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def plugins_of(values: Mapping[str, Any]) -> Plugins | None:
    """The plugins the settings configure; None when none is."""
    hosts = tuple(_hosts(i, entry) for i, entry in enumerate(values.get("hosts") or []))
    rewrite = list(values.get("rewrite") or [])
    templates = list(values.get("templates") or [])
    for i, entry in enumerate(templates):
        unknown = sorted(set(entry) - set(TEMPLATE_FIELDS))
        if unknown:
            raise PluginError("templates", f"[{i}]: unknown field(s) {', '.join(unknown)}")
    if not (hosts or rewrite or templates):
        return None
    checks: tuple[tuple[str, Callable[[], Plugins]], ...] = (
        ("rewrite", lambda: Plugins(rewrite=rewrite)),
        ("templates", lambda: Plugins(templates=templates)),
        ("hosts", lambda: Plugins(hosts=hosts)),
    )
    for key, check in checks:
        try:
            check()
        except ValueError as err:
            raise PluginError(key, str(err)) from None
    return Plugins(rewrite, templates, hosts)


def _strings(i: int, entry: Mapping[str, Any], name: str) -> list[str] | None:
    value = entry.get(name)
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise PluginError("hosts", f"[{i}].{name}: expected a list of strings, got {value!r}")
    return items


def _hosts(i: int, entry: Mapping[str, Any]) -> HostsSpec:
    unknown = sorted(set(entry) - set(HOSTS_FIELDS))
    if unknown:
        raise PluginError("hosts", f"[{i}]: unknown field(s) {', '.join(unknown)}")
    file = entry.get("file", DEFAULT_HOSTS_FILE)
    if file is not None and not isinstance(file, str):
        raise PluginError("hosts", f"[{i}].file: expected a path, got {file!r}")
    ttl = entry.get("ttl", 3600)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= 65535:
        raise PluginError("hosts", f"[{i}].ttl: expected 1-65535 seconds, got {ttl!r}")
    no_reverse = entry.get("no_reverse", False)
    if not isinstance(no_reverse, bool):
        raise PluginError("hosts", f"[{i}].no_reverse: expected true or false, got {no_reverse!r}")
    try:
        reload = duration(entry.get("reload", 5.0))
    except ValueError as err:
        raise PluginError("hosts", f"[{i}].reload: {err}") from None
    fallthrough = _strings(i, entry, "fallthrough")
    return HostsSpec(
        file=file or None,
        zones=tuple(fqdn(z) for z in _strings(i, entry, "zones") or ["."]),
        entries=tuple(_strings(i, entry, "entries") or ()),
        ttl=ttl,
        fallthrough=None if fallthrough is None else tuple(fqdn(z) for z in fallthrough),
        no_reverse=no_reverse,
        reload=reload,
    )
