"""plan() as a table: observed pets and claims -> the actions, for each rule of the PetSet contract."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from petset_controller.core.actions import CreateClaim, CreatePod, RequeueAfter, UpdateStatus
from petset_controller.core.identity import claim_names
from petset_controller.core.plan import plan
from tests.petset_controller.builders import (
    NOW,
    claims,
    pet_set,
    pods,
    revision_of,
    summary,
    update_revision_name,
    with_history,
)

P = {"policy": "Parallel"}


@dataclass(frozen=True)
class Case:
    """Observed pets (`0 1:pending`) and claims (None: a bound claim for every pet listed)."""

    id: str
    spec: dict[str, Any]
    pets: str
    want: list[str]
    claims: str | None = None
    rollout: bool = field(default=False)


SCALING = [
    Case("first pet, claim before pod", {"replicas": 3}, "", ["CreateClaim www-web-0", "CreatePod web-0"]),
    Case(
        "next pet once 0..i are ready", {"replicas": 3}, "0 1", ["CreateClaim www-web-2", "CreatePod web-2"]
    ),
    Case("pending predecessor blocks", {"replicas": 3}, "0 1:pending", []),
    Case("unready predecessor blocks", {"replicas": 3}, "0:notready 1", []),
    Case("ready but not available for minReadySeconds", {"replicas": 3, "min_ready": 30}, "0 1:fresh", []),
    Case("terminating pet blocks and is not re-created", {"replicas": 2}, "0:terminating", []),
    Case("lowest missing pet first", {"replicas": 3}, "1 2", ["CreateClaim www-web-0", "CreatePod web-0"]),
    Case("deleted pet comes back on its claim", {"replicas": 3}, "1 2", ["CreatePod web-0"], claims="0 1 2"),
    Case(
        "failed pet deleted, made again on a later pass",
        {"replicas": 2},
        "0:failed 1",
        ["Event RecreatingFailedPet", "DeletePod web-0 Failed"],
    ),
    Case(
        "succeeded pet replaced too",
        {"replicas": 2},
        "0 1:succeeded",
        ["Event RecreatingFailedPet", "DeletePod web-1 Succeeded"],
    ),
    Case("failed and terminating: wait until gone", {"replicas": 2}, "0:failed,terminating 1", []),
    Case(
        "scale down: highest first, one at a time",
        {"replicas": 3},
        "0 1 2 3 4",
        ["DeletePod web-4 ScaleDown"],
    ),
    Case("scale down waits until the pet is gone", {"replicas": 3}, "0 1 2 3 4:terminating", []),
    Case("scale down waits for an unhealthy pet in range", {"replicas": 3}, "0 1:notready 2 3 4", []),
    Case(
        "first unhealthy condemned pet may go",
        {"replicas": 3},
        "0 1 2 3 4:notready",
        ["DeletePod web-4 ScaleDown"],
    ),
    Case(
        "unhealthy condemned pet waits for a lower unhealthy one",
        {"replicas": 3},
        "0 1 2 3:notready 4:notready",
        [],
    ),
    Case(
        "healthy top pet goes past an unhealthy lower one",
        {"replicas": 3},
        "0 1 2 3:notready 4",
        ["DeletePod web-4 ScaleDown"],
    ),
    Case("scale to zero", {"replicas": 0}, "0 1", ["DeletePod web-1 ScaleDown"]),
    Case("initialized=false pauses scale up", {"replicas": 3}, "0 1:uninit", []),
    Case("initialized=false on a condemned pet pauses scale down", {"replicas": 1}, "0 1 2:uninit", []),
    Case("initialized=false pauses Parallel too", {"replicas": 3, **P}, "0:uninit", []),
    Case("a name held by another owner's pod is not created", {"replicas": 2}, "0 1:foreign", []),
    Case("ordinals.start", {"replicas": 2, "start": 5}, "", ["CreateClaim www-web-5", "CreatePod web-5"]),
    Case(
        "ordinals.start moved: new range first",
        {"replicas": 2, "start": 2},
        "0 1",
        ["CreateClaim www-web-2", "CreatePod web-2"],
    ),
    Case(
        "ordinals.start moved: old range removed",
        {"replicas": 2, "start": 2},
        "0 1 2 3",
        ["DeletePod web-1 ScaleDown"],
    ),
]

PARALLEL = [
    Case(
        "all pets at once",
        {"replicas": 3, **P},
        "",
        [
            f"{kind} {name}"
            for i in range(3)
            for kind, name in (("CreateClaim", f"www-web-{i}"), ("CreatePod", f"web-{i}"))
        ],
    ),
    Case(
        "no waiting for pending pets",
        {"replicas": 3, **P},
        "0:pending",
        ["CreateClaim www-web-1", "CreatePod web-1", "CreateClaim www-web-2", "CreatePod web-2"],
    ),
    Case(
        "scale down all condemned at once",
        {"replicas": 2, **P},
        "0 1 2 3 4",
        ["DeletePod web-4 ScaleDown", "DeletePod web-3 ScaleDown", "DeletePod web-2 ScaleDown"],
    ),
    Case(
        "terminating condemned pets are skipped",
        {"replicas": 1, **P},
        "0 1 2:terminating 3",
        ["DeletePod web-3 ScaleDown", "DeletePod web-1 ScaleDown"],
    ),
    Case(
        "failed pet deleted while others are created",
        {"replicas": 3, **P},
        "0:failed 1:pending",
        ["Event RecreatingFailedPet", "DeletePod web-0 Failed", "CreateClaim www-web-2", "CreatePod web-2"],
    ),
]

CLAIMS = [
    Case("claims reused on scale up", {"replicas": 2}, "0", ["CreatePod web-1"], claims="0 1"),
    Case("a claim being deleted holds its pet back", {"replicas": 2}, "0", [], claims="0 1:terminating"),
    Case(
        "claim re-created while the pet is Pending",
        {"replicas": 2},
        "0 1:pending",
        ["CreateClaim www-web-1"],
        claims="0",
    ),
    Case("no claim re-created for a running pet", {"replicas": 2}, "0 1", [], claims="0"),
    Case(
        "every claim template, all before the pod",
        {"replicas": 1, "claims": ["www", "logs"]},
        "",
        ["CreateClaim www-web-0", "CreateClaim logs-web-0", "CreatePod web-0"],
    ),
]

_SCALED = {"replicas": 2, "when_scaled": "Delete"}
_BOTH = {"replicas": 2, "when_scaled": "Delete", "when_deleted": "Delete"}
_DELETED = {"replicas": 1, "when_deleted": "Delete"}
RETENTION = [
    Case(
        "whenScaled Delete: condemned claims go to their pod before it is deleted",
        _SCALED,
        "0 1 2",
        ["UpdateClaimOwner www-web-2 Pod/web-2", "DeletePod web-2 ScaleDown"],
    ),
    Case(
        "Delete/Delete: pod ref replaces the set ref on condemned claims only",
        _BOTH,
        "0 1 2",
        ["UpdateClaimOwner www-web-2 Pod/web-2", "DeletePod web-2 ScaleDown"],
        claims="0:setref 1:setref 2:setref",
    ),
    Case(
        "whenDeleted Delete: set ref added to a kept claim",
        _DELETED,
        "0",
        ["UpdateClaimOwner www-web-0 PetSet/web"],
    ),
    Case(
        "Retain/Retain removes refs of an earlier policy",
        {"replicas": 1},
        "0",
        ["UpdateClaimOwner www-web-0 -"],
        claims="0:setref",
    ),
    Case("claim still owned by a gone pod blocks re-creation", _SCALED, "0", [], claims="0 1:stale"),
    Case("another controller's claim is left alone", _DELETED, "0", [], claims="0:other"),
    Case(
        "another controller: our refs come off",
        _DELETED,
        "0",
        ["Event ConflictingController", "UpdateClaimOwner www-web-0 Keeper/k"],
        claims="0:other,setref",
    ),
    Case("ref of an earlier set of the same name: untouched", _DELETED, "0", [], claims="0:staleset"),
    Case(
        "ordinary pod deletion never hands claims over",
        _SCALED,
        "0 1:failed",
        ["Event RecreatingFailedPet", "DeletePod web-1 Failed"],
    ),
]

UPDATES = [
    Case(
        "rolling update: highest outdated first",
        {"replicas": 3},
        "0:old 1:old 2:old",
        ["DeletePod web-2 RollingUpdate"],
    ),
    Case("rolling update waits for the replacement", {"replicas": 3}, "0:old 1:old 2:pending", []),
    Case(
        "rolling update moves on once it is ready",
        {"replicas": 3},
        "0:old 1:old 2",
        ["DeletePod web-1 RollingUpdate"],
    ),
    Case(
        "partition: only ordinals >= partition",
        {"replicas": 4, "partition": 2},
        "0:old 1:old 2:old 3",
        ["DeletePod web-2 RollingUpdate"],
    ),
    Case("partition reached: nothing more", {"replicas": 4, "partition": 2}, "0:old 1:old 2 3", []),
    Case(
        "maxUnavailable 2",
        {"replicas": 4, "max_unavailable": 2},
        "0:old 1:old 2:old 3:old",
        ["DeletePod web-3 RollingUpdate", "DeletePod web-2 RollingUpdate"],
    ),
    Case(
        "maxUnavailable counts pets already unavailable",
        {"replicas": 4, "max_unavailable": 2, **P},
        "0:old,notready 1:old 2:old 3:old",
        ["DeletePod web-3 RollingUpdate"],
    ),
    Case(
        "maxUnavailable as a percentage",
        {"replicas": 4, "max_unavailable": "50%"},
        "0:old 1:old 2:old 3:old",
        ["DeletePod web-3 RollingUpdate", "DeletePod web-2 RollingUpdate"],
    ),
    Case(
        "terminating outdated pets are not deleted again",
        {"replicas": 3, "max_unavailable": 2, **P},
        "0:old 1:old 2:old,terminating",
        ["DeletePod web-1 RollingUpdate"],
    ),
    Case("OnDelete: outdated pets stay", {"replicas": 2, "strategy": "OnDelete"}, "0:old 1:old", []),
    Case("scaling before updating", {"replicas": 2}, "0:old 1:old 2:old", ["DeletePod web-2 ScaleDown"]),
    # replaceUnhealthy: a rollout stuck on an outdated pet that never turns Ready heals itself
    Case(
        "stuck on an outdated unready pet without the option",
        {"replicas": 3},
        "0:old 1:old 2:old,notready",
        [],
    ),
    Case(
        "replaceUnhealthy: the outdated pet long not Ready is replaced",
        {"replicas": 3, "heal": True},
        "0:old 1:old 2:old,notready",
        ["Event ReplacingUnhealthyPet", "DeletePod web-2 ReplaceUnhealthy"],
    ),
    Case(
        "replaceUnhealthy: a crash-looping outdated pet too",
        {"replicas": 3, "heal": True},
        "0:old 1:old 2:old,crashloop",
        ["Event ReplacingUnhealthyPet", "DeletePod web-2 ReplaceUnhealthy"],
    ),
    Case(
        "replaceUnhealthy: not before minReadySeconds + unhealthyAfterSeconds",
        {"replicas": 3, "heal": True, "heal_after": 500, "min_ready": 200},
        "0:old 1:old 2:old,notready",
        [],
    ),
    Case(
        "replaceUnhealthy: a pet at its target revision is waited for",
        {"replicas": 3, "heal": True},
        "0:old 1:old 2:notready",
        [],
    ),
    Case(
        "replaceUnhealthy: below the partition the old revision is the target",
        {"replicas": 3, "heal": True, "partition": 3},
        "0:old 1:old 2:old,notready",
        [],
    ),
    Case(
        "replaceUnhealthy: the walk stops at the first unready pet, Ready ones are left to the rollout",
        {"replicas": 3, "heal": True},
        "0:old,notready 1:old 2:old",
        ["Event ReplacingUnhealthyPet", "DeletePod web-0 ReplaceUnhealthy"],
    ),
    Case(
        "replaceUnhealthy: OnDelete pets are the user's",
        {"replicas": 2, "heal": True, "strategy": "OnDelete"},
        "0:old 1:old,notready",
        [],
    ),
    Case(
        "replaceUnhealthy: Parallel pets too; the replaced one uses the maxUnavailable budget",
        {"replicas": 3, "heal": True, **P},
        "0:old 1:old,notready 2:old",
        ["Event ReplacingUnhealthyPet", "DeletePod web-1 ReplaceUnhealthy"],
    ),
]

ADOPTION = [
    Case("matching orphan adopted, not made again", {"replicas": 2}, "0 1:orphan", ["Adopt Pod web-1"]),
    Case(
        "pet no longer selected: released, name still taken",
        {"replicas": 2},
        "0 1:nomatch",
        ["Release Pod web-1"],
    ),
    Case("terminating orphan is not adopted", {"replicas": 2}, "0 1:orphan,terminating", []),
    Case("identity labels put back", {"replicas": 1}, "0:nolabels", ["UpdatePodLabels web-0"]),
    Case("set being deleted: status only", {"replicas": 3, "deletion": True}, "0:orphan", []),
]


def _run(case: Case) -> list[str]:
    if case.rollout:
        current, revisions, old = with_history(**case.spec)
    else:
        current = pet_set(**case.spec)
        revisions, old = [revision_of(current)], ""
    observed = pods(current, case.pets, old=old)
    spec = (
        case.claims
        if case.claims is not None
        else " ".join(str(int(p.name.rsplit("-", 1)[1])) for p in observed)
    )
    return summary(plan(current, observed, claims(current, spec), revisions, NOW))


@pytest.mark.parametrize(
    "case",
    SCALING + PARALLEL + CLAIMS + RETENTION + ADOPTION,
    ids=lambda c: c.id,
)
def test_plan(case: Case) -> None:
    assert _run(case) == case.want


@pytest.mark.parametrize("case", UPDATES, ids=lambda c: c.id)
def test_plan_updates(case: Case) -> None:
    assert _run(Case(case.id, case.spec, case.pets, case.want, case.claims, rollout=True)) == case.want


def test_new_pod_carries_identity() -> None:
    current = pet_set(replicas=1)
    (create,) = [a for a in plan(current, [], [], [revision_of(current)], NOW) if isinstance(a, CreatePod)]
    meta, spec = create.manifest["metadata"], create.manifest["spec"]
    assert meta["name"] == "web-0" and spec["hostname"] == "web-0" and spec["subdomain"] == "nginx"
    assert meta["labels"]["statefulset.kubernetes.io/pod-name"] == "web-0"
    assert meta["labels"]["apps.kubernetes.io/pod-index"] == "0"
    assert meta["labels"]["controller-revision-hash"] == revision_of(current).name
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "petdns.dev/v1",
            "kind": "PetSet",
            "name": "web",
            "uid": current.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert spec["volumes"] == [{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}}]


@pytest.mark.parametrize(
    ("spec", "ordinal", "image"),
    [
        ({"partition": 2}, 0, "nginx:0"),
        ({"partition": 2}, 3, "nginx:1"),
        ({"strategy": "OnDelete"}, 0, "nginx:1"),
    ],
    ids=[
        "below partition: current revision",
        "above partition: update revision",
        "OnDelete: update revision",
    ],
)
def test_recreated_pet_revision(spec: dict[str, Any], ordinal: int, image: str) -> None:
    current, revisions, old = with_history(replicas=4, **spec)
    present = " ".join(f"{o}:old" for o in range(4) if o != ordinal)
    actions = plan(current, pods(current, present, old=old), claims(current, "0 1 2 3"), revisions, NOW)
    (create,) = [a for a in actions if isinstance(a, CreatePod)]
    assert create.name == f"web-{ordinal}"
    assert create.manifest["spec"]["containers"][0]["image"] == image
    wanted = old if image == "nginx:0" else revisions[1].name
    assert create.manifest["metadata"]["labels"]["controller-revision-hash"] == wanted


def test_claim_manifest_under_when_deleted() -> None:
    current = pet_set(replicas=1, when_deleted="Delete")
    (claim,) = [a for a in plan(current, [], [], [revision_of(current)], NOW) if isinstance(a, CreateClaim)]
    assert claim.manifest["metadata"]["ownerReferences"][0]["kind"] == "PetSet"
    assert claim.manifest["metadata"]["labels"] == {"app": "nginx"}
    assert claim_names(current, 0) == ("www-web-0",)


def test_replace_unhealthy_requeues_at_its_time_and_says_so_in_the_conditions() -> None:
    current, revisions, old = with_history(replicas=3, heal=True, heal_after=30)
    observed = pods(current, "0:old 1:old 2:old,notready,fresh", old=old)
    actions = plan(current, observed, claims(current, "0 1 2"), revisions, NOW)
    assert [a.seconds for a in actions if isinstance(a, RequeueAfter)] == [30.0]
    (status,) = [a.status for a in actions if isinstance(a, UpdateStatus)]
    progressing = status.condition("Progressing")
    assert progressing is not None
    assert progressing.message.endswith(
        "is replaced with " + update_revision_name(current) + " in 30s (replaceUnhealthy)"
    )


def test_requeue_for_min_ready_seconds() -> None:
    current = pet_set(replicas=3, min_ready=30)
    actions = plan(
        current, pods(current, "0 1:fresh"), claims(current, "0 1"), [revision_of(current)], NOW + 12
    )
    assert summary(actions, everything=True)[-1] == "RequeueAfter 18"


def test_look_alike_pods_are_not_ours() -> None:
    current = pet_set(replicas=2)
    (orphan,) = pods(current, "1:orphan")
    renamed = [replace(orphan, name=name) for name in ("web-01", "web-x-1", "webs-1", "web-1x")]
    actions = plan(current, pods(current, "0") + renamed, claims(current, "0"), [revision_of(current)], NOW)
    assert summary(actions) == ["CreateClaim www-web-1", "CreatePod web-1"]
