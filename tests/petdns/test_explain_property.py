"""Over random clusters and random names: the explainer's verdict (resolves or not) is exactly petdns's
answer through its own dispatch (NOERROR with data against NXDOMAIN or NODATA), from the CLI's view
(raw objects) and from the server's (the rendered zone's catalog, no pods)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import dns.message
import dns.rcode
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from petdns.answer.dispatch import dispatch
from petdns.answer.zone import RenderedZone
from petdns.explain.facts import Facts
from petdns.explain.objects import parse_type, view_of
from petdns.explain.search import explain
from petdns.explain.services import View
from petdns.schema.model import from_raw
from petdns.settings.values import PodsMode, Settings
from tests.support.pets import Cluster, Pet

WORDS = ("web-0", "web-1", "web-2", "wbe-0", "nginx", "ngnix", "web", "default", "prod", "svc", "pod")
WORDS += ("_web", "_tcp", "_udp", "_http", "10-244-0-10", "10-244-9-9")
ZONES = ("cluster.local", "cluster.locl", "in-addr.arpa", "")
TYPES = ("A", "A", "SRV", "SRV", "PTR", "AAAA", "TXT", "SOA", "NS", "CNAME", "MX")

MUTATIONS: dict[str, Callable[[Cluster, int], Cluster]] = {
    "subdomain typo": lambda c, i: c.with_pet(i, subdomain="ngnix"),
    "subdomain unset": lambda c, i: c.with_pet(i, subdomain=""),
    "hostname unset": lambda c, i: c.with_pet(i, hostname=""),
    "hostname other": lambda c, i: c.with_pet(i, hostname="web-9"),
    "labels": lambda c, i: c.with_pet(i, app="web"),
    "not ready": lambda c, i: c.with_pet(i, ready=False),
    "other namespace": lambda c, i: c.with_pet(i, namespace="prod"),
    "cluster ip": lambda c, _: replace(c, cluster_ip="10.96.0.50"),
    "selector": lambda c, _: replace(c, selector="web"),
    "no selector": lambda c, _: replace(c, selector=None),
    "publish": lambda c, _: replace(c, publish_not_ready=True),
    "no slice": lambda c, _: replace(c, slice=False),
    "service renamed": lambda c, _: replace(c, service="web"),
    "third pet": lambda c, _: replace(c, pets=(*c.pets, Pet("web-2", "10.244.2.12"))),
    "no pets": lambda c, _: replace(c, pets=()),
}


def _broken(changes: list[tuple[str, int]]) -> Cluster:
    cluster = Cluster()
    for key, index in changes:
        cluster = MUTATIONS[key](cluster, min(index, len(cluster.pets) - 1)) if cluster.pets else cluster
    return cluster


clusters = st.lists(st.tuples(st.sampled_from(sorted(MUTATIONS)), st.integers(0, 1)), max_size=2).map(_broken)
dashed = st.sampled_from(("10-244-0-10", "10-9-9-9", "web-0"))
REVERSE = ("10.0.244.10.in-addr.arpa.", "12.2.244.10.in-addr.arpa.", "50.0.96.10.in-addr.arpa.")
pet = st.sampled_from(("web-0", "web-1", "web-2", "web-9", "wbe-0", "10-244-0-10"))
svc = st.sampled_from(("nginx", "nginx", "web", "ngnix"))
ns = st.sampled_from(("default", "default", "prod", "other"))
port = st.sampled_from(("_web._tcp", "_web._tcp", "_web._udp", "_http._tcp"))
zone = st.sampled_from(("cluster.local",) * 5 + ("cluster.locl",))


def _typed(names: st.SearchStrategy[str], *natural: str) -> st.SearchStrategy[tuple[str, str]]:
    """Names with their natural types mostly, any type sometimes."""
    return st.tuples(
        names, st.one_of(st.sampled_from(natural), st.sampled_from(natural), st.sampled_from(TYPES))
    )


questions = st.one_of(
    _typed(st.builds("{}.{}.{}.svc.{}.".format, pet, svc, ns, zone), "A", "SRV"),
    _typed(st.builds("{}.{}.svc.{}.".format, svc, ns, zone), "A", "SRV"),
    _typed(st.builds("{}.{}.{}.svc.{}.".format, port, svc, ns, zone), "SRV"),
    _typed(st.builds("{}.svc.{}.".format, ns, zone), "SOA", "A"),
    _typed(
        st.builds("{}.{}.pod.{}.".format, st.sampled_from(("10-244-0-10", "10-9-9-9", "web-0")), ns, zone),
        "A",
    ),
    _typed(
        st.sampled_from(
            ("10.0.244.10.in-addr.arpa.", "12.2.244.10.in-addr.arpa.", "50.0.96.10.in-addr.arpa.")
        ),
        "PTR",
    ),
    _typed(
        st.tuples(st.lists(st.sampled_from(WORDS), max_size=5), st.sampled_from(ZONES)).map(
            lambda t: ".".join([*t[0], t[1]]).strip(".") + "."
        ),
        *TYPES,
    ),
)


def _answers(zone: RenderedZone, name: str, qtype: str) -> bool:
    query = dns.message.make_query(name, qtype)
    reply = dispatch(zone, query.to_wire(), tcp=True)
    assert isinstance(reply, bytes)
    message = dns.message.from_wire(reply)
    return message.rcode() == dns.rcode.NOERROR and bool(message.answer)


@settings(max_examples=150, deadline=None)
@given(cluster=clusters, question=questions, pods=st.sampled_from(list(PodsMode)))
def test_the_verdict_is_petdns_answer(cluster: Cluster, question: tuple[str, str], pods: PodsMode) -> None:
    name, qtype = question
    raws = [r for r in yaml.safe_load_all(cluster.yaml()) if r]
    zone_settings = Settings(pods=pods)
    zone = RenderedZone(zone_settings)
    zone.load([obj for raw in raws if (obj := from_raw(raw)) is not None])
    view, _ = view_of((("doc", r) for r in raws), zone_settings, strict=True)
    if name == ".":
        return
    answered = name.rstrip(".") != "" and _answers(zone, name, qtype)
    from_files = explain(view, name, parse_type(qtype))
    from_server = explain(View(zone.catalog, zone.settings, Facts()), name, parse_type(qtype))
    event(f"resolves={answered}")
    assert from_files.resolves is from_server.resolves is answered, from_files.to_text()
    assert from_files.verdict == from_server.verdict or not from_server.resolves
    if not answered:
        assert from_files.causes, from_files.to_text()
