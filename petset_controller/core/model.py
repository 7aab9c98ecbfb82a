"""Slim frozen views of PetSet, Pod, claim and ControllerRevision JSON: the only reader of raw shapes here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeapi.meta import parse_time, rfc3339
from petset_controller.core.spec import (
    PETSET_KIND,
    FieldError,
    Json,
    PetSetSpec,
    flavor_of,
    labels_of,
    mapping_of,
    read_spec,
)

DEFAULT_API_VERSION = "petdns.dev/v1"
INITIALIZED_ANNOTATION = "pod.alpha.kubernetes.io/initialized"
REVISION_LABEL = "controller-revision-hash"
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """A metadata.ownerReferences entry."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool = False
    block_owner_deletion: bool = False

    def to_raw(self) -> dict[str, Any]:
        """The API shape."""
        raw: dict[str, Any] = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        raw["uid"] = self.uid
        if self.controller:
            raw["controller"] = True
        if self.block_owner_deletion:
            raw["blockOwnerDeletion"] = True
        return raw


def _owner_refs(meta: Json) -> tuple[OwnerRef, ...]:
    refs = meta.get("ownerReferences")
    if not isinstance(refs, list):
        return ()
    return tuple(
        OwnerRef(
            api_version=str(ref.get("apiVersion", "")),
            kind=str(ref.get("kind", "")),
            name=str(ref.get("name", "")),
            uid=str(ref.get("uid", "")),
            controller=ref.get("controller") is True,
            block_owner_deletion=ref.get("blockOwnerDeletion") is True,
        )
        for ref in refs
        if isinstance(ref, Mapping)
    )


def controller_of(refs: tuple[OwnerRef, ...]) -> OwnerRef | None:
    """The controlling owner, if any."""
    return next((ref for ref in refs if ref.controller), None)


@dataclass(frozen=True, slots=True)
class Condition:
    """A status condition; times are whole epoch seconds."""

    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition_time: int = 0
    last_update_time: int = 0

    def to_raw(self) -> dict[str, Any]:
        """The API shape."""
        raw: dict[str, Any] = {"type": self.type, "status": self.status}
        if self.reason:
            raw["reason"] = self.reason
        if self.message:
            raw["message"] = self.message
        if self.last_transition_time:
            raw["lastTransitionTime"] = rfc3339(self.last_transition_time)
        if self.last_update_time:
            raw["lastUpdateTime"] = rfc3339(self.last_update_time)
        return raw


def _condition(raw: Json) -> Condition:
    def stamp(key: str) -> int:
        value = parse_time(raw.get(key))
        return int(value) if value is not None else 0

    return Condition(
        type=str(raw.get("type", "")),
        status=str(raw.get("status", "")),
        reason=str(raw.get("reason", "")),
        message=str(raw.get("message", "")),
        last_transition_time=stamp("lastTransitionTime"),
        last_update_time=stamp("lastUpdateTime"),
    )


_STATUS_COUNTS = (
    ("observed_generation", "observedGeneration"),
    ("replicas", "replicas"),
    ("ready_replicas", "readyReplicas"),
    ("available_replicas", "availableReplicas"),
    ("current_replicas", "currentReplicas"),
    ("updated_replicas", "updatedReplicas"),
    ("collision_count", "collisionCount"),
)


@dataclass(frozen=True, slots=True)
class PetSetStatus:
    """The status subresource."""

    observed_generation: int = 0
    replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    current_replicas: int = 0
    updated_replicas: int = 0
    current_revision: str = ""
    update_revision: str = ""
    collision_count: int = 0
    conditions: tuple[Condition, ...] = ()

    def condition(self, kind: str) -> Condition | None:
        """The condition of that type, if present."""
        return next((c for c in self.conditions if c.type == kind), None)

    def to_raw(self) -> dict[str, Any]:
        """The API shape."""
        raw: dict[str, Any] = {key: getattr(self, attr) for attr, key in _STATUS_COUNTS}
        raw["currentRevision"] = self.current_revision
        raw["updateRevision"] = self.update_revision
        raw["conditions"] = [c.to_raw() for c in self.conditions]
        return raw


def status_from_raw(raw: Json) -> PetSetStatus:
    """Decode a status; unreadable numbers read as 0."""
    conditions = raw.get("conditions")
    counts = {attr: raw.get(key) for attr, key in _STATUS_COUNTS}
    return PetSetStatus(
        **{k: v if isinstance(v, int) and not isinstance(v, bool) else 0 for k, v in counts.items()},
        current_revision=str(raw.get("currentRevision") or ""),
        update_revision=str(raw.get("updateRevision") or ""),
        conditions=tuple(
            _condition(c)
            for c in (conditions if isinstance(conditions, list) else [])
            if isinstance(c, Mapping)
        ),
    )


@dataclass(frozen=True, slots=True)
class PetSet:
    """A PetSet; `problems` lists fields that could not be decoded (validation reports them)."""

    namespace: str
    name: str
    uid: str = ""
    api_version: str = DEFAULT_API_VERSION
    kind: str = PETSET_KIND  # or StatefulSet: one controller code for both
    generation: int = 0
    deletion_timestamp: float | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    spec: PetSetSpec = field(default_factory=PetSetSpec)
    status: PetSetStatus = PetSetStatus()
    problems: tuple[FieldError, ...] = ()


@dataclass(frozen=True, slots=True)
class Pod:
    """The pod fields the controller reads; times are epoch seconds."""

    namespace: str
    name: str
    uid: str = ""
    phase: str = "Pending"
    ready: bool = False
    ready_since: float | None = None
    unready_since: float | None = None  # not Ready: since its Ready condition went False (or its creation)
    created: float | None = None
    deletion_timestamp: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    owner_refs: tuple[OwnerRef, ...] = ()
    node: str = ""
    restarts: int = 0
    waiting_reason: str = ""
    unschedulable: str = ""
    reason: str = ""
    # derived once at construction (read for every pet on every reconcile)
    terminating: bool = field(init=False, repr=False, compare=False)  # graceful deletion has begun
    revision: str = field(init=False, repr=False, compare=False)  # ControllerRevision name ('' unlabelled)
    finished: bool = field(init=False, repr=False, compare=False)  # Failed or Succeeded: to be replaced
    running_ready: bool = field(init=False, repr=False, compare=False)  # Running, Ready condition True
    initialized: bool = field(init=False, repr=False, compare=False)  # v1.4 hook: false pauses the set
    healthy: bool = field(init=False, repr=False, compare=False)  # all of the above, not terminating
    controller_uid: str | None = field(init=False, repr=False, compare=False)  # the controlling owner's

    def __post_init__(self) -> None:
        hook = self.annotations.get(INITIALIZED_ANNOTATION)
        terminating = self.deletion_timestamp is not None
        running_ready = self.phase == "Running" and self.ready
        initialized = hook is None or hook in _TRUE
        ref = controller_of(self.owner_refs)
        put = object.__setattr__
        put(self, "terminating", terminating)
        put(self, "revision", self.labels.get(REVISION_LABEL, ""))
        put(self, "finished", self.phase in ("Failed", "Succeeded"))
        put(self, "running_ready", running_ready)
        put(self, "initialized", initialized)
        put(self, "healthy", running_ready and initialized and not terminating)
        put(self, "controller_uid", ref.uid if ref is not None else None)

    def available(self, min_ready_seconds: int, now: float) -> bool:
        """Healthy and Ready for at least min_ready_seconds."""
        return self.healthy and self.available_in(min_ready_seconds, now) == 0.0

    def available_in(self, min_ready_seconds: int, now: float) -> float:
        """Seconds until a Ready pod counts as available (0 when it already does)."""
        if min_ready_seconds <= 0:
            return 0.0
        since = self.ready_since if self.ready_since is not None else now
        return max(0.0, since + min_ready_seconds - now)


def _ready_condition(status: Json) -> tuple[bool, float | None, str]:
    ready, since, unschedulable = False, None, ""
    conditions = status.get("conditions")
    for cond in conditions if isinstance(conditions, list) else []:
        if not isinstance(cond, Mapping):
            continue
        if cond.get("type") == "Ready":
            ready = cond.get("status") == "True"
            since = parse_time(cond.get("lastTransitionTime"))
        elif cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            unschedulable = str(cond.get("message") or cond.get("reason") or "unschedulable")
    return ready, since, unschedulable


def _containers(status: Json) -> tuple[int, str]:
    restarts, waiting = 0, ""
    for key in ("initContainerStatuses", "containerStatuses"):
        entries = status.get(key)
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, Mapping):
                continue
            count = entry.get("restartCount")
            restarts += count if isinstance(count, int) else 0
            reason = mapping_of(mapping_of(entry.get("state")).get("waiting")).get("reason")
            waiting = waiting or (str(reason) if reason else "")
    return restarts, waiting


def pod_from_raw(raw: Json) -> Pod:
    """Decode a pod."""
    meta, status = mapping_of(raw.get("metadata")), mapping_of(raw.get("status"))
    ready, since, unschedulable = _ready_condition(status)
    restarts, waiting = _containers(status)
    created = parse_time(meta.get("creationTimestamp"))
    return Pod(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        phase=str(status.get("phase") or "Pending"),
        ready=ready,
        ready_since=since if ready else None,
        unready_since=None if ready else since if since is not None else created,
        created=created,
        deletion_timestamp=parse_time(meta.get("deletionTimestamp")),
        labels=labels_of(meta.get("labels")),
        annotations=labels_of(meta.get("annotations")),
        owner_refs=_owner_refs(meta),
        node=str(mapping_of(raw.get("spec")).get("nodeName") or ""),
        restarts=restarts,
        waiting_reason=waiting,
        unschedulable=unschedulable,
        reason=str(status.get("reason") or status.get("message") or ""),
    )


@dataclass(frozen=True, slots=True)
class Claim:
    """A PersistentVolumeClaim, found by name only."""

    namespace: str
    name: str
    uid: str = ""
    phase: str = "Pending"
    owner_refs: tuple[OwnerRef, ...] = ()
    deletion_timestamp: float | None = None
    created: float | None = None
    storage_class: str | None = None  # spec.storageClassName (None: not set)
    request: str = ""  # spec.resources.requests.storage
    capacity: str = ""  # status.capacity.storage

    @property
    def terminating(self) -> bool:
        """Deletion has begun."""
        return self.deletion_timestamp is not None


def claim_from_raw(raw: Json) -> Claim:
    """Decode a claim."""
    meta, spec, status = (mapping_of(raw.get(k)) for k in ("metadata", "spec", "status"))
    storage_class = spec.get("storageClassName")
    return Claim(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        phase=str(status.get("phase") or "Pending"),
        owner_refs=_owner_refs(meta),
        deletion_timestamp=parse_time(meta.get("deletionTimestamp")),
        created=parse_time(meta.get("creationTimestamp")),
        storage_class=None if storage_class is None else str(storage_class),
        request=str(mapping_of(mapping_of(spec.get("resources")).get("requests")).get("storage") or ""),
        capacity=str(mapping_of(status.get("capacity")).get("storage") or ""),
    )


@dataclass(frozen=True, slots=True)
class Revision:
    """A ControllerRevision; `template` is the pod template its data restores (None if unreadable)."""

    namespace: str
    name: str
    uid: str = ""
    revision: int = 0
    template: Json | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    owner_refs: tuple[OwnerRef, ...] = ()
    controller_uid: str | None = field(init=False, repr=False, compare=False)  # the controlling owner's

    def __post_init__(self) -> None:
        ref = controller_of(self.owner_refs)
        object.__setattr__(self, "controller_uid", ref.uid if ref is not None else None)


def revision_from_raw(raw: Json) -> Revision:
    """Decode a ControllerRevision whose data is `{"spec": {"template": {..., "$patch": "replace"}}}`."""
    meta = mapping_of(raw.get("metadata"))
    template = mapping_of(raw.get("data")).get("spec")
    template = mapping_of(template).get("template") if isinstance(template, Mapping) else None
    number = raw.get("revision")
    return Revision(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        revision=number if isinstance(number, int) else 0,
        template=(
            {k: v for k, v in template.items() if k != "$patch"} if isinstance(template, Mapping) else None
        ),
        labels=labels_of(meta.get("labels")),
        owner_refs=_owner_refs(meta),
    )


def petset_from_raw(raw: Json, kind: str = PETSET_KIND) -> PetSet:
    """Decode a PetSet (or a StatefulSet) leniently: the kind's defaults for absent fields, `problems` for
    fields of the wrong type. A list's items may lack kind and apiVersion: the watched kind is given."""
    meta = mapping_of(raw.get("metadata"))
    annotations = labels_of(meta.get("annotations"))
    flavor = flavor_of(kind, annotations)
    spec, problems = read_spec(mapping_of(raw.get("spec")), flavor)
    generation = meta.get("generation")
    written = str(raw.get("apiVersion") or DEFAULT_API_VERSION)
    return PetSet(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        api_version=written if flavor.kind == PETSET_KIND and not flavor.update_type else flavor.api_version,
        kind=flavor.kind,
        generation=generation if isinstance(generation, int) else 0,
        deletion_timestamp=parse_time(meta.get("deletionTimestamp")),
        annotations=annotations,
        spec=spec,
        status=status_from_raw(mapping_of(raw.get("status"))),
        problems=problems
        if isinstance(raw.get("spec", {}), Mapping)
        else (FieldError("spec", "must be an object"),),
    )
