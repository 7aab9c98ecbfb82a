"""CoreDNS `acl` rules on every query, cluster names and forwarded ones, over UDP (batched and plain)
and TCP: block is REFUSED, filter an empty NOERROR, drop no reply, first match wins; with rules that
match nothing, every table row is answered exactly as without rules (the fast path steps aside)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import pytest
import yaml

from petdns.serve.acl import AclRule, QueryAcl
from petdns.settings import config_file
from petdns.settings.config_file import ConfigError
from petdns.settings.options import OptionError, build
from tests.petdns.test_forward_server import WWW, Rig, serving
from tests.petdns.test_reload import EXAMPLE
from tests.petdns.test_reload import _ask as _ask_reload
from tests.petdns.test_reload import serving as reload_serving
from tests.support.dns_table import CASES
from tests.support.resolver import ScriptedResolver

NGINX = "web-0.nginx.default.svc.cluster.local"
RULES = QueryAcl(
    [
        AclRule("block", types=("AAAA",)),
        AclRule("filter", zones=("cluster.local",), types=("TXT",)),
        AclRule("drop", nets=("127.0.0.2",)),
        AclRule("block", zones=("example.test",), nets=("127.0.0.3/32",)),
        AclRule("allow", nets=("*",)),
        AclRule("block"),  # never reached: the rule before matches everything
    ]
)


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedResolver]:
    resolver = await ScriptedResolver().start()
    resolver.add(f"{WWW}. 300 IN A 192.0.2.1", f"{WWW}. 300 IN AAAA 2001:db8::1")
    yield resolver
    await resolver.stop()


@pytest.mark.parametrize(("batch", "tcp"), [(64, False), (1, False), (64, True)], ids=["udp", "plain", "tcp"])
async def test_rules_in_order_first_match_wins(upstream: ScriptedResolver, batch: int, tcp: bool) -> None:
    async with serving([upstream], batch=batch) as rig:
        rig.server.acl = QueryAcl(RULES.rules)
        ok = await rig.ask(NGINX, tcp=tcp)
        assert ok.rcode() == dns.rcode.NOERROR and ok.answer[0][0].to_text() == "10.244.0.10"
        blocked = await rig.ask(NGINX, "AAAA", tcp=tcp, use_edns=0)
        assert blocked.rcode() == dns.rcode.REFUSED and not blocked.answer and blocked.edns == 0
        assert (await rig.ask(WWW, "AAAA", tcp=tcp)).rcode() == dns.rcode.REFUSED
        filtered = await rig.ask(NGINX, "TXT", tcp=tcp)
        assert filtered.rcode() == dns.rcode.NOERROR and not filtered.answer and not filtered.authority
        nodata = await rig.ask(WWW, "TXT", tcp=tcp)  # filter is cluster.local's: the upstream's NODATA
        assert nodata.rcode() == dns.rcode.NOERROR and nodata.authority
        assert (await rig.ask(WWW, tcp=tcp, source="127.0.0.3")).rcode() == dns.rcode.REFUSED
        assert (await rig.ask(NGINX, tcp=tcp, source="127.0.0.3")).rcode() == dns.rcode.NOERROR
        assert (await rig.ask(WWW, tcp=tcp)).answer[0][0].to_text() == "192.0.2.1"
        assert [(s.name, s.qtype) for s in upstream.seen] == [(WWW, "TXT"), (WWW, "A")]
        with pytest.raises((dns.exception.Timeout, EOFError, ConnectionError)):
            await _ask_briefly(rig, NGINX, tcp=tcp, source="127.0.0.2")
        counts = rig.server.acl.counts
        assert (counts["block"], counts["filter"], counts["drop"]) == (3, 1, 1)


async def _ask_briefly(rig: Rig, name: str, *, tcp: bool, source: str) -> dns.message.Message:
    query = dns.message.make_query(name, "A")
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    return await send(query, rig.host, port=rig.port, timeout=0.5, source=source)


async def test_rules_that_match_nothing_change_no_answer(upstream: ScriptedResolver) -> None:
    cases = [c for c in CASES if c.settings == "default"]
    async with serving([upstream]) as rig:
        plain = [await _wire(rig, c.name, c.qtype) for c in cases]
        rig.server.acl = QueryAcl([AclRule("block", nets=("192.0.2.0/24",)), AclRule("drop", types=("MX",))])
        judged = [await _wire(rig, c.name, c.qtype) for c in cases if c.qtype != "MX"]
        assert judged == [w for w, c in zip(plain, cases, strict=True) if c.qtype != "MX"]
        assert rig.server.acl.counts["allow"] == len(judged)


async def _wire(rig: Rig, name: str, qtype: str) -> tuple[object, ...]:
    """A reply's header and its records per section as sets (the order of records may rotate)."""
    query = dns.message.make_query(name, qtype, use_edns=0)
    reply = await dns.asyncquery.udp(query, rig.host, port=rig.port, timeout=5)
    sections = (reply.answer, reply.authority, reply.additional)
    records = tuple(
        frozenset(f"{rrset.name} {rrset.ttl} {rrset.rdtype} {rd}" for rrset in s for rd in rrset)
        for s in sections
    )
    return (reply.rcode(), reply.flags, reply.edns, reply.payload, *records)


def test_acl_key_takes_rule_texts_and_mappings() -> None:
    values = config_file.parse(
        "acl:\n"
        "  - example.org block type AAAA MX net 10.0.0.0/8 192.168.0.1\n"
        "  - {action: filter, types: [ANY]}\n"
        "  - drop net *\n",
        "petdns.yaml",
    )
    assert values["acl"] == [
        {
            "zones": ["example.org"],
            "action": "block",
            "types": ["AAAA", "MX"],
            "nets": ["10.0.0.0/8", "192.168.0.1"],
        },
        {"zones": [], "action": "filter", "types": ["ANY"], "nets": []},
        {"zones": [], "action": "drop", "types": [], "nets": ["*"]},
    ]
    options = build(config_file.merge(values, {"objects": ["x.yaml"], "no_forward": True}), connect=False)
    assert options.acl is not None and len(options.acl.rules) == 3
    assert options.acl.action(b"\x03www\x07example\x03org\x00", 28, "10.1.2.3") == "block"
    assert options.acl.action(b"\x03www\x07example\x03org\x00", 28, "11.1.2.3") == "drop"
    with pytest.raises(ConfigError, match="acl"):
        config_file.parse("acl: [example.org permit]\n", "petdns.yaml")
    for bad in ("block type NOPE", "block net 10.0.0.0/33"):
        with pytest.raises(OptionError) as err:
            build(
                config_file.merge(
                    {"acl": config_file.parse(f"acl: [{bad}]", "f")["acl"]}, {"objects": ["x"]}
                ),
                connect=False,
            )
        assert err.value.key == "acl"


async def test_a_reload_applies_the_rules_at_once(tmp_path: Path) -> None:
    path = tmp_path / "petdns.yaml"
    base = {"objects": [EXAMPLE], "listen": ["127.0.0.1:0"], "metrics_listen": [], "lameduck": 0}
    path.write_text(yaml.safe_dump({**base, "no_forward": True}))
    values = config_file.merge(config_file.load(str(path)), {})
    async with reload_serving(build(values), path, values) as runtime:
        assert (await _ask_reload(runtime)).rcode() == dns.rcode.NOERROR
        runtime.apply(
            {**values, "acl": [{"zones": ["cluster.local"], "action": "block", "types": [], "nets": []}]}
        )
        assert runtime.server.acl is not None and (await _ask_reload(runtime)).rcode() == dns.rcode.REFUSED
        runtime.apply(values)
        assert runtime.server.acl is None and (await _ask_reload(runtime)).rcode() == dns.rcode.NOERROR
