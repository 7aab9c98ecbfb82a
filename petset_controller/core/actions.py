"""The actions plan() asks for: one frozen value per write, event or requeue, and the Action union."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from petset_controller.core.model import OwnerRef, PetSetStatus

WARNING = "Warning"
NORMAL = "Normal"


@dataclass(frozen=True, slots=True)
class Adopt:
    """Add the set's controller reference to an orphan (`kind` Pod or ControllerRevision), UID checked."""

    kind: str
    name: str
    uid: str
    owner: OwnerRef


@dataclass(frozen=True, slots=True)
class Release:
    """Remove the set's controller reference from an object it no longer selects."""

    kind: str
    name: str
    uid: str
    owner_uid: str


@dataclass(frozen=True, slots=True)
class CreateRevision:
    """Create a ControllerRevision (AlreadyExists: requeue; the next plan rehashes)."""

    name: str
    manifest: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RenumberRevision:
    """Give an existing revision a new `.revision` number (a rollback to its template)."""

    name: str
    revision: int


@dataclass(frozen=True, slots=True)
class DeleteRevision:
    """Delete a revision no pod uses, beyond revisionHistoryLimit."""

    name: str
    uid: str


@dataclass(frozen=True, slots=True)
class CreateClaim:
    """Create a pet's claim (AlreadyExists counts as success); always before the pet's pod."""

    name: str
    pet: str
    manifest: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CreatePod:
    """Create a pet's pod; only planned when no object of that name exists."""

    name: str
    ordinal: int
    manifest: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class DeletePod:
    """Delete a pod gracefully, UID checked; `reason`: Failed, Succeeded, ScaleDown or RollingUpdate."""

    name: str
    uid: str
    reason: str


@dataclass(frozen=True, slots=True)
class UpdatePodLabels:
    """Merge the identity labels back into a pod that lost them."""

    name: str
    uid: str
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class UpdateClaimOwner:
    """Set a claim's ownerReferences to `owners` (the retention policy), UID checked."""

    name: str
    uid: str
    owners: tuple[OwnerRef, ...]


@dataclass(frozen=True, slots=True)
class ExpandClaim:
    """Raise a bound claim's storage request to its template's (`previous`: the request it had)."""

    name: str
    uid: str
    storage: str
    previous: str


@dataclass(frozen=True, slots=True)
class UpdateStatus:
    """Write the status subresource."""

    status: PetSetStatus


@dataclass(frozen=True, slots=True)
class Event:
    """Record an event on the set."""

    reason: str
    message: str
    type: str = NORMAL


@dataclass(frozen=True, slots=True)
class RequeueAfter:
    """Plan this set again after `seconds` even if nothing changes."""

    seconds: float


PetAction = CreateClaim | CreatePod | DeletePod | UpdatePodLabels | UpdateClaimOwner | ExpandClaim
SetAction = (
    Adopt | Release | CreateRevision | RenumberRevision | DeleteRevision | UpdateStatus | Event | RequeueAfter
)
Action = PetAction | SetAction
