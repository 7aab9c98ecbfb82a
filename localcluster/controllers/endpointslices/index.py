"""Indexes for the EndpointSlice controller: pods by label, Services by selector, slices by Service, and
what the controller itself last wrote. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from localcluster.controllers.endpointslices.model import Labels, Pod, Service, Slice

Key = tuple[str, str]  # (namespace, name)
DELETION_EXPECTED = -1


class PodIndex:
    """Pods by (namespace, label key, label value): a selector intersects the sets of its pairs."""

    def __init__(self) -> None:
        self._pods: dict[Key, Pod] = {}
        self._by_label: dict[tuple[str, str, str], set[str]] = {}

    def __len__(self) -> int:
        return len(self._pods)

    def get(self, key: Key) -> Pod | None:
        """The pod stored under a key."""
        return self._pods.get(key)

    def put(self, pod: Pod) -> None:
        """Add or replace a pod."""
        self.remove((pod.namespace, pod.name))
        self._pods[(pod.namespace, pod.name)] = pod
        for label, value in pod.labels:
            self._by_label.setdefault((pod.namespace, label, value), set()).add(pod.name)

    def remove(self, key: Key) -> None:
        """Drop a pod (absent: nothing)."""
        old = self._pods.pop(key, None)
        if old is None:
            return
        for label, value in old.labels:
            names = self._by_label.get((old.namespace, label, value))
            if names is not None:
                names.discard(old.name)
                if not names:
                    del self._by_label[(old.namespace, label, value)]

    def matching(self, namespace: str, selector: Labels) -> list[Pod]:
        """The pods of a namespace whose labels include every pair of a non-empty selector."""
        sets = [self._by_label.get((namespace, label, value)) for label, value in selector]
        if not sets or any(s is None for s in sets):
            return []
        found = sorted((s for s in sets if s is not None), key=len)
        names = found[0].intersection(*found[1:]) if len(found) > 1 else found[0]
        return [self._pods[(namespace, name)] for name in names]


class ServiceIndex:
    """Services with a selector by (namespace, first selector pair): the candidates for a pod's labels."""

    def __init__(self) -> None:
        self._services: dict[Key, Service] = {}
        self._by_pair: dict[tuple[str, str, str], set[str]] = {}

    def get(self, key: Key) -> Service | None:
        """The Service stored under a key."""
        return self._services.get(key)

    def put(self, service: Service) -> None:
        """Add or replace a Service."""
        self.remove((service.namespace, service.name))
        self._services[(service.namespace, service.name)] = service
        if service.selector:
            label, value = service.selector[0]
            self._by_pair.setdefault((service.namespace, label, value), set()).add(service.name)

    def remove(self, key: Key) -> None:
        """Drop a Service (absent: nothing)."""
        old = self._services.pop(key, None)
        if old is None or not old.selector:
            return
        label, value = old.selector[0]
        names = self._by_pair.get((old.namespace, label, value))
        if names is not None:
            names.discard(old.name)
            if not names:
                del self._by_pair[(old.namespace, label, value)]

    def selecting(self, pod: Pod) -> set[Key]:
        """The Services whose selector matches the pod's labels."""
        labels = pod.label_map
        out = set()
        for label, value in pod.labels:
            for name in self._by_pair.get((pod.namespace, label, value), ()):
                service = self._services[(pod.namespace, name)]
                if service.selector and all(labels.get(k) == v for k, v in service.selector):
                    out.add((pod.namespace, name))
        return out


class SliceIndex:
    """Managed slices by the Service they are labelled for."""

    def __init__(self) -> None:
        self._by_service: dict[Key, dict[str, Slice]] = {}

    def of(self, key: Key) -> list[Slice]:
        """The slices labelled for a Service."""
        return list(self._by_service.get(key, {}).values())

    def put(self, found: Slice) -> None:
        """Add or replace a slice (its old entry removed by the caller when its Service label changed)."""
        self._by_service.setdefault((found.namespace, found.service), {})[found.name] = found

    def remove(self, found: Slice) -> None:
        """Drop a slice."""
        key = (found.namespace, found.service)
        owned = self._by_service.get(key)
        if owned is not None:
            owned.pop(found.name, None)
            if not owned:
                del self._by_service[key]


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
