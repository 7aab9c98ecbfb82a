"""ControllerRevisions: template hashes and names, the current and update revisions, rollback, pruning."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from petset_controller.core.identity import controller_ref
from petset_controller.core.model import PetSet, Revision
from petset_controller.core.spec import Json, labels_of, mapping_of

HASH_LABEL = "controller.kubernetes.io/hash"
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # no vowels: a hash never spells a word
NAME_PREFIX_MAX = 223
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MAX_COLLISIONS = 1000


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no spaces: equal documents give equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def fnv32a(data: bytes) -> int:
    """32-bit FNV-1a."""
    value = _FNV_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """Each character mapped into the safe alphabet (as Kubernetes renders hashes)."""
    return "".join(SAFE_ALPHABET[ord(c) % len(SAFE_ALPHABET)] for c in text)


def revision_data(template: Json) -> dict[str, Any]:
    """The revision's data: a patch that puts this pod template back in place wholesale, its keys sorted (as
    Go encodes a map: what kubectl compares the data with before an undo)."""
    patch = {"spec": {"template": {**template, "$patch": "replace"}}}
    data: dict[str, Any] = json.loads(canonical_json(patch))
    return data


def template_hash(template: Json, collision_count: int = 0) -> str:
    """A stable hash of the template (with the collision count mixed in): at most 10 safe characters."""
    digest = fnv32a(canonical_json(revision_data(template)) + str(collision_count).encode())
    return safe_encode(str(digest))


def revision_name(set_name: str, digest: str) -> str:
    """`<set>-<hash>`, the set's part cut to fit a name."""
    return f"{set_name[:NAME_PREFIX_MAX]}-{digest}"


def history(pet_set: PetSet, revisions: Iterable[Revision]) -> list[Revision]:
    """The set's revisions (owned, or orphans its selector matches), oldest first."""
    uid, matches = pet_set.uid, pet_set.spec.selector.matches
    mine = [
        r
        for r in revisions
        if (r.controller_uid is not None and r.controller_uid == uid)
        or (r.controller_uid is None and matches(r.labels))
    ]
    return sorted(mine, key=lambda r: (r.revision, r.name))


def orphans(pet_set: PetSet, revisions: Iterable[Revision]) -> list[Revision]:
    """Revisions in the history that no controller owns yet: to adopt."""
    return [r for r in history(pet_set, revisions) if r.controller_uid is None]


def new_revision(pet_set: PetSet, *, template: Json, number: int, collision_count: int) -> dict[str, Any]:
    """The ControllerRevision manifest for a template."""
    digest = template_hash(template, collision_count)
    labels = {**labels_of(mapping_of(template.get("metadata")).get("labels")), HASH_LABEL: digest}
    meta: dict[str, Any] = {
        "name": revision_name(pet_set.name, digest),
        "namespace": pet_set.namespace,
        "labels": labels,
        "ownerReferences": [controller_ref(pet_set).to_raw()],
    }
    if pet_set.annotations:
        meta["annotations"] = dict(pet_set.annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": meta,
        "data": revision_data(template),
        "revision": number,
    }


@dataclass(frozen=True, slots=True)
class RevisionChoice:
    """The revisions one sync works with, and what must be written to get them.

    `create` is a new revision's manifest; `bump` renumbers an older revision that has the same
    template as the spec (a rollback) to `(name, number)`.
    """

    current: str
    update: str
    current_template: Json
    update_template: Json
    collision_count: int
    create: dict[str, Any] | None = None
    bump: tuple[str, int] | None = None


def _unused_name(pet_set: PetSet, revisions: Iterable[Revision]) -> tuple[str, int]:
    taken = {r.name for r in revisions}
    count = max(pet_set.status.collision_count, 0)
    for _ in range(_MAX_COLLISIONS):
        name = revision_name(pet_set.name, template_hash(pet_set.spec.template, count))
        if name not in taken:
            return name, count
        count += 1  # the name belongs to a different template (or to another owner): rehash
    raise ValueError(f"no free revision name for {pet_set.name} after {_MAX_COLLISIONS} collisions")


def choose_revisions(pet_set: PetSet, revisions: Iterable[Revision]) -> RevisionChoice:
    """The update revision (the spec's template: reused, rolled back to, or new) and the current one."""
    revisions = list(revisions)
    mine = history(pet_set, revisions)
    template = pet_set.spec.template
    equal = [r for r in mine if r.template == template]
    collisions = max(pet_set.status.collision_count, 0)
    create: dict[str, Any] | None = None
    bump: tuple[str, int] | None = None
    next_number = mine[-1].revision + 1 if mine else 1
    if equal and equal[-1] is mine[-1]:
        update = equal[-1].name
    elif equal:
        update, bump = equal[-1].name, (equal[-1].name, next_number)
    else:
        update, collisions = _unused_name(pet_set, revisions)
        create = new_revision(pet_set, template=template, number=next_number, collision_count=collisions)
    current = next((r for r in mine if r.name == pet_set.status.current_revision), None)
    if current is None or current.template is None:
        return RevisionChoice(update, update, template, template, collisions, create, bump)
    return RevisionChoice(current.name, update, current.template, template, collisions, create, bump)


def prune(pet_set: PetSet, revisions: Iterable[Revision], *, live: Iterable[str]) -> list[Revision]:
    """Revisions to delete, oldest first, so that at most revisionHistoryLimit non-live ones remain.

    Live revisions (current, update, and any a pod is labelled with) are never deleted.
    """
    keep = set(live)
    old = [r for r in history(pet_set, revisions) if r.name not in keep]
    excess = len(old) - max(pet_set.spec.revision_history_limit, 0)
    return old[:excess] if excess > 0 else []
