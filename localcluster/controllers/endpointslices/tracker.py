"""The EndpointSlice controller's own writes and deletes per Service, to tell its events apart. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from localcluster.controllers.endpointslices.model import Slice

Key = tuple[str, str]  # (namespace, name)
DELETION_EXPECTED = -1


class SliceTracker:
    """The generation this controller last wrote for each slice (by uid), and the deletions it made.

    Events the controller caused are told apart from changes made by others; a cache that has not yet
    seen the controller's own writes is stale, and a Service is not planned against it.
    """

    def __init__(self) -> None:
        self._by_service: dict[Key, dict[str, int]] = {}

    def wrote(self, service: Key, uid: str, generation: int) -> None:
        """A create or update returned this generation."""
        self._by_service.setdefault(service, {})[uid] = generation

    def deleted(self, service: Key, uid: str) -> None:
        """A delete is about to be sent."""
        self._by_service.setdefault(service, {})[uid] = DELETION_EXPECTED

    def untrack(self, service: Key, uid: str) -> None:
        """A write failed: its outcome is unknown, so the slice is no longer tracked."""
        tracked = self._by_service.get(service, {})
        tracked.pop(uid, None)
        if not tracked:
            self._by_service.pop(service, None)

    def should_sync(self, service: Key, found: Slice) -> bool:
        """Whether a slice event was not caused by the controller (unknown slice or a newer generation)."""
        generation = self._by_service.get(service, {}).get(found.uid)
        return generation is None or (generation != DELETION_EXPECTED and found.generation > generation)

    def handle_deletion(self, service: Key, uid: str) -> bool:
        """A slice is gone: True when the controller deleted it itself."""
        tracked = self._by_service.get(service, {})
        generation = tracked.pop(uid, None)
        if not tracked:
            self._by_service.pop(service, None)
        return generation == DELETION_EXPECTED

    def stale(self, service: Key, slices: Iterable[Slice]) -> bool:
        """True when the cache misses a write of the controller (an old generation, a slice it created
        that is not there yet, or one it deleted that is still there)."""
        tracked = self._by_service.get(service)
        if not tracked:
            return False
        seen = set()
        for found in slices:
            seen.add(found.uid)
            generation = tracked.get(found.uid)
            if generation is not None and (generation == DELETION_EXPECTED or generation > found.generation):
                return True
        return any(g != DELETION_EXPECTED and uid not in seen for uid, g in tracked.items())

    def forget(self, service: Key) -> None:
        """The Service is gone."""
        self._by_service.pop(service, None)
