"""ControllerRevisions: hashing, names, the update and current revisions, rollback, collisions, pruning."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from petset_controller.core.actions import CreateRevision, UpdateStatus
from petset_controller.core.model import OwnerRef, Revision
from petset_controller.core.plan import plan
from petset_controller.core.revision import (
    HASH_LABEL,
    SAFE_ALPHABET,
    canonical_json,
    choose_revisions,
    fnv32a,
    prune,
    revision_name,
    template_hash,
)
from petset_controller.core.status import STALLED
from tests.petset_controller.builders import NOW, claims, pet_set, pods, revision_of, summary


def _template(image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "nginx"}},
        "spec": {"containers": [{"name": "nginx", "image": image}]},
    }


def test_fnv32a_reference_values() -> None:
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    assert fnv32a(b"foobar") == 0xBF9CF968


def test_hash_is_stable_short_and_safe() -> None:
    one, reordered = (
        _template("nginx:1"),
        {"spec": _template("nginx:1")["spec"], "metadata": {"labels": {"app": "nginx"}}},
    )
    assert canonical_json(one) == canonical_json(reordered)
    digest = template_hash(one)
    assert digest == template_hash(reordered) and 1 <= len(digest) <= 10
    assert set(digest) <= set(SAFE_ALPHABET)
    assert template_hash(_template("nginx:2")) != digest
    assert template_hash(one, 1) != digest
    assert revision_name("x" * 300, digest) == "x" * 223 + "-" + digest


def test_first_sync_creates_revision_one() -> None:
    current = pet_set()
    choice = choose_revisions(current, [])
    assert choice.create is not None and choice.bump is None
    assert (
        choice.create["revision"] == 1
        and choice.current == choice.update == choice.create["metadata"]["name"]
    )
    assert choice.create["metadata"]["labels"] == {
        "app": "nginx",
        HASH_LABEL: template_hash(current.spec.template),
    }
    assert choice.create["metadata"]["ownerReferences"][0]["uid"] == current.uid


def test_unchanged_template_reuses_the_latest_revision() -> None:
    current = pet_set()
    choice = choose_revisions(current, [revision_of(current, 1)])
    assert (choice.create, choice.bump, choice.update) == (None, None, revision_of(current, 1).name)


def test_template_change_makes_revision_n_plus_one_and_keeps_current() -> None:
    old = revision_of(pet_set(), 1, template=_template("nginx:0"))
    current = pet_set(status={"currentRevision": old.name})
    choice = choose_revisions(current, [old])
    assert choice.create is not None and choice.create["revision"] == 2
    assert choice.current == old.name and choice.current_template == _template("nginx:0")
    assert choice.update_template == current.spec.template


def test_rollback_renumbers_the_old_revision() -> None:
    base = pet_set()
    first, second = revision_of(base, 1), revision_of(base, 2, template=_template("nginx:2"))
    choice = choose_revisions(pet_set(status={"currentRevision": second.name}), [first, second])
    assert choice.create is None and choice.bump == (first.name, 3) and choice.update == first.name
    actions = plan(pet_set(status={"currentRevision": second.name}), [], [], [first, second], NOW)
    assert summary(actions)[0] == f"RenumberRevision {first.name} 3"


def test_name_collision_bumps_collision_count() -> None:
    current = pet_set()
    squatter = Revision(
        "default",
        revision_name("web", template_hash(current.spec.template, 0)),
        uid="uid-other",
        revision=1,
        template=_template("something else"),
        owner_refs=(OwnerRef("apps/v1", "Thing", "t", "uid-t", controller=True),),
    )
    choice = choose_revisions(current, [squatter])
    assert choice.collision_count == 1 and choice.update == revision_name(
        "web", template_hash(current.spec.template, 1)
    )
    actions = plan(current, [], [], [squatter], NOW)
    created = [a for a in actions if isinstance(a, CreateRevision)]
    assert [a.name for a in created] == [choice.update]
    status = next(a for a in actions if isinstance(a, UpdateStatus)).status
    assert status.collision_count == 1 and status.update_revision == choice.update


def test_orphan_revision_is_adopted_and_reused() -> None:
    current = pet_set()
    orphan = replace(revision_of(current, 1), owner_refs=())
    actions = plan(current, [], [], [orphan], NOW)
    assert summary(actions)[0] == f"Adopt ControllerRevision {orphan.name}"
    assert "CreateRevision" not in summary(actions)


def test_prune_keeps_live_revisions_and_the_limit() -> None:
    base = pet_set(history=1)
    revisions = [revision_of(base, n, template=_template(f"nginx:{n}")) for n in range(1, 6)]
    used_by_pod = revisions[1].name
    doomed = prune(base, revisions, live={revisions[4].name, revisions[3].name, used_by_pod})
    assert [r.revision for r in doomed] == [1]  # 3 is kept as history (limit 1); 2, 4, 5 are live
    assert prune(pet_set(history=0), revisions, live={revisions[4].name}) == revisions[:4]


def test_plan_prunes_history_beyond_the_limit() -> None:
    base = pet_set(replicas=1, history=1)
    old = [revision_of(base, n, template=_template(f"nginx:old{n}")) for n in (1, 2, 3)]
    latest = revision_of(base, 4)
    current = pet_set(replicas=1, history=1, status={"currentRevision": latest.name})
    observed = pods(current, "0")
    actions = summary(plan(current, observed, claims(current, "0"), [*old, latest], NOW))
    assert actions == [f"DeleteRevision {old[0].name}", f"DeleteRevision {old[1].name}"]


def test_undecodable_current_revision_falls_back_to_update() -> None:
    current = pet_set()
    broken = replace(revision_of(current, 1, template=_template("x")), template=None)
    choice = choose_revisions(
        replace(current, status=replace(current.status, current_revision=broken.name)), [broken]
    )
    assert choice.current == choice.update


def test_revision_template_is_a_copy() -> None:
    template = _template("nginx:1")
    kept = copy.deepcopy(template)
    choose_revisions(pet_set(), [])
    assert template == kept
    assert STALLED == "Stalled"
