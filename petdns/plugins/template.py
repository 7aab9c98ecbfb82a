"""CoreDNS's `template`: answers made from a regex match of the question name.

Templates are tried in order for names in their zones: one whose class and type fit (ANY fits all)
and one of whose regexes matches answers with its `rcode` and its `answer`, `additional` and
`authority` records, each a record in zone-file text with Go-template placeholders. Class, type or
zone that do not fit pass to the next template; a regex miss does too with `fallthrough` for the
name, else it is SERVFAIL. The placeholders are the ones CoreDNS's examples use: `.Name`, `.Zone`,
`.Class`, `.Type`, `.Regex`, `.Group.N` / `.Group.NAME`, `index .Match N`, `index .Group "NAME"`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import dnslib

from petdns.plugins.message import CLASS_NAMES, class_code, fqdn, in_zones, rcode_code, type_code, type_name

PASS: Final = "pass"
SERVFAIL_CODE: Final = 2
ANY: Final = 255
_ACTION: Final = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_FIELD: Final = re.compile(r"\.(Name|Zone|Class|Type|Regex)$")
_GROUP: Final = re.compile(r"\.Group\.(\w+)$")
_INDEX: Final = re.compile(r"index\s+\.(Match|Group)\s+(\d+|\"[^\"]*\")$")
SUPPORTED: Final = '.Name .Zone .Class .Type .Regex .Group.N .Group.NAME, index .Match N, index .Group "NAME"'

Data = Mapping[str, object]
Part = Callable[[Data], str]


class TemplateError(ValueError):
    """A template that cannot be used."""


def _part(action: str) -> Part:
    found = _FIELD.match(action)
    if found:
        key = found[1]
        return lambda data: str(data[key])
    found = _GROUP.match(action)
    if found:
        group = found[1]
        return lambda data: _lookup(data["Group"], group)
    found = _INDEX.match(action)
    if found:
        what, raw = found[1], found[2]
        index = raw.strip('"')
        if what == "Match":
            if not raw.isdigit():
                raise TemplateError(f"{{{{ {action} }}}}: .Match is indexed by a number")
            return lambda data: _lookup(data["Match"], int(index))
        return lambda data: _lookup(data["Group"], index)
    raise TemplateError(f"{{{{ {action} }}}} is not supported (supported: {SUPPORTED})")


def _lookup(container: object, key: object) -> str:
    if isinstance(container, dict):
        return str(container.get(key, ""))
    if isinstance(container, list) and isinstance(key, int):
        return str(container[key]) if key < len(container) else ""
    return ""


def compile_text(text: str) -> list[str | Part]:
    """Literal text and placeholders; TemplateError for a placeholder outside the supported ones."""
    parts: list[str | Part] = []
    pos = 0
    for found in _ACTION.finditer(text):
        parts.append(text[pos : found.start()])
        parts.append(_part(found[1]))
        pos = found.end()
    parts.append(text[pos:])
    if "{{" in "".join(p for p in parts if isinstance(p, str)):
        raise TemplateError(f"{text!r}: an unclosed {{{{")
    return parts


def execute(parts: Sequence[str | Part], data: Data) -> str:
    return "".join(p if isinstance(p, str) else p(data) for p in parts)


def parse_rr(text: str) -> dnslib.RR:
    """One record from zone-file text (`(` `)` around SOA timers allowed); ValueError otherwise."""
    try:
        records = dnslib.RR.fromZone(text.replace("(", " ").replace(")", " "))
    except Exception as err:  # dnslib raises many kinds on bad text
        raise ValueError(f"{text!r} is not a record: {err}") from None
    if len(records) != 1:
        raise ValueError(f"{text!r} is not one record")
    return records[0]


@dataclass(slots=True)
class Template:
    """One `template CLASS TYPE [ZONE...] { ... }` block."""

    qclass: int
    qtype: int
    zones: tuple[str, ...]
    regexes: list[re.Pattern[str]]
    answer: list[list[str | Part]] = field(default_factory=list)
    additional: list[list[str | Part]] = field(default_factory=list)
    authority: list[list[str | Part]] = field(default_factory=list)
    rcode: int = 0
    fallthrough: tuple[str, ...] | None = None

    def match(self, name: str, qtype: int, qclass: int) -> tuple[dict[str, object] | None, bool]:
        """(placeholder data, None when it does not match; whether a miss passes on)."""
        zone = in_zones(self.zones, name)
        if zone is None:
            return None, True
        if ANY not in (self.qclass, qclass) and qclass != self.qclass:
            return None, True
        if ANY not in (self.qtype, qtype) and qtype != self.qtype:
            return None, True
        for regex in self.regexes:
            found = regex.search(name)
            if found is None:
                continue
            groups: dict[str, str] = {str(i): g or "" for i, g in enumerate((found[0], *found.groups()))}
            groups.update({k: v or "" for k, v in found.groupdict().items()})
            return {
                "Name": name,
                "Zone": zone,
                "Regex": regex.pattern,
                "Class": CLASS_NAMES.get(qclass if qclass != ANY else self.qclass, str(qclass)),
                "Type": type_name(qtype if qtype != ANY else self.qtype),
                "Match": [found[0], *(g or "" for g in found.groups())],
                "Group": groups,
            }, False
        fall = self.fallthrough
        return None, fall is not None and (not fall or in_zones(fall, name) is not None)


def build_template(spec: Mapping[str, object]) -> Template:
    """A template from its `templates` entry: class, type, zones, match, answer, additional, authority,
    rcode, fallthrough. TemplateError naming what is wrong."""
    try:
        qclass = class_code(str(spec.get("class", "IN")))
        qtype = type_code(str(spec.get("type", "ANY")))
        rcode = rcode_code(str(spec.get("rcode", "NOERROR")))
    except ValueError as err:
        raise TemplateError(str(err)) from None
    regexes = []
    for text in _strings(spec, "match") or [".*"]:
        try:
            regexes.append(re.compile(text))
        except re.error as err:
            raise TemplateError(f"match: invalid regex {text!r}: {err}") from None
    fall = spec.get("fallthrough")
    sections = {
        key: [compile_text(t) for t in _strings(spec, key)] for key in ("answer", "additional", "authority")
    }
    return Template(
        qclass,
        qtype,
        tuple(fqdn(z) for z in _strings(spec, "zones")) or (".",),
        regexes,
        rcode=rcode,
        fallthrough=None if fall is None else tuple(fqdn(z) for z in _strings(spec, "fallthrough")),
        **sections,
    )


def _strings(spec: Mapping[str, object], key: str) -> list[str]:
    value = spec.get(key)
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise TemplateError(f"{key}: expected a list of strings, got {value!r}")
    return list(items)


@dataclass(frozen=True, slots=True)
class Answer:
    rcode: int
    answer: list[dnslib.RR]
    authority: list[dnslib.RR]
    additional: list[dnslib.RR]


def resolve(templates: Sequence[Template], name: str, qtype: int, qclass: int) -> Answer | str:
    """The templates' answer to a lower-case FQDN question: an Answer, PASS, or SERVFAIL as an Answer
    (a record that does not parse is SERVFAIL too, as CoreDNS)."""
    for template in templates:
        data, passes = template.match(name, qtype, qclass)
        if data is None:
            if passes:
                continue
            return Answer(SERVFAIL_CODE, [], [], [])
        if template.rcode == SERVFAIL_CODE:
            return Answer(SERVFAIL_CODE, [], [], [])
        try:
            made = [
                [parse_rr(execute(p, data)) for p in sec]
                for sec in (template.answer, template.authority, template.additional)
            ]
        except ValueError:
            return Answer(SERVFAIL_CODE, [], [], [])
        return Answer(template.rcode, *made)
    return PASS
