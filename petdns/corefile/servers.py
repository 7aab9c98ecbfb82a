"""Server blocks put together into one set of settings values (`Translation`).

The kubernetes directive (at most one) gives the zones; a `forward` in a block for another zone
becomes a stub domain; the ports of the block keys, with the block's `bind` addresses (else every
IPv4 address), become the listen addresses. A Corefile leaves out what CoreDNS does not do without
its directive, so a missing directive sets its key too (no `prometheus`: no metrics; no `cache`: no
cache; no `forward`: nothing forwarded). Last, each key is checked against the settings petdns has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from petdns.corefile import records
from petdns.corefile.entries import Block, Entry, Out, count, within, zone
from petdns.corefile.plugins import HANDLERS, Handler
from petdns.corefile.syntax import CorefileError, Directive, ServerBlock, Token
from petdns.settings import config_file

ALL: dict[str, Handler] = {
    **HANDLERS,
    "hosts": records.hosts,
    "rewrite": records.rewrite,
    "template": records.template,
    "acl": records.acl,
}
# CoreDNS plugins (plugin.cfg) petdns does not have: an error names them as such
COREDNS = frozenset(
    [
        "metadata",
        "geoip",
        "cancel",
        "tls",
        "timeouts",
        "multisocket",
        "reload",
        "nsid",
        "bufsize",
        "bind",
        "debug",
        "trace",
        "ready",
        "health",
        "pprof",
        "prometheus",
        "errors",
        "log",
        "dnstap",
        "local",
        "dns64",
        "acl",
        "any",
        "chaos",
        "loadbalance",
        "tsig",
        "cache",
        "rewrite",
        "header",
        "dnssec",
        "autopath",
        "minimal",
        "template",
        "transfer",
        "hosts",
        "route53",
        "azure",
        "clouddns",
        "k8s_external",
        "kubernetes",
        "file",
        "auto",
        "secondary",
        "etcd",
        "loop",
        "forward",
        "grpc",
        "erratic",
        "whoami",
        "on",
        "sign",
        "view",
        "root",
    ]
)
ONCE = frozenset(  # at most once per server block, as in CoreDNS
    {"health", "ready", "prometheus", "cache", "errors", "log", "reload", "loop", "loadbalance", "bind"}
)
ANSWERING = frozenset({"kubernetes", "forward", "hosts", "template"})  # what may answer a block's zone
# a missing directive: what CoreDNS then does, as settings values
ABSENT: dict[str, dict[str, Any]] = {
    "prometheus": {"metrics_listen": []},
    "cache": {"cache_size": 0},
    "loop": {"loop_detect": False},
    "loadbalance": {"loadbalance": False},
    "log": {"query_log": False},
}


@dataclass
class Translation:
    """What a Corefile became: the entry of each line, the values, and where each key came from."""

    entries: list[Entry]
    values: dict[str, Any]
    origin: dict[str, Entry]
    implied: list[tuple[str, str, Any]] = field(default_factory=list)  # (why, key, value)
    files: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Entry]:
        return [e for e in self.entries if e.error]

    def first_error(self) -> CorefileError | None:
        for e in self.errors:
            return CorefileError(e.file, e.line, e.text.split(" ")[0] if e.text else None, e.error or "")
        return None

    def where(self, key: str) -> str | None:
        """`file:line` of the line that set `key`."""
        entry = self.origin.get(key)
        return f"{entry.file}:{entry.line}" if entry else None


def _key(token: Token) -> tuple[str, int]:
    """`[dns://]ZONE[:PORT]` as (zone, port)."""
    text = token.text
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme != "dns":
            raise token.error(f"{scheme}:// servers are not supported (plain DNS only)")
    host, sep, port = text.rpartition(":")
    if not sep or ("]" in port):
        host, port = text, "53"
    return zone(Token(host or ".", token.file, token.line)), count(
        Token(port, token.file, token.line), 1, 65535
    )


def _run(d: Directive, block: Block, out: Out) -> None:
    out.entry(d)
    out.directives.add(d.name.text)
    try:
        handler = ALL.get(d.name.text)
        if handler is None:
            known = d.name.text in COREDNS
            raise d.error("a CoreDNS plugin petdns does not have" if known else "unknown directive")
        handler(d, block, out)
    except CorefileError as err:
        out.fail(err, d)


def translate(servers: Iterable[ServerBlock], files: Iterable[str] = ()) -> Translation:
    """The settings values of parsed server blocks (the errors recorded on their lines)."""
    out = Out()
    blocks: list[tuple[ServerBlock, Block]] = []
    for server in servers:
        head = server.keys[0]
        out.entry(Directive(head, server.keys[1:], ()))
        try:
            keys = [_key(t) for t in server.keys]
        except CorefileError as err:
            out.fail(err, head)
            continue
        block = Block(tuple(dict.fromkeys(z for z, _ in keys)), tuple(dict.fromkeys(p for _, p in keys)))
        blocks.append((server, block))
    kubernetes = [(d, b) for s, b in blocks for d in s.directives if d.name.text == "kubernetes"]
    for d, _ in kubernetes[1:]:
        out.fail(d.error("petdns takes one kubernetes directive (its zones are one setting)"), d)
    for d, b in kubernetes[:1]:  # first: the zones are what other directives compare with
        _run(d, b, out)
    for server, block in blocks:
        for d in server.directives:
            if d.name.text == "bind":
                _run(d, block, out)
        seen: set[str] = set()
        for d in server.directives:
            if d.name.text in ONCE and d.name.text in seen:
                out.entry(d)
                out.fail(d.error("given twice in this server block"), d)
            elif d.name.text not in ("kubernetes", "bind"):
                _run(d, block, out)
            seen.add(d.name.text)
        _listen(server, block, out)
    return _finish(out, [b for _, b in blocks], list(files))


def _listen(server: ServerBlock, block: Block, out: Out) -> None:
    head = server.keys[0]
    names = {d.name.text for d in server.directives}
    if not block.root and not names & ANSWERING:
        out.fail(
            head.error("nothing in this block answers its zone (kubernetes, forward, hosts, template)"), head
        )
    hosts = block.binds or ["0.0.0.0"]
    listen = [f"[{h.strip('[]')}]:{p}" if ":" in h else f"{h}:{p}" for p in block.ports for h in hosts]
    try:
        out.set(Directive(head, server.keys[1:], ()), "listen", listen)
    except CorefileError as err:  # pragma: no cover - listen lists add up
        out.fail(err, head)


def _finish(out: Out, blocks: list[Block], files: list[str]) -> Translation:
    values = out.values
    implied: list[tuple[str, str, Any]] = []

    def imply(why: str, key: str, value: Any) -> None:
        if key in config_file.BY_NAME and key not in values:
            values[key] = value
            implied.append((why, key, value))

    for name, settings in ABSENT.items():
        if name not in out.directives:
            for key, value in settings.items():
                imply(f"no {name}", key, value)
    if "lameduck" not in values:
        imply("no health { lameduck }", "lameduck", 0.0)
    if "cache" in out.directives:
        imply("cache without serve_stale", "serve_stale", 0.0)
    if not {"upstream", "resolv_conf", "stub_domains"} & set(values):
        imply("no forward", "no_forward", True)
    elif "stub_domains" in values and not {"upstream", "resolv_conf"} & set(values):
        first = out.origin["stub_domains"]
        first.error = first.error or "petdns needs a `forward .` for the other names when it forwards any"
    if "kubernetes" not in out.directives:
        implied.append(("no kubernetes", "zones", config_file.BY_NAME["zones"].default))
    own = values.get("zones", config_file.BY_NAME["zones"].default)
    for domain in values.get("stub_domains", {}):
        if any(within(domain, z) for z in own):
            stub = ("stub_domains", {domain: values["stub_domains"][domain]})
            entry = next(e for e in out.entries.values() if stub in e.values)
            entry.error = entry.error or (
                f"petdns answers {domain} itself from the API (kubernetes); it cannot forward it: "
                "serve it with `kubernetes` instead"
            )
    _check(out)
    order = {f: i for i, f in enumerate(files)}
    entries = sorted(out.entries.values(), key=lambda e: (order.get(e.file, len(order)), e.line))
    return Translation(entries, values, out.origin, implied, files)


def _check(out: Out) -> None:
    """Every key one petdns has, every value one it takes (in its canonical shape)."""
    for entry in out.entries.values():
        for key, _ in entry.values:
            if key not in config_file.BY_NAME:
                entry.error = entry.error or f"this petdns has no setting {key} yet"
    for key, value in out.values.items():
        setting = config_file.BY_NAME.get(key)
        if setting is None:
            continue
        try:
            out.values[key] = config_file.normalize(setting, value)
        except ValueError as err:
            origin = out.origin.get(key)
            if origin is not None:
                origin.error = origin.error or f"{key}: {err}"
