"""plan() on arbitrary observed states: whatever it sees, what it asks for is safe."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from petset_controller.core.actions import CreateClaim, CreatePod, DeletePod, UpdateClaimOwner
from petset_controller.core.identity import claim_names, claim_pods, parse_ordinal, pod_name
from petset_controller.core.model import Claim, Pod
from petset_controller.core.plan import plan
from tests.petset_controller.builders import NOW, claims, pods, with_history

POD_FLAGS = [
    "pending",
    "notready",
    "failed",
    "terminating",
    "old",
    "orphan",
    "foreign",
    "uninit",
    "nomatch",
    "fresh",
]
CLAIM_FLAGS = ["pending", "terminating", "setref", "podref", "stale", "other"]
ORDINALS = range(8)

specs = st.fixed_dictionaries(
    {
        "replicas": st.integers(0, 5),
        "start": st.integers(0, 2),
        "policy": st.sampled_from(["OrderedReady", "Parallel"]),
        "strategy": st.sampled_from(["RollingUpdate", "OnDelete"]),
        "when_scaled": st.sampled_from(["Retain", "Delete"]),
        "when_deleted": st.sampled_from(["Retain", "Delete"]),
        "min_ready": st.sampled_from([0, 30]),
    }
).flatmap(
    lambda s: (
        st.just(s)
        if s["strategy"] == "OnDelete"
        else st.fixed_dictionaries(
            {"partition": st.integers(0, 3), "max_unavailable": st.integers(1, 3)}
        ).map(lambda r: {**s, **r})
    )
)


def _notation(draw: dict[int, list[str] | None]) -> str:
    return " ".join(f"{o}:{','.join(flags)}" for o, flags in sorted(draw.items()) if flags is not None)


def _flags(choices: list[str]) -> st.SearchStrategy[dict[int, list[str] | None]]:
    return st.dictionaries(
        st.sampled_from(list(ORDINALS)), st.none() | st.lists(st.sampled_from(choices), max_size=3)
    )


def _check_creates(actions: list[Any], observed: list[Pod], found: list[Claim], pet_set: Any) -> None:
    pod_names, claim_by_name = {p.name for p in observed}, {c.name: c for c in found}
    created_pods = [a.name for a in actions if isinstance(a, CreatePod)]
    created_claims = [a.name for a in actions if isinstance(a, CreateClaim)]
    assert len(created_pods) == len(set(created_pods)) and not set(created_pods) & pod_names
    assert len(created_claims) == len(set(created_claims)) and not set(created_claims) & set(claim_by_name)
    seen: set[str] = set()
    for action in actions:
        if isinstance(action, CreateClaim):
            seen.add(action.name)
        if isinstance(action, CreatePod):
            assert action.ordinal in pet_set.spec.ordinals
            for name in claim_names(pet_set, action.ordinal):
                claim = claim_by_name.get(name)
                assert name in seen or (claim is not None and not claim.terminating)


def _check_ordered(actions: list[Any], observed: list[Pod], pet_set: Any) -> None:
    by_name = {p.name: p for p in observed}
    creates = [a for a in actions if isinstance(a, CreatePod)]
    scale_downs = [a for a in actions if isinstance(a, DeletePod) and a.reason == "ScaleDown"]
    assert len(creates) <= 1 and len(scale_downs) <= 1 and not (creates and scale_downs)
    for create in creates:
        for ordinal in range(pet_set.spec.ordinals_start, create.ordinal):
            pod = by_name.get(pod_name(pet_set.name, ordinal))
            assert pod is not None and pod.available(pet_set.spec.min_ready_seconds, NOW)


def _check_deletes_and_claims(actions: list[Any], observed: list[Pod], pet_set: Any) -> None:
    by_name = {p.name: p for p in observed}
    deleted = [a for a in actions if isinstance(a, DeletePod)]
    assert len({a.name for a in deleted}) == len(deleted)
    for action in deleted:
        pod = by_name[action.name]
        assert pod.uid == action.uid and not pod.terminating
        assert not any(r.controller and r.uid != pet_set.uid for r in pod.owner_refs)
        assert pet_set.spec.selector.matches(pod.labels)
        if action.reason == "RollingUpdate":
            assert (parse_ordinal(pet_set.name, pod.name) or 0) >= pet_set.spec.partition_start
    policy = pet_set.spec.retention
    for action in actions:
        if isinstance(action, UpdateClaimOwner):
            ordinal = parse_ordinal(pet_set.name, action.name.split("-", 1)[1])
            for ref in action.owners:
                if ref.kind == "Pod":
                    assert policy.when_scaled == "Delete" and ordinal not in pet_set.spec.ordinals
                if ref.kind == "PetSet":
                    assert policy.when_deleted == "Delete"


@settings(max_examples=300, deadline=None)
@given(spec=specs, pod_flags=_flags(POD_FLAGS), claim_flags=_flags(CLAIM_FLAGS))
def test_plan_is_safe_whatever_it_sees(
    spec: dict[str, Any], pod_flags: dict[int, list[str] | None], claim_flags: dict[int, list[str] | None]
) -> None:
    pet_set, revisions, old = with_history(**spec)
    observed = pods(pet_set, _notation(pod_flags), old=old)
    found = claims(pet_set, _notation(claim_flags))
    actions = plan(pet_set, observed, found, revisions, NOW)
    _check_creates(actions, observed, found, pet_set)
    _check_deletes_and_claims(actions, observed, pet_set)
    if not pet_set.spec.parallel:
        _check_ordered(actions, observed, pet_set)
    if any(not p.initialized for p in claim_pods(pet_set, observed).owned):  # PetSet v1.4 pause
        assert not [a for a in actions if isinstance(a, CreatePod | DeletePod)]
