"""What each Corefile line became (`Entry`), the settings values they add up to (`Out`), and the
small readers the plugin mappings share (zones, durations, counts, addresses)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from petdns.corefile.syntax import CorefileError, Directive, Token

UNION = frozenset({"listen", "health_listen", "ready_listen", "metrics_listen"})  # one list from all lines
APPEND = frozenset({"hosts", "rewrite", "templates", "acl"})  # one item per directive
REVERSE = ("in-addr.arpa", "ip6.arpa")
GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
Row = tuple[str, int, int]


@dataclass
class Entry:
    """One line of a Corefile: its text, the settings it gave, notes and the error, if any."""

    file: str
    line: int
    text: str
    values: list[tuple[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class Block:
    """The server block a directive is in: its zones (`.` for the root) and its ports."""

    zones: tuple[str, ...]
    ports: tuple[int, ...]
    binds: list[str] = field(default_factory=list)

    @property
    def root(self) -> bool:
        return "." in self.zones


class Out:
    """The entries by line, and the values they add up to; a value that contradicts an earlier
    line is an error naming it."""

    def __init__(self) -> None:
        self.entries: dict[Row, Entry] = {}
        self.values: dict[str, Any] = {}
        self.origin: dict[str, Entry] = {}  # where each key was set (first line)
        self.directives: set[str] = set()  # the directive names met

    def entry(self, at: Directive | Token) -> Entry:
        token = at.name if isinstance(at, Directive) else at
        text = at.text() if isinstance(at, Directive) else token.text
        row = token.row
        if row not in self.entries:
            self.entries[row] = Entry(token.file, token.line, text)
        return self.entries[row]

    def set(self, at: Directive | Token, key: str, value: Any) -> None:
        entry = self.entry(at)
        if key in UNION:
            have = self.values.setdefault(key, [])
            have += [v for v in value if v not in have]
        elif key in APPEND:
            self.values.setdefault(key, []).append(value)
        elif key in self.values and self.values[key] != value:
            first = self.origin[key]
            raise _error(
                at,
                f"{key} is one setting in petdns: {first.file}:{first.line} gave {self.values[key]!r}, "
                f"this line gives {value!r}",
            )
        else:
            self.values[key] = value
        self.origin.setdefault(key, entry)
        entry.values.append((key, value))

    def stub(self, at: Directive, domain: str, addresses: list[str]) -> None:
        stubs = self.values.setdefault("stub_domains", {})
        if domain in stubs and stubs[domain] != addresses:
            first = self.origin["stub_domains"]
            raise at.error(f"{domain} is forwarded twice (also at {first.file}:{first.line})")
        stubs[domain] = addresses
        self.origin.setdefault("stub_domains", self.entry(at))
        self.entry(at).values.append(("stub_domains", {domain: addresses}))

    def note(self, at: Directive | Token, text: str) -> None:
        self.entry(at).notes.append(text)

    def fail(self, err: CorefileError, at: Directive | Token) -> None:
        """Record `err` on the line it names (an option line of `at`'s block, or `at`'s own)."""
        entry = self.entry(at)
        if (err.file, err.line) != (entry.file, entry.line):
            found = [e for e in self.entries.values() if (e.file, e.line) == (err.file, err.line)]
            entry = found[-1] if found else Entry(err.file, err.line or 0, err.token or "")
            if not found:
                self.entries[(err.file, err.line or 0, -1)] = entry
        entry.error = entry.error or err.message

    def errors(self) -> list[Entry]:
        return [e for e in self.entries.values() if e.error]


def _error(at: Directive | Token, message: str) -> CorefileError:
    return at.error(message)


def zone(token: Token) -> str:
    """A zone written in a Corefile (`Cluster.Local.`, `.`) in lower case without the trailing dot;
    the root is `.`."""
    text = token.text.lower()
    if text.startswith("dns://"):
        text = text[len("dns://") :]
    if text in (".", ""):
        return "."
    name = text.rstrip(".")
    if ".." in name or not re.fullmatch(r"[a-z0-9_*.-]+", name):
        raise token.error("not a domain name")
    return name


def zones(tokens: Sequence[Token], block: Block) -> list[str]:
    """The zones given, else the block's."""
    return [zone(t) for t in tokens] if tokens else list(block.zones)


def is_reverse(name: str) -> bool:
    return any(name == r or name.endswith("." + r) for r in REVERSE)


def within(name: str, parent: str) -> bool:
    return parent in (".", name) or name.endswith("." + parent)


def duration(token: Token) -> float:
    """Seconds of a Go duration (`5s`, `1m30s`, `500ms`) or a plain number of seconds."""
    text = token.text
    if re.fullmatch(r"\d+", text):
        return float(text)
    parts = GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise token.error("not a duration such as 5s, 1m or 500ms")
    return sum(float(n) * UNITS[u] for n, u in parts)


def count(token: Token, low: int = 0, high: int = 2**31 - 1) -> int:
    if not re.fullmatch(r"\d+", token.text) or not low <= int(token.text) <= high:
        raise token.error(f"expected a whole number in {low}..{high}")
    return int(token.text)


def args(d: Directive, low: int, high: int | None = None) -> tuple[Token, ...]:
    """The arguments, checked to be between `low` and `high` in number."""
    n = len(d.args)
    if n < low or (high is not None and n > high):
        want = f"{low}" if high == low else f"{low} to {high}" if high is not None else f"at least {low}"
        raise d.error(f"expected {want} argument{'s' * (want != '1')}, got {n}")
    return d.args


def no_block(d: Directive) -> None:
    if d.block is not None:
        raise d.error("takes no { } block here")


def address(token: Token, default_port: int = 53) -> str:
    """An upstream `IP`, `IP:PORT`, `[IPv6]:PORT` or `dns://...` as `IP:PORT` / `[IPv6]:PORT`."""
    text = token.text
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme != "dns":
            raise token.error(f"{scheme}:// upstreams are not supported (plain DNS only)")
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = count(Token(rest.lstrip(":"), token.file, token.line), 1, 65535)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = count(Token(port_text, token.file, token.line), 1, 65535)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise token.error("not an IP address (host names are not resolved here)") from None
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
