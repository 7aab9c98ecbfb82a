"""The watch cache: reflectors for Namespaces, Services, EndpointSlices (and Pods) feeding the zone.

A `Scope` narrows what is watched (one watch per namespace of `namespaces`, the `labels` selector
sent to the API server, no EndpointSlice watch with `noendpoints`); with `namespace_labels` the
Namespace watch keeps the chosen namespaces and only their objects reach the zone.

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
from petdns.schema.model import EndpointSlice, KubeObject, ModelError, Namespace, ServiceKind, from_raw
from petdns.schema.scope import Scope
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
        scope: Scope | None = None,
        clock: Callable[[], float] = time.perf_counter,
        wall: Callable[[], float] = time.time,
    ) -> None:
        scope = scope or Scope()
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
        self.scope = scope
        self._by_kind: dict[str, list[Reflector[KubeObject]]] = {}
        for ref, kind in _kinds(scope, watch_pods=watch_pods):
            resource = ref.plural if not ref.group else f"{ref.plural}.{ref.group}"
            apply = self._applier(kind, resource)
            selector = str(scope.labels) if kind in ("Service", "EndpointSlice") else ""
            # a namespaced Role is enough with `namespaces`: one watch per namespace
            where: list[str | None] = [None] if kind == "Namespace" else [*sorted(scope.namespaces)] or [None]
            self._by_kind[kind] = [
                Reflector(
                    client,
                    ref,
                    transform=self._transformer(kind),
                    on_changes=apply,
                    namespace=namespace,
                    label_selector=selector,
                )
                for namespace in where
            ]
        self.reflectors: list[Reflector[KubeObject]] = [r for rs in self._by_kind.values() for r in rs]

    @property
    def ready(self) -> bool:
        """Every reflector has applied its first list."""
        return all(r.has_synced for r in self.reflectors)

    def objects(self) -> list[KubeObject]:
        """Every object the reflectors hold now that is served (in a namespace `namespace_labels` chose)."""
        chosen = self._chosen()
        values = [value for r in self.reflectors for value in r.store.values()]
        return values if chosen is None else [v for v in values if _namespace(v) in chosen]

    def _chosen(self) -> set[str] | None:
        """With `namespace_labels`: the namespaces chosen (the Namespace watch keeps only those)."""
        if self.scope.namespace_labels is None:
            return None
        return {key[1] for r in self._by_kind.get("Namespace", ()) for key in r.store}

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
        scope = None if self.scope.everything else self.scope

        def transform(raw: Obj) -> KubeObject | None:
            raw.setdefault("kind", kind)  # list items come without kind
            if scope is not None and not scope.admits(raw, kind):
                return None
            if kind == "Namespace" and scope is not None and not scope.namespace_selected(raw):
                return None
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
            if self.scope.namespace_labels is not None:
                upserts, deletes = self._chosen_only(kind, upserts, deletes)
            self.zone.update(upserts, deletes)
            arrived = self._arrived.pop(kind, None)
            synced = all(r.has_synced for r in self._by_kind[kind])
            if len(changes) != 1 or arrived is None or not synced:
                return  # a list: its objects arrived over many pages
            lag.observe(self._clock() - arrived)
            old, new = changes[0].old, changes[0].new
            if isinstance(new, EndpointSlice):
                self._programmed(new, old if isinstance(old, EndpointSlice) else None)

        return apply

    def _chosen_only(
        self, kind: str, upserts: list[KubeObject], deletes: list[tuple[str, str, str]]
    ) -> tuple[list[KubeObject], list[tuple[str, str, str]]]:
        """With `namespace_labels`: objects outside the chosen namespaces go (as deletes); a namespace
        chosen or no longer chosen brings in or takes out what the other watches hold in it."""
        chosen = self._chosen() or set()
        if kind != "Namespace":
            gone = [(kind, _namespace(o), o.name) for o in upserts if _namespace(o) not in chosen]
            return [o for o in upserts if _namespace(o) in chosen], deletes + gone
        added = {o.name for o in upserts}
        removed = {name for _, _, name in deletes}
        for other, reflectors in self._by_kind.items():
            if other == "Namespace":
                continue
            for r in reflectors:
                for value in r.store.values():
                    if _namespace(value) in added:
                        upserts.append(value)
                    elif _namespace(value) in removed:
                        deletes.append((other, _namespace(value), value.name))
        return upserts, deletes

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


def _kinds(scope: Scope, *, watch_pods: bool) -> list[tuple[ResourceRef, str]]:
    """What is watched: Namespaces unless only named ones are served (a namespaced Role cannot list
    them; such a namespace exists while it holds a service) or chosen by labels; EndpointSlices unless
    `noendpoints`; Pods with verified pod records."""
    kinds: list[tuple[ResourceRef, str]] = []
    if not scope.namespaces or scope.namespace_labels is not None:
        kinds.append((NAMESPACES, "Namespace"))
    kinds.append((SERVICES, "Service"))
    if not scope.noendpoints:
        kinds.append((ENDPOINT_SLICES, "EndpointSlice"))
    if watch_pods:
        kinds.append((PODS, "Pod"))
    return kinds


def _namespace(obj: KubeObject) -> str:
    return obj.name if isinstance(obj, Namespace) else obj.namespace


def _ready_pets(eps: EndpointSlice | None) -> set[tuple[str, tuple[str, ...]]]:
    if eps is None:
        return set()
    return {(e.hostname, e.addresses) for e in eps.endpoints if e.ready and e.hostname}


def newly_ready_pets(old: EndpointSlice | None, new: EndpointSlice) -> list[str]:
    """The hostnames (pets) Ready with these addresses in new that were not in old."""
    return sorted(host for host, _ in _ready_pets(new) - _ready_pets(old))
