"""`/metrics` of the controller, read from its state at scrape time, under the names operators know.

- client-go's work queue families (`workqueue_*`, label `name="petset"`),
- controller-runtime's reconcile families (`controller_runtime_*`, label `controller="petset"`),
- `leader_election_master_status` (1 while holding the lease, as client-go's leader election reports),
- per set, the families of kube-state-metrics' `kube_statefulset_*` as `petset_*` (labels `namespace`,
  `petset`): spec replicas, status replicas / ready / current / updated / available, observed and
  metadata generation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from kubeapi.probes import bucket_bound
from kubeapi.queue_metrics import Durations
from petset_controller.core.model import PetSet
from petset_controller.runtime.controller import Controller

QUEUE = "petset"
LEASE = "petset-controller"

# kube-state-metrics' StatefulSet families, petset_* here: (suffix, help, value of a PetSet)
_SET_GAUGES: tuple[tuple[str, str, Callable[[PetSet], int]], ...] = (
    ("replicas", "Number of desired pets.", lambda s: s.spec.replicas),
    ("status_replicas", "Number of pets created.", lambda s: s.status.replicas),
    ("status_replicas_ready", "Number of pets Ready.", lambda s: s.status.ready_replicas),
    (
        "status_replicas_current",
        "Number of pets at the current revision.",
        lambda s: s.status.current_replicas,
    ),
    (
        "status_replicas_updated",
        "Number of pets at the update revision.",
        lambda s: s.status.updated_replicas,
    ),
    ("status_replicas_available", "Number of pets available.", lambda s: s.status.available_replicas),
    (
        "status_observed_generation",
        "The generation the status describes.",
        lambda s: s.status.observed_generation,
    ),
    ("metadata_generation", "The generation of the spec.", lambda s: s.generation),
)


def _histogram(name: str, help_text: str, durations: Durations) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, help_text, labels=["name"])
    buckets = [(bucket_bound(bound), n) for bound, n in durations.cumulative()]
    family.add_metric([QUEUE], buckets, durations.total)
    return family


class ControllerCollector(Collector):
    """Reads a Controller when scraped."""

    def __init__(self, controller: Controller, *, timer: Callable[[], float] = time.monotonic) -> None:
        self.controller = controller
        self._timer = timer

    def collect(self) -> Iterator[Metric]:
        yield from self._queue()
        yield from self._reconciles()
        leader = GaugeMetricFamily(
            "leader_election_master_status", "1 while this replica holds the lease.", labels=["name"]
        )
        c = self.controller
        leader.add_metric([LEASE], 1.0 if (c.elector.holding() if c.elector else c.leading) else 0.0)
        yield leader
        yield from self._sets()

    def _queue(self) -> Iterator[Metric]:
        queue, now = self.controller.queue, self._timer()
        stats = queue.stats
        for name, help_text, value in (
            ("workqueue_depth", "Current depth of the work queue.", float(len(queue))),
            (
                "workqueue_unfinished_work_seconds",
                "Seconds of work in progress not yet observed by work_duration.",
                stats.unfinished_seconds(now),
            ),
            (
                "workqueue_longest_running_processor_seconds",
                "Seconds the longest running sync has been running.",
                stats.longest_running_seconds(now),
            ),
        ):
            gauge = GaugeMetricFamily(name, help_text, labels=["name"])
            gauge.add_metric([QUEUE], value)
            yield gauge
        for name, help_text, count in (
            ("workqueue_adds", "Total adds handled by the work queue.", stats.adds),
            ("workqueue_retries", "Total retries handled by the work queue.", stats.retries),
        ):
            counter = CounterMetricFamily(name, help_text, labels=["name"])
            counter.add_metric([QUEUE], float(count))
            yield counter
        yield _histogram(
            "workqueue_queue_duration_seconds",
            "Seconds a key waits in the queue before it is taken.",
            stats.queue_wait,
        )
        yield _histogram("workqueue_work_duration_seconds", "Seconds a sync takes.", stats.work)

    def _reconciles(self) -> Iterator[Metric]:
        c = self.controller
        total = CounterMetricFamily(
            "controller_runtime_reconcile", "Total syncs per result.", labels=["controller", "result"]
        )
        total.add_metric([QUEUE, "success"], float(c.stats.syncs - c.stats.failed - c.stats.stopped))
        total.add_metric([QUEUE, "error"], float(c.stats.failed))
        total.add_metric([QUEUE, "requeue"], float(c.stats.stopped))  # stopped early: the cache is behind
        yield total
        errors = CounterMetricFamily(
            "controller_runtime_reconcile_errors", "Total failed syncs.", labels=["controller"]
        )
        errors.add_metric([QUEUE], float(c.stats.failed))
        yield errors
        for name, help_text, value in (
            ("controller_runtime_active_workers", "Syncs running now.", c.workers.busy),
            ("controller_runtime_max_concurrent_reconciles", "Syncs allowed at once.", c.config.workers),
        ):
            gauge = GaugeMetricFamily(name, help_text, labels=["controller"])
            gauge.add_metric([QUEUE], float(value))
            yield gauge

    def _sets(self) -> Iterator[Metric]:
        sets = [cached.pet_set for cached in self.controller.cache.sets.values()]
        for suffix, help_text, value in _SET_GAUGES:
            gauge = GaugeMetricFamily(f"petset_{suffix}", help_text, labels=["namespace", "petset"])
            for pet_set in sets:
                gauge.add_metric([pet_set.namespace, pet_set.name], float(value(pet_set)))
            yield gauge
