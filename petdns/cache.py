"""The watch cache: reflectors for Namespaces, Services, EndpointSlices (and Pods) feeding the zone."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from kubeapi.client import Client
from kubeapi.paths import ENDPOINT_SLICES, NAMESPACES, PODS, SERVICES, ResourceRef
from kubeapi.reflector import Reflector
from kubeapi.store import Change
from petdns.model import KubeObject, ModelError, from_raw
from petdns.zone import RenderedZone

log = logging.getLogger("petdns.cache")
Obj = dict[str, Any]


class ClusterCache:
    """Lists and watches what DNS needs; the zone is not synced until every first list has arrived."""

    def __init__(
        self,
        client: Client,
        zone: RenderedZone,
        *,
        watch_pods: bool,
        on_synced: Callable[[], None] = lambda: None,
    ) -> None:
        self.zone = zone
        self.on_synced = on_synced
        kinds: list[tuple[ResourceRef, str]] = [
            (NAMESPACES, "Namespace"),
            (SERVICES, "Service"),
            (ENDPOINT_SLICES, "EndpointSlice"),
        ]
        if watch_pods:
            kinds.append((PODS, "Pod"))
        self._warned: set[tuple[str, str, str, str]] = set()
        self.reflectors: list[Reflector[KubeObject]] = [
            Reflector(client, ref, transform=self._transformer(kind), on_changes=self._applier(kind))
            for ref, kind in kinds
        ]

    @property
    def ready(self) -> bool:
        """Every reflector has applied its first list."""
        return all(r.has_synced for r in self.reflectors)

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
            try:
                return from_raw(raw)
            except ModelError as err:
                meta = raw.get("metadata") or {}
                key = (kind, str(meta.get("namespace", "")), str(meta.get("name", "")), str(err))
                if key not in self._warned:
                    self._warned.add(key)
                    log.warning(
                        "skipping %s %s/%s: field %s: %s", kind, key[1], key[2], err.field, err.message
                    )
                return None

        return transform

    def _applier(self, kind: str) -> Any:
        def apply(changes: list[Change[KubeObject]]) -> None:
            upserts = [c.new for c in changes if c.new is not None]
            deletes = [(kind, c.key[0], c.key[1]) for c in changes if c.new is None]
            self.zone.update(upserts, deletes)

        return apply
