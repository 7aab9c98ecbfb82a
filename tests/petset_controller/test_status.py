"""Status: counts, revisions, and the Progressing, Available and Stalled conditions, with time passed in."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from petset_controller.core.actions import Action, Event, RequeueAfter, UpdateStatus
from petset_controller.core.model import Claim, Condition, PetSet, PetSetStatus, Pod, Revision
from petset_controller.core.plan import plan
from tests.petset_controller.builders import NOW, claims, pet_set, pods, revision_of, with_history


def _status(actions: list[Action]) -> PetSetStatus:
    (write,) = [a for a in actions if isinstance(a, UpdateStatus)]
    return write.status


def _condition(status: PetSetStatus, kind: str) -> Condition:
    found = status.condition(kind)
    assert found is not None
    return found


class Timeline:
    """One set observed again and again; each status written is fed back in."""

    def __init__(self, **kw: Any) -> None:
        self.set = pet_set(**kw)
        self.revisions: list[Revision] = [revision_of(self.set)]

    def observe(self, pets: str, now: float, claimed: str | None = None) -> list[Action]:
        observed: list[Pod] = pods(self.set, pets)
        spec = claimed if claimed is not None else " ".join(p.name.rsplit("-", 1)[1] for p in observed)
        found: list[Claim] = claims(self.set, spec)
        actions = plan(self.set, observed, found, self.revisions, now)
        for action in actions:
            if isinstance(action, UpdateStatus):
                self.set = replace(self.set, status=action.status)
        return actions

    @property
    def status(self) -> PetSetStatus:
        return self.set.status


def test_counts() -> None:
    line = Timeline(replicas=3)
    line.observe("0 1:notready 2:terminating 3", NOW)
    s = line.status
    assert (s.replicas, s.ready_replicas, s.available_replicas) == (4, 3, 3)
    assert (s.current_replicas, s.updated_replicas) == (3, 3)  # terminating pets are neither
    assert (s.observed_generation, s.collision_count) == (1, 0)
    assert s.current_revision == s.update_revision == line.revisions[0].name


def test_available_waits_for_min_ready_seconds() -> None:
    line = Timeline(replicas=2, min_ready=30)
    line.observe("0 1:fresh", NOW + 10)
    assert (line.status.ready_replicas, line.status.available_replicas) == (2, 1)


def test_rollout_counts_and_promotion() -> None:
    current, revisions, old = with_history(replicas=2)
    actions = plan(current, pods(current, "0:old 1:old", old=old), claims(current, "0 1"), revisions, NOW)
    status = _status(actions)
    assert (status.current_revision, status.update_revision) == (old, revisions[1].name)
    assert (status.current_replicas, status.updated_replicas) == (1, 0)  # web-1 is being replaced
    done = plan(current, pods(current, "0 1"), claims(current, "0 1"), revisions, NOW)
    status = _status(done)
    assert status.current_revision == status.update_revision == revisions[1].name
    assert status.current_replicas == status.updated_replicas == 2


def test_on_delete_promotes_too_once_every_pet_is_updated() -> None:
    current, revisions, _ = with_history(replicas=2, strategy="OnDelete")
    status = _status(plan(current, pods(current, "0 1"), claims(current, "0 1"), revisions, NOW))
    assert status.current_revision == revisions[1].name


def test_complete_set() -> None:
    line = Timeline(replicas=2)
    actions = line.observe("0 1", NOW)
    assert not [a for a in actions if isinstance(a, RequeueAfter)]
    progressing, available, stalled = (
        _condition(line.status, k) for k in ("Progressing", "Available", "Stalled")
    )
    assert (progressing.status, progressing.reason) == ("False", "Complete")
    assert (available.status, available.reason) == ("True", "MinimumPetsAvailable")
    assert (stalled.status, stalled.reason) == ("False", "Complete")
    assert line.observe("0 1", NOW + 50) == []  # nothing changed: no status write


def test_stalled_names_the_pet_and_the_reason() -> None:
    line = Timeline(replicas=3)
    first = line.observe("0 1:pending", NOW)
    assert RequeueAfter(300) in first  # the controller looks again when the pet would count as stuck
    assert _condition(line.status, "Stalled").status == "False"
    later = line.observe("0 1:pending", NOW + 301)
    stalled = _condition(line.status, "Stalled")
    assert (stalled.status, stalled.reason) == ("True", "PetPending")
    assert "pet web-1 is Pending" in stalled.message
    assert Event("Stalled", stalled.message, "Warning") in later
    assert line.observe("0 1:pending", NOW + 400) == []  # said once
    line.observe("0 1", NOW + 410)
    assert _condition(line.status, "Stalled").status == "False"
    assert _condition(line.status, "Progressing").last_update_time == int(NOW + 410)


def test_the_stall_clock_starts_when_a_complete_set_is_disturbed() -> None:
    line = Timeline(replicas=2)
    line.observe("0 1", NOW)
    line.observe("0", NOW + 1000)  # a pet was deleted long after the set completed
    assert _condition(line.status, "Stalled").status == "False"
    assert _condition(line.status, "Progressing").last_update_time == int(NOW + 1000)
    line.observe("0 1:pending", NOW + 1300)
    assert _condition(line.status, "Stalled").status == "True"


def test_stalled_on_a_claim_that_will_not_bind() -> None:
    line = Timeline(replicas=2)
    line.observe("0 1:pending", NOW, claimed="0 1:pending")
    line.observe("0 1:pending", NOW + 300, claimed="0 1:pending")
    stalled = _condition(line.status, "Stalled")
    assert (stalled.reason, stalled.status) == ("ClaimNotBound", "True")
    assert "claim www-web-1 of pet web-1 is Pending (not bound)" in stalled.message


def test_stalled_on_a_crash_looping_pet() -> None:
    line = Timeline(replicas=2)
    line.observe("0 1:crashloop", NOW)
    line.observe("0 1:crashloop", NOW + 300)
    stalled = _condition(line.status, "Stalled")
    assert stalled.reason == "PetNotReady" and "CrashLoopBackOff, 5 restarts" in stalled.message


def test_a_pet_failing_again_and_again_stalls() -> None:
    line = Timeline(replicas=2)
    for step, pets in enumerate(["0 1:pending", "0 1:failed", "0", "0 1:pending", "0 1:failed", "0"]):
        line.observe(pets, NOW + 50 * step)
    assert _condition(line.status, "Stalled").status == "False"
    line.observe("0 1:pending", NOW + 310)
    stalled = _condition(line.status, "Stalled")
    assert (stalled.status, stalled.reason) == ("True", "PetPending")


def test_paused_set_is_not_stalled() -> None:
    line = Timeline(replicas=3)
    line.observe("0 1:uninit", NOW)
    line.observe("0 1:uninit", NOW + 1000)
    progressing = _condition(line.status, "Progressing")
    assert (progressing.status, progressing.reason) == ("Unknown", "Paused")
    assert _condition(line.status, "Stalled").status == "False"


def test_available_condition_allows_max_unavailable() -> None:
    line = Timeline(replicas=3, policy="Parallel")
    line.observe("0 1 2:notready", NOW)
    assert _condition(line.status, "Available").status == "True"
    line.observe("0 1:notready 2:notready", NOW + 1)
    assert _condition(line.status, "Available").status == "False"


def test_foreign_conditions_are_kept() -> None:
    line = Timeline(replicas=1)
    mine = Condition("Backup", "True", "Done", "ok", int(NOW) - 5)
    line.set = replace(line.set, status=replace(line.set.status, conditions=(mine,)))
    line.observe("0", NOW)
    assert line.status.conditions[0] == mine


def test_generation_change_counts_as_progress() -> None:
    line = Timeline(replicas=3)
    line.observe("0 1:pending", NOW)
    line.set = replace(line.set, generation=2)
    line.observe("0 1:pending", NOW + 301)
    assert _condition(line.status, "Stalled").status == "False"
    assert line.status.observed_generation == 2


def test_deleting_set_writes_status_only() -> None:
    current: PetSet = pet_set(replicas=3, deletion=True)
    actions = plan(current, pods(current, "0 1"), claims(current, "0 1"), [revision_of(current)], NOW)
    assert [type(a) for a in actions if not isinstance(a, RequeueAfter)] == [UpdateStatus]
    assert _status(actions).replicas == 2
