"""How one sync's actions are run: set writes first, then per-pet units in slow-start batches. Pure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from petset_controller.core.actions import (
    Action,
    Adopt,
    CreateClaim,
    CreatePod,
    CreateRevision,
    DeletePod,
    DeleteRevision,
    Event,
    ExpandClaim,
    Release,
    RenumberRevision,
    RequeueAfter,
    UpdateClaimOwner,
    UpdatePodLabels,
    UpdateStatus,
)
from petset_controller.core.identity import parse_ordinal
from petset_controller.core.model import PetSet

MAX_BATCH = 500
_SET_WRITES = (Adopt, Release, CreateRevision, RenumberRevision)
_AFTER_PETS = (UpdateStatus, DeleteRevision, RequeueAfter)


def split(actions: Sequence[Action]) -> tuple[list[Action], list[Action], list[Action]]:
    """Set writes that come first, the pets' writes with their events, and what follows them."""
    start = 0
    while start < len(actions) and isinstance(actions[start], _SET_WRITES):
        start += 1
    end = start
    while end < len(actions) and not isinstance(actions[end], _AFTER_PETS):
        end += 1
    return list(actions[:start]), list(actions[start:end]), list(actions[end:])


def _pet_of(pet_set: PetSet, action: Action) -> str:
    if isinstance(action, CreateClaim):
        return action.pet
    if isinstance(action, (UpdateClaimOwner, ExpandClaim)):
        for template in pet_set.spec.claim_templates:
            pet = action.name.removeprefix(f"{template.name}-")
            if pet != action.name and parse_ordinal(pet_set.name, pet) is not None:
                return pet
    return getattr(action, "name", "")


def units(pet_set: PetSet, actions: Sequence[Action]) -> list[list[Action]]:
    """The pets' actions grouped per pet (first appearance order, their own order kept); an event joins
    the unit of the action after it."""
    grouped: dict[str, list[Action]] = {}
    events: list[Action] = []
    for action in actions:
        if isinstance(action, Event):
            events.append(action)
            continue
        unit = grouped.setdefault(_pet_of(pet_set, action), [])
        unit += events
        unit.append(action)
        events = []
    if events:
        grouped.setdefault("", []).extend(events)
    return list(grouped.values())


def describe(action: Action) -> tuple[str, str, str]:
    verbs = {
        CreateClaim: ("create", "claim"),
        CreatePod: ("create", "pet"),
        DeletePod: ("delete", "pet"),
        UpdatePodLabels: ("update", "pet"),
        UpdateClaimOwner: ("update", "claim"),
        ExpandClaim: ("expand", "claim"),
        Adopt: ("adopt", ""),
        Release: ("release", ""),
        CreateRevision: ("create", "revision"),
        RenumberRevision: ("update", "revision"),
        DeleteRevision: ("delete", "revision"),
        UpdateStatus: ("update", "status"),
    }
    verb, kind = verbs.get(type(action), ("write", ""))
    kind = getattr(action, "kind", "") or kind
    return verb, kind, getattr(action, "name", "")


def batch_sizes(total: int, *, grow: bool, cap: int = MAX_BATCH) -> Iterator[int]:
    """1, 2, 4 ... up to `cap` (or always 1 when not growing), adding up to `total`."""
    size, left = 1, total
    while left > 0:
        step = min(size, left)
        yield step
        left -= step
        if grow:
            size = min(size * 2, cap)
