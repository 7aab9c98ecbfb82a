"""PetSet status: replica counts, revisions, and the Progressing, Available and Stalled conditions. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from kubeapi.meta import rfc3339
from petset_controller.core.healing import waiting_note
from petset_controller.core.identity import claim_names, parse_ordinal
from petset_controller.core.model import INITIALIZED_ANNOTATION, Claim, Condition, PetSet, PetSetStatus, Pod
from petset_controller.core.spec import ROLLING_UPDATE, FieldError, max_unavailable

PROGRESSING = "Progressing"
AVAILABLE = "Available"
STALLED = "Stalled"
OURS = (PROGRESSING, AVAILABLE, STALLED)
DEFAULT_STALL_AFTER = 300.0


@dataclass(frozen=True, slots=True)
class View:
    """One set as a sync sees it: its slots (in-range ordinals, ascending) and condemned pods (descending).

    `taken` holds names of pods that exist but are not the set's; `claims` is every claim by name.
    Facts every step asks about are worked out once: `pods` (all of the set's, with a valid ordinal),
    `ready` (names of the available ones), `paused` (a pet whose initialized annotation is not true)
    and `partition_start` (the lowest ordinal a rolling update replaces).
    """

    pet_set: PetSet
    now: float
    current: str
    update: str
    slots: tuple[tuple[int, Pod | None], ...] = ()
    condemned: tuple[Pod, ...] = ()
    claims: Mapping[str, Claim] = field(default_factory=dict)
    taken: frozenset[str] = frozenset()
    pods: tuple[Pod, ...] = ()
    ready: frozenset[str] = frozenset()
    paused: Pod | None = None
    partition_start: int = 0

    def available(self, pod: Pod) -> bool:
        """Healthy and Ready for minReadySeconds."""
        return pod.name in self.ready

    def target(self, ordinal: int) -> str:
        """The revision a pet at this ordinal should run: current below the partition, else update."""
        below = ordinal < self.partition_start and self.pet_set.spec.update_strategy.type == ROLLING_UPDATE
        return self.current if below else self.update


def build_view(
    pet_set: PetSet,
    now: float,
    *,
    revisions: tuple[str, str],
    owned: Iterable[Pod],
    claims: Mapping[str, Claim],
    taken: frozenset[str],
) -> View:
    """Owned pods by ordinal: slots for the wanted range, the rest condemned (highest first).

    `revisions` is (current, update); `taken` names pods that exist but are not the set's.
    """
    by_ordinal: dict[int, Pod] = {}
    for pod in owned:
        ordinal = parse_ordinal(pet_set.name, pod.name)
        if ordinal is not None:
            by_ordinal[ordinal] = pod
    spec = pet_set.spec
    slots = tuple((o, by_ordinal.get(o)) for o in spec.ordinals)
    condemned = tuple(by_ordinal[o] for o in sorted(set(by_ordinal) - set(spec.ordinals), reverse=True))
    pods = tuple(p for _, p in slots if p is not None) + condemned
    return View(
        pet_set=pet_set,
        now=now,
        current=revisions[0],
        update=revisions[1],
        slots=slots,
        condemned=condemned,
        claims=claims,
        taken=taken,
        pods=pods,
        ready=frozenset(p.name for p in pods if p.available(spec.min_ready_seconds, now)),
        paused=next((p for p in pods if not p.initialized), None),
        partition_start=spec.partition_start,
    )


@dataclass(frozen=True, slots=True)
class Blocker:
    """What keeps the set from its spec: the pet it concerns and why."""

    pet: str
    reason: str
    message: str


def _pending_blocker(view: View, ordinal: int, pod: Pod) -> Blocker:
    for name in claim_names(view.pet_set, ordinal):
        claim = view.claims.get(name)
        if claim is None or claim.phase != "Bound":
            state = "missing" if claim is None else f"{claim.phase} (not bound)"
            return Blocker(pod.name, "ClaimNotBound", f"claim {name} of pet {pod.name} is {state}")
    if pod.unschedulable:
        return Blocker(
            pod.name, "PetUnschedulable", f"pet {pod.name} cannot be scheduled: {pod.unschedulable}"
        )
    if pod.waiting_reason:
        return Blocker(pod.name, "PetWaiting", f"pet {pod.name} is Pending: {pod.waiting_reason}")
    return Blocker(pod.name, "PetPending", f"pet {pod.name} is Pending")


def _pod_blocker(view: View, ordinal: int, pod: Pod) -> Blocker | None:
    name = pod.name
    if pod.finished:
        detail = f": {pod.reason}" if pod.reason else ""
        return Blocker(name, "PetFailed", f"pet {name} {pod.phase}{detail}; it is deleted and made again")
    if pod.terminating:
        return Blocker(name, "PetTerminating", f"pet {name} is terminating")
    if not pod.initialized:
        value = pod.annotations.get(INITIALIZED_ANNOTATION)
        return Blocker(name, "PetNotInitialized", f"pet {name} has {INITIALIZED_ANNOTATION}={value}")
    note = waiting_note(view.pet_set, pod, view.target(ordinal), view.now)
    if pod.phase == "Pending":
        blocker = _pending_blocker(view, ordinal, pod)
        return replace(blocker, message=blocker.message + note)
    if not pod.running_ready:
        detail = f" ({pod.waiting_reason}, {pod.restarts} restarts)" if pod.waiting_reason else ""
        return Blocker(name, "PetNotReady", f"pet {name} is {pod.phase} but not Ready{detail}{note}")
    if not view.available(pod):
        wait = view.pet_set.spec.min_ready_seconds
        return Blocker(name, "PetNotAvailable", f"pet {name} has been Ready for less than {wait}s")
    return None


def _missing_blocker(view: View, ordinal: int, name: str) -> Blocker:
    if name in view.taken:
        return Blocker(name, "NameTaken", f"pod {name} exists but is not controlled by this PetSet")
    for claim_name in claim_names(view.pet_set, ordinal):
        claim = view.claims.get(claim_name)
        if claim is not None and claim.terminating:
            return Blocker(name, "ClaimTerminating", f"claim {claim_name} of pet {name} is being deleted")
    return Blocker(name, "PetMissing", f"pet {name} does not exist yet")


def find_blocker(view: View) -> Blocker | None:
    """The first thing between the set and its spec, in the order the controller works; None when done."""
    for ordinal, pod in view.slots:
        if pod is None:
            return _missing_blocker(view, ordinal, f"{view.pet_set.name}-{ordinal}")
        if pod.name in view.ready:
            continue
        blocker = _pod_blocker(view, ordinal, pod)
        if blocker is not None:
            return blocker
    if view.condemned:
        pod = view.condemned[0]
        if pod.terminating:
            return Blocker(pod.name, "PetTerminating", f"pet {pod.name} is terminating (scale down)")
        return Blocker(pod.name, "ScalingDown", f"pet {pod.name} is to be removed (scale down)")
    for ordinal, pod in reversed(view.slots):
        if pod is not None and pod.revision != view.target(ordinal):
            message = f"pet {pod.name} runs revision {pod.revision or '(none)'}, not {view.target(ordinal)}"
            return Blocker(pod.name, "RollingUpdate", message)
    return None


def _counts(view: View, deleting: frozenset[str]) -> PetSetStatus:
    ready = available = current = updated = 0
    min_ready = view.pet_set.spec.min_ready_seconds
    for pod in view.pods:
        if pod.running_ready:
            ready += 1
            available += pod.available_in(min_ready, view.now) == 0.0
        if not pod.terminating and pod.name not in deleting:
            revision = pod.revision
            current += revision == view.current
            updated += revision == view.update
    return PetSetStatus(
        replicas=len(view.pods),
        ready_replicas=ready,
        available_replicas=available,
        current_replicas=current,
        updated_replicas=updated,
        current_revision=view.current,
        update_revision=view.update,
    )


def _promoted(status: PetSetStatus, spec_replicas: int) -> PetSetStatus:
    """The update revision becomes current once every pet runs it and is Ready (either strategy)."""
    if status.updated_replicas == status.ready_replicas == status.replicas == spec_replicas:
        return replace(
            status, current_revision=status.update_revision, current_replicas=status.updated_replicas
        )
    return status


def _made_progress(old: PetSetStatus, new: PetSetStatus, pet_set: PetSet) -> bool:
    return (
        old.observed_generation != pet_set.generation
        or old.update_revision != new.update_revision
        or new.available_replicas > old.available_replicas
        or new.ready_replicas > old.ready_replicas
        or (old.replicas > pet_set.spec.replicas and new.replicas < old.replicas)
    )


def last_progress(old: PetSetStatus, new: PetSetStatus, pet_set: PetSet, *, state: str, now: float) -> int:
    """When the set last got closer to its spec (kept in the Progressing condition's lastUpdateTime).

    `state` is the new Progressing status; the clock restarts whenever it changes (a complete or
    paused set that has work again starts afresh) and, while True, whenever a count improves.
    """
    previous = old.condition(PROGRESSING)
    if (
        previous is None
        or previous.status != state
        or (state == "True" and _made_progress(old, new, pet_set))
    ):
        return int(now)
    return previous.last_update_time or previous.last_transition_time or int(now)


def _condition(old: PetSetStatus, new: Condition, now: float) -> Condition:
    previous = old.condition(new.type)
    since = previous.last_transition_time if previous and previous.status == new.status else int(now)
    return replace(new, last_transition_time=since or int(now))


def _with_conditions(old: PetSetStatus, new: PetSetStatus, ours: list[Condition], now: float) -> PetSetStatus:
    foreign = tuple(c for c in old.conditions if c.type not in OURS)
    return replace(new, conditions=foreign + tuple(_condition(old, c, now) for c in ours))


def _available(view: View, status: PetSetStatus) -> Condition:
    spec = view.pet_set.spec
    needed = max(spec.replicas - max_unavailable(spec), 1) if spec.replicas > 0 else 0
    ok = status.available_replicas >= needed
    message = f"{status.available_replicas} of {spec.replicas} pets available (at least {needed} needed)"
    return Condition(AVAILABLE, str(ok), "MinimumPetsAvailable" if ok else "MinimumPetsUnavailable", message)


def _progressing(view: View, blocker: Blocker | None, progressed: int) -> Condition:
    replicas = view.pet_set.spec.replicas
    if blocker is None:
        message = f"{replicas} pets available at revision {view.update}"
        return Condition(PROGRESSING, "False", "Complete", message, last_update_time=progressed)
    paused = view.paused
    if paused is not None:
        message = f"scaling paused: {paused.name} has {INITIALIZED_ANNOTATION} not true"
        return Condition(PROGRESSING, "Unknown", "Paused", message, last_update_time=progressed)
    reason = (
        "ScalingDown"
        if view.condemned
        else "RollingUpdate"
        if blocker.reason == "RollingUpdate"
        else "Scaling"
    )
    return Condition(PROGRESSING, "True", reason, blocker.message, last_update_time=progressed)


def _stalled(view: View, blocker: Blocker | None, progressed: int, stall_after: float) -> Condition:
    if blocker is None:
        return Condition(STALLED, "False", "Complete")
    if view.paused is None and view.now - progressed >= stall_after:
        message = f"no progress since {rfc3339(progressed)}: {blocker.message}"
        return Condition(STALLED, "True", blocker.reason, message)
    return Condition(STALLED, "False", "Progressing")


def compute_status(
    view: View, *, collision_count: int, deleting: frozenset[str] = frozenset(), stall_after: float
) -> PetSetStatus:
    """The status to write after a sync; `deleting` names pods this sync deletes (no longer current)."""
    pet_set, old = view.pet_set, view.pet_set.status
    status = _promoted(_counts(view, deleting), pet_set.spec.replicas)
    status = replace(status, observed_generation=pet_set.generation, collision_count=collision_count)
    blocker = find_blocker(view)
    state = "False" if blocker is None else "Unknown" if view.paused is not None else "True"
    progressed = last_progress(old, status, pet_set, state=state, now=view.now)
    ours = [
        _progressing(view, blocker, progressed),
        _available(view, status),
        _stalled(view, blocker, progressed, stall_after),
    ]
    return _with_conditions(old, status, ours, view.now)


def stall_deadline(status: PetSetStatus, stall_after: float) -> float | None:
    """When the Stalled condition would turn True if nothing changes (None: done, paused or stalled)."""
    progressing, stalled = status.condition(PROGRESSING), status.condition(STALLED)
    if progressing is None or progressing.status != "True" or (stalled and stalled.status == "True"):
        return None
    return progressing.last_update_time + stall_after


def invalid_status(pet_set: PetSet, errors: tuple[FieldError, ...], now: float) -> PetSetStatus:
    """The status of a PetSet the controller cannot act on: counts kept, conditions say why."""
    old = pet_set.status
    message = "invalid spec: " + "; ".join(str(e) for e in errors)
    status = replace(old, observed_generation=pet_set.generation)
    ours = [
        Condition(PROGRESSING, "False", "InvalidSpec", message, last_update_time=int(now)),
        *(c for c in old.conditions if c.type == AVAILABLE),
        Condition(STALLED, "True", "InvalidSpec", message),
    ]
    previous = old.condition(PROGRESSING)
    if previous is not None and previous.reason == "InvalidSpec" and previous.message == message:
        ours[0] = previous
    return _with_conditions(old, status, ours, now)
