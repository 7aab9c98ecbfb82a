"""The pure reconcile step: what one PetSet, its pods, claims and revisions need next, as ordered actions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from petset_controller.core.actions import (
    WARNING,
    Action,
    Adopt,
    CreateClaim,
    CreatePod,
    CreateRevision,
    DeletePod,
    DeleteRevision,
    Event,
    Release,
    RenumberRevision,
    RequeueAfter,
    UpdateClaimOwner,
    UpdatePodLabels,
    UpdateStatus,
)
from petset_controller.core.growth import StorageClass, plan_growth, with_growth
from petset_controller.core.healing import replace_in
from petset_controller.core.identity import (
    Ownership,
    claim_conflict,
    claim_is_stale,
    claim_names,
    claim_pods,
    controller_ref,
    label_repairs,
    new_claim,
    new_pod,
    parse_ordinal,
    pod_name,
    wanted_claim_owners,
)
from petset_controller.core.model import Claim, PetSet, PetSetStatus, Pod, Revision
from petset_controller.core.revision import RevisionChoice, choose_revisions, orphans, prune
from petset_controller.core.spec import ROLLING_UPDATE, FieldError, RetentionPolicy, max_unavailable
from petset_controller.core.status import (
    DEFAULT_STALL_AFTER,
    STALLED,
    View,
    build_view,
    compute_status,
    invalid_status,
    stall_deadline,
)
from petset_controller.core.validation import validate


@dataclass(slots=True)
class _Planner:
    """Accumulates one sync's actions; `deleting` names the pods it deletes."""

    view: View
    choice: RevisionChoice
    actions: list[Action] = field(default_factory=list)
    deleting: set[str] = field(default_factory=set)
    claims_to_fix: bool = field(init=False)

    @property
    def monotonic(self) -> bool:
        return not self.view.pet_set.spec.parallel

    @property
    def paused(self) -> bool:
        return self.view.paused is not None

    def delete(self, pod: Pod, reason: str) -> None:
        self.actions.append(DeletePod(pod.name, pod.uid, reason))
        self.deleting.add(pod.name)

    def __post_init__(self) -> None:
        # whether any claim can need its owners changed: never under Retain when no claim has owners
        retain = self.view.pet_set.spec.retention == RetentionPolicy()
        self.claims_to_fix = not retain or any(c.owner_refs for c in self.view.claims.values())

    def fix_claims(self, ordinal: int, pod: Pod | None, *, condemned: bool) -> None:
        """Claim ownerReferences to match the retention policy."""
        if not self.claims_to_fix:
            return
        pet_set = self.view.pet_set
        retain = pet_set.spec.retention == RetentionPolicy()
        for name in claim_names(pet_set, ordinal):
            claim = self.view.claims.get(name)
            if claim is None or claim.terminating or (retain and not claim.owner_refs):
                continue
            owners = wanted_claim_owners(pet_set, claim, ordinal=ordinal, pod=pod, condemned=condemned)
            if owners is None:
                continue
            if claim_conflict(pet_set, claim, pod_name(pet_set.name, ordinal)):
                message = f"claim {name} is controlled by another owner: its retention policy is not applied"
                self.actions.append(Event("ConflictingController", message, WARNING))
            self.actions.append(UpdateClaimOwner(name, claim.uid, owners))

    def create_missing_claims(self, ordinal: int) -> None:
        pet_set = self.view.pet_set
        pet = pod_name(pet_set.name, ordinal)
        for template in pet_set.spec.claim_templates:
            claim = new_claim(pet_set, template, ordinal)
            name = claim["metadata"]["name"]
            if name not in self.view.claims:
                self.actions.append(CreateClaim(name, pet, claim))

    def can_create(self, ordinal: int) -> bool:
        """No object of the name, no claim being deleted or awaiting collection, and not paused."""
        pet_set, claims = self.view.pet_set, self.view.claims
        name = pod_name(pet_set.name, ordinal)
        if name in self.view.taken or self.paused:
            return False
        found = [claims[c] for c in claim_names(pet_set, ordinal) if c in claims]
        return not any(c.terminating or claim_is_stale(pet_set, c, name) for c in found)

    def create(self, ordinal: int) -> None:
        """Claims first, then the pod, from the revision its ordinal should run."""
        if not self.can_create(ordinal):
            return
        view = self.view
        revision = view.target(ordinal)
        template = self.choice.current_template if revision == view.current else self.choice.update_template
        self.create_missing_claims(ordinal)
        self.fix_claims(ordinal, None, condemned=False)
        manifest = new_pod(view.pet_set, ordinal, template=template, revision=revision)
        self.actions.append(CreatePod(manifest["metadata"]["name"], ordinal, manifest))

    def visit(self, ordinal: int, pod: Pod | None) -> bool:
        """One in-range pet; True when the ordered walk must stop here."""
        if pod is not None and pod.name in self.view.ready:  # the common case: a pet that is fine
            self.repair(ordinal, pod)
            return False
        if pod is None:
            self.create(ordinal)
            return self.monotonic
        if pod.finished:
            if not pod.terminating and not self.paused:
                message = f"pet {pod.name} is {pod.phase}: deleting it to make it again"
                self.actions.append(Event("RecreatingFailedPet", message, WARNING))
                self.delete(pod, pod.phase)
            return self.monotonic
        if self.heal(ordinal, pod):
            return self.monotonic
        pending = pod.phase == "Pending" and not pod.terminating
        if pending:
            self.create_missing_claims(ordinal)
            self.fix_claims(ordinal, pod, condemned=False)
        if self.monotonic:
            return True
        if not pod.terminating:
            self.repair(ordinal, pod, claims=not pending)
        return False

    def heal(self, ordinal: int, pod: Pod) -> bool:
        """replaceUnhealthy: delete an outdated pet long not Ready, to be made again at its revision."""
        view = self.view
        if self.paused or replace_in(view.pet_set, pod, view.target(ordinal), view.now) != 0:
            return False
        unready = view.now - pod.unready_since if pod.unready_since is not None else 0.0
        message = (
            f"pet {pod.name} runs outdated revision {pod.revision or '(none)'} and has not been Ready for "
            f"{unready:.0f}s: replacing it with {view.target(ordinal)}"
        )
        self.actions.append(Event("ReplacingUnhealthyPet", message, WARNING))
        self.delete(pod, "ReplaceUnhealthy")
        return True

    def repair(self, ordinal: int, pod: Pod, *, claims: bool = True) -> None:
        """Identity labels and claim owners put right (nothing destructive)."""
        repairs = label_repairs(pod, self.view.pet_set.name, ordinal)
        if repairs:
            self.actions.append(UpdatePodLabels(pod.name, pod.uid, repairs))
        if claims:
            self.fix_claims(ordinal, pod, condemned=False)

    def scale_down(self) -> bool:
        """Condemned pets, highest ordinal first; True when the walk must stop."""
        view, name = self.view, self.view.pet_set.name
        for pod in view.condemned:
            self.fix_claims(parse_ordinal(name, pod.name) or 0, pod, condemned=True)
        unhealthy = [p for p in view.condemned if not p.healthy]
        first_unhealthy = unhealthy[-1] if unhealthy else None
        for pod in view.condemned:
            if pod.terminating:
                if self.monotonic:
                    return True
                continue
            if self.paused:
                return True
            if self.monotonic and not view.available(pod) and pod is not first_unhealthy:
                return True
            self.delete(pod, "ScaleDown")
            if self.monotonic:
                return True
        return False

    def roll(self) -> None:
        """RollingUpdate: replace outdated pets from the top down to the partition, within maxUnavailable."""
        view, spec = self.view, self.view.pet_set.spec
        if spec.update_strategy.type != ROLLING_UPDATE or self.paused:
            return
        unavailable = sum(1 for _, pod in view.slots if pod is None or not view.available(pod))
        budget = max_unavailable(spec) - unavailable
        for ordinal, pod in reversed(view.slots):
            if budget <= 0 or ordinal < view.partition_start:
                return
            if pod is not None and not pod.terminating and pod.revision != view.update:
                self.delete(pod, "RollingUpdate")
                budget -= 1

    def sync(self) -> None:
        """The replica walk, then scale-down, then the rolling update; each waits for the one before."""
        for ordinal, pod in self.view.slots:
            if self.visit(ordinal, pod):
                return
        if not self.scale_down():
            self.roll()


def _invalid(pet_set: PetSet, errors: tuple[FieldError, ...], now: float) -> list[Action]:
    status = invalid_status(pet_set, errors, now)
    if status == pet_set.status:
        return []
    actions: list[Action] = [UpdateStatus(status)]
    before, after = pet_set.status.condition(STALLED), status.condition(STALLED)
    if after is not None and (
        before is None or (before.reason, before.message) != (after.reason, after.message)
    ):
        actions.append(Event("InvalidSpec", after.message, WARNING))
    return actions


def _adoptions(pet_set: PetSet, ownership: Ownership, revisions: list[Revision]) -> list[Action]:
    owner = controller_ref(pet_set)
    out: list[Action] = [Adopt("Pod", p.name, p.uid, owner) for p in ownership.adopt]
    out += [Release("Pod", p.name, p.uid, pet_set.uid) for p in ownership.release]
    out += [Adopt("ControllerRevision", r.name, r.uid, owner) for r in orphans(pet_set, revisions)]
    return out


def _revision_writes(choice: RevisionChoice) -> list[Action]:
    out: list[Action] = []
    if choice.create is not None:
        out.append(CreateRevision(choice.update, choice.create))
    if choice.bump is not None:
        out.append(RenumberRevision(*choice.bump))
    return out


def _status_actions(pet_set: PetSet, status: PetSetStatus) -> list[Action]:
    if status == pet_set.status:
        return []
    actions: list[Action] = [UpdateStatus(status)]
    before, after = pet_set.status.condition(STALLED), status.condition(STALLED)
    was = (before.status, before.reason) if before is not None else None
    if after is not None and after.status == "True" and was != ("True", after.reason):
        actions.append(Event("Stalled", after.message, WARNING))
    return actions


def _requeue(view: View, status: PetSetStatus, stall_after: float) -> list[Action]:
    wait = [
        pod.available_in(view.pet_set.spec.min_ready_seconds, view.now)
        for pod in view.pods
        if pod.running_ready and not pod.terminating
    ]
    for ordinal, pod in view.slots:  # an unhealthy pet to replace once its time has come
        due = replace_in(view.pet_set, pod, view.target(ordinal), view.now) if pod is not None else None
        if due is not None:
            wait.append(due)
    deadline = stall_deadline(status, stall_after)
    if deadline is not None:
        wait.append(deadline - view.now)
    wait = [w for w in wait if w > 0]
    return [RequeueAfter(min(wait))] if wait else []


def _observe(
    pet_set: PetSet, pods: Iterable[Pod], claims: Iterable[Claim], revisions: list[Revision], now: float
) -> tuple[Ownership, RevisionChoice, View]:
    """Whose pods are whose, which revisions are current and update, and the view of the set."""
    pods = [p for p in pods if p.namespace == pet_set.namespace]
    ownership = claim_pods(pet_set, pods)
    choice = choose_revisions(pet_set, revisions)
    owned = {p.name for p in ownership.owned}
    view = build_view(
        pet_set,
        now,
        revisions=(choice.current, choice.update),
        owned=ownership.owned,
        claims={c.name: c for c in claims if c.namespace == pet_set.namespace},
        taken=frozenset(p.name for p in pods if p.name not in owned),
    )
    return ownership, choice, view


def plan(
    pet_set: PetSet,
    pods: Iterable[Pod],
    claims: Iterable[Claim],
    revisions: Iterable[Revision],
    now: float,
    *,
    stall_after: float = DEFAULT_STALL_AFTER,
    classes: Mapping[str, StorageClass] | None = None,
) -> list[Action]:
    """The actions that move one set toward its spec, in the order they must run.

    `pods`: every pod in the namespace that could be a pet (all whose names parse as its ordinals);
    `claims`: the claims there; `revisions`: the set's ControllerRevisions and any that could collide;
    `classes`: StorageClasses by name (None: claims are not grown). Run the actions in order, stop at
    the first failed write, write the status regardless.
    """
    errors = validate(pet_set)
    if errors:
        return _invalid(pet_set, errors, now)
    revisions = [r for r in revisions if r.namespace == pet_set.namespace]
    ownership, choice, view = _observe(pet_set, pods, claims, revisions, now)
    planner = _Planner(view, choice)
    active = pet_set.deletion_timestamp is None
    if active:
        planner.actions += _adoptions(pet_set, ownership, revisions) + _revision_writes(choice)
        planner.sync()
    deleting = frozenset(planner.deleting)
    status = compute_status(
        view, collision_count=choice.collision_count, deleting=deleting, stall_after=stall_after
    )
    if active and classes is not None:
        growth = plan_growth(view, classes)
        planner.actions += growth.actions
        status = with_growth(status, pet_set.status, growth, now)
    planner.actions += _status_actions(pet_set, status)
    if active:
        live = {choice.current, choice.update} | {p.revision for p in ownership.owned}
        planner.actions += [DeleteRevision(r.name, r.uid) for r in prune(pet_set, revisions, live=live)]
    return planner.actions + _requeue(view, status, stall_after)
