"""Which questions the plugins could change, in the terms the fast path has at hand: the question's
lower-case wire name and its type and class bytes.

`Touched` errs on the side of touching: a query it passes over is one that rewrite, template and
hosts all leave to the zones unchanged, so the fast path may answer it. A rewrite rule matching by
prefix, substring or regex (or rewriting the IN class) touches every name; `exact` and `suffix`
rules touch the names they match. A template touches the names in its zones of its type (or any
with ANY) when its class is IN or ANY. A hosts block touches the names it has entries for and their
reverse names (and the names under its wildcards), and, unless it falls through everywhere, every
name in its zones.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from petdns.plugins.hosts import Hosts
from petdns.plugins.message import wire_of
from petdns.plugins.rewrite import Rewriter, Rule
from petdns.plugins.template import Template

IN: Final = 1
ANY: Final = 255
ANY_TYPE: Final = struct.pack("!H", ANY)
Types = frozenset[bytes] | None  # two-byte type codes; None: every type


@dataclass(frozen=True, slots=True)
class Touched:
    """Names and zones the plugins could answer or rewrite (see the module)."""

    everything: bool = False
    names: frozenset[bytes] = frozenset()  # exact lower-case wire names
    parents: frozenset[bytes] = frozenset()  # wildcards: the names one label below these
    suffixes: tuple[tuple[bytes, Types], ...] = ()  # wire suffixes (zones, rewrite suffixes)
    types: frozenset[bytes] = frozenset()  # every name asked with one of these types

    def __call__(self, name: bytes, tail: bytes) -> bool:
        """Whether a question (lower-case wire name, type and class bytes) may be touched."""
        if self.everything or name in self.names:
            return True
        if self.types and tail[:2] in self.types:
            return True
        if self.parents and name[name[0] + 1 :] in self.parents:
            return True
        for suffix, types in self.suffixes:
            if name.endswith(suffix) and (types is None or tail[:2] in types):
                return True
        return False


@dataclass(slots=True)
class _Builder:
    everything: bool = False
    names: set[bytes] = field(default_factory=set)
    parents: set[bytes] = field(default_factory=set)
    suffixes: list[tuple[bytes, Types]] = field(default_factory=list)
    types: set[bytes] = field(default_factory=set)

    def name(self, text: str) -> None:
        try:
            self.names.add(_wire(text))
        except ValueError:
            self.everything = True

    def suffix(self, wire: bytes, types: Types = None) -> None:
        if wire == b"\x00" and types is None:
            self.everything = True
        self.suffixes.append((wire, types))

    def zones(self, zones: Iterable[str], types: Types = None) -> None:
        for zone in zones:
            try:
                self.suffix(_wire(zone), types)
            except ValueError:
                self.everything = True

    def build(self) -> Touched:
        if self.everything:
            return Touched(everything=True)
        return Touched(
            False, frozenset(self.names), frozenset(self.parents), tuple(self.suffixes), frozenset(self.types)
        )


def _wire(text: str) -> bytes:
    """The wire form of lower-case FQDN text as the fast path spells it (ValueError when a name
    could be spelled otherwise there: not ASCII, or not a domain name)."""
    if not text.isascii():
        raise ValueError(text)
    return wire_of(text)


def text_suffix(suffix: str) -> bytes:
    """What the wire form of every name whose text ends with `suffix` (lower-case, ending in a dot)
    ends with: the labels after its first dot, with the part of a label before it."""
    head, dot, rest = suffix.partition(".")
    if not dot or not suffix.isascii():
        raise ValueError(suffix)
    return head.encode() + (_wire(rest) if rest else b"\x00")


def _rewrite(out: _Builder, rules: Sequence[Rule]) -> None:
    for rule in rules:
        if rule.part == "type":
            out.types.add(struct.pack("!H", rule.values[0]))
        elif rule.part == "class":
            out.everything |= rule.values[0] in (IN, ANY)
        elif rule.match == "exact":
            out.name(rule.source)
        elif rule.match == "suffix":
            try:
                out.suffix(text_suffix(rule.source))
            except ValueError:
                out.everything = True
        else:
            out.everything = True


def _templates(out: _Builder, templates: Sequence[Template]) -> None:
    for t in templates:
        if t.qclass not in (IN, ANY):
            continue  # the fast path answers IN questions only
        types = None if t.qtype == ANY else frozenset((struct.pack("!H", t.qtype), ANY_TYPE))
        out.zones(t.zones, types)


def _hosts(out: _Builder, hosts: Sequence[Hosts]) -> None:
    for h in hosts:
        for table in (h.table, h.inline):
            for name in (*table.v4, *table.v6):
                out.name(name)
            for wild in (*table.wild4, *table.wild6):
                try:
                    out.parents.add(_wire(wild[2:]))
                except ValueError:
                    out.everything = True
            for address in table.names:
                out.name(ipaddress.ip_address(address).reverse_pointer + ".")
        if h.spec.fallthrough != ():  # names without entries: SERVFAIL somewhere in its zones
            out.zones(h.spec.zones)


def touched(rewriter: Rewriter | None, templates: Sequence[Template], hosts: Sequence[Hosts]) -> Touched:
    """What the configured plugins could change (see the module)."""
    out = _Builder()
    if rewriter is not None:
        _rewrite(out, rewriter.rules)
    _templates(out, templates)
    _hosts(out, hosts)
    return out.build()
