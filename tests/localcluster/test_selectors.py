"""Label and field selectors: the grammar, matching, and 400 for malformed input or unknown fields."""

from __future__ import annotations

import pytest

from kubeapi.meta import Obj
from localcluster.storage.selectors import field_matcher, label_matcher
from localcluster.storage.store import ApiError

LABELS = {"app": "web", "tier": "front", "env": "prod", "version": "7", "example.com/owner": "me"}

LABEL_TABLE = [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app=db", False),
    ("app!=db", True),
    ("missing!=x", True),
    ("app in (web,db)", True),
    ("app in (db)", False),
    ("app notin (db, cache)", True),
    ("missing notin (x)", True),
    ("app notin (web)", False),
    ("tier", True),
    ("missing", False),
    ("!missing", True),
    ("!tier", False),
    ("app=web,tier=front", True),
    ("app=web,tier=back", False),
    ("  app = web ,  env in ( prod ) ", True),
    ("example.com/owner=me", True),
    ("version>5", True),
    ("version<5", False),
    ("app>5", False),
    ("app=", False),
    ("missing=", False),
    ("app in (web,)", True),
]


@pytest.mark.parametrize(("selector", "expected"), LABEL_TABLE)
def test_label_selector(selector: str, expected: bool) -> None:
    obj: Obj = {"metadata": {"labels": LABELS}}
    assert label_matcher(selector)(obj) is expected


def test_label_selector_on_unlabelled_object() -> None:
    assert label_matcher("a!=b,!c")({"metadata": {}})
    assert not label_matcher("a")({})


@pytest.mark.parametrize(
    "selector",
    [
        "app in (web",
        "app in web",
        "app=web=x",
        "=web",
        ",",
        "app=web,",
        "a b",
        "-bad-=x",
        "app=bad value",
        "app=-x",
        "!",
        "version>x",
        "app notin",
        "x" * 64 + "=1",
    ],
)
def test_malformed_label_selectors(selector: str) -> None:
    with pytest.raises(ApiError) as info:
        label_matcher(selector)
    assert (info.value.code, info.value.reason) == (400, "BadRequest")


POD: Obj = {
    "kind": "Pod",
    "metadata": {"name": "web-0", "namespace": "default"},
    "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler"},
    "status": {"phase": "Running", "podIP": "10.244.0.5"},
}
EVENT: Obj = {
    "kind": "Event",
    "metadata": {"name": "e1", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "name": "web-0", "namespace": "default"},
    "reason": "Started",
    "type": "Normal",
    "source": {"component": "kubelet"},
}
SECRET: Obj = {"kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque"}


@pytest.mark.parametrize(
    ("kind", "obj", "selector", "expected"),
    [
        ("Pod", POD, "", True),
        ("Pod", POD, "metadata.name=web-0", True),
        ("Pod", POD, "metadata.name==web-1", False),
        ("Pod", POD, "metadata.namespace!=default", False),
        ("Pod", POD, "spec.nodeName=n1,status.phase=Running", True),
        ("Pod", POD, "status.podIP=10.244.0.5", True),
        ("Pod", POD, "spec.serviceAccountName=", True),
        ("Pod", POD, "spec.restartPolicy!=Never", True),
        ("Pod", POD, "spec.schedulerName=default-scheduler", True),
        ("Event", EVENT, "involvedObject.name=web-0,involvedObject.kind=Pod", True),
        ("Event", EVENT, "reason=Started,type=Warning", False),
        ("Event", EVENT, "source=kubelet", True),
        ("Secret", SECRET, "type=Opaque", True),
        ("ConfigMap", {"metadata": {"name": "a,b"}}, r"metadata.name=a\,b", True),
    ],
)
def test_field_selector(kind: str, obj: Obj, selector: str, expected: bool) -> None:
    assert field_matcher(selector, kind)(obj) is expected


@pytest.mark.parametrize(
    ("kind", "selector", "message"),
    [
        ("ConfigMap", "spec.nodeName=n1", "field label not supported: spec.nodeName"),
        ("Pod", "spec.containers=x", "field label not supported: spec.containers"),
        ("Secret", "data=x", "field label not supported: data"),
        ("Pod", "nonsense", "invalid selector"),
        ("Pod", "metadata.name=a,,x=y", "invalid selector"),
    ],
)
def test_field_selector_errors(kind: str, selector: str, message: str) -> None:
    with pytest.raises(ApiError) as info:
        field_matcher(selector, kind)
    assert (info.value.code, info.value.reason) == (400, "BadRequest")
    assert message in info.value.message
