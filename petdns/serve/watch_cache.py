"""The watch cache: reflectors for Namespaces, Services, EndpointSlices (and Pods) feeding the zone.

Two lags are measured once a resource has synced: from a watch event's arrival (its object decoded)
to the zone holding it, per resource (`lag`), and, for EndpointSlices that carry the EndpointSlice
controller's `endpoints.kubernetes.io/last-change-trigger-time`, from that change in the API to the
zone (`programming`, by service kind, as CoreDNS's DNS programming latency).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from kubeapi.client import Client
from kubeapi.meta import Obj, parse_time
from kubeapi.paths import ENDPOINT_SLICES, NAMESPACES, PODS, SERVICES, ResourceRef
from kubeapi.reflector import Reflector
from kubeapi.skipping import skipping
from kubeapi.store import Change
from petdns.answer.zone import RenderedZone
from petdns.schema.model import EndpointSlice, KubeObject, ModelError, ServiceKind, from_raw
from petdns.serve.tally import PROGRAMMING_BOUNDS, Histogram

log = logging.getLogger("petdns.cache")
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
SERVICE_KINDS = {ServiceKind.HEADLESS: "headless_with_selector", ServiceKind.CLUSTER_IP: "cluster_ip"}


class ClusterCache:
    """Lists and watches what DNS needs; the zone is not synced until every first list has arrived.

    `zone` may be replaced (a reload that changes how names are rendered): changes go to the new one.
    """

    def __init__(
        self,
        client: Client,
        zone: RenderedZone,
        *,
        watch_pods: bool,
        on_synced: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.perf_counter,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.zone = zone
        self.on_synced = on_synced
        self._clock = clock
        self._wall = wall
        self.lag: dict[str, Histogram] = {}  # resource -> watch event decoded to zone updated, seconds
        self.programming: dict[str, Histogram] = {}  # service kind -> API change to zone updated
        self.pet_programming = Histogram(
            PROGRAMMING_BOUNDS
        )  # a pet turned Ready in the API -> its name answers
        self._arrived: dict[str, float] = {}  # kind -> when its latest object was decoded
        self._triggers: dict[tuple[str, str], float] = {}  # the latest slice's key -> its trigger time
        kinds: list[tuple[ResourceRef, str]] = [
            (NAMESPACES, "Namespace"),
            (SERVICES, "Service"),
            (ENDPOINT_SLICES, "EndpointSlice"),
        ]
        if watch_pods:
            kinds.append((PODS, "Pod"))
        self._by_kind: dict[str, Reflector[KubeObject]] = {}
        for ref, kind in kinds:
            resource = ref.plural if not ref.group else f"{ref.plural}.{ref.group}"
            apply = self._applier(kind, resource)
            self._by_kind[kind] = Reflector(client, ref, transform=self._transformer(kind), on_changes=apply)
        self.reflectors: list[Reflector[KubeObject]] = list(self._by_kind.values())

    @property
    def ready(self) -> bool:
        """Every reflector has applied its first list."""
        return all(r.has_synced for r in self.reflectors)

    def objects(self) -> list[KubeObject]:
        """Every object the reflectors hold now."""
        return [value for r in self.reflectors for value in r.store.values()]

    async def run(self) -> None:
        """Run the reflectors; mark the zone synced once all of them are."""
        tasks = [asyncio.create_task(r.run(), name=f"reflector-{r.name}") for r in self.reflectors]
        try:
            await asyncio.gather(*(r.synced.wait() for r in self.reflectors))
            self.zone.synced = True
            log.info("synced: %d objects", sum(len(r.store) for r in self.reflectors))
            self.on_synced()
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _transformer(self, kind: str) -> Any:
        def transform(raw: Obj) -> KubeObject | None:
            raw.setdefault("kind", kind)  # list items come without kind
            self._arrived[kind] = self._clock()
            if kind == "EndpointSlice":
                self._note_trigger(raw)
            return from_raw(raw)

        return skipping(
            transform, kind, log, errors=(ModelError,), reason=lambda err: f"field {err}", once=True
        )

    def _note_trigger(self, raw: Obj) -> None:
        """Remember the latest slice's trigger time (when its change happened in the API)."""
        meta = raw.get("metadata") or {}
        stamp = (meta.get("annotations") or {}).get(TRIGGER_TIME)
        self._triggers.clear()
        when = parse_time(stamp)
        if when is not None:
            self._triggers[(str(meta.get("namespace", "")), str(meta.get("name", "")))] = when

    def _applier(self, kind: str, resource: str) -> Any:
        lag = self.lag[resource] = Histogram()

        def apply(changes: list[Change[KubeObject]]) -> None:
            upserts = [c.new for c in changes if c.new is not None]
            deletes = [(kind, c.key[0], c.key[1]) for c in changes if c.new is None]
            self.zone.update(upserts, deletes)
            arrived = self._arrived.pop(kind, None)
            if len(changes) != 1 or arrived is None or not self._by_kind[kind].has_synced:
                return  # a list: its objects arrived over many pages
            lag.observe(self._clock() - arrived)
            old, new = changes[0].old, changes[0].new
            if isinstance(new, EndpointSlice):
                self._programmed(new, old if isinstance(old, EndpointSlice) else None)

        return apply

    def _programmed(self, eps: EndpointSlice, old: EndpointSlice | None) -> None:
        when = self._triggers.pop((eps.namespace, eps.name), None)
        service = self.zone.catalog.services.get((eps.namespace, eps.service))
        label = SERVICE_KINDS.get(service.kind) if service is not None else None
        if when is None or label is None:
            return
        hist = self.programming.get(label)
        if hist is None:
            hist = self.programming[label] = Histogram(PROGRAMMING_BOUNDS)
        took = max(0.0, self._wall() - when)
        hist.observe(took)
        for _ in newly_ready_pets(old, eps):
            self.pet_programming.observe(took)


def _ready_pets(eps: EndpointSlice | None) -> set[tuple[str, tuple[str, ...]]]:
    if eps is None:
        return set()
    return {(e.hostname, e.addresses) for e in eps.endpoints if e.ready and e.hostname}


def newly_ready_pets(old: EndpointSlice | None, new: EndpointSlice) -> list[str]:
    """The hostnames (pets) Ready with these addresses in new that were not in old."""
    return sorted(host for host, _ in _ready_pets(new) - _ready_pets(old))
