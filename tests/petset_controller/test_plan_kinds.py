"""One plan() for the three kinds of set, each with its own defaults: apps/v1 StatefulSet, the petdns.dev/v1
PetSet, and a PetSet written as apps/v1alpha1 (PetSet v1.4: no update strategy, so a template change
touches no running pet)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from petset_controller.core.actions import CreatePod, CreateRevision, Event
from petset_controller.core.model import REVISION_LABEL, PetSet, Revision, petset_from_raw
from petset_controller.core.plan import plan
from petset_controller.core.spec import (
    ALPHA_PETSET,
    API_VERSION_ANNOTATION,
    ON_DELETE,
    PETSET,
    ROLLING_UPDATE,
    STATEFULSET,
    Flavor,
    read_spec,
)
from tests.petset_controller.builders import NOW, OLD_IMAGE, claims, pods, raw_set, revision_of, summary

KINDS = {"statefulset": STATEFULSET, "petset": PETSET, "v1alpha1": ALPHA_PETSET}


def decoded(flavor: Flavor, *, drop: tuple[str, ...] = (), **kw: Any) -> PetSet:
    """A set of this flavor as the informer decodes it (list items carry no kind: the watched one is
    given)."""
    raw = raw_set(**kw)
    raw["apiVersion"] = flavor.api_version
    raw.pop("kind")
    if flavor is ALPHA_PETSET:
        raw["metadata"]["annotations"] = {API_VERSION_ANNOTATION: "apps/v1alpha1"}
    for key in drop:
        raw["spec"].pop(key, None)
    return petset_from_raw(raw, flavor.kind)


def mid_rollout(flavor: Flavor, **kw: Any) -> tuple[PetSet, list[Revision], str]:
    """Revision 1 (OLD_IMAGE) is current, revision 2 (the spec's template) the update revision."""
    base = decoded(flavor, **kw)
    old_template = copy.deepcopy(dict(base.spec.template))
    old_template["spec"]["containers"][0]["image"] = OLD_IMAGE
    old, new = revision_of(base, 1, template=old_template), revision_of(base, 2)
    status = {"currentRevision": old.name, "updateRevision": new.name, "observedGeneration": 1}
    return decoded(flavor, status=status, **kw), [old, new], old.name


@pytest.mark.parametrize(
    ("kind", "spec", "pets", "want"),
    [
        ("statefulset", {"replicas": 3}, "0:old 1:old 2:old", ["DeletePod web-2 RollingUpdate"]),
        ("petset", {"replicas": 3}, "0:old 1:old 2:old", ["DeletePod web-2 RollingUpdate"]),
        ("v1alpha1", {"replicas": 3}, "0:old 1:old 2:old", []),  # a template change touches no pet
        ("v1alpha1", {"replicas": 3}, "0:old 1:old", ["CreateClaim www-web-2", "CreatePod web-2"]),
        (
            "v1alpha1",
            {"replicas": 2, "strategy": "RollingUpdate"},
            "0:old 1:old",
            ["DeletePod web-1 RollingUpdate"],
        ),
        ("statefulset", {"replicas": 2, "partition": 1}, "0:old 1", []),
        ("statefulset", {"replicas": 2, "strategy": "OnDelete"}, "0:old 1:old", []),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_template_change(kind: str, spec: dict[str, Any], pets: str, want: list[str]) -> None:
    current, revisions, old = mid_rollout(KINDS[kind], **spec)
    observed = pods(current, pets, old=old)
    numbers = " ".join(p.name.rsplit("-", 1)[1] for p in observed)
    assert summary(plan(current, observed, claims(current, numbers), revisions, NOW)) == want


def test_v1alpha1_pet_made_again_runs_the_new_template() -> None:
    current, revisions, old = mid_rollout(ALPHA_PETSET, replicas=2)
    actions = plan(current, pods(current, "0:old", old=old), claims(current, "0 1"), revisions, NOW)
    (made,) = [a for a in actions if isinstance(a, CreatePod)]
    assert made.manifest["metadata"]["labels"][REVISION_LABEL] == revisions[1].name
    assert made.manifest["spec"]["containers"][0]["image"] == "nginx:1"


@pytest.mark.parametrize(
    ("kind", "owner"),
    [
        ("statefulset", ("apps/v1", "StatefulSet")),
        ("petset", ("petdns.dev/v1", "PetSet")),
        ("v1alpha1", ("apps/v1alpha1", "PetSet")),
    ],
)
def test_pods_and_revisions_name_their_owner(kind: str, owner: tuple[str, str]) -> None:
    fresh = decoded(KINDS[kind], replicas=1)
    actions = plan(fresh, [], [], [], NOW)
    (revision,) = [a for a in actions if isinstance(a, CreateRevision)]
    (pod,) = [a for a in actions if isinstance(a, CreatePod)]
    for manifest in (revision.manifest, pod.manifest):
        (ref,) = manifest["metadata"]["ownerReferences"]
        assert (ref["apiVersion"], ref["kind"], ref["name"], ref["controller"]) == (*owner, "web", True)
    data = revision.manifest["data"]["spec"]["template"]
    assert data["$patch"] == "replace" and data["metadata"]["labels"] == {"app": "nginx"}
    assert revision.manifest["metadata"]["labels"]["app"] == "nginx" and revision.manifest["revision"] == 1
    labels = pod.manifest["metadata"]["labels"]
    assert (
        labels["statefulset.kubernetes.io/pod-name"] == "web-0"
        and labels["apps.kubernetes.io/pod-index"] == "0"
    )
    assert labels[REVISION_LABEL] == revision.name


def test_selector_defaults_by_kind() -> None:
    """A PetSet selects its template's labels when it names no selector; a StatefulSet without one is
    refused."""
    petset = decoded(PETSET, drop=("selector",), replicas=1)
    assert summary(plan(petset, [], [], [], NOW)) == [
        "CreateRevision",
        "CreateClaim www-web-0",
        "CreatePod web-0",
    ]
    statefulset = decoded(STATEFULSET, drop=("selector",), replicas=1)
    refused = plan(statefulset, [], [], [], NOW)
    assert summary(refused, everything=True) == ["UpdateStatus", "Event InvalidSpec"]
    (event,) = [a for a in refused if isinstance(a, Event)]
    assert "spec.selector" in event.message


@pytest.mark.parametrize(
    ("flavor", "strategy"),
    [(STATEFULSET, ROLLING_UPDATE), (PETSET, ROLLING_UPDATE), (ALPHA_PETSET, ON_DELETE)],
    ids=["statefulset", "petset", "v1alpha1"],
)
def test_spec_defaults(flavor: Flavor, strategy: str) -> None:
    spec, problems = read_spec({}, flavor)
    assert problems == ()
    assert (spec.replicas, spec.pod_management_policy, spec.revision_history_limit) == (1, "OrderedReady", 10)
    assert (spec.update_strategy.type, spec.update_strategy.partition) == (strategy, 0)
    assert (spec.retention.when_deleted, spec.retention.when_scaled) == ("Retain", "Retain")
