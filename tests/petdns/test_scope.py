"""The kubernetes plugin's scoping: `namespaces`, `labels`, `namespace_labels`, `noendpoints` (object files
and the watch: one namespaced watch per namespace, the selector sent to the API server) and
`fallthrough [ZONES]` (NXDOMAIN in those zones forwarded to a local upstream); keys, flags, checks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import pytest

from kubeapi.auth import Connection
from kubeapi.client import Client
from kubeapi.paths import ENDPOINT_SLICES, NAMESPACES, SERVICES
from localcluster.apiserver.server import ApiServer
from localcluster.storage.store import ObjectStore
from petdns.answer.dispatch import Outside, dispatch
from petdns.answer.zone import RenderedZone
from petdns.cli import _flag_values, _parser
from petdns.forward.forwarder import ForwardConfig, Forwarder
from petdns.forward.upstreams import Routes, parse_upstream
from petdns.schema.loader import load_files
from petdns.schema.scope import Scope
from petdns.serve.transport import DnsServer
from petdns.serve.watch_cache import ClusterCache
from petdns.settings import config_file
from petdns.settings.options import OptionError, build
from petdns.settings.values import Settings
from tests.petdns.test_watch import endpoint_slice
from tests.support.faultproxy import FaultProxy
from tests.support.resolver import ScriptedResolver
from tests.support.waiting import eventually

HOST = "127.0.0.1"
Obj = dict[str, Any]


def _service(
    name: str, namespace: str, *, headless: bool = False, labels: dict[str, str] | None = None
) -> Obj:
    n = sum(map(ord, name + namespace)) % 200 + 10
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "clusterIP": "None" if headless else f"10.96.0.{n}",
            "ports": [{"name": "web", "port": 80}],
        },
    }


def _namespace(name: str, **labels: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def _slice(service: str, namespace: str, ip: str, labels: dict[str, str] | None = None) -> Obj:
    out = endpoint_slice(f"{service}-1", service, {"web-0": (ip, True)}, namespace)
    out["metadata"]["labels"].update(labels or {})
    return out


CLUSTER = [
    _namespace("dev", team="a"),
    _namespace("prod", team="b"),
    _service("api", "dev", labels={"app": "web"}),
    _service("db", "dev", labels={"app": "db"}),
    _service("api", "prod", labels={"app": "web"}),
    _service("pets", "dev", headless=True, labels={"app": "web"}),
    _slice("pets", "dev", "10.244.0.10", {"app": "web"}),
]


def _zone(tmp_path: Path, scope: Scope) -> RenderedZone:
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": CLUSTER}))
    zone = RenderedZone(Settings())
    zone.load(load_files([str(path)], scope).objects)
    return zone


def _rcode(zone: RenderedZone, name: str, qtype: str = "A") -> int:
    reply = dispatch(zone, dns.message.make_query(name, qtype).to_wire())
    assert isinstance(reply, bytes)
    return dns.message.from_wire(reply).rcode()


NAMES = {
    "api.dev": "api.dev.svc.cluster.local",
    "db.dev": "db.dev.svc.cluster.local",
    "api.prod": "api.prod.svc.cluster.local",
    "pets.dev": "pets.dev.svc.cluster.local",
    "pet": "web-0.pets.dev.svc.cluster.local",
}


@pytest.mark.parametrize(
    ("scope", "served"),
    [
        (Scope(), set(NAMES)),
        (Scope.of(["dev"]), {"api.dev", "db.dev", "pets.dev", "pet"}),
        (Scope.of(labels="app=web"), {"api.dev", "api.prod", "pets.dev", "pet"}),
        (Scope.of(namespace_labels="team=b"), {"api.prod"}),
        (
            Scope.of(["dev", "prod"], namespace_labels="team in (a)", labels="app!=db"),
            {"api.dev", "pets.dev", "pet"},
        ),
        (Scope.of(noendpoints=True), {"api.dev", "db.dev", "api.prod"}),  # headless and pet names: NXDOMAIN
    ],
    ids=["all", "namespaces", "labels", "namespace_labels", "all-three", "noendpoints"],
)
def test_object_files_are_scoped(tmp_path: Path, scope: Scope, served: set[str]) -> None:
    zone = _zone(tmp_path, scope)
    for key, name in NAMES.items():
        assert _rcode(zone, name) == (dns.rcode.NOERROR if key in served else dns.rcode.NXDOMAIN), key


# -- the watch ----------------------------------------------------------------------------------------


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    store = ObjectStore()
    server = ApiServer(store)
    await server.start(HOST, 0)
    async with Client(Connection(server.url)) as writer:
        for obj in CLUSTER:
            ref = {"Namespace": NAMESPACES, "Service": SERVICES, "EndpointSlice": ENDPOINT_SLICES}[
                obj["kind"]
            ]
            await writer.create(ref, obj["metadata"].get("namespace"), obj)
    yield server
    await server.stop()


async def _until(check: Callable[[], bool]) -> None:
    async def poll() -> bool:
        return check()

    await eventually(poll)


async def _watching(url: str, scope: Scope) -> tuple[RenderedZone, ClusterCache, asyncio.Task[None], Client]:
    zone = RenderedZone(Settings())
    zone.synced = False
    client = Client(Connection(url), timeout=5)
    cache = ClusterCache(client, zone, watch_pods=False, scope=scope)
    task = asyncio.create_task(cache.run())
    await _until(lambda: zone.synced)
    return zone, cache, task, client


async def _stop(task: asyncio.Task[None], client: Client) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await client.close()


async def test_a_namespaced_watch_asks_only_for_its_namespaces_with_the_selector(api: ApiServer) -> None:
    proxy = FaultProxy(api.url)
    await proxy.start()
    zone, cache, task, client = await _watching(proxy.url, Scope.of(["dev"], labels="app=web"))
    try:
        assert _rcode(zone, NAMES["api.dev"]) == dns.rcode.NOERROR
        assert _rcode(zone, NAMES["pet"]) == dns.rcode.NOERROR
        for key in ("db.dev", "api.prod"):
            assert _rcode(zone, NAMES[key]) == dns.rcode.NXDOMAIN
        requests = [unquote(line) for line in proxy.faults.seen]
        assert requests and all("/namespaces/dev/" in line for line in requests), requests  # a Role suffices
        assert all("labelSelector=app=web" in line for line in requests)
        assert {r.namespace for r in cache.reflectors} == {"dev"}
        async with Client(Connection(api.url)) as writer:  # relabelled into the selector: it appears
            await writer.patch(SERVICES, "dev", "db", {"metadata": {"labels": {"app": "web"}}})
            await _until(lambda: _rcode(zone, NAMES["db.dev"]) == dns.rcode.NOERROR)
            await writer.patch(SERVICES, "dev", "db", {"metadata": {"labels": {"app": "db"}}})
            await _until(lambda: _rcode(zone, NAMES["db.dev"]) == dns.rcode.NXDOMAIN)
    finally:
        await _stop(task, client)
        await proxy.stop()


async def test_namespace_labels_follow_the_namespaces(api: ApiServer) -> None:
    zone, cache, task, client = await _watching(
        api.url, Scope.of(namespace_labels="dns=on", noendpoints=True)
    )
    try:
        assert all(r.ref is not ENDPOINT_SLICES for r in cache.reflectors)
        assert _rcode(zone, NAMES["api.prod"]) == dns.rcode.NXDOMAIN
        async with Client(Connection(api.url)) as writer:
            await writer.patch(NAMESPACES, None, "prod", {"metadata": {"labels": {"dns": "on"}}})
            await _until(lambda: _rcode(zone, NAMES["api.prod"]) == dns.rcode.NOERROR)
            assert _rcode(zone, NAMES["api.dev"]) == dns.rcode.NXDOMAIN
            await writer.patch(NAMESPACES, None, "dev", {"metadata": {"labels": {"dns": "on"}}})
            await _until(lambda: _rcode(zone, NAMES["api.dev"]) == dns.rcode.NOERROR)
            assert _rcode(zone, NAMES["pets.dev"]) == dns.rcode.NXDOMAIN  # noendpoints: headless is NXDOMAIN
            await writer.patch(NAMESPACES, None, "prod", {"metadata": {"labels": {"dns": "off"}}})
            await _until(lambda: _rcode(zone, NAMES["api.prod"]) == dns.rcode.NXDOMAIN)
        assert {type(o).__name__ for o in cache.objects()} == {"Namespace", "Service"}
        assert {getattr(o, "namespace", o.name) for o in cache.objects()} == {"dev"}
    finally:
        await _stop(task, client)


# -- fallthrough --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fallthrough", "forwarded"),
    [
        (None, {"reverse"}),
        ((), {"reverse", "cluster", "dev"}),
        (("cluster.local",), {"cluster", "dev"}),
        (("dev.svc.cluster.local", "in-addr.arpa"), {"reverse", "dev"}),
    ],
)
async def test_fallthrough_forwards_nxdomain_of_its_zones(
    fallthrough: tuple[str, ...] | None, forwarded: set[str]
) -> None:
    upstream = await ScriptedResolver().start()
    names = {
        "cluster": "nothing.prod.svc.cluster.local",
        "dev": "nothing.dev.svc.cluster.local",
        "reverse": "9.9.9.10.in-addr.arpa",
    }
    upstream.add(
        *(f"{name}. 60 IN TXT upstream" for name in names.values()),
    )
    forwarder = Forwarder(ForwardConfig(Routes((parse_upstream(upstream.address),), {}), timeout=1))
    zone = RenderedZone(Settings(fallthrough=fallthrough))
    server = DnsServer(zone, [(HOST, 0)], forwarder=forwarder)
    await server.start()
    try:
        for key, name in names.items():
            for qtype in ("TXT", "A"):
                query = dns.message.make_query(name, qtype)
                reply = await dns.asyncquery.udp(query, HOST, port=server.bound[0][1], timeout=2)
                if key in forwarded and qtype == "TXT":
                    assert reply.rcode() == dns.rcode.NOERROR and reply.answer, (key, qtype)
                elif key in forwarded:
                    assert upstream.count(name) > 0
                else:
                    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.flags & dns.flags.AA, (key, qtype)
            assert (upstream.count(name) > 0) == (key in forwarded), key
        without = RenderedZone(Settings(fallthrough=fallthrough))  # not forwarding: NXDOMAIN here
        reply = dispatch(without, dns.message.make_query(names["cluster"], "A").to_wire(), forwarding=True)
        assert not isinstance(reply, Outside)
    finally:
        await server.stop()
        await upstream.stop()


# -- keys, flags, checks ------------------------------------------------------------------------------


def test_keys_flags_and_checks(tmp_path: Path) -> None:
    path = tmp_path / "petdns.yaml"
    path.write_text(
        "loadbalance: true\nnamespaces: [dev]\nlabels: app=web\nnamespace_labels: 'team in (a,b)'\n"
        "noendpoints: true\nfallthrough: [Cluster.Local., in-addr.arpa]\n"
    )
    values = config_file.merge(config_file.load(str(path)), {"objects": ["x.yaml"]})
    options = build(values, connect=False)
    assert options.settings.loadbalance and options.settings.fallthrough == ("cluster.local", "in-addr.arpa")
    assert options.scope == Scope.of(["dev"], "app=web", "team in (a,b)", noendpoints=True)
    defaults = build(config_file.merge({}, {"objects": ["x.yaml"]}), connect=False)
    assert (
        defaults.scope.everything
        and defaults.settings.fallthrough is None
        and not defaults.settings.loadbalance
    )
    for text, key in [
        ("labels: 'app in (a'", "labels"),
        ("namespace_labels: '==x'", "namespace_labels"),
        ("namespaces: [Dev_1]", "namespaces"),
        ("fallthrough: ['a..b']", "fallthrough"),
    ]:
        path.write_text(text)
        with pytest.raises(OptionError) as err:
            build(config_file.merge(config_file.load(str(path)), {"objects": ["x.yaml"]}), connect=False)
        assert err.value.key == key
    for text in ("labels: [a]", "loadbalance: 1", "fallthrough: 3"):
        path.write_text(text)
        with pytest.raises(config_file.ConfigError):
            config_file.load(str(path))
    path.write_text("fallthrough: []\n")
    assert (
        build(
            config_file.merge(config_file.load(str(path)), {"objects": ["x"]}), connect=False
        ).settings.fallthrough
        == ()
    )
    parser = _parser()
    args = [
        "serve",
        "--loadbalance",
        "--namespace",
        "a",
        "--namespace",
        "b",
        "--labels",
        "x=y",
        "--noendpoints",
    ]
    flags = _flag_values(parser.parse_args([*args, "--namespace-labels", "t", "--fallthrough"]))
    assert flags == {
        "loadbalance": True,
        "namespaces": ["a", "b"],
        "labels": "x=y",
        "namespace_labels": "t",
        "noendpoints": True,
        "fallthrough": [],
    }
    assert _flag_values(parser.parse_args(["serve", "--fallthrough", "a.b", "c.d"]))["fallthrough"] == [
        "a.b",
        "c.d",
    ]
    assert "fallthrough" not in _flag_values(parser.parse_args(["serve"]))
