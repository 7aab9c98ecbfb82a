"""The record-making CoreDNS plugins mapped onto settings: hosts, rewrite, template and acl, one list
item per directive (CoreDNS's own spelling kept where petdns reads it the same way)."""

from __future__ import annotations

import ipaddress
from typing import Any

from petdns.corefile.entries import Block, Out, args, count, duration, no_block, zone, zones
from petdns.corefile.plugins import Option, options
from petdns.corefile.syntax import Directive

ACL_ACTIONS = ("allow", "block", "filter", "drop")
TEMPLATE_LISTS = ("answer", "additional", "authority")


def _fallthrough(o: Directive) -> list[str]:
    no_block(o)
    return [zone(t) for t in o.args]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def hosts(d: Directive, block: Block, out: Out) -> None:
    given = args(d, 0)
    value: dict[str, Any] = {
        "file": given[0].text if given else "/etc/hosts",
        "zones": [zone(t) for t in given[1:]] or list(block.zones),
        "entries": [],
        "ttl": 3600,
        "no_reverse": False,
        "reload": 5.0,
    }
    for o in d.block or ():
        if _is_ip(o.name.text):
            if not o.args or o.block is not None:
                raise o.error("an entry is an IP address and one or more names")
            value["entries"].append(" ".join((o.name.text, *o.words)))
            out.entry(o).notes.append("an entry of the hosts directive above")
    lines = tuple(o for o in d.block or () if not _is_ip(o.name.text))

    def ttl(o: Directive) -> None:
        value["ttl"] = count(args(o, 1, 1)[0], 0, 2**31 - 1)

    def no_reverse(o: Directive) -> None:
        args(o, 0, 0)
        value["no_reverse"] = True

    def reload(o: Directive) -> None:
        value["reload"] = duration(args(o, 1, 1)[0])

    def fallthrough(o: Directive) -> None:
        value["fallthrough"] = _fallthrough(o)

    options(
        Directive(d.name, d.args, lines),
        out,
        {"ttl": ttl, "no_reverse": no_reverse, "reload": reload, "fallthrough": fallthrough},
    )
    out.set(d, "hosts", value)


def rewrite(d: Directive, block: Block, out: Out) -> None:
    """`rewrite [continue|stop] RULE...`, or its block form: the words of the rule on one line."""
    text = [t.text for t in args(d, 1 if d.block is None else 0)]
    for o in d.block or ():
        if o.block is not None:
            raise o.error("no { } block here")
        text += [o.name.text, *o.words]
        out.entry(o).notes.append("part of the rewrite rule above")
    if len(text) < 2:
        raise d.error("expected a rewrite rule such as: name exact FROM TO")
    out.set(d, "rewrite", " ".join(text))


def template(d: Directive, block: Block, out: Out) -> None:
    given = args(d, 1)
    value: dict[str, Any] = {
        "class": given[0].text.upper(),
        "type": given[1].text.upper() if len(given) > 1 else "ANY",
        "zones": [zone(t) for t in given[2:]] or list(block.zones),
        "match": [],
        **{key: [] for key in TEMPLATE_LISTS},
    }

    def listed(key: str) -> Option:
        def handle(o: Directive) -> None:
            no_block(o)
            args(o, 1)
            value[key] += list(o.words)

        return handle

    def rcode(o: Directive) -> None:
        value["rcode"] = args(o, 1, 1)[0].text.upper()

    def fallthrough(o: Directive) -> None:
        value["fallthrough"] = _fallthrough(o)

    def upstream(o: Directive) -> None:
        raise o.error("this template option was removed from CoreDNS; delete the line")

    options(
        d,
        out,
        {
            "match": listed("match"),
            **{key: listed(key) for key in TEMPLATE_LISTS},
            "rcode": rcode,
            "fallthrough": fallthrough,
            "upstream": upstream,
        },
    )
    out.set(d, "templates", value)


def acl(d: Directive, block: Block, out: Out) -> None:
    names = zones(d.args, block)
    if not d.block:
        raise d.error("expected a { } block of allow, block, filter or drop lines")
    for o in d.block:
        out.entry(o)
        if o.name.text not in ACL_ACTIONS:
            raise o.error(f"expected one of {', '.join(ACL_ACTIONS)}")
        no_block(o)
        rule: dict[str, Any] = {"zones": names, "action": o.name.text, "types": [], "nets": []}
        part = None
        for t in o.args:
            if t.text in ("type", "net"):
                part = "types" if t.text == "type" else "nets"
            elif part is None:
                raise t.error("expected type or net before it")
            else:
                rule[part].append(t.text.upper() if part == "types" and t.text != "*" else t.text)
        for part in ("types", "nets"):
            rule[part] = rule[part] or ["*"]
        out.set(o, "acl", rule)
