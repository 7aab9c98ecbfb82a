"""CoreDNS's `rewrite` rules: `name`, `type`, `class`, `ttl` and `rcode`, in order, each `stop` (the
default) or `continue`. A question is rewritten before any lookup; the reply gets the client's question
back and the record rules the matching rules asked for (`answer auto`, `answer name`, `answer value`,
`ttl`, `rcode`), applied in reverse order. As CoreDNS, when only `continue` rules matched and none
asked for a record rule, the reply keeps the rewritten question. Rules are CoreDNS text after the
word `rewrite`."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import dnslib

from petdns.plugins.message import RcodeRule, RecordRule, class_code, fqdn, rcode_code, type_code

MATCHES: Final = ("exact", "prefix", "suffix", "substring", "regex")
UNSUPPORTED: Final = ("edns0", "cname")
MAX_REGEX: Final = 10000
_GROUP: Final = re.compile(r"\{(\d+)\}")


class RuleError(ValueError):
    """A rewrite rule that cannot be used."""


@dataclass(slots=True)
class Question:
    """The question as the rules see it: lower-case FQDN text, type and class."""

    name: str
    qtype: int
    qclass: int


def _substitute(template: str, groups: Sequence[str | None]) -> str:
    return _GROUP.sub(lambda m: (groups[int(m[1])] or "") if int(m[1]) < len(groups) else m[0], template)


def _regex(pattern: str, to: str, what: str) -> re.Pattern[str]:
    if len(pattern) > MAX_REGEX:
        raise RuleError(f"{what}: regex pattern too long: {len(pattern)} > {MAX_REGEX}")
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise RuleError(f"{what}: invalid regex {pattern!r}: {err}") from None
    used = {int(g) for g in _GROUP.findall(to)}
    if used and max(used) > compiled.groups:
        raise RuleError(f"{what}: {to!r} uses more groups than {pattern!r} has")
    return compiled


# -- rewriting names in records -----------------------------------------------------------------------

StringRule = Callable[[str], str]


def regex_string(pattern: re.Pattern[str], to: str) -> StringRule:
    def rewrite(src: str) -> str:
        found = pattern.search(src)
        return src if found is None else _substitute(to, (found[0], *found.groups()))

    return rewrite


def remap_string(orig: str, to: str) -> StringRule:
    """`orig` and its subdomains onto `to`."""

    def rewrite(src: str) -> str:
        if src == orig:
            return to
        i = len(src) - len(orig)
        return src[:i] + to if i > 0 and src[i - 1] == "." and src.endswith(orig) else src

    return rewrite


def suffix_string(suffix: str, to: str) -> StringRule:
    return lambda src: src[: len(src) - len(suffix)] + to if src.endswith(suffix) else src


def _name_of(label: dnslib.DNSLabel) -> str:
    return str(label).lower()


def owner_rule(rewrite: StringRule) -> RecordRule:
    def rule(rr: dnslib.RR) -> None:
        name = _name_of(rr.rname)
        new = rewrite(name)
        if new != name:
            rr.rname = dnslib.DNSLabel(new)

    return rule


_VALUE_FIELDS: Final = {"SRV": "target", "MX": "label", "CNAME": "label", "NS": "label", "PTR": "label",
                        "DNAME": "label", "NAPTR": "replacement", "SOA": "mname"}  # fmt: skip


def value_rule(rewrite: StringRule) -> RecordRule:
    """The names records point at: CNAME, DNAME, SRV, MX, NS, PTR, NAPTR targets and the SOA's MNAME."""

    def rule(rr: dnslib.RR) -> None:
        attr = _VALUE_FIELDS.get(str(dnslib.QTYPE.get(rr.rtype, "")))
        if attr is None or not hasattr(rr.rdata, attr):
            return
        value = _name_of(getattr(rr.rdata, attr))
        new = rewrite(value)
        if new != value:
            setattr(rr.rdata, attr, dnslib.DNSLabel(new))

    return rule


def ttl_rule(low: int, high: int) -> RecordRule:
    def rule(rr: dnslib.RR) -> None:
        rr.ttl = low if rr.ttl < low else high if rr.ttl > high else rr.ttl

    return rule


# -- rules ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Rule:
    """One rule: what it matches and does to the question, and the record rules it adds."""

    text: str
    stop: bool
    part: str  # name, type, class, ttl
    match: str = "exact"
    source: str = ""
    target: str = ""
    pattern: re.Pattern[str] | None = None
    auto: bool = False
    records: list[RecordRule] = field(default_factory=list)
    values: tuple[int, int] = (0, 0)  # type or class from -> to; ttl low, high

    def matches(self, name: str) -> re.Match[str] | bool:
        m, s = self.match, self.source
        if m == "regex":
            assert self.pattern is not None
            return self.pattern.search(name) or False
        return (
            name == s
            if m == "exact"
            else (name.startswith(s) if m == "prefix" else name.endswith(s) if m == "suffix" else s in name)
        )

    def apply(self, q: Question) -> list[RecordRule] | None:
        """Rewrite `q` in place: the record rules to add, or None when the rule does not match."""
        if self.part == "type":
            if q.qtype != self.values[0]:
                return None
            q.qtype = self.values[1]
            return []
        if self.part == "class":
            if q.qclass != self.values[0]:
                return None
            q.qclass = self.values[1]
            return []
        found = self.matches(q.name)
        if not found:
            return None
        if self.part in ("ttl", "rcode"):
            return list(self.records)
        original, m, s, t = q.name, self.match, self.source, self.target
        if isinstance(found, re.Match):
            q.name = fqdn(_substitute(t, (found[0], *found.groups())))
        elif m == "exact":
            q.name = t
        elif m == "prefix":
            q.name = t + original[len(s) :]
        elif m == "suffix":
            q.name = original[: len(original) - len(s)] + t
        else:
            q.name = original.replace(s, t)
        if not self.auto:
            return list(self.records)
        back = remap_string(q.name, original)
        return [owner_rule(back), value_rule(back), *self.records]


def parse_rule(text: str) -> Rule:
    """A rule from its CoreDNS text after `rewrite`; RuleError naming the rule otherwise."""
    try:
        return _parse(text)
    except RuleError as err:
        raise RuleError(f"rewrite {text!r}: {err}") from None


def _parse(text: str) -> Rule:
    args = text.split()
    if not args:
        raise RuleError("no rule type given")
    stop = True
    if args[0].lower() in ("stop", "continue"):
        stop = args[0].lower() == "stop"
        args = args[1:]
        if not args:
            raise RuleError("a stop or continue rule must begin with a rule type")
    kind, args = args[0].lower(), args[1:]
    if kind in UNSUPPORTED:
        raise RuleError(f"{kind} rules are not supported (supported: name, type, class, ttl, rcode)")
    if kind == "answer":
        raise RuleError("response rewrites must begin with a name rule")
    if kind in ("type", "class"):
        if len(args) != 2:
            raise RuleError(f"{kind} rules must have exactly two arguments")
        code = type_code if kind == "type" else class_code
        try:
            values = (code(args[0]), code(args[1]))
        except ValueError as err:
            raise RuleError(str(err)) from None
        return Rule(text, stop, kind, values=values)
    if kind == "ttl":
        return _ttl(text, stop, args)
    if kind == "rcode":
        return _rcode(text, stop, args)
    if kind == "name":
        return _name(text, stop, args)
    raise RuleError(f"invalid rule type {kind!r}")


def _ttl(text: str, stop: bool, args: list[str]) -> Rule:
    if len(args) == 2:
        args = ["exact", *args]
    if len(args) != 3 or args[0].lower() not in MATCHES:
        raise RuleError("ttl rules are: ttl [exact|prefix|suffix|substring|regex] NAME SECONDS|MIN-MAX")
    match, source, value = args[0].lower(), args[1], args[2]
    low_text, dash, high_text = value.partition("-")
    try:
        low = int(low_text) if low_text else 0
        high = (int(high_text) if high_text else 2147483647) if dash else low
    except ValueError:
        raise RuleError(f"invalid TTL {value!r}") from None
    if (dash and not low_text and not high_text) or not 0 <= low <= high <= 2147483647:
        raise RuleError(f"invalid TTL {value!r}")
    pattern = _regex(source, "", "ttl") if match == "regex" else None
    source = source if match == "regex" else fqdn(source)
    return Rule(text, stop, "ttl", match, source, pattern=pattern, records=[ttl_rule(low, high)])


def _rcode(text: str, stop: bool, args: list[str]) -> Rule:
    """`rcode [exact|prefix|suffix|substring|regex] NAME FROM TO`."""
    if len(args) == 3:
        args = ["exact", *args]
    if len(args) != 4 or args[0].lower() not in MATCHES:
        raise RuleError("rcode rules are: rcode [exact|prefix|suffix|substring|regex] NAME FROM TO")
    match, source = args[0].lower(), args[1]
    codes = []
    for which, value in (("matching", args[2]), ("replacement", args[3])):
        try:
            codes.append(rcode_code(value))
        except ValueError:
            raise RuleError(f"invalid {which} rcode {value!r}") from None
    pattern = _regex(source, "", "rcode") if match == "regex" else None
    source = source if match == "regex" else fqdn(source)
    return Rule(text, stop, "rcode", match, source, pattern=pattern, records=[RcodeRule(*codes)])


def _name(text: str, stop: bool, args: list[str]) -> Rule:
    if len(args) < 2:
        raise RuleError("too few arguments for a name rule")
    if len(args) == 2:
        args = ["exact", *args]
    match = args[0].lower()
    if match not in MATCHES:
        raise RuleError(f"name rules match by {', '.join(MATCHES)}, not {args[0]!r}")
    source, target = args[1], args[2]
    pattern = _regex(source, target, "name") if match == "regex" else None
    if match != "regex":
        source = fqdn(source)
    target = fqdn(target)
    auto, records = _answers(match, args[3:])
    if match == "exact":
        auto = True
    if match == "suffix" and auto:  # the suffix swapped back, rather than the whole name
        back = suffix_string(target, source)
        auto, records = False, [owner_rule(back), value_rule(back), *records]
    return Rule(text, stop, "name", match, source, target, pattern, auto, records)


def _answers(match: str, args: list[str]) -> tuple[bool, list[RecordRule]]:
    """`answer auto | answer name FROM TO | answer value FROM TO`, repeatable (`answer` may be left out
    after the first)."""
    auto, records, names, i = False, [], 0, 0
    if args and len(args) < 2:
        raise RuleError(f"invalid arguments for a {match} name rule: {' '.join(args)!r}")
    while i < len(args):
        if args[i].lower() == "answer":
            i += 1
        elif i == 0:
            raise RuleError(f"unexpected {args[0]!r} after a name rule (expected answer ...)")
        if i >= len(args):
            raise RuleError("answer rule without a type (auto, name or value)")
        what = args[i].lower()
        i += 1
        if what == "auto":
            auto = True
            continue
        if what not in ("name", "value") or len(args) - i < 2:
            raise RuleError(f"answer {what} needs FROM TO (answer auto | name FROM TO | value FROM TO)")
        pattern, to = _regex(args[i], args[i + 1], f"answer {what}"), fqdn(args[i + 1])
        make = owner_rule if what == "name" else value_rule
        records.append(make(regex_string(pattern, to)))
        names += what == "name"
        i += 2
    if auto and names:
        raise RuleError("answer auto cannot be combined with answer name rules")
    return auto, records


@dataclass(frozen=True, slots=True)
class Rewritten:
    """What the matching rules did: the record rules for the reply, and whether the reply is to get
    the client's question back (not when only `continue` rules matched and none asked for records)."""

    records: list[RecordRule]
    restore: bool


class Rewriter:
    """The rules in order: `rewrite(q)` changes the question and says how to give back the reply."""

    def __init__(self, rules: Sequence[str]) -> None:
        self.rules = [parse_rule(text) for text in rules]

    def rewrite(self, q: Question) -> Rewritten | None:
        """Apply the rules to `q` in place; None when none matched."""
        out: list[RecordRule] | None = None
        for rule in self.rules:
            records = rule.apply(q)
            if records is None:
                continue
            out = (out or []) + records
            if rule.stop:
                return Rewritten(out, restore=True)
        return None if out is None else Rewritten(out, restore=bool(out))
