"""Incremental rendering: any sequence of changes leaves the zone equal to one rendered from scratch."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from petdns.answer.zone import RenderedZone
from petdns.schema.model import (
    EndpointSlice,
    KubeObject,
    Namespace,
    Pod,
    Port,
    Service,
    ServiceKind,
    object_key,
)
from petdns.schema.packing import Endpoint
from petdns.settings.values import PodsMode, Settings

NOW = 1_800_000_000
NAMESPACES = ["a", "b"]
SERVICES = ["s1", "s2", "s3"]
V4 = [f"10.0.0.{i}" for i in range(1, 7)]
V6 = ["fd00::1", "fd00::2", "fd00::3"]
PORTS = [Port("web", 80, "tcp"), Port("dns", 53, "udp"), Port("", 9, "tcp")]

ports = st.lists(st.sampled_from(PORTS), max_size=3, unique=True).map(tuple)
namespaces = st.sampled_from(NAMESPACES)


@st.composite
def services(draw: st.DrawFn) -> Service:
    kind = draw(st.sampled_from(list(ServiceKind)))
    ips: tuple[str, ...] = ()
    external = ""
    if kind is ServiceKind.CLUSTER_IP:
        ips = tuple(draw(st.lists(st.sampled_from(V4[:3] + V6[:1]), min_size=1, max_size=2, unique=True)))
    if kind is ServiceKind.EXTERNAL_NAME:
        external = draw(st.sampled_from(["example.com", "s1.a.svc.cluster.local"]))
    return Service(draw(namespaces), draw(st.sampled_from(SERVICES)), kind, ips, draw(ports), external)


@st.composite
def slices(draw: st.DrawFn) -> EndpointSlice:
    family = draw(st.sampled_from(["IPv4", "IPv6"]))
    pool = V4 if family == "IPv4" else V6
    endpoints = tuple(
        Endpoint(
            (draw(st.sampled_from(pool)),),
            draw(st.booleans()),
            draw(st.sampled_from(["", "p-0", "p-1"])),
            draw(st.sampled_from(["", "pod-a", "pod-b"])),
        )
        for _ in range(draw(st.integers(0, 3)))
    )
    return EndpointSlice(
        draw(namespaces),
        draw(st.sampled_from(["x", "y", "z"])),
        draw(st.sampled_from([*SERVICES, ""])),
        family,
        endpoints,
        draw(ports),
    )


@st.composite
def pods(draw: st.DrawFn) -> Pod:
    ips = tuple(draw(st.lists(st.sampled_from(V4[:2] + V6[:1]), max_size=2, unique=True)))
    return Pod(draw(namespaces), draw(st.sampled_from(["p", "q"])), ips, draw(st.booleans()))


objects = st.one_of(services(), slices(), pods(), namespaces.map(Namespace))
deletes = st.tuples(
    st.sampled_from(["Namespace", "Service", "EndpointSlice", "Pod"]),
    namespaces,
    st.sampled_from([*SERVICES, *NAMESPACES, "x", "y", "z", "p", "q"]),
)
operations = st.lists(st.one_of(objects, deletes), max_size=40)


def _state(zone: RenderedZone) -> dict[bytes, tuple[object, ...]]:
    return {name: (node[0].name, *node[1:]) for name, node in zone.nodes.items()}  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None)
@given(ops=operations, pod_names=st.booleans(), pods_mode=st.sampled_from(list(PodsMode)))
def test_incremental_equals_scratch(
    ops: list[KubeObject | tuple[str, str, str]], pod_names: bool, pods_mode: PodsMode
) -> None:
    cfg = Settings(endpoint_pod_names=pod_names, pods=pods_mode, ns_addresses=("127.0.0.1",))
    zone = RenderedZone(cfg, clock=lambda: NOW)
    final: dict[tuple[str, str, str], KubeObject] = {}
    for op in ops:
        if isinstance(op, tuple):
            kind, ns, name = op
            zone.delete(kind, "" if kind == "Namespace" else ns, name)
            final.pop((kind, "" if kind == "Namespace" else ns, name), None)
        else:
            zone.apply(op)
            final[object_key(op)] = op
    scratch = RenderedZone(cfg, clock=lambda: NOW)
    scratch.load(final.values())
    assert _state(zone) == _state(scratch)


def _puts(zone: RenderedZone) -> list[bytes]:
    """The wire names the zone renders from now on, in order."""
    put: list[bytes] = []
    setter = zone._set

    def recording(wire: bytes, node: tuple[object, ...]) -> None:
        put.append(wire)
        setter(wire, node)

    zone._set = recording  # type: ignore[method-assign]
    return put


def test_changes_touch_only_their_names() -> None:
    zone = RenderedZone(Settings(), clock=lambda: NOW)
    web = (PORTS[0],)
    zone.load(
        [
            Namespace("a"),
            Service("a", "s1", ServiceKind.HEADLESS, (), web),
            Service("a", "s2", ServiceKind.HEADLESS, (), web),
            EndpointSlice("a", "x", "s1", "IPv4", (Endpoint(("10.0.0.1",), True, "p-0", ""),), web),
            EndpointSlice("a", "y", "s2", "IPv4", (Endpoint(("10.0.0.2",), True, "p-0", ""),), web),
        ]
    )
    before = {k: v for k, v in zone.nodes.items() if b"\x02s2" in k}
    assert before
    put = _puts(zone)
    zone.apply(EndpointSlice("a", "x", "s1", "IPv4", (Endpoint(("10.0.0.3",), True, "p-0", ""),), web))
    assert any(b"\x02s1" in k for k in put)
    assert not any(b"\x02s2" in k for k in put)  # the other service's answers were not re-rendered
    assert {k: v for k, v in zone.nodes.items() if b"\x02s2" in k} == before


def test_answers_do_not_depend_on_the_order_of_changes() -> None:
    web = (PORTS[0],)
    shared = Endpoint(("10.0.0.1",), True, "", "")
    objs: list[KubeObject] = [
        Namespace("a"),
        Service("a", "s1", ServiceKind.HEADLESS, (), web),
        Service("a", "s2", ServiceKind.HEADLESS, (), web),
        EndpointSlice("a", "x", "s1", "IPv4", (shared,), web),
        EndpointSlice("a", "y", "s1", "IPv4", (Endpoint(("10.0.0.2",), True, "", ""),), web),
        EndpointSlice("a", "z", "s2", "IPv4", (shared,), web),
    ]
    forward = RenderedZone(Settings(), clock=lambda: NOW)
    forward.load(objs)
    backward = RenderedZone(Settings(), clock=lambda: NOW)
    for obj in reversed(objs):
        backward.apply(obj)
    assert _state(forward) == _state(backward)


def test_an_endpoint_change_re_renders_only_that_pet() -> None:
    web = (PORTS[0],)
    pets = tuple(Endpoint((f"10.0.0.{i}",), True, f"p-{i}", "") for i in range(1, 4))
    zone = RenderedZone(Settings(), clock=lambda: NOW)
    zone.load(
        [
            Namespace("a"),
            Service("a", "s1", ServiceKind.HEADLESS, (), web),
            EndpointSlice("a", "x", "s1", "IPv4", pets, web),
        ]
    )
    before = dict(zone.nodes)
    changed = (pets[0], Endpoint(("10.0.0.9",), True, "p-2", ""), pets[2])
    update = EndpointSlice("a", "x", "s1", "IPv4", changed, web)
    put = _puts(zone)
    zone.apply(update)
    scratch = RenderedZone(Settings(), clock=lambda: NOW)
    scratch.load([Namespace("a"), Service("a", "s1", ServiceKind.HEADLESS, (), web), update])
    assert _state(zone) == _state(scratch)
    p1 = b"\x03p-1\x02s1\x01a\x03svc\x07cluster\x05local\x00"
    p2 = b"\x03p-2\x02s1\x01a\x03svc\x07cluster\x05local\x00"
    assert p1 not in put and zone.nodes[p1] == before[p1]  # untouched pet: not re-rendered
    assert p2 in put and zone.nodes[p2] != before[p2]
