"""Pet identity: names, ordinals, labels, owner references and the retention policy on claims."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from petset_controller.core.identity import (
    claim_name,
    claim_pods,
    controller_ref,
    label_repairs,
    new_pod,
    parse_ordinal,
    pod_name,
    wanted_claim_owners,
)
from tests.petset_controller.builders import SET_UID, claims, pet_set, pods


@pytest.mark.parametrize(
    ("name", "ordinal"),
    [
        ("web-0", 0),
        ("web-12", 12),
        ("web-2147483647", 2**31 - 1),
        ("web-2147483648", None),
        ("web-01", None),
        ("web--1", None),
        ("web-", None),
        ("web-1a", None),
        ("web-x-1", None),
        ("webs-1", None),
        ("web", None),
        ("web-\uff11", None),  # a full-width digit
    ],
)
def test_parse_ordinal_rejects_look_alikes(name: str, ordinal: int | None) -> None:
    assert parse_ordinal("web", name) == ordinal


def test_names_round_trip() -> None:
    assert pod_name("web", 3) == "web-3" and parse_ordinal("web", pod_name("web", 3)) == 3
    assert parse_ordinal("web-1", "web-1-0") == 0 and parse_ordinal("web", "web-1-0") is None
    assert claim_name("www", "web", 3) == "www-web-3"


def test_controller_ref_uses_the_sets_api_version() -> None:
    ref = controller_ref(replace(pet_set(), api_version="apps/v1alpha1"))
    assert (ref.api_version, ref.kind, ref.name, ref.uid, ref.controller, ref.block_owner_deletion) == (
        "apps/v1alpha1",
        "PetSet",
        "web",
        SET_UID,
        True,
        True,
    )


def test_pod_manifest_keeps_template_volumes_but_replaces_claim_namesakes() -> None:
    current = pet_set(replicas=1)
    template: dict[str, Any] = {
        "metadata": {"labels": {"app": "nginx"}, "annotations": {"a": "b"}},
        "spec": {
            "containers": [{"name": "c"}],
            "volumes": [{"name": "www", "emptyDir": {}}, {"name": "config", "configMap": {"name": "cm"}}],
        },
    }
    raw = new_pod(current, 4, template=template, revision="web-r")
    assert raw["spec"]["volumes"] == [
        {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-4"}},
        {"name": "config", "configMap": {"name": "cm"}},
    ]
    assert raw["metadata"]["annotations"] == {"a": "b"}
    assert template["spec"]["volumes"][0] == {"name": "www", "emptyDir": {}}  # the template is not touched


def test_label_repairs() -> None:
    (pod,) = pods(pet_set(), "0:nolabels")
    assert label_repairs(pod, "web", 0) == {
        "statefulset.kubernetes.io/pod-name": "web-0",
        "apps.kubernetes.io/pod-index": "0",
    }


# (whenScaled, whenDeleted) -> owners of an in-range claim, owners of a condemned pet's claim
RETENTION_TABLE = [
    ("Retain", "Retain", "-", "-"),
    ("Retain", "Delete", "PetSet/web", "PetSet/web"),
    ("Delete", "Retain", "-", "Pod/web-3"),
    ("Delete", "Delete", "PetSet/web", "Pod/web-3"),
]


@pytest.mark.parametrize(("scaled", "deleted", "in_range", "condemned"), RETENTION_TABLE)
def test_retention_policy_table(scaled: str, deleted: str, in_range: str, condemned: str) -> None:
    current = pet_set(replicas=3, when_scaled=scaled, when_deleted=deleted)
    (pod,) = pods(current, "3")
    for refs in ("3", "3:setref", "3:podref", "3:setref,podref"):
        (claim,) = claims(current, refs)
        for is_condemned, want in ((False, in_range), (True, condemned)):
            owners = wanted_claim_owners(current, claim, ordinal=3, pod=pod, condemned=is_condemned)
            got = claim.owner_refs if owners is None else owners
            assert (",".join(f"{r.kind}/{r.name}" for r in got) or "-") == want, (refs, is_condemned)


def test_claim_pods_sorts_owned_adopted_released() -> None:
    current = pet_set(replicas=3)
    observed = pods(current, "0 1:orphan 2:nomatch 3:foreign 4:orphan,nomatch")
    result = claim_pods(current, observed)
    assert [p.name for p in result.owned] == ["web-0", "web-1"]
    assert [p.name for p in result.adopt] == ["web-1"]
    assert [p.name for p in result.release] == ["web-2"]
