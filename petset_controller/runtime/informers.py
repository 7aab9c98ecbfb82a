"""The informers' view: PetSets, pods, claims, revisions and StorageClasses read through the reflectors'
store indexes; which sets a change concerns."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from kubeapi.store import Change, Indexer, Key, Store
from petset_controller.core.growth import StorageClass
from petset_controller.core.identity import parse_ordinal
from petset_controller.core.model import (
    Claim,
    OwnerRef,
    PetSet,
    Pod,
    Revision,
    controller_of,
    petset_from_raw,
)
from petset_controller.core.spec import PETSET_KIND

SetKey = tuple[str, str]
T = TypeVar("T")
UID = "uid"  # sets by metadata.uid
NAMESPACE = "namespace"  # sets and revisions by namespace
STEM = (
    "stem"  # pods and claims by "<namespace>/<name without its ordinal>": a set's pets, a template's claims
)


@dataclass(frozen=True, slots=True)
class CachedSet:
    """A PetSet as the informer holds it, with its resourceVersion (the status write's precondition)."""

    pet_set: PetSet
    resource_version: str


def cached_set(raw: dict[str, Any], kind: str = PETSET_KIND) -> CachedSet:
    """The informer's transform for PetSets (or StatefulSets)."""
    return CachedSet(petset_from_raw(raw, kind), str((raw.get("metadata") or {}).get("resourceVersion", "")))


def stem(name: str) -> str:
    """`web` for `web-3`, `www-web` for `www-web-3`: the name without its ordinal ('' when it has none)."""
    head, dash, tail = name.rpartition("-")
    return head if dash and tail.isdigit() else ""


def _stem_of(namespace: str, name: str) -> tuple[str, ...]:
    found = stem(name)
    return (f"{namespace}/{found}",) if found else ()


SET_INDEXERS: dict[str, Indexer[CachedSet]] = {
    UID: lambda s: (s.pet_set.uid,),
    NAMESPACE: lambda s: (s.pet_set.namespace,),
}
POD_INDEXERS: dict[str, Indexer[Pod]] = {STEM: lambda p: _stem_of(p.namespace, p.name)}
CLAIM_INDEXERS: dict[str, Indexer[Claim]] = {STEM: lambda c: _stem_of(c.namespace, c.name)}
REVISION_INDEXERS: dict[str, Indexer[Revision]] = {NAMESPACE: lambda r: (r.namespace,)}


class StoreView(Mapping[Key, T]):
    """A read-only mapping over a store (no copy)."""

    def __init__(self, store: Store[T]) -> None:
        self._store = store

    def __getitem__(self, key: Key) -> T:
        found = self._store.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[Key]:
        return iter(self._store)

    def __len__(self) -> int:
        return len(self._store)


class ClassView(Mapping[str, StorageClass]):
    """StorageClasses by name over their store (no copy)."""

    def __init__(self, store: Store[StorageClass]) -> None:
        self._store = store

    def __getitem__(self, name: str) -> StorageClass:
        found = self._store.get(("", name))
        if found is None:
            raise KeyError(name)
        return found

    def __iter__(self) -> Iterator[str]:
        return (name for _, name in self._store)

    def __len__(self) -> int:
        return len(self._store)


class Informers:
    """What the reflectors' stores hold, read for syncs; each store built with its kind's indexers."""

    def __init__(
        self,
        *,
        sets: Store[CachedSet] | None = None,
        pods: Store[Pod] | None = None,
        claims: Store[Claim] | None = None,
        revisions: Store[Revision] | None = None,
        classes: Store[StorageClass] | None = None,
        kind: str = PETSET_KIND,
    ) -> None:
        self.kind = kind  # the kind of the sets: owner references of another kind are not theirs
        self.set_store = sets if sets is not None else Store(SET_INDEXERS)
        self.pod_store = pods if pods is not None else Store(POD_INDEXERS)
        self.claim_store = claims if claims is not None else Store(CLAIM_INDEXERS)
        self.revision_store = revisions if revisions is not None else Store(REVISION_INDEXERS)
        self.class_store = classes if classes is not None else Store[StorageClass]()
        self.sets: Mapping[SetKey, CachedSet] = StoreView(self.set_store)
        self.classes: Mapping[str, StorageClass] = ClassView(self.class_store)

    # -- the Observed view (expectations) -----------------------------------------------------------

    def pod(self, namespace: str, name: str) -> Pod | None:
        """The cached pod."""
        return self.pod_store.get((namespace, name))

    def claim(self, namespace: str, name: str) -> Claim | None:
        """The cached claim."""
        return self.claim_store.get((namespace, name))

    def revision(self, namespace: str, name: str) -> Revision | None:
        """The cached ControllerRevision."""
        return self.revision_store.get((namespace, name))

    def set_version(self, namespace: str, name: str) -> str:
        """The cached PetSet's resourceVersion ('' when absent)."""
        found = self.set_store.get((namespace, name))
        return found.resource_version if found is not None else ""

    # -- what a sync reads --------------------------------------------------------------------------

    def pods_of(self, key: SetKey) -> list[Pod]:
        """Every pod whose name is one of the set's pets' names (owned or not)."""
        return self.pod_store.values_by(STEM, f"{key[0]}/{key[1]}")

    def claims_of(self, pet_set: PetSet) -> list[Claim]:
        """Every claim named like one of the set's claims."""
        out: list[Claim] = []
        for template in pet_set.spec.claim_templates:
            out += self.claim_store.values_by(STEM, f"{pet_set.namespace}/{template.name}-{pet_set.name}")
        return out

    def revisions_in(self, namespace: str) -> list[Revision]:
        """Every ControllerRevision in the namespace."""
        return self.revision_store.values_by(NAMESPACE, namespace)

    # -- changes (already in the stores) in, concerned sets out ------------------------------------

    def _owner_key(self, refs: tuple[OwnerRef, ...]) -> SetKey | None:
        ref = controller_of(refs)
        if ref is None or ref.kind != self.kind:
            return None
        return next(iter(self.set_store.keys_by(UID, ref.uid)), None)

    def _named_pet(self, namespace: str, name: str) -> SetKey | None:
        key = (namespace, stem(name))
        return key if key in self.sets and parse_ordinal(key[1], name) is not None else None

    def on_sets(self, changes: Iterable[Change[CachedSet]]) -> set[SetKey]:
        """PetSet changes: the set itself."""
        return {change.key for change in changes}

    def on_pods(self, changes: Iterable[Change[Pod]]) -> set[SetKey]:
        """Pod changes: the controlling set, and the set the name belongs to (orphans, name clashes)."""
        keys: list[SetKey | None] = []
        for change in changes:
            for pod in (change.old, change.new):
                if pod is not None:
                    keys += (self._owner_key(pod.owner_refs), self._named_pet(pod.namespace, pod.name))
        return {k for k in keys if k is not None}

    def on_claims(self, changes: Iterable[Change[Claim]]) -> set[SetKey]:
        """Claim changes: the set the name belongs to, the owning set, or the set of the owning pet."""
        keys: list[SetKey | None] = []
        for change in changes:
            for claim in (change.old, change.new):
                if claim is None:
                    continue
                keys.append(self._owner_key(claim.owner_refs))
                keys += self._claim_sets(claim)
                pet = controller_of(claim.owner_refs)
                if pet is not None and pet.kind == "Pod":
                    keys.append(self._named_pet(claim.namespace, pet.name))
        return {k for k in keys if k is not None}

    def _claim_sets(self, claim: Claim) -> list[SetKey]:
        """Sets with a claim template and name such that `<template>-<set>-<ordinal>` is this claim."""
        rest, out = stem(claim.name), []
        for at, char in enumerate(rest):
            if char != "-":
                continue
            key = (claim.namespace, rest[at + 1 :])
            found = self.set_store.get(key)
            if found is not None and any(t.name == rest[:at] for t in found.pet_set.spec.claim_templates):
                out.append(key)
        return out

    def on_classes(self, changes: Iterable[Change[StorageClass]]) -> set[SetKey]:
        """StorageClass changes (expansion allowed or not): every set with claim templates."""
        if not changes:
            return set()
        return {key for key, found in self.sets.items() if found.pet_set.spec.claim_templates}

    def on_revisions(self, changes: Iterable[Change[Revision]]) -> set[SetKey]:
        """Revision changes: the owning set, or every set in the namespace whose selector matches."""
        keys: list[SetKey | None] = []
        for change in changes:
            for revision in (change.old, change.new):
                if revision is None:
                    continue
                if controller_of(revision.owner_refs) is not None:
                    keys.append(self._owner_key(revision.owner_refs))
                    continue
                keys.extend(
                    (found.pet_set.namespace, found.pet_set.name)
                    for found in self.set_store.values_by(NAMESPACE, revision.namespace)
                    if found.pet_set.spec.selector.matches(revision.labels)
                )
        return {k for k in keys if k is not None}
