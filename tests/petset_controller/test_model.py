"""Decoding raw PetSet, Pod, claim and ControllerRevision JSON into the slim model."""

from __future__ import annotations

import dataclasses

import pytest

from kubeapi.labels import Requirement, Selector
from kubeapi.meta import parse_time, rfc3339
from petset_controller.core.model import (
    Condition,
    PetSetStatus,
    claim_from_raw,
    petset_from_raw,
    pod_from_raw,
    revision_from_raw,
    status_from_raw,
)
from petset_controller.core.spec import FieldError
from tests.petset_controller.builders import NOW, raw_set


def test_defaults_follow_the_api() -> None:
    pet_set = petset_from_raw({"metadata": {"name": "web", "namespace": "ns"}, "spec": {}})
    spec = pet_set.spec
    assert (spec.replicas, spec.pod_management_policy, spec.revision_history_limit) == (1, "OrderedReady", 10)
    assert (
        spec.update_strategy.type,
        spec.update_strategy.partition,
        spec.update_strategy.max_unavailable,
    ) == (
        "RollingUpdate",
        0,
        1,
    )
    assert (spec.retention.when_deleted, spec.retention.when_scaled) == ("Retain", "Retain")
    assert (spec.ordinals_start, spec.min_ready_seconds, pet_set.api_version) == (0, 0, "petdns.dev/v1")


def test_selector_defaults_from_template_labels_as_petset_did() -> None:
    raw = raw_set()
    del raw["spec"]["selector"]
    assert petset_from_raw(raw).spec.selector == Selector((Requirement("app", "=", ("nginx",)),))


def test_wrong_types_become_problems_not_exceptions() -> None:
    raw = raw_set()
    raw["spec"]["replicas"] = "three"
    raw["spec"]["updateStrategy"] = {"rollingUpdate": {"maxUnavailable": [1]}}
    raw["spec"]["volumeClaimTemplates"] = ["www"]
    problems = petset_from_raw(raw).problems
    assert [p.path for p in problems] == [
        "spec.replicas",
        "spec.volumeClaimTemplates[0]",
        "spec.updateStrategy.rollingUpdate.maxUnavailable",
    ]
    assert str(problems[0]) == "spec.replicas: must be an integer, not 'three'"
    assert petset_from_raw({"metadata": {"name": "x"}, "spec": 5}).problems == (
        FieldError("spec", "must be an object"),
    )


def test_pod_fields_and_health() -> None:
    pod = pod_from_raw(
        {
            "metadata": {
                "name": "web-0",
                "namespace": "ns",
                "uid": "u",
                "labels": {"controller-revision-hash": "web-abc"},
                "annotations": {"pod.alpha.kubernetes.io/initialized": "true"},
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "X", "name": "x", "uid": "o", "controller": True}
                ],
            },
            "spec": {"nodeName": "node-1"},
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(NOW - 10)},
                ],
                "containerStatuses": [
                    {"restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                ],
            },
        }
    )
    assert (pod.revision, pod.node, pod.restarts, pod.waiting_reason) == (
        "web-abc",
        "node-1",
        2,
        "CrashLoopBackOff",
    )
    assert pod.healthy and pod.initialized and not pod.terminating
    assert pod.available(5, NOW) and not pod.available(30, NOW)
    assert pod.available_in(30, NOW) == 20
    assert pod.owner_refs[0].controller
    assert pod.controller_uid == "o"


def test_derived_pod_fields_follow_a_replace() -> None:
    pod = pod_from_raw({"metadata": {"name": "web-0"}, "status": {"phase": "Running"}})
    ready = dataclasses.replace(pod, ready=True)
    assert not pod.running_ready and ready.running_ready and ready.healthy
    failed = dataclasses.replace(ready, phase="Failed", labels={"controller-revision-hash": "web-1"})
    assert failed.finished and not failed.healthy and failed.revision == "web-1"
    gone = dataclasses.replace(ready, deletion_timestamp=NOW, owner_refs=())
    assert gone.terminating and not gone.healthy and gone.controller_uid is None
    assert gone == dataclasses.replace(gone)


@pytest.mark.parametrize(
    ("value", "initialized"), [(None, True), ("true", True), ("1", True), ("false", False), ("maybe", False)]
)
def test_initialized_annotation(value: str | None, initialized: bool) -> None:
    annotations = {} if value is None else {"pod.alpha.kubernetes.io/initialized": value}
    pod = pod_from_raw({"metadata": {"name": "web-0", "annotations": annotations}})
    assert pod.initialized is initialized


def test_unscheduled_pod_and_claim() -> None:
    pod = pod_from_raw(
        {
            "metadata": {"name": "web-0", "deletionTimestamp": rfc3339(NOW)},
            "status": {"conditions": [{"type": "PodScheduled", "status": "False", "message": "0/3 nodes"}]},
        }
    )
    assert (pod.phase, pod.unschedulable, pod.terminating) == ("Pending", "0/3 nodes", True)
    claim = claim_from_raw({"metadata": {"name": "www-web-0", "uid": "c"}, "status": {"phase": "Bound"}})
    assert (claim.name, claim.phase, claim.terminating) == ("www-web-0", "Bound", False)


def test_revision_data_gives_back_the_template() -> None:
    template = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": []}}
    raw = {
        "metadata": {"name": "web-x", "namespace": "ns"},
        "data": {"spec": {"template": {**template, "$patch": "replace"}}},
        "revision": 4,
    }
    revision = revision_from_raw(raw)
    assert (revision.template, revision.revision) == (template, 4)
    assert revision_from_raw({"metadata": {"name": "broken"}, "data": "x"}).template is None


def test_status_round_trip() -> None:
    status = PetSetStatus(
        observed_generation=3,
        replicas=2,
        ready_replicas=1,
        current_revision="web-a",
        update_revision="web-b",
        collision_count=1,
        conditions=(Condition("Stalled", "True", "PetPending", "m", int(NOW), 0),),
    )
    assert status_from_raw(status.to_raw()) == status
    assert status_from_raw({"replicas": "x", "readyReplicas": True}) == PetSetStatus()


def test_times() -> None:
    assert parse_time(rfc3339(NOW)) == NOW
    whole = parse_time("2026-01-02T03:04:05Z")
    assert whole is not None and parse_time("2026-01-02T03:04:05.5Z") == whole + 0.5
    assert parse_time("not a time") is None and parse_time(None) is None
