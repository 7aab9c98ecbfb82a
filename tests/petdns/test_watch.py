"""Watch mode against the local API server over HTTP: DNS follows the cluster and survives API faults."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import dns.asyncquery
import dns.message
import dns.rcode
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeapi.auth import Connection
from kubeapi.client import Client
from kubeapi.paths import ENDPOINT_SLICES, NAMESPACES, SERVICES
from localcluster.apiserver.server import ApiServer
from localcluster.storage.store import ObjectStore
from petdns.answer.zone import RenderedZone
from petdns.schema.model import from_raw
from petdns.serve import http
from petdns.serve.transport import DnsServer
from petdns.serve.watch_cache import ClusterCache
from petdns.settings.values import Settings
from tests.support.faultproxy import FaultProxy
from tests.support.waiting import eventually

NOW = 1_800_000_000
PET = "web-0.nginx.default.svc.cluster.local"
Obj = dict[str, Any]


def service(name: str, namespace: str = "default") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterIP": "None", "ports": [{"name": "web", "port": 80}]},
    }


def endpoint_slice(
    name: str, service_name: str, pets: dict[str, tuple[str, bool]], namespace: str = "default"
) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "ports": [{"name": "web", "port": 80, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "hostname": pet, "conditions": {"ready": ready}}
            for pet, (ip, ready) in pets.items()
        ],
    }


@dataclass
class Petdns:
    """A watching petdns: zone, DNS server, cache task."""

    zone: RenderedZone
    dns: DnsServer
    cache: ClusterCache
    task: asyncio.Task[None]
    client: Client

    async def ask(self, name: str, qtype: str = "A") -> dns.message.Message:
        query = dns.message.make_query(name, qtype)
        return await dns.asyncquery.udp(query, "127.0.0.1", port=self.dns.bound[0][1], timeout=2)

    async def answers(self, name: str, qtype: str = "A") -> set[str]:
        reply = await self.ask(name, qtype)
        return {rd.to_text() for rrset in reply.answer for rd in rrset}

    async def until_gone(self, name: str) -> None:
        """Wait until the name is NXDOMAIN."""

        async def gone() -> bool:
            return (await self.ask(name)).rcode() == dns.rcode.NXDOMAIN

        await eventually(gone, f"{name} NXDOMAIN")


async def start_petdns(url: str) -> Petdns:
    zone = RenderedZone(Settings(ns_addresses=("127.0.0.1",)), clock=lambda: NOW)
    zone.synced = False
    client = Client(Connection(url), timeout=5)
    cache = ClusterCache(client, zone, watch_pods=False)
    for reflector in cache.reflectors:
        reflector.backoff_cap = 0.5
    task = asyncio.create_task(cache.run())
    server = DnsServer(zone, [("127.0.0.1", 0)])
    await server.start()
    return Petdns(zone, server, cache, task, client)


async def stop_petdns(p: Petdns) -> None:
    p.task.cancel()
    await asyncio.gather(p.task, return_exceptions=True)
    await p.dns.stop()
    await p.client.close()


@pytest.fixture
async def petdns_on(api: ApiServer) -> AsyncIterator[Petdns]:
    p = await start_petdns(api.url)
    yield p
    await stop_petdns(p)


async def test_dns_follows_creates_readiness_and_deletes(petdns_on: Petdns, writer: Client) -> None:
    p = petdns_on
    await writer.create(SERVICES, "default", service("nginx"))
    await writer.create(
        ENDPOINT_SLICES,
        "default",
        endpoint_slice("nginx-1", "nginx", {"web-0": ("10.244.0.10", True), "web-1": ("10.244.1.11", True)}),
    )

    async def pets_answer() -> bool:
        return await p.answers(PET) == {"10.244.0.10"}

    await eventually(pets_answer)
    srv = await p.answers("_web._tcp.nginx.default.svc.cluster.local", "SRV")
    assert srv == {
        "0 50 80 web-0.nginx.default.svc.cluster.local.",
        "0 50 80 web-1.nginx.default.svc.cluster.local.",
    }
    await writer.patch(
        ENDPOINT_SLICES,
        "default",
        "nginx-1",
        {
            "endpoints": [
                {"addresses": ["10.244.0.10"], "hostname": "web-0", "conditions": {"ready": False}},
                {"addresses": ["10.244.1.11"], "hostname": "web-1", "conditions": {"ready": True}},
            ]
        },
    )

    await p.until_gone(PET)
    assert await p.answers("nginx.default.svc.cluster.local") == {"10.244.1.11"}
    await writer.delete(SERVICES, "default", "nginx")
    await p.until_gone("web-1.nginx.default.svc.cluster.local")


async def test_servfail_and_not_ready_until_the_first_list(api: ApiServer, writer: Client) -> None:
    await writer.create(SERVICES, "default", service("nginx"))
    await writer.create(
        ENDPOINT_SLICES, "default", endpoint_slice("nginx-1", "nginx", {"web-0": ("10.0.0.1", True)})
    )
    proxy = FaultProxy(api.url)
    await proxy.start()
    proxy.faults.down = True
    p = await start_petdns(proxy.url)
    runner, (port,) = await http.start(http.app(lambda: p.zone.synced), [("127.0.0.1", 0)])
    try:
        async with aiohttp.ClientSession() as session:

            async def ready_status() -> int:
                async with session.get(f"http://127.0.0.1:{port}/ready") as resp:
                    return resp.status

            assert (await p.ask(PET)).rcode() == dns.rcode.SERVFAIL
            assert (await p.ask("nothing.default.svc.cluster.local")).rcode() == dns.rcode.SERVFAIL
            assert await ready_status() == 503
            proxy.faults.down = False

            async def synced() -> bool:
                return await ready_status() == 200

            await eventually(synced)
            assert await p.answers(PET) == {"10.0.0.1"}
            assert (await p.ask("nothing.default.svc.cluster.local")).rcode() == dns.rcode.NXDOMAIN
    finally:
        await runner.cleanup()
        await stop_petdns(p)
        await proxy.stop()


async def _prober(p: Petdns, failures: list[str], stop: asyncio.Event) -> int:
    """Ask for the stable pet every few milliseconds; record every answer that is not it."""
    asked = 0
    while not stop.is_set():
        reply = await p.ask(PET)
        asked += 1
        got = {rd.to_text() for rrset in reply.answer for rd in rrset}
        if reply.rcode() != dns.rcode.NOERROR or got != {"10.244.0.10"}:
            failures.append(f"{dns.rcode.to_text(reply.rcode())} {sorted(got)}")
        await asyncio.sleep(0.003)
    return asked


async def _converged(p: Petdns, writer: Client) -> bool:
    """The watched zone equals a zone rendered from scratch from what the API holds now."""
    scratch = RenderedZone(p.zone.settings, clock=lambda: NOW)
    objects = []
    for ref, kind in ((NAMESPACES, "Namespace"), (SERVICES, "Service"), (ENDPOINT_SLICES, "EndpointSlice")):
        items, _ = await writer.list(ref)
        for item in items:
            item.setdefault("kind", kind)
            obj = from_raw(item)
            assert obj is not None
            objects.append(obj)
    scratch.load(objects)
    return _state(p.zone) == _state(scratch)


def _state(zone: RenderedZone) -> dict[bytes, tuple[object, ...]]:
    return {name: (node[0].name, *node[1:]) for name, node in zone.nodes.items()}


async def test_api_faults_converge_and_never_lose_an_answer(writer: Client) -> None:
    store = ObjectStore(window=20)
    store.ensure_namespaces(("default",))
    api = ApiServer(store)
    await api.start("127.0.0.1", 0)
    proxy = FaultProxy(api.url)
    await proxy.start()
    async with Client(Connection(api.url)) as w:
        await w.create(SERVICES, "default", service("nginx"))
        await w.create(
            ENDPOINT_SLICES, "default", endpoint_slice("nginx-1", "nginx", {"web-0": ("10.244.0.10", True)})
        )
        await w.create(SERVICES, "default", service("churn"))
        p = await start_petdns(proxy.url)
        await eventually(lambda: _converged(p, w))
        failures: list[str] = []
        stop = asyncio.Event()
        probe = asyncio.create_task(_prober(p, failures, stop))
        step = 0

        async def churn(n: int) -> None:
            nonlocal step
            for _ in range(n):
                step += 1
                pets = {f"c-{i}": (f"10.9.{step % 200}.{i + 1}", True) for i in range(step % 4 + 1)}
                slice_ = endpoint_slice("churn-1", "churn", pets)
                try:
                    await w.replace(ENDPOINT_SLICES, "default", "churn-1", slice_)
                except Exception:
                    await w.create(ENDPOINT_SLICES, "default", slice_)

        for fault in ("500", "429", "close", "gone", "slow", "restart"):
            if fault == "500":  # the next requests (the re-watches after the cut) fail
                proxy.faults.fail_requests, proxy.faults.fail_code = 3, 500
            elif fault == "429":
                proxy.faults.fail_requests, proxy.faults.fail_code, proxy.faults.retry_after = 3, 429, "0.05"
            elif fault == "close":
                proxy.faults.close_watch_after = 2
            elif fault == "gone":  # petdns away while more changes than the window happen: resume gets 410
                proxy.faults.down = True
                proxy.cut()
                await churn(30)
                proxy.faults.down = False
            elif fault == "slow":
                proxy.faults.delay = 0.2
            elif fault == "restart":
                port = api.port
                await api.stop()
                await churn(0)
                api = ApiServer(store)
                await api.start("127.0.0.1", port)
            proxy.cut()
            await churn(10)
            await eventually(lambda: _converged(p, w), timeout=20)
            proxy.faults.fail_requests = proxy.faults.close_watch_after = 0
            proxy.faults.delay = 0.0
        stop.set()
        asked = await probe
        await stop_petdns(p)
    await proxy.stop()
    await api.stop()
    assert asked > 20 and failures == []  # the prober ran through every fault
    lists = [line for line in proxy.faults.seen if line.startswith("GET") and "watch=" not in line]
    assert len(lists) >= 3 + 4  # beyond the three first lists, 500, 429, 410 and the restart forced relists


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1))
async def test_random_changes_through_the_api_equal_a_scratch_zone(seed: int) -> None:
    store = ObjectStore()
    store.ensure_namespaces(("default",))
    api = ApiServer(store)
    await api.start("127.0.0.1", 0)
    try:
        async with Client(Connection(api.url)) as writer:
            p = await start_petdns(api.url)
            try:
                await _random_changes(random.Random(seed), writer)
                await eventually(lambda: _converged(p, writer), timeout=20)
            finally:
                await stop_petdns(p)
    finally:
        await api.stop()


async def _random_changes(rng: random.Random, writer: Client) -> None:
    """1,000 creates, updates and deletes of services and slices across three namespaces."""
    namespaces = ["default", "a", "b"]
    for ns in namespaces[1:]:
        await writer.create(
            NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        )
    live: set[tuple[str, str, str]] = set()
    for _ in range(1000):
        ns = rng.choice(namespaces)
        svc = rng.choice(["s1", "s2", "s3"])
        kind = rng.choice(["Service", "EndpointSlice", "EndpointSlice"])
        name = svc if kind == "Service" else f"{svc}-{rng.choice('xy')}"
        key = (kind, ns, name)
        ref = SERVICES if kind == "Service" else ENDPOINT_SLICES
        if key in live and rng.random() < 0.3:
            await writer.delete(ref, ns, name)
            live.discard(key)
            continue
        if kind == "Service":
            obj = service(svc, ns)
            if rng.random() < 0.4:
                obj["spec"]["clusterIP"] = (
                    f"10.100.{namespaces.index(ns)}.{int(svc[1:]) + 10}"  # one per service
                )
        else:
            pets = {
                f"p-{i}": (f"10.1.{rng.randrange(4)}.{rng.randrange(1, 9)}", rng.random() < 0.8)
                for i in range(rng.randrange(4))
            }
            obj = endpoint_slice(name, svc, pets, ns)
        if key in live:
            current = await writer.get(ref, ns, name)
            obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            if kind == "Service":
                obj["spec"]["clusterIP"] = current["spec"]["clusterIP"]  # immutable once allocated
                obj["spec"]["clusterIPs"] = current["spec"].get("clusterIPs")
            await writer.replace(ref, ns, name, obj)
        else:
            await writer.create(ref, ns, obj)
            live.add(key)


def test_objects_that_do_not_fit_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    zone = RenderedZone(Settings())
    cache = ClusterCache(Client(Connection("http://127.0.0.1:1")), zone, watch_pods=False)
    transform = cache.reflectors[2].transform  # EndpointSlices
    bad = endpoint_slice("s-1", "s", {"Not_A_Label": ("10.0.0.1", True)})
    del bad["kind"]  # list items come without kind
    assert transform(bad) is None
    assert "skipping EndpointSlice default/s-1: field endpoints[0].hostname" in caplog.text
    good = endpoint_slice("s-2", "s", {"p-0": ("10.0.0.2", True)})
    assert transform(good) is not None
