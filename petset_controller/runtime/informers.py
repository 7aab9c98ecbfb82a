"""The informers' view: PetSets, pods, claims, revisions indexed by set; which sets a change concerns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from kubeapi.store import Change
from petset_controller.core.identity import PETSET_KIND, parse_ordinal
from petset_controller.core.model import (
    Claim,
    OwnerRef,
    PetSet,
    Pod,
    Revision,
    controller_of,
    petset_from_raw,
)

SetKey = tuple[str, str]
T = TypeVar("T", Pod, Claim, Revision)


@dataclass(frozen=True, slots=True)
class CachedSet:
    """A PetSet as the informer holds it, with its resourceVersion (the status write's precondition)."""

    pet_set: PetSet
    resource_version: str


def cached_set(raw: dict[str, Any]) -> CachedSet:
    """The informer's transform for PetSets."""
    return CachedSet(petset_from_raw(raw), str((raw.get("metadata") or {}).get("resourceVersion", "")))


def stem(name: str) -> str:
    """`web` for `web-3`, `www-web` for `www-web-3`: the name without its ordinal ('' when it has none)."""
    head, dash, tail = name.rpartition("-")
    return head if dash and tail.isdigit() else ""


def _put(index: dict[tuple[str, str], dict[str, T]], change: Change[T], *, group: tuple[str, str]) -> None:
    name = change.key[1]
    if change.new is None:
        members = index.get(group)
        if members is not None:
            members.pop(name, None)
            if not members:
                del index[group]
    else:
        index.setdefault(group, {})[name] = change.new


class Cache:
    """What the informers hold, indexed for syncs: pods and claims by name stem, revisions by namespace."""

    def __init__(self) -> None:
        self.sets: dict[SetKey, CachedSet] = {}
        self._by_uid: dict[str, SetKey] = {}
        self._pods: dict[tuple[str, str], dict[str, Pod]] = {}
        self._claims: dict[tuple[str, str], dict[str, Claim]] = {}
        self._revisions: dict[tuple[str, str], dict[str, Revision]] = {}

    # -- the Observed view (expectations) -----------------------------------------------------------

    def pod(self, namespace: str, name: str) -> Pod | None:
        """The cached pod."""
        return self._pods.get((namespace, stem(name)), {}).get(name)

    def claim(self, namespace: str, name: str) -> Claim | None:
        """The cached claim."""
        return self._claims.get((namespace, stem(name)), {}).get(name)

    def revision(self, namespace: str, name: str) -> Revision | None:
        """The cached ControllerRevision."""
        return self._revisions.get((namespace, ""), {}).get(name)

    def set_version(self, namespace: str, name: str) -> str:
        """The cached PetSet's resourceVersion ('' when absent)."""
        found = self.sets.get((namespace, name))
        return found.resource_version if found is not None else ""

    # -- what a sync reads --------------------------------------------------------------------------

    def pods_of(self, key: SetKey) -> list[Pod]:
        """Every pod whose name is one of the set's pets' names (owned or not)."""
        return list(self._pods.get(key, {}).values())

    def claims_of(self, pet_set: PetSet) -> list[Claim]:
        """Every claim named like one of the set's claims."""
        out: list[Claim] = []
        for template in pet_set.spec.claim_templates:
            out += self._claims.get((pet_set.namespace, f"{template.name}-{pet_set.name}"), {}).values()
        return out

    def revisions_in(self, namespace: str) -> list[Revision]:
        """Every ControllerRevision in the namespace."""
        return list(self._revisions.get((namespace, ""), {}).values())

    # -- changes in, concerned sets out -----------------------------------------------------------

    def _owner_key(self, refs: tuple[OwnerRef, ...]) -> SetKey | None:
        ref = controller_of(refs)
        return self._by_uid.get(ref.uid) if ref is not None and ref.kind == PETSET_KIND else None

    def _named_pet(self, namespace: str, name: str) -> SetKey | None:
        key = (namespace, stem(name))
        return key if key in self.sets and parse_ordinal(key[1], name) is not None else None

    def on_sets(self, changes: Iterable[Change[CachedSet]]) -> set[SetKey]:
        """PetSet changes: the set itself."""
        keys = set()
        for change in changes:
            old, new = change.old, change.new
            if old is not None:
                self._by_uid.pop(old.pet_set.uid, None)
            if new is None:
                self.sets.pop(change.key, None)
            else:
                self.sets[change.key] = new
                self._by_uid[new.pet_set.uid] = change.key
            keys.add(change.key)
        return keys

    def on_pods(self, changes: Iterable[Change[Pod]]) -> set[SetKey]:
        """Pod changes: the controlling set, and the set the name belongs to (orphans, name clashes)."""
        keys: list[SetKey | None] = []
        for change in changes:
            _put(self._pods, change, group=(change.key[0], stem(change.key[1])))
            for pod in (change.old, change.new):
                if pod is not None:
                    keys += (self._owner_key(pod.owner_refs), self._named_pet(pod.namespace, pod.name))
        return {k for k in keys if k is not None}

    def on_claims(self, changes: Iterable[Change[Claim]]) -> set[SetKey]:
        """Claim changes: the set the name belongs to, the owning set, or the set of the owning pet."""
        keys: list[SetKey | None] = []
        for change in changes:
            _put(self._claims, change, group=(change.key[0], stem(change.key[1])))
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
            found = self.sets.get(key)
            if found is not None and any(t.name == rest[:at] for t in found.pet_set.spec.claim_templates):
                out.append(key)
        return out

    def on_revisions(self, changes: Iterable[Change[Revision]]) -> set[SetKey]:
        """Revision changes: the owning set, or every set in the namespace whose selector matches."""
        keys: list[SetKey | None] = []
        for change in changes:
            _put(self._revisions, change, group=(change.key[0], ""))
            for revision in (change.old, change.new):
                if revision is None:
                    continue
                if controller_of(revision.owner_refs) is not None:
                    keys.append(self._owner_key(revision.owner_refs))
                    continue
                keys.extend(
                    key
                    for key, found in self.sets.items()
                    if key[0] == revision.namespace and found.pet_set.spec.selector.matches(revision.labels)
                )
        return {k for k in keys if k is not None}
