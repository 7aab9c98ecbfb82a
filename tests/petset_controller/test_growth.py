"""Growing pets' volumes in plan(): bound claims below their template's storage request are expanded where
their StorageClass allows it, refusals are a condition and one Warning event, progress is counted."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from petset_controller.core.actions import UpdateStatus
from petset_controller.core.growth import StorageClass, class_from_raw, template_storage
from petset_controller.core.model import Claim, PetSet, PetSetStatus
from petset_controller.core.plan import plan
from tests.petset_controller.builders import NOW, claims, pet_set, pods, revision_of, summary

CLASSES = {
    "standard": StorageClass("standard", allow_expansion=True),
    "fixed": StorageClass("fixed", allow_expansion=False),
}


def sized(size: str, replicas: int = 3, **kw: Any) -> PetSet:
    template = {
        "metadata": {"name": "www"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }
    return pet_set(replicas=replicas, spec={"volumeClaimTemplates": [template]}, **kw)


def with_sizes(current: PetSet, spec: str, sizes: str, storage_class: str | None = "standard") -> list[Claim]:
    """Claims from `claims()` notation with `request/capacity` per claim (`1Gi/1Gi 2Gi/1Gi ...`)."""
    out = []
    for claim, pair in zip(claims(current, spec), sizes.split(), strict=True):
        request, _, capacity = pair.partition("/")
        out.append(replace(claim, storage_class=storage_class, request=request, capacity=capacity))
    return out


def run(current: PetSet, observed: list[Claim], pets: str = "0 1 2", classes: Any = CLASSES) -> list[Any]:
    return plan(current, pods(current, pets), observed, [revision_of(current)], NOW, classes=classes)


def status_of(actions: list[Any]) -> PetSetStatus:
    (status,) = [a.status for a in actions if isinstance(a, UpdateStatus)]
    return status  # type: ignore[no-any-return]


def conditions(status: PetSetStatus) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in status.conditions if c.type.startswith("Volume")}


def test_a_grown_template_expands_every_bound_claim() -> None:
    current = sized("2Gi")
    actions = run(current, with_sizes(current, "0 1 2", "1Gi/1Gi 1Gi/1Gi 1Gi/1Gi"))
    assert summary(actions) == [f"ExpandClaim www-web-{i} 2Gi" for i in range(3)]
    assert conditions(status_of(actions)) == {
        "VolumesResized": ("False", "Resizing", "0 of 3 claims of template www at 2Gi")
    }


def test_progress_is_counted_by_capacity_and_requests_are_not_patched_twice() -> None:
    current = sized("2Gi")
    actions = run(current, with_sizes(current, "0 1 2", "2Gi/1Gi 2Gi/2Gi 2048Mi/2Gi"))
    assert summary(actions) == []
    assert conditions(status_of(actions)) == {
        "VolumesResized": ("False", "Resizing", "2 of 3 claims of template www at 2Gi")
    }
    resizing = replace(current, status=status_of(actions))  # once shown, the condition stays
    done = run(resizing, with_sizes(current, "0 1 2", "2Gi/2Gi 2Gi/2Gi 2Gi/2Gi"))
    assert conditions(status_of(done)) == {
        "VolumesResized": ("True", "Resized", "3 of 3 claims of template www at 2Gi")
    }


def test_a_class_without_expansion_is_refused_once_with_a_condition_and_an_event() -> None:
    current = sized("2Gi", replicas=2)
    observed = with_sizes(current, "0 1", "1Gi/1Gi 1Gi/1Gi", storage_class="fixed")
    actions = run(current, observed, pets="0 1")
    assert summary(actions) == ["Event VolumeResizeRefused"]
    message = (
        "claim www-web-0 cannot grow to 2Gi: its StorageClass fixed does not allow volume expansion; "
        "claim www-web-1 cannot grow to 2Gi: its StorageClass fixed does not allow volume expansion"
    )
    found = conditions(status_of(actions))
    assert found["VolumeResizeRefused"] == ("True", "ExpansionNotAllowed", message)
    assert found["VolumesResized"] == ("False", "Resizing", "0 of 2 claims of template www at 2Gi")
    again = run(replace(current, status=status_of(actions)), observed, pets="0 1")
    assert summary(again, everything=True) == []  # no second event, nothing to write


@pytest.mark.parametrize(
    ("storage_class", "why"),
    [
        (None, "it has no StorageClass"),
        ("", "it has no StorageClass"),
        ("gone", "StorageClass gone does not"),
    ],
)
def test_claims_without_an_expandable_class_are_named(storage_class: str | None, why: str) -> None:
    current = sized("2Gi", replicas=1)
    actions = run(current, with_sizes(current, "0", "1Gi/1Gi", storage_class=storage_class), pets="0")
    refused = conditions(status_of(actions))["VolumeResizeRefused"]
    assert refused[2].startswith("claim www-web-0 cannot grow to 2Gi: ") and why in refused[2]


def test_refusal_clears_once_the_class_allows_it() -> None:
    current = sized("2Gi", replicas=1)
    observed = with_sizes(current, "0", "1Gi/1Gi", storage_class="fixed")
    refused = replace(current, status=status_of(run(current, observed, pets="0")))
    allowed = {"fixed": StorageClass("fixed", allow_expansion=True)}
    actions = run(refused, observed, pets="0", classes=allowed)
    assert summary(actions) == ["ExpandClaim www-web-0 2Gi"]
    assert set(conditions(status_of(actions))) == {"VolumesResized"}


@pytest.mark.parametrize(
    ("size", "spec", "sizes", "replicas"),
    [
        ("1Gi", "0 1 2", "2Gi/2Gi 2Gi/2Gi 2Gi/2Gi", 3),  # never shrunk
        ("1Gi", "0 1 2", "1Gi/1Gi 1Gi/1Gi 1Gi/1Gi", 3),  # at size: no condition at all
        ("2Gi", "0 1:pending", "2Gi/2Gi 1Gi/", 2),  # pending claims cannot be resized yet
        ("2Gi", "0 1 2", "2Gi/2Gi 2Gi/2Gi 1Gi/1Gi", 2),  # a condemned pet's claim is left alone
    ],
)
def test_nothing_to_patch(size: str, spec: str, sizes: str, replicas: int) -> None:
    current = sized(size, replicas=replicas)
    actions = run(current, with_sizes(current, spec, sizes), pets=spec.replace(":pending", ""))
    assert not [line for line in summary(actions) if line.startswith("ExpandClaim")]
    if size == "1Gi":
        assert all(not c.type.startswith("Volume") for c in status_of(actions).conditions)


def test_no_classes_known_or_a_set_being_deleted_grows_nothing() -> None:
    current = sized("2Gi")
    observed = with_sizes(current, "0 1 2", "1Gi/1Gi 1Gi/1Gi 1Gi/1Gi")
    assert summary(run(current, observed, classes=None)) == []
    deleting = sized("2Gi", deletion=True)
    assert summary(run(deleting, with_sizes(deleting, "0 1 2", "1Gi/1Gi 1Gi/1Gi 1Gi/1Gi"))) == []


def test_reading_classes_and_template_sizes() -> None:
    raw = {"metadata": {"name": "fast"}, "allowVolumeExpansion": True}
    assert class_from_raw(raw) == StorageClass("fast", allow_expansion=True)
    assert class_from_raw({"metadata": {"name": "slow"}}) == StorageClass("slow")
    assert [template_storage(t) for t in sized("3Gi").spec.claim_templates] == ["3Gi"]
    assert [template_storage(t) for t in pet_set().spec.claim_templates] == [""]
