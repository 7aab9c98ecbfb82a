"""CoreDNS's `hosts`: /etc/hosts-style entries (a file and inline lines) answering A, AAAA and PTR.

Inside its zones a name with entries gets them (NODATA for other types); a name without gets SERVFAIL
(no SOA to make an NXDOMAIN of, as CoreDNS) unless `fallthrough` covers it. PTR questions for the
entries' addresses are answered in any zone (unless `no_reverse`); other PTR questions pass on. The
file's and the inline entries both count, the file's first. The file is read again when its size or
modification time changed, at most every `reload` seconds (0: never).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import dnslib

from petdns.dns.constants import AAAA, PTR, A
from petdns.plugins.message import fqdn, in_zones

PASS: Final = "pass"  # not ours: the next plugin answers
SERVFAIL: Final = "servfail"


@dataclass(frozen=True, slots=True)
class HostsSpec:
    """One `hosts` block: `hosts [FILE [ZONES...]] { INLINE, ttl, no_reverse, reload, fallthrough }`."""

    file: str | None = None
    zones: tuple[str, ...] = (".",)
    entries: tuple[str, ...] = ()
    ttl: int = 3600
    fallthrough: tuple[str, ...] | None = None  # None: off; (): every zone
    no_reverse: bool = False
    reload: float = 5.0


@dataclass(slots=True)
class Table:
    """Entries by lower-case FQDN (wildcards `*.x.` apart) and names by address."""

    v4: dict[str, list[str]] = field(default_factory=dict)
    v6: dict[str, list[str]] = field(default_factory=dict)
    wild4: dict[str, list[str]] = field(default_factory=dict)
    wild6: dict[str, list[str]] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)

    def addresses(self, name: str, family: int) -> list[str]:
        exact, wild = (self.v4, self.wild4) if family == 4 else (self.v6, self.wild6)
        found = exact.get(name)
        if found is not None:
            return found
        _, dot, parent = name.partition(".")
        if dot and parent:
            return wild.get("*." + parent, [])
        return []


def entry_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address of an entry (an IPv6 zone index dropped); ValueError when it is none."""
    return ipaddress.ip_address(text.partition("%")[0])


def parse_table(lines: Iterable[str], zones: Sequence[str], *, reverse: bool, strict: bool = False) -> Table:
    """The entries of hosts-file lines (`#` comments; lines without an address and a name are skipped,
    as are names outside `zones`); with `strict`, a bad address is a ValueError naming the line."""
    table = Table()
    for raw in lines:
        fields = raw.partition("#")[0].split()
        if len(fields) < 2:
            continue
        try:
            addr = entry_address(fields[0])
        except ValueError:
            if strict:
                raise ValueError(f"{raw.strip()!r}: {fields[0]!r} is not an IP address") from None
            continue
        v4 = addr.version == 4
        for text in fields[1:]:
            name = fqdn(text)
            if in_zones(zones, name) is None:
                continue
            if name.startswith("*."):
                (table.wild4 if v4 else table.wild6).setdefault(name, []).append(str(addr))
                continue
            (table.v4 if v4 else table.v6).setdefault(name, []).append(str(addr))
            if reverse:
                table.names.setdefault(str(addr), []).append(name)
    return table


def reverse_address(name: str) -> str | None:
    """The address a reverse name (`4.3.2.1.in-addr.arpa.`, 32 nibbles of `ip6.arpa.`) stands for."""
    labels = name.rstrip(".").split(".")
    try:
        if labels[-2:] == ["in-addr", "arpa"] and len(labels) == 6:
            return str(ipaddress.IPv4Address(".".join(reversed(labels[:4]))))
        if labels[-2:] == ["ip6", "arpa"] and len(labels) == 34:
            nibbles = "".join(reversed(labels[:32]))
            return str(ipaddress.IPv6Address(int(nibbles, 16)))
    except ValueError:
        return None
    return None


class Hosts:
    """One `hosts` block's tables: inline entries fixed, the file's re-read on change (by the full
    path, under the zone's lock)."""

    def __init__(self, spec: HostsSpec) -> None:
        self.spec = spec
        reverse = not spec.no_reverse
        self.inline = parse_table(spec.entries, spec.zones, reverse=reverse, strict=True)
        self.table = Table()
        self._stamp: tuple[int, int] | None = None
        self._checked = float("-inf")

    @property
    def next_look(self) -> float:
        """When `refresh` next looks at the file (infinity: never)."""
        spec = self.spec
        if spec.file is None or (self._stamp is not None and not spec.reload):
            return float("inf")
        return self._checked + spec.reload if self._stamp is not None else float("-inf")

    def refresh(self, now: float) -> bool:
        """Read the file again when its size or modification time changed and the reload interval has
        passed since the last look (the first look always reads it); True when the table changed."""
        spec = self.spec
        if spec.file is None or (
            self._stamp is not None and (not spec.reload or now - self._checked < spec.reload)
        ):
            return False
        self._checked = now
        try:
            st = os.stat(spec.file)
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp == self._stamp:
                return False
            with open(spec.file, encoding="utf-8", errors="replace") as f:
                table = parse_table(f, spec.zones, reverse=not spec.no_reverse)
        except OSError:
            self._stamp = self._stamp or (0, -1)  # missing: what was read (and the inline entries) stays
            return False
        self.table, self._stamp = table, stamp
        return True

    def addresses(self, name: str, family: int) -> list[str]:
        return self.table.addresses(name, family) + self.inline.addresses(name, family)

    def resolve(self, name: str, qtype: int) -> list[dnslib.RR] | str:
        """The answer records for a lower-case FQDN (an empty list: NODATA), or PASS or SERVFAIL."""
        spec = self.spec
        zone = in_zones(spec.zones, name)
        if zone is None and qtype != PTR:
            return PASS
        answers: list[dnslib.RR] = []
        if qtype == PTR:
            addr = reverse_address(name)
            names = [] if addr is None else self.table.names.get(addr, []) + self.inline.names.get(addr, [])
            if not names:
                return PASS
            answers = [dnslib.RR(name, PTR, ttl=spec.ttl, rdata=dnslib.PTR(n)) for n in names]
        elif qtype == A:
            answers = [dnslib.RR(name, A, ttl=spec.ttl, rdata=dnslib.A(ip)) for ip in self.addresses(name, 4)]
        elif qtype == AAAA:
            answers = [
                dnslib.RR(name, AAAA, ttl=spec.ttl, rdata=dnslib.AAAA(ip)) for ip in self.addresses(name, 6)
            ]
        if answers or self.addresses(name, 4) or self.addresses(name, 6):
            return answers
        if spec.fallthrough is not None and (not spec.fallthrough or in_zones(spec.fallthrough, name)):
            return PASS
        return SERVFAIL
