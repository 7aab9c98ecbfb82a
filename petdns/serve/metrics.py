"""`/metrics`: the counters petdns keeps anyway, exposed at scrape time under CoreDNS's names.

Nothing here runs per query. The transports count into plain `tally.Tally` objects, the forwarder,
its cache, the watch cache and the reloader keep plain attributes, and `Collector.collect` reads them
all when Prometheus scrapes. Names and labels follow CoreDNS's `prometheus`, `forward`, `cache`,
`kubernetes` and `reload` plugins so that existing dashboards and alerts work; `zone` is always `.`
and `view` empty (one server block), `server` is `dns://HOST:PORT` per listen address. petdns's own
figures are `petdns_*`.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from kubeapi.probes import bucket_bound, process_registry
from petdns.forward.forwarder import Forwarder
from petdns.serve.http import ScrapeStats
from petdns.serve.tally import (
    TIME_BOUNDS,
    Histogram,
    merged_durations,
    rcode_name,
    type_name,
)
from petdns.serve.transport import DnsServer
from petdns.serve.watch_cache import ClusterCache

ZONE = "."
VIEW = ""


@dataclass
class ReloadCounts:
    """Configuration reloads applied and rejected."""

    applied: int = 0
    failed: int = 0


@dataclass
class Sources:
    """What the collector reads: the DNS server (its zone, forwarder and tallies), the watch cache when
    watching, the reload counts and the scrape counts."""

    server: DnsServer
    watch: ClusterCache | None = None
    reloads: ReloadCounts | None = None
    scrapes: ScrapeStats | None = None


def _buckets(hist: Histogram) -> list[tuple[str, float]]:
    return [(bucket_bound(b), float(n)) for b, n in hist.cumulative()]


def _histogram(name: str, doc: str, labels: list[str], rows: Iterable[tuple[list[str], Histogram]]) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for values, hist in rows:
        family.add_metric(values, _buckets(hist), hist.total)
    return family


def _sum(hists: Iterable[Histogram]) -> Histogram:
    out: Histogram | None = None
    for hist in hists:
        if out is None:
            out = Histogram(hist.bounds)
        out.merge(hist)
    return out if out is not None else Histogram(TIME_BOUNDS)


class PetdnsCollector(Collector):
    """Builds every family from `sources` at scrape time."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        try:
            self.version = metadata.version("petdns")
        except metadata.PackageNotFoundError:
            self.version = "unknown"

    def collect(self) -> Iterator[Metric]:
        server = self.sources.server
        yield from self._dns(server)
        forwarder = server.forwarder
        if forwarder is not None:
            yield from self._forward(forwarder, server)
        if server.acl is not None:
            yield from self._acl(server)
        yield from self._zone(server)
        if self.sources.watch is not None:
            yield from self._watch(self.sources.watch)
        yield from self._process()

    # -- queries ---------------------------------------------------------------------------------------

    def _dns(self, server: DnsServer) -> Iterator[Metric]:
        durations = merged_durations(server.tallies)
        requests = CounterMetricFamily(
            "coredns_dns_requests_total",
            "Counter of DNS requests made per zone, protocol and family.",
            labels=["server", "zone", "view", "proto", "family", "type"],
        )
        counts: dict[tuple[str, str, str, str], int] = {}
        by_type: dict[tuple[str, str], list[Histogram]] = {}
        for ((label, proto, family), code), hist in durations.items():
            key = (label, proto, family, type_name(code))  # several codes are "other"
            counts[key] = counts.get(key, 0) + hist.count
            by_type.setdefault((label, type_name(code)), []).append(hist)
        for (label, proto, family, name), n in sorted(counts.items()):
            requests.add_metric([label, ZONE, VIEW, proto, family, name], n)
        yield requests
        yield _histogram(
            "coredns_dns_request_duration_seconds",
            "Histogram of the time (in seconds) each request took.",
            ["server", "zone", "view", "type"],
            (([label, ZONE, VIEW, name], _sum(hists)) for (label, name), hists in sorted(by_type.items())),
        )
        responses = CounterMetricFamily(
            "coredns_dns_responses_total",
            "Counter of response status codes.",
            labels=["server", "zone", "view", "rcode", "plugin"],
        )
        totals: dict[tuple[str, str, int], int] = {}
        for tally in server.tallies:
            for (label, plugin), row in list(tally.responses.items()):
                for rcode, n in enumerate(list(row)):
                    if n:
                        totals[(label, plugin, rcode)] = totals.get((label, plugin, rcode), 0) + n
        for (label, plugin, rcode), n in sorted(totals.items()):
            responses.add_metric([label, ZONE, VIEW, rcode_name(rcode), plugin], n)
        yield responses
        for name, doc, attr in (
            ("coredns_dns_request_size_bytes", "Size of the request in bytes (TCP only).", "request_sizes"),
            (
                "coredns_dns_response_size_bytes",
                "Size of the returned response in bytes (TCP only).",
                "response_sizes",
            ),
        ):
            merged: dict[tuple[str, str], list[Histogram]] = {}
            for tally in server.tallies:
                for key, hist in list(getattr(tally, attr).items()):
                    merged.setdefault(key, []).append(hist)
            yield _histogram(
                name,
                doc,
                ["server", "zone", "view", "proto"],
                (
                    ([label, ZONE, VIEW, proto], _sum(hists))
                    for (label, proto), hists in sorted(merged.items())
                ),
            )
        counters = server.counters
        yield CounterMetricFamily(
            "coredns_panics_total", "Internal errors while answering a query.", value=counters.errors
        )
        yield CounterMetricFamily(
            "petdns_dns_dropped_total",
            "Queries dropped without a reply (responses, runts) and replies that could not be sent.",
            value=counters.dropped,
        )
        closed = CounterMetricFamily(
            "petdns_tcp_connections_closed_total",
            "TCP connections closed by a limit: idle (deadline), write (deadline).",
            labels=["reason"],
        )
        for reason, count in sorted(counters.tcp_closed.items()):
            closed.add_metric([reason], count)
        yield closed

    # -- forwarding ------------------------------------------------------------------------------------

    def _forward(self, forwarder: Forwarder, server: DnsServer) -> Iterator[Metric]:
        stats = forwarder.stats
        requests = CounterMetricFamily(
            "coredns_forward_requests_total", "Counter of requests made per upstream.", labels=["to"]
        )
        responses = CounterMetricFamily(
            "coredns_forward_responses_total",
            "Counter of responses received per upstream.",
            labels=["to", "rcode"],
        )
        failures = CounterMetricFamily(
            "coredns_forward_healthcheck_failures_total",
            "Counter of the number of failed health checks per upstream.",
            labels=["to"],
        )
        durations: list[tuple[list[str], Histogram]] = []
        for to, up in sorted(stats.upstreams.items()):
            requests.add_metric([to], up.queries)
            failures.add_metric([to], up.probe_failures)
            for rcode, n in sorted(up.rcodes.items()):
                responses.add_metric([to, rcode_name(rcode)], n)
            durations += [([to, rcode_name(rc)], h) for rc, h in sorted(up.durations.items())]
        yield requests
        yield responses
        yield _histogram(
            "coredns_forward_request_duration_seconds",
            "Histogram of the time each request took.",
            ["to", "rcode"],
            durations,
        )
        yield failures
        yield CounterMetricFamily(
            "coredns_forward_healthcheck_broken_total",
            "Counter of the number of complete failures of the healthchecks.",
            value=stats.all_down,
        )
        yield CounterMetricFamily(
            "coredns_forward_max_concurrent_rejects_total",
            "Counter of the number of queries rejected because the concurrent queries were at maximum.",
            value=stats.max_concurrent_rejects,
        )
        yield CounterMetricFamily(
            "petdns_forward_refused_total", "Queries refused recursion by the ACL.", value=stats.refused
        )
        yield CounterMetricFamily(
            "petdns_forward_coalesced_total",
            "Queries that joined an identical query already waiting on an upstream.",
            value=stats.coalesced,
        )
        cache = forwarder.cache
        label = server.listeners[0][0] if server.bound else ""
        common = [label, ZONE, VIEW]
        entries = GaugeMetricFamily(
            "coredns_cache_entries",
            "The number of elements in the cache.",
            labels=["server", "type", "zones", "view"],
        )
        negatives = cache.negatives
        entries.add_metric([label, "success", ZONE, VIEW], len(cache) - negatives)
        entries.add_metric([label, "denial", ZONE, VIEW], negatives)
        yield entries
        hits = CounterMetricFamily(
            "coredns_cache_hits_total", "The count of cache hits.", labels=["server", "type", "zones", "view"]
        )
        hits.add_metric([label, "success", ZONE, VIEW], cache.hits - cache.negative_hits)
        hits.add_metric([label, "denial", ZONE, VIEW], cache.negative_hits)
        yield hits
        evictions = CounterMetricFamily(
            "coredns_cache_evictions_total",
            "The count of cache evictions.",
            labels=["server", "type", "zones", "view"],
        )
        evictions.add_metric([label, "success", ZONE, VIEW], cache.evictions - cache.negative_evictions)
        evictions.add_metric([label, "denial", ZONE, VIEW], cache.negative_evictions)
        yield evictions
        for name, doc, value in (
            ("coredns_cache_misses_total", "The count of cache misses.", cache.misses),
            (
                "coredns_cache_prefetch_total",
                "The number of times the cache has prefetched.",
                cache.prefetches,
            ),
            ("coredns_cache_requests_total", "The count of cache requests.", cache.hits + cache.misses),
            (
                "coredns_cache_served_stale_total",
                "The number of requests served from stale cache entries.",
                stats.stale,
            ),
        ):
            family = CounterMetricFamily(name, doc, labels=["server", "zones", "view"])
            family.add_metric(common, value)
            yield family
        yield GaugeMetricFamily(
            "petdns_forward_cache_entries", "Answers in the forward cache.", value=len(cache)
        )
        yield GaugeMetricFamily(
            "petdns_forward_cache_capacity", "Answers the forward cache may hold.", value=cache.policy.size
        )

    def _acl(self, server: DnsServer) -> Iterator[Metric]:
        assert server.acl is not None
        label = server.listeners[0][0] if server.bound else ""
        for action, word in (
            ("block", "blocked"),
            ("filter", "filtered"),
            ("allow", "allowed"),
            ("drop", "dropped"),
        ):
            family = CounterMetricFamily(
                f"coredns_acl_{word}_requests_total",
                f"Counter of DNS requests being {word}.",
                labels=["server", "zone", "view"],
            )
            family.add_metric([label, ZONE, VIEW], server.acl.counts[action])
            yield family

    # -- the zone, the watch, the process --------------------------------------------------------------

    def _zone(self, server: DnsServer) -> Iterator[Metric]:
        zone = server.zone
        waiting = zone.deferred.groups
        yield GaugeMetricFamily(
            "petdns_zone_names", "Names rendered in the zone.", value=len(zone.nodes) - len(waiting)
        )
        yield GaugeMetricFamily(
            "petdns_zone_waiting",
            "Markers of what a large batch left to be rendered when first asked: a service's name in "
            "each cluster zone, a reverse /24.",
            value=len(waiting),
        )
        yield GaugeMetricFamily(
            "petdns_zone_synced", "1 once every watched resource has been listed.", value=int(zone.synced)
        )
        yield GaugeMetricFamily(
            "petdns_zone_serial", "The SOA serial: the time of the last change.", value=zone.catalog.serial
        )
        reloads = self.sources.reloads
        if reloads is not None:
            yield CounterMetricFamily(
                "coredns_reload_failed_total",
                "Counter of the number of failed reload attempts.",
                value=reloads.failed,
            )
            applied = CounterMetricFamily(
                "petdns_config_reloads_total", "Configuration file reloads by result.", labels=["result"]
            )
            applied.add_metric(["applied"], reloads.applied)
            applied.add_metric(["rejected"], reloads.failed)
            yield applied
        scrapes = self.sources.scrapes
        if scrapes is not None:
            yield CounterMetricFamily(
                "petdns_metrics_scrapes_total", "Scrapes of /metrics served.", value=scrapes.count
            )
            yield CounterMetricFamily(
                "petdns_metrics_scrape_seconds_total",
                "Time spent rendering /metrics.",
                value=scrapes.seconds,
            )

    def _watch(self, watch: ClusterCache) -> Iterator[Metric]:
        lists = CounterMetricFamily(
            "petdns_watch_lists_total", "Full lists (the first one and every relist).", labels=["resource"]
        )
        restarts = CounterMetricFamily(
            "petdns_watch_restarts_total", "Watches that ended and were opened again.", labels=["resource"]
        )
        failures = CounterMetricFamily(
            "petdns_watch_failures_total", "Failed list or watch requests.", labels=["resource"]
        )
        objects = GaugeMetricFamily("petdns_watch_objects", "Objects held per resource.", labels=["resource"])
        for reflector in watch.reflectors:
            lists.add_metric([reflector.name], reflector.relists)
            restarts.add_metric([reflector.name], reflector.watch_restarts)
            failures.add_metric([reflector.name], reflector.failures)
            objects.add_metric([reflector.name], len(reflector.store))
        yield from (lists, restarts, failures, objects)
        yield _histogram(
            "petdns_watch_event_lag_seconds",
            "Time from a watch event's arrival (decoded) to the zone answering with it.",
            ["resource"],
            (([resource], hist) for resource, hist in sorted(watch.lag.items())),
        )
        yield _histogram(
            "coredns_kubernetes_dns_programming_duration_seconds",
            "Histogram of the time (in seconds) it took to program a dns instance.",
            ["service_kind"],
            (([kind], hist) for kind, hist in sorted(watch.programming.items())),
        )
        yield _histogram(
            "petdns_pet_programming_seconds",
            "Time from a pet turning Ready in the API (its EndpointSlice's change trigger time) to its "
            "name answering.",
            [],
            [([], watch.pet_programming)],
        )

    def _process(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "coredns_build_info",
            "A metric with a constant '1' value labeled by version, revision, and goversion from which "
            "CoreDNS was built (petdns: its version and the Python version).",
            labels=["version", "revision", "goversion"],
        )
        info.add_metric([f"petdns-{self.version}", "", f"python{platform.python_version()}"], 1)
        yield info


def registry(sources: Sources) -> CollectorRegistry:
    """A registry with petdns's collector and the process and platform collectors."""
    return process_registry(PetdnsCollector(sources))


def renderer(reg: CollectorRegistry) -> Callable[[], bytes]:
    """The text exposition of a registry, for `http.metrics`."""
    return lambda: generate_latest(reg)
