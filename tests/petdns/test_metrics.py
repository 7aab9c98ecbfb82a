"""/metrics over HTTP after known queries: CoreDNS's names and labels, counters moved by the right amounts."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import dns.asyncquery
import dns.message
import dns.rcode
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubeapi.auth import Connection
from kubeapi.client import Client
from kubeapi.paths import ENDPOINT_SLICES, SERVICES
from localcluster.apiserver.server import ApiServer
from localcluster.storage.store import ObjectStore
from petdns.answer.zone import RenderedZone
from petdns.forward.forwarder import ForwardConfig, Forwarder
from petdns.forward.upstreams import Routes, parse_upstream
from petdns.serve import http, metrics
from petdns.serve.transport import DnsServer
from petdns.serve.watch_cache import TRIGGER_TIME, ClusterCache
from petdns.settings.values import Settings
from tests.petdns.conftest import FIXED_NOW
from tests.petdns.test_watch import endpoint_slice, service
from tests.support.dns_table import SETTINGS, objects
from tests.support.resolver import ScriptedResolver
from tests.support.waiting import eventually

HOST = "127.0.0.1"
PET = "web-0.nginx.default.svc.cluster.local"
WWW = "www.example.test"
Labels = tuple[tuple[str, str], ...]


@dataclass
class Scrape:
    """One scrape: sample name -> {sorted labels: value}."""

    samples: dict[str, dict[Labels, float]]
    text: str

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels`."""
        rows = self.samples.get(name, {})
        return sum(v for key, v in rows.items() if set(labels.items()) <= set(key))

    def labels(self, name: str) -> set[str]:
        return {k for key in self.samples.get(name, {}) for k, _ in key}


async def scrape(port: int) -> Scrape:
    async with aiohttp.ClientSession() as session, session.get(f"http://{HOST}:{port}/metrics") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    samples: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return Scrape(samples, text)


@dataclass
class Rig:
    server: DnsServer
    metrics_port: int

    @property
    def port(self) -> int:
        return self.server.bound[0][1]

    async def ask(
        self, name: str, qtype: str = "A", *, tcp: bool = False, source: str | None = None
    ) -> dns.message.Message:
        query = dns.message.make_query(name, qtype)
        send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
        return await send(query, HOST, port=self.port, timeout=5, source=source)

    async def until(self, check: str, name: str, want: float, **labels: str) -> Scrape:
        async def reached() -> Scrape | None:
            got = await scrape(self.metrics_port)
            return got if got.value(name, **labels) == want else None

        return await eventually(reached, f"{check}: {name}{labels} == {want}", timeout=5)


async def _serving(server: DnsServer, watch: ClusterCache | None = None) -> tuple[Rig, aiohttp.web.AppRunner]:
    await server.start()
    registry = metrics.registry(metrics.Sources(server, watch))
    app = http.routes_app({"/metrics": http.metrics(metrics.renderer(registry))})
    runner, (port,) = await http.start(app, [(HOST, 0)])
    return Rig(server, port), runner


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedResolver]:
    resolver = await ScriptedResolver().start()
    resolver.add(f"{WWW}. 300 IN A 192.0.2.1")
    yield resolver
    await resolver.stop()


def _zone() -> RenderedZone:
    zone = RenderedZone(SETTINGS["default"], clock=lambda: FIXED_NOW)
    zone.load(objects())
    return zone


async def test_cluster_queries_are_counted_by_type_rcode_and_proto() -> None:
    server = DnsServer(_zone(), [(HOST, 0)])
    rig, runner = await _serving(server)
    try:
        for _ in range(3):
            assert (await rig.ask(PET)).rcode() == dns.rcode.NOERROR
        for _ in range(2):
            assert (await rig.ask("nothing.default.svc.cluster.local", "AAAA")).rcode() == dns.rcode.NXDOMAIN
        await rig.ask("_web._tcp.nginx.default.svc.cluster.local", "SRV")
        await rig.ask(PET, "SRV")  # the full path answers SRV on a pet
        await rig.ask(PET, "CAA")  # NODATA, counted as "other"
        await rig.ask(PET, "SPF")  # another "other": one series
        for _ in range(2):
            await rig.ask(PET, tcp=True)
        await rig.ask("cluster.local", "SOA", tcp=True)
        got = await rig.until("UDP batches folded in", "coredns_dns_requests_total", 9, proto="udp")
        server_label = f"dns://{HOST}:{rig.port}"
        udp, tcp = {"proto": "udp", "server": server_label}, {"proto": "tcp", "server": server_label}
        requests = "coredns_dns_requests_total"
        assert got.labels(requests) == {"server", "zone", "view", "proto", "family", "type"}
        assert got.value(requests, type="A", **udp) == 3
        assert got.value(requests, type="AAAA", **udp) == 2
        assert got.value(requests, type="SRV", **udp) == 2
        assert got.value(requests, type="other", **udp) == 2
        others = [line for line in got.text.splitlines() if 'type="other"' in line]
        assert sum(line.startswith("coredns_dns_requests_total{") for line in others) == 1  # one series
        assert got.value(requests, type="A", **tcp) == 2
        assert got.value(requests, type="SOA", **tcp) == 1
        assert got.value(requests, zone=".", view="", family="1") == 12
        responses = "coredns_dns_responses_total"
        assert got.labels(responses) == {"server", "zone", "view", "rcode", "plugin"}
        assert got.value(responses, rcode="NOERROR", plugin="kubernetes") == 10
        assert got.value(responses, rcode="NXDOMAIN", plugin="kubernetes") == 2
        duration = "coredns_dns_request_duration_seconds"
        assert got.labels(f"{duration}_count") == {"server", "zone", "view", "type"}
        assert got.value(f"{duration}_count", type="A") == 5
        assert got.value(f"{duration}_bucket", type="A", le="+Inf") == 5
        assert 0 < got.value(f"{duration}_sum", type="A") < 5
        assert 'le="0.00025"' in got.text and 'le="8.192"' in got.text
        assert got.value("coredns_dns_request_size_bytes_count", proto="tcp") == 3
        assert got.value("coredns_dns_response_size_bytes_count", proto="tcp") == 3
        assert got.value("coredns_dns_request_size_bytes_count", proto="udp") == 0  # UDP: not measured
        assert got.value("petdns_zone_names") == len(server.zone.nodes)
        assert got.value("petdns_zone_waiting") == 0  # a small batch: rendered at once
        assert got.value("petdns_zone_synced") == 1
        assert got.value("coredns_build_info") == 1 and got.value("process_resident_memory_bytes") > 0
        assert "coredns_forward_requests_total" not in got.samples  # not forwarding
    finally:
        await runner.cleanup()
        await server.stop()


async def test_forwarded_queries_move_the_forward_and_cache_counters(upstream: ScriptedResolver) -> None:
    routes = Routes([parse_upstream(upstream.address)])
    forwarder = Forwarder(ForwardConfig(routes, allow=("127.0.0.1/32",), timeout=1.0))
    server = DnsServer(_zone(), [(HOST, 0)], forwarder=forwarder)
    rig, runner = await _serving(server)
    try:
        assert (await rig.ask(WWW)).rcode() == dns.rcode.NOERROR  # a miss: the upstream answers
        assert (await rig.ask(WWW)).rcode() == dns.rcode.NOERROR  # a hit, in the UDP thread
        assert (await rig.ask(WWW, tcp=True)).rcode() == dns.rcode.NOERROR  # a hit, over TCP
        assert (await rig.ask("nothing.example.test")).rcode() == dns.rcode.NXDOMAIN  # a miss
        assert (await rig.ask("nothing.example.test")).rcode() == dns.rcode.NXDOMAIN  # a negative hit
        refused = await rig.ask(WWW, source="127.0.0.2")
        assert refused.rcode() == dns.rcode.REFUSED  # outside the ACL
        assert upstream.count() == 2
        got = await rig.until("UDP batches folded in", "coredns_dns_responses_total", 6)
        to = {"to": f"{upstream.address}"}
        assert got.value("coredns_forward_requests_total", **to) == 2
        assert got.value("coredns_forward_responses_total", rcode="NOERROR", **to) == 1
        assert got.value("coredns_forward_responses_total", rcode="NXDOMAIN", **to) == 1
        assert got.labels("coredns_forward_request_duration_seconds_count") == {"to", "rcode"}
        assert got.value("coredns_forward_request_duration_seconds_count", rcode="NOERROR", **to) == 1
        assert got.value("coredns_forward_healthcheck_failures_total", **to) == 0
        responses = "coredns_dns_responses_total"
        assert got.value(responses, plugin="forward", rcode="NOERROR") == 1
        assert got.value(responses, plugin="forward", rcode="NXDOMAIN") == 1
        assert got.value(responses, plugin="cache", rcode="NOERROR") == 2
        assert got.value(responses, plugin="cache", rcode="NXDOMAIN") == 1
        assert got.value(responses, plugin="acl", rcode="REFUSED") == 1
        assert got.value(responses, plugin="kubernetes") == 0
        assert got.value("coredns_cache_hits_total", type="success") == 2
        assert got.value("coredns_cache_hits_total", type="denial") == 1
        assert got.value("coredns_cache_misses_total") == 2
        assert got.value("coredns_cache_requests_total") == 5
        assert got.labels("coredns_cache_entries") == {"server", "type", "zones", "view"}
        assert got.value("coredns_cache_entries", type="success") == 1
        assert got.value("coredns_cache_entries", type="denial") == 1
        assert got.value("petdns_forward_cache_entries") == 2
        assert got.value("petdns_forward_refused_total") == 1
        assert got.value("coredns_dns_requests_total", type="A", proto="udp") == 5
        assert got.value("coredns_dns_requests_total", type="A", proto="tcp") == 1
    finally:
        await runner.cleanup()
        await server.stop()


def _now_stamp() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


async def test_watch_counters_event_lag_and_programming_latency() -> None:
    store = ObjectStore()
    store.ensure_namespaces(("default",))
    api = ApiServer(store)
    await api.start(HOST, 0)
    writer = Client(Connection(api.url))
    zone = RenderedZone(Settings(ns_addresses=(HOST,)))
    zone.synced = False
    client = Client(Connection(api.url), timeout=5)
    watch = ClusterCache(client, zone, watch_pods=False)
    task = asyncio.create_task(watch.run())
    server = DnsServer(zone, [(HOST, 0)])
    rig, runner = await _serving(server, watch)
    try:
        await rig.until("listed", "petdns_zone_synced", 1)
        await writer.create(SERVICES, "default", service("nginx"))
        changed = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=3)
        eps = endpoint_slice("nginx-1", "nginx", {"web-0": ("10.244.0.10", True)})
        eps["metadata"]["annotations"] = {TRIGGER_TIME: changed.isoformat().replace("+00:00", "Z")}
        await writer.create(ENDPOINT_SLICES, "default", eps)

        async def answered() -> bool:
            return (await rig.ask(PET)).rcode() == dns.rcode.NOERROR

        await eventually(answered, "the pet in DNS")
        got = await rig.until("programmed", "coredns_kubernetes_dns_programming_duration_seconds_count", 1)
        programming = "coredns_kubernetes_dns_programming_duration_seconds"
        assert got.value(f"{programming}_count", service_kind="headless_with_selector") == 1
        assert got.value(f"{programming}_bucket", le="2.048") == 0  # three seconds ago
        assert got.value(f"{programming}_bucket", le="4.096") == 1
        slices = {"resource": "endpointslices.discovery.k8s.io"}
        assert got.value("petdns_watch_event_lag_seconds_count", **slices) == 1
        assert got.value("petdns_watch_event_lag_seconds_count", resource="services") == 1
        assert got.value("petdns_watch_event_lag_seconds_bucket", le="1.024", **slices) == 1
        assert got.value("petdns_watch_lists_total", **slices) == 1
        assert got.value("petdns_watch_objects", **slices) == 1
        assert got.value("petdns_watch_failures_total") == 0
        assert got.labels("petdns_watch_restarts_total") == {"resource"}
        assert got.value("petdns_pet_programming_seconds_count") == 1  # web-0 turned Ready
        # web-1 joins Ready and web-0 stays: one more pet programmed
        current = await writer.get(ENDPOINT_SLICES, "default", "nginx-1")
        grown = endpoint_slice(
            "nginx-1", "nginx", {"web-0": ("10.244.0.10", True), "web-1": ("10.244.0.11", True)}
        )
        grown["metadata"] = {**current["metadata"], "annotations": {TRIGGER_TIME: _now_stamp()}}
        await writer.replace(ENDPOINT_SLICES, "default", "nginx-1", grown)
        got = await rig.until("web-1 programmed", "petdns_pet_programming_seconds_count", 2)
        assert got.value("petdns_pet_programming_seconds_bucket", le="1.024") == 1
        # a change that makes no pet Ready (web-1 stops being Ready) programs none
        current = await writer.get(ENDPOINT_SLICES, "default", "nginx-1")
        shrunk = endpoint_slice(
            "nginx-1", "nginx", {"web-0": ("10.244.0.10", True), "web-1": ("10.244.0.11", False)}
        )
        shrunk["metadata"] = {**current["metadata"], "annotations": {TRIGGER_TIME: _now_stamp()}}
        await writer.replace(ENDPOINT_SLICES, "default", "nginx-1", shrunk)
        got = await rig.until(
            "programmed again", "coredns_kubernetes_dns_programming_duration_seconds_count", 3
        )
        assert got.value("petdns_pet_programming_seconds_count") == 2
    finally:
        task.cancel()
        await runner.cleanup()
        await server.stop()
        await client.close()
        await writer.close()
        await api.stop()
