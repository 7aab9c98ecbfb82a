"""History, undo and the other verbs' pure parts: revisions a set controls, the table, the undo decision,
arguments, the restart patch and the pod template's description."""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_petset.podtemplate import describe_template
from kubectl_petset.rollout_args import duration, flag_bool, not_supported, printed, restart_patch, target
from kubectl_petset.rollout_history import (
    controlled_by,
    dry_run_text,
    find_revision,
    history_text,
    plan_undo,
    tabulate,
    template_of,
)
from kubectl_petset.rollout_status import RolloutError

UID = "uid-web"


def template(image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "nginx"}},
        "spec": {"containers": [{"name": "nginx", "image": image}]},
    }


def revision(number: int, image: str, *, owner: str | None = UID, cause: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"web-{number}"}
    if owner is not None:
        meta["ownerReferences"] = [{"kind": "PetSet", "name": "web", "uid": owner, "controller": True}]
    if cause:
        meta["annotations"] = {"kubernetes.io/change-cause": cause}
    data = {"spec": {"template": {**template(image), "$patch": "replace"}}}
    return {"metadata": meta, "revision": number, "data": data}


SET = {"metadata": {"name": "web", "uid": UID}, "spec": {"template": template("nginx:3")}}
HISTORY = [revision(3, "nginx:3"), revision(1, "nginx:1", cause="first"), revision(2, "nginx:2")]


def test_only_revisions_the_set_controls_are_its_history_by_number() -> None:
    others = [revision(4, "x", owner="someone-else"), revision(5, "y", owner=None)]
    assert [r["revision"] for r in controlled_by(SET, [*HISTORY, *others])] == [1, 2, 3]
    assert controlled_by({"metadata": {}}, HISTORY) == []


def test_the_table_lists_revisions_with_their_change_cause() -> None:
    assert history_text(controlled_by(SET, HISTORY)) == (
        "REVISION  CHANGE-CAUSE\n1         first\n2         <none>\n3         <none>\n"
    )
    assert history_text([]) == "No rollout history found."
    assert tabulate([("A", "B", "C"), ("long cell", "x", "y")]) == "A          B  C\nlong cell  x  y\n"


def test_a_revision_prints_its_pod_template() -> None:
    text = history_text(HISTORY, 2)
    assert text.startswith(
        "Pod Template:\n  Labels:\tapp=nginx\n  Containers:\n   nginx:\n    Image:\tnginx:2\n"
    )
    assert template_of(HISTORY[0]) == template("nginx:3")
    with pytest.raises(RolloutError, match=r"^unable to find the specified revision$"):
        history_text(HISTORY, 7)


@pytest.mark.parametrize(
    ("to_revision", "found", "error"),
    [
        (0, 2, None),
        (1, 1, None),
        (3, 3, None),
        (9, None, "unable to find specified revision 9 in history"),
        (-1, None, "unable to find specified revision -1 in history"),
    ],
)
def test_undo_finds_the_previous_or_the_named_revision(
    to_revision: int, found: int | None, error: str | None
) -> None:
    if error is None:
        assert find_revision(HISTORY, to_revision)["revision"] == found
    else:
        with pytest.raises(RolloutError, match=rf"^{error}$"):
            find_revision(HISTORY, to_revision)


def test_undo_needs_a_revision_before_the_newest() -> None:
    with pytest.raises(RolloutError, match=r"^no last revision to roll back to$"):
        find_revision([revision(1, "nginx:1")], 0)


def test_undo_replaces_the_template_or_skips_when_it_already_matches() -> None:
    undo = plan_undo(SET, HISTORY, 0)
    assert undo.message == "rolled back"
    assert undo.patch == [{"op": "replace", "path": "/spec/template", "value": template("nginx:2")}]
    assert "$patch" not in str(undo.patch)
    assert dry_run_text(undo).startswith("will roll back to Pod Template:\n")
    skipped = plan_undo(SET, HISTORY, 3)
    assert (skipped.message, skipped.patch) == (
        "skipped rollback (current template already matches revision 3)",
        None,
    )


@pytest.mark.parametrize(
    ("words", "name"),
    [
        (["web"], "web"),
        (["petset/web"], "web"),
        (["petsets/web"], "web"),
        (["petset.petdns.dev/web"], "web"),
        (["petset", "web"], "web"),
    ],
)
def test_a_set_is_named_as_kubectl_names_resources(words: list[str], name: str) -> None:
    assert target(words) == name


@pytest.mark.parametrize(
    ("words", "error"),
    [
        (["statefulset/web"], 'works on petsets, not "statefulset"'),
        (["deployment", "web"], 'works on petsets, not "deployment"'),
        (["petset/"], "must have a single resource and name"),
        (["petset", "petset/web"], "no need to specify a resource type as a separate argument"),
    ],
)
def test_other_kinds_and_odd_names_are_refused(words: list[str], error: str) -> None:
    with pytest.raises(RolloutError, match=error):
        target(words)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("30s", 30.0),
        ("1m30s", 90.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        ("-1s", -1.0),
        ("2us", 2e-6),
    ],
)
def test_timeouts_are_go_durations(text: str, seconds: float) -> None:
    assert duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "error"), [("5", "missing unit"), ("5x", "invalid duration"), ("", "invalid duration")]
)
def test_bad_durations_are_named_as_go_names_them(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        duration(text)


def test_bool_flags_read_as_go_reads_them() -> None:
    assert [flag_bool(v) for v in ("true", "1", "T", "false", "0", "F")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    with pytest.raises(ValueError, match="invalid syntax"):
        flag_bool("yes")


def test_restart_stamps_the_template_once_a_second() -> None:
    now = "2026-12-04T13:00:00Z"
    patch = restart_patch(SET, now)
    assert patch == {
        "spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}
    }
    stamped = {"metadata": {"name": "web"}, "spec": {"template": patch["spec"]["template"]}}
    with pytest.raises(
        RolloutError, match=r"^failed to create patch for web: if restart has already been triggered"
    ):
        restart_patch(stamped, now)


def test_fixed_texts() -> None:
    assert printed("web", "restarted") == "petset.petdns.dev/web restarted"
    assert str(not_supported("pausing", "web")) == 'petsets.petdns.dev "web" pausing is not supported'


def test_the_pod_template_is_described_as_kubectl_describes_it() -> None:
    full = {
        "metadata": {
            "labels": {"tier": "web", "app": "nginx"},
            "annotations": {"a": "1", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
        },
        "spec": {
            "serviceAccountName": "runner",
            "containers": [
                {
                    "name": "nginx",
                    "image": "nginx:1",
                    "ports": [{"containerPort": 80, "name": "web"}, {"containerPort": 53, "protocol": "UDP"}],
                    "command": ["nginx"],
                    "resources": {"requests": {"memory": "64Mi", "cpu": "100m"}},
                    "env": [
                        {"name": "MODE", "value": "a\nb"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    ],
                    "volumeMounts": [{"name": "www", "mountPath": "/www", "readOnly": True, "subPath": "x"}],
                }
            ],
            "volumes": [
                {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}},
                {"name": "tmp", "emptyDir": {}},
            ],
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"operator": "Exists"}],
        },
    }
    assert describe_template(full) == (
        "Pod Template:\n"
        "  Labels:\tapp=nginx\n"
        "\ttier=web\n"
        "  Annotations:\ta: 1\n"
        "  Service Account:\trunner\n"
        "  Containers:\n"
        "   nginx:\n"
        "    Image:\tnginx:1\n"
        "    Ports:\t80/TCP (web), 53/UDP\n"
        "    Host Ports:\t0/TCP (web), 0/UDP\n"
        "    Command:\n"
        "      nginx\n"
        "    Requests:\n"
        "      cpu:\t100m\n"
        "      memory:\t64Mi\n"
        "    Environment:\n"
        "      MODE:\ta\n"
        "      \tb\n"
        "      POD:\t (v1:metadata.name)\n"
        "    Mounts:\n"
        '      /www from www (ro,path="x")\n'
        "  Volumes:\n"
        "   www:\n"
        "    Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n"
        "    ClaimName:\twww-web-0\n"
        "    ReadOnly:\tfalse\n"
        "   tmp:\n"
        "    Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n"
        "    Medium:\t\n"
        "    SizeLimit:\t<unset>\n"
        "  Node-Selectors:\tdisk=ssd\n"
        "  Tolerations:\top=Exists\n"
    )
    assert describe_template({}) == (
        "Pod Template:\n  Labels:\t<none>\n  Containers: <none>\n  Volumes:\t<none>\n"
        "  Node-Selectors:\t<none>\n  Tolerations:\t<none>\n"
    )
