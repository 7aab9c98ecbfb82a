"""Growing pets' volumes: when a claim template's storage request grew, the pets' bound claims whose class
allows expansion get their request raised (never lowered); the others are named in the VolumeResizeRefused
condition, and VolumesResized counts the claims already at the template's size. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from kubeapi import quantity
from petset_controller.core.actions import WARNING, Action, Event, ExpandClaim
from petset_controller.core.identity import claim_name
from petset_controller.core.model import Claim, Condition, PetSetStatus
from petset_controller.core.spec import ClaimTemplate, Json, mapping_of
from petset_controller.core.status import View

VOLUMES_RESIZED = "VolumesResized"
RESIZE_REFUSED = "VolumeResizeRefused"
GROWTH = (VOLUMES_RESIZED, RESIZE_REFUSED)


@dataclass(frozen=True, slots=True)
class StorageClass:
    """What the controller reads of a StorageClass."""

    name: str
    allow_expansion: bool = False


def class_from_raw(raw: Json) -> StorageClass:
    """Decode a StorageClass."""
    name = str(mapping_of(raw.get("metadata")).get("name") or "")
    return StorageClass(name, allow_expansion=raw.get("allowVolumeExpansion") is True)


def template_storage(template: ClaimTemplate) -> str:
    """The template's spec.resources.requests.storage as written ('' when it has none)."""
    spec = mapping_of(template.raw.get("spec"))
    value = mapping_of(mapping_of(spec.get("resources")).get("requests")).get("storage")
    return "" if value is None or isinstance(value, (bool, dict, list)) else str(value)


def refusal(claim: Claim, classes: Mapping[str, StorageClass]) -> str:
    """Why the claim cannot be expanded ('' when its class allows it)."""
    if not claim.storage_class:
        return "it has no StorageClass (only dynamically provisioned claims can grow)"
    found = classes.get(claim.storage_class)
    if found is None:
        return f"its StorageClass {claim.storage_class} does not exist"
    if not found.allow_expansion:
        return f"its StorageClass {claim.storage_class} does not allow volume expansion"
    return ""


@dataclass(frozen=True, slots=True)
class Growth:
    """One sync's expansions and refusal event, and the growth conditions (None: leave them as they are)."""

    actions: tuple[Action, ...] = ()
    conditions: tuple[Condition, ...] | None = None


@dataclass(slots=True)
class _Tally:
    size: str
    claims: int = 0
    at_size: int = 0

    def text(self, template: str) -> str:
        return f"{self.at_size} of {self.claims} claims of template {template} at {self.size}"


def plan_growth(view: View, classes: Mapping[str, StorageClass]) -> Growth:
    """Expand every bound claim of an in-range pet whose request is below its template's, where allowed."""
    pet_set = view.pet_set
    actions: list[Action] = []
    refused: list[str] = []
    tallies: dict[str, _Tally] = {}
    involved = pet_set.status.condition(VOLUMES_RESIZED) is not None
    for template in pet_set.spec.claim_templates:
        size = template_storage(template)
        wanted = quantity.parse(size)
        if wanted is None:
            continue
        tally = tallies[template.name] = _Tally(size)
        for ordinal, _ in view.slots:
            claim = view.claims.get(claim_name(template.name, pet_set.name, ordinal))
            if claim is None or claim.terminating:
                continue
            request, capacity = quantity.parse(claim.request), quantity.parse(claim.capacity)
            tally.claims += 1
            tally.at_size += capacity is not None and capacity >= wanted
            behind = request is not None and request < wanted
            involved = involved or behind or _below(capacity, wanted)
            if not behind or claim.phase != "Bound":
                continue
            why = refusal(claim, classes)
            if why:
                refused.append(f"claim {claim.name} cannot grow to {size}: {why}")
            else:
                actions.append(ExpandClaim(claim.name, claim.uid, size, claim.request))
    if not involved:
        return Growth(tuple(actions))
    if not tallies:
        return Growth(tuple(actions), ())
    conditions = [_resized(tallies)]
    if refused:
        message = "; ".join(refused)
        conditions.append(Condition(RESIZE_REFUSED, "True", "ExpansionNotAllowed", message))
        before = pet_set.status.condition(RESIZE_REFUSED)
        if before is None or before.message != message:
            actions.append(Event(RESIZE_REFUSED, message, WARNING))
    return Growth(tuple(actions), tuple(conditions))


def _below(capacity: Decimal | None, wanted: Decimal) -> bool:
    return capacity is not None and capacity < wanted


def _resized(tallies: Mapping[str, _Tally]) -> Condition:
    done = all(t.at_size == t.claims for t in tallies.values())
    message = "; ".join(t.text(name) for name, t in tallies.items())
    return Condition(VOLUMES_RESIZED, str(done), "Resized" if done else "Resizing", message)


def with_growth(status: PetSetStatus, old: PetSetStatus, growth: Growth, now: float) -> PetSetStatus:
    """The status with the growth conditions replaced by `growth`'s (times kept while unchanged)."""
    if growth.conditions is None:
        return status
    kept = tuple(c for c in status.conditions if c.type not in GROWTH)
    ours = []
    for condition in growth.conditions:
        previous = old.condition(condition.type)
        same = previous is not None and previous.status == condition.status
        since = previous.last_transition_time if same and previous is not None else int(now)
        ours.append(replace(condition, last_transition_time=since or int(now)))
    return replace(status, conditions=kept + tuple(ours))
