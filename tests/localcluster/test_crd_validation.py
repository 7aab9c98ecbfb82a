"""PetSet writes checked against the CRD's schema by the local API server, through the official `kubernetes`
client and real kubectl: 422 Invalid with field paths, pruning, defaults, transition rules, the served CRD."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import config
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from localcluster.app import open_store
from localcluster.storage.resources import find
from tests.localcluster.conftest import LocalApi, serving

ROOT = Path(__file__).parents[2]
CRD = ROOT / "config" / "crd" / "petsets.petdns.dev.yaml"
PACKAGED = ROOT / "localcluster" / "crds" / "petsets.petdns.dev.yaml"
GROUP, VERSION, PLURAL = "petdns.dev", "v1", "petsets"
JSON_PATCH = "application/json-patch+json"


def petset(name: str, api_version: str = "petdns.dev/v1", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "serviceName": "web",
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        },
    }
    body.update(spec)
    return {"apiVersion": api_version, "kind": "PetSet", "metadata": {"name": name}, "spec": body}


@pytest.fixture(scope="module")
def custom(api: LocalApi) -> Iterator[CustomObjectsApi]:
    with config.new_client_from_config(config_file=str(api.kubeconfig)) as made:
        yield CustomObjectsApi(made)


def status_of(err: ApiException) -> dict[str, Any]:
    assert err.status == 422, err.body
    body: dict[str, Any] = json.loads(err.body)
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["reason"] == "Invalid"
    return body


def rejected(custom: CustomObjectsApi, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
    return status_of(caught.value)


def fields(status: dict[str, Any]) -> list[str]:
    return [c.get("field", "") for c in status["details"]["causes"]]


REPROS = [
    ("replicas -1", {"replicas": -1}, "spec.replicas", "should be greater than or equal to 0"),
    ("replicas abc", {"replicas": "abc"}, "spec.replicas", 'must be of type integer: "string"'),
    ("replicas 1.5", {"replicas": 1.5}, "spec.replicas", 'must be of type integer: "number"'),
    ("replicas 1e20", {"replicas": 1e20}, "spec.replicas", 'must be of type integer: "number"'),
    (
        "replicas over int32",
        {"replicas": 2**31},
        "spec.replicas",
        "should be less than or equal to 2147483647",
    ),
    (
        "claim without name",
        {"volumeClaimTemplates": [{"spec": {}}]},
        "spec.volumeClaimTemplates[0].metadata",
        "Required value",
    ),
    (
        "duplicate claims",
        {"volumeClaimTemplates": [{"metadata": {"name": "d"}}, {"metadata": {"name": "d"}}]},
        "spec.volumeClaimTemplates",
        "names must be unique",
    ),
    (
        "selector misses labels",
        {"selector": {"matchLabels": {"app": "other"}}},
        "spec.template.metadata.labels",
        "`selector` does not match template `labels`",
    ),
    (
        "expression misses labels",
        {"selector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}},
        "spec.template.metadata.labels",
        "`selector` does not match template `labels`",
    ),
    ("bad policy", {"podManagementPolicy": "Sometimes"}, "spec.podManagementPolicy", "Unsupported value"),
]


@pytest.mark.parametrize("repro", REPROS, ids=[re.sub("[^a-z0-9]+", "-", r[0]) for r in REPROS])
def test_invalid_creates_get_422(custom: CustomObjectsApi, ns: str, repro: tuple[Any, ...]) -> None:
    _, spec, field, text = repro
    status = rejected(custom, ns, petset("web", **spec))
    assert field in fields(status), status
    assert text in status["message"] and status["message"].startswith('PetSet.petdns.dev "web" is invalid: ')
    assert status["details"]["name"] == "web" and status["details"]["group"] == GROUP
    assert status["details"]["kind"] == "PetSet"


def test_exact_upstream_message(custom: CustomObjectsApi, ns: str) -> None:
    status = rejected(custom, ns, petset("web", replicas=-1))
    assert status["message"] == (
        'PetSet.petdns.dev "web" is invalid: spec.replicas: Invalid value: -1: '
        "spec.replicas in body should be greater than or equal to 0"
    )
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.replicas",
            "message": "Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
        }
    ]


def test_long_name_is_rejected_by_the_root_rule(custom: CustomObjectsApi, ns: str) -> None:
    status = rejected(custom, ns, petset("w" * 60))
    assert fields(status) == ["metadata.name"] and "52 characters" in status["message"]
    made = custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, petset("w" * 52))
    assert made["metadata"]["name"] == "w" * 52


def test_valid_create_is_defaulted_and_pruned(custom: CustomObjectsApi, ns: str) -> None:
    body = petset("web", bogus={"x": 1})
    body["spec"]["template"]["spec"]["kept"] = True  # under x-kubernetes-preserve-unknown-fields
    body["metadata"]["unknownMeta"] = "x"
    made = custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
    spec = made["spec"]
    assert "bogus" not in spec and "unknownMeta" not in made["metadata"]
    assert spec["template"]["spec"]["kept"] is True
    assert spec["replicas"] == 1 and spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate"}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    got = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "web")
    assert got["spec"] == spec


def test_patches_and_updates_are_checked(custom: CustomObjectsApi, ns: str) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, petset("web"))
    with pytest.raises(ApiException) as caught:  # a dict body goes as a merge patch
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, "web", {"spec": {"replicas": "zzz"}}
        )
    assert fields(status_of(caught.value))[0] == "spec.replicas"
    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            PLURAL,
            "web",
            [{"op": "replace", "path": "/spec/replicas", "value": -3}],
            _content_type=JSON_PATCH,
        )
    assert "spec.replicas in body should be greater than or equal to 0" in status_of(caught.value)["message"]
    current = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "web")
    current["spec"]["serviceName"] = "other"
    with pytest.raises(ApiException) as caught:  # an oldSelf transition rule
        custom.replace_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "web", current)
    status = status_of(caught.value)
    assert fields(status) == ["spec.serviceName"] and "spec.serviceName is immutable" in status["message"]
    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            PLURAL,
            "web",
            [{"op": "remove", "path": "/spec/selector"}],
            _content_type=JSON_PATCH,
        )
    assert "spec.selector is immutable" in status_of(caught.value)["message"]
    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, ns, PLURAL, "web", {"status": {"replicas": "many"}}
        )
    assert fields(status_of(caught.value))[0] == "status.replicas"
    fine = custom.patch_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, "web", {"spec": {"replicas": 3, "x": 1}}
    )
    assert fine["spec"]["replicas"] == 3 and "x" not in fine["spec"]
    assert fine["metadata"]["generation"] == 2


def test_the_alpha_version_is_checked_too(api: LocalApi, ns: str) -> None:
    with config.new_client_from_config(config_file=str(api.kubeconfig)) as made:
        alpha = CustomObjectsApi(made)
        with pytest.raises(ApiException) as caught:
            alpha.create_namespaced_custom_object(
                "apps", "v1alpha1", ns, PLURAL, petset("web", "apps/v1alpha1", replicas=-1)
            )
    assert status_of(caught.value)["message"].startswith('PetSet.apps "web" is invalid: spec.replicas')


def kubectl_fails(api: LocalApi, *args: str, stdin: str | None = None) -> str:
    proc = api.kubectl(*args, stdin=stdin, check=False)
    assert proc.returncode != 0, proc.stdout
    return proc.stderr


def test_kubectl_gets_the_same_answers(api: LocalApi, ns: str) -> None:
    for label, spec, field, text in REPROS:
        err = kubectl_fails(api, "create", "-n", ns, "-f", "-", stdin=yaml.safe_dump(petset("web", **spec)))
        assert 'The PetSet "web" is invalid' in err and field in err and text in err, (label, err)
    api.kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(petset("web")))
    err = kubectl_fails(
        api, "patch", "-n", ns, "petset", "web", "--type", "merge", "-p", '{"spec":{"replicas":"zzz"}}'
    )
    assert (
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"'
        in err
    )
    err = kubectl_fails(
        api,
        "patch",
        "-n",
        ns,
        "petset",
        "web",
        "--type",
        "json",
        "-p",
        '[{"op":"replace","path":"/spec/podManagementPolicy","value":"Parallel"}]',
    )
    assert "spec.podManagementPolicy is immutable" in err
    changed = petset("web", replicas=2, serviceName="other")
    err = kubectl_fails(api, "apply", "-n", ns, "--server-side", "-f", "-", stdin=yaml.safe_dump(changed))
    assert "spec.serviceName is immutable" in err
    out = api.kubectl("scale", "-n", ns, "petset", "web", "--replicas", "4").stdout
    assert "scaled" in out
    err = kubectl_fails(api, "scale", "-n", ns, "petset", "web", "--replicas", "-1")
    assert "replicas" in err


def test_a_changed_crd_takes_effect(tmp_path: Path) -> None:
    crd = yaml.safe_load(CRD.read_text())
    replicas = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "replicas"
    ]
    replicas["maximum"] = 5
    with serving(tmp_path) as api:
        api.kubectl("apply", "-n", "default", "-f", "-", stdin=yaml.safe_dump(petset("a", replicas=9)))
        api.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(crd))
        err = kubectl_fails(
            api, "apply", "-n", "default", "-f", "-", stdin=yaml.safe_dump(petset("b", replicas=9))
        )
        assert "spec.replicas in body should be less than or equal to 5" in err
        api.kubectl("apply", "-n", "default", "-f", "-", stdin=yaml.safe_dump(petset("b", replicas=5)))
        # the stored set keeps its unchanged (now too high) replicas through other writes
        api.kubectl("label", "-n", "default", "petset", "a", "tier=x")


def test_local_cluster_serves_the_packaged_crd() -> None:
    assert yaml.safe_load(PACKAGED.read_text()) == yaml.safe_load(CRD.read_text())
    assert PACKAGED.read_text() == CRD.read_text()
    store, _ = open_store(None)
    res = find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert res is not None
    names = [item["metadata"]["name"] for item in store.list(res, None).items]
    assert names == ["petsets.petdns.dev"]
