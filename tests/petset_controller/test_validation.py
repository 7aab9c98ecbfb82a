"""Validation: an unworkable PetSet gets field errors, a condition and an event, and no pods."""

from __future__ import annotations

from typing import Any

import pytest

from petset_controller.core.actions import CreatePod, Event, UpdateStatus
from petset_controller.core.model import petset_from_raw
from petset_controller.core.plan import plan
from petset_controller.core.spec import max_unavailable
from petset_controller.core.validation import validate
from tests.petset_controller.builders import NOW, pet_set, pods, raw_set


def _spec(**changes: Any) -> dict[str, Any]:
    return {"spec": changes}


INVALID = [
    ("name too long for the revision label", {"name": "a" * 53}, ["metadata.name"]),
    ("name not a DNS label", {"name": "Web_1"}, ["metadata.name"]),
    ("negative replicas", {"replicas": -1}, ["spec.replicas"]),
    ("bad podManagementPolicy", {"policy": "Sometimes"}, ["spec.podManagementPolicy"]),
    ("bad update strategy", {"strategy": "Recreate"}, ["spec.updateStrategy.type"]),
    ("negative partition", {"partition": -2}, ["spec.updateStrategy.rollingUpdate.partition"]),
    ("maxUnavailable 0", {"max_unavailable": 0}, ["spec.updateStrategy.rollingUpdate.maxUnavailable"]),
    ("maxUnavailable 0%", {"max_unavailable": "0%"}, ["spec.updateStrategy.rollingUpdate.maxUnavailable"]),
    (
        "maxUnavailable text",
        {"max_unavailable": "half"},
        ["spec.updateStrategy.rollingUpdate.maxUnavailable"],
    ),
    ("bad retention", {"when_scaled": "Shred"}, ["spec.persistentVolumeClaimRetentionPolicy.whenScaled"]),
    ("negative start", {"start": -1}, ["spec.ordinals.start"]),
    ("negative minReadySeconds", {"min_ready": -5}, ["spec.minReadySeconds"]),
    ("template labels not selected", {"selector": {"app": "other"}}, ["spec.template.metadata.labels"]),
    ("empty selector", {"spec": {"selector": {}}}, ["spec.selector"]),
    (
        "selector operator",
        {"spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "Near"}]}}},
        ["spec.selector.matchExpressions[0].operator"],
    ),
    (
        "In without values",
        {"spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}}},
        ["spec.selector.matchExpressions[0].values"],
    ),
    (
        "claim template without a name",
        {"spec": {"volumeClaimTemplates": [{"spec": {}}]}},
        ["spec.volumeClaimTemplates[0].metadata.name"],
    ),
    (
        "duplicate claim templates",
        {"claims": ["www", "www"]},
        ["spec.volumeClaimTemplates[1].metadata.name"],
    ),
    (
        "no containers",
        {"spec": {"template": {"metadata": {"labels": {"app": "nginx"}}, "spec": {}}}},
        ["spec.template.spec.containers"],
    ),
    (
        "restartPolicy",
        {
            "spec": {
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{}], "restartPolicy": "Never"},
                }
            }
        },
        ["spec.template.spec.restartPolicy"],
    ),
    ("serviceName", {"spec": {"serviceName": "Not A Label"}}, ["spec.serviceName"]),
    ("wrong type", {"spec": {"replicas": "3"}}, ["spec.replicas"]),
]


@pytest.mark.parametrize(("case", "kw", "paths"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_specs(case: str, kw: dict[str, Any], paths: list[str]) -> None:
    name = kw.pop("name", "web")
    assert [e.path for e in validate(pet_set(name, **kw))] == paths, case


def test_valid_specs() -> None:
    assert validate(pet_set("a" * 52)) == ()
    assert validate(pet_set(max_unavailable="100%", policy="Parallel", strategy="OnDelete", start=3)) == ()


@pytest.mark.parametrize(
    ("value", "replicas", "budget"), [(1, 5, 1), (3, 5, 3), ("50%", 5, 2), ("10%", 5, 1), ("100%", 4, 4)]
)
def test_max_unavailable_rounds_down_to_at_least_one(value: int | str, replicas: int, budget: int) -> None:
    assert max_unavailable(pet_set(replicas=replicas, max_unavailable=value).spec) == budget


def test_invalid_set_gets_status_and_event_only_once() -> None:
    raw = raw_set("a" * 60, replicas=3)
    bad = petset_from_raw(raw)
    actions = plan(bad, pods(pet_set(), "0:orphan"), [], [], NOW)
    assert [type(a) for a in actions] == [UpdateStatus, Event]
    assert isinstance(actions[0], UpdateStatus)
    status = actions[0].status
    stalled = status.condition("Stalled")
    assert stalled is not None and stalled.status == "True" and stalled.reason == "InvalidSpec"
    assert "metadata.name: must be at most 52 characters" in stalled.message
    assert actions[1] == Event("InvalidSpec", stalled.message, "Warning")
    raw["status"] = status.to_raw()
    assert plan(petset_from_raw(raw), [], [], [], NOW + 60) == []  # nothing new to say


def test_fixing_the_spec_clears_the_condition() -> None:
    raw = raw_set(replicas=1, policy="Sometimes")
    (write, _) = plan(petset_from_raw(raw), [], [], [], NOW)
    assert isinstance(write, UpdateStatus)
    raw["status"] = write.status.to_raw()
    raw["spec"]["podManagementPolicy"] = "Parallel"
    actions = plan(petset_from_raw(raw), [], [], [], NOW + 1)
    status = next(a for a in actions if isinstance(a, UpdateStatus)).status
    stalled = status.condition("Stalled")
    assert stalled is not None and stalled.status == "False"
    assert any(isinstance(a, CreatePod) for a in actions)
