"""The PetSet CRD lets a claim template's storage request grow and nothing else about the templates change,
through the official `kubernetes` client and kubectl against the local API server (CEL with quantity())."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import config
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from tests.localcluster.conftest import LocalApi

GROUP, VERSION, PLURAL = "petdns.dev", "v1", "petsets"
JSON_PATCH = "application/json-patch+json"
STRUCTURE = "spec.volumeClaimTemplates cannot be added, removed, renamed or reordered"
OTHERS = "spec.volumeClaimTemplates is immutable except for increasing spec.resources.requests.storage"
SHRINK = "spec.volumeClaimTemplates[*].spec.resources.requests.storage can be increased but not decreased"


def template(name: str, size: Any = "1Gi") -> dict[str, Any]:
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    return {"metadata": {"name": name}, "spec": spec}


def petset(*templates: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PetSet",
        "metadata": {"name": "web"},
        "spec": {
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
            "volumeClaimTemplates": list(templates),
        },
    }


@pytest.fixture(scope="module")
def custom(api: LocalApi) -> Iterator[CustomObjectsApi]:
    with config.new_client_from_config(config_file=str(api.kubeconfig)) as made:
        yield CustomObjectsApi(made)


def replaced(custom: CustomObjectsApi, ns: str, templates: list[dict[str, Any]]) -> dict[str, Any]:
    current = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "web")
    current["spec"]["volumeClaimTemplates"] = templates
    found: dict[str, Any] = custom.replace_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, "web", current
    )
    return found


def messages(err: ApiException) -> list[str]:
    assert err.status == 422, err.body
    body = json.loads(err.body)
    assert body["reason"] == "Invalid"
    return [c["message"] for c in body["details"]["causes"]]


def sizes(found: dict[str, Any]) -> list[Any]:
    return [t["spec"]["resources"]["requests"]["storage"] for t in found["spec"]["volumeClaimTemplates"]]


CHANGES = [
    ("shrink", [template("www", "512Mi"), template("data")], [SHRINK]),
    ("rename", [template("www2"), template("data")], [STRUCTURE, OTHERS]),
    ("add", [template("www"), template("data"), template("logs")], [STRUCTURE, OTHERS]),
    ("remove", [template("www")], [STRUCTURE]),
    ("reorder", [template("data"), template("www")], [STRUCTURE]),
    (
        "other field",
        [
            {**template("www"), "spec": {**template("www")["spec"], "storageClassName": "fast"}},
            template("data"),
        ],
        [OTHERS],
    ),
    (
        "label",
        [{**template("www"), "metadata": {"name": "www", "labels": {"a": "b"}}}, template("data")],
        [OTHERS],
    ),
    (
        "limits",
        [
            {
                **template("www"),
                "spec": {
                    **template("www")["spec"],
                    "resources": {"requests": {"storage": "1Gi"}, "limits": {"storage": "2Gi"}},
                },
            },
            template("data"),
        ],
        [OTHERS],
    ),
]


def test_growing_a_template_is_allowed_and_everything_else_is_422(custom: CustomObjectsApi, ns: str) -> None:
    custom.create_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, petset(template("www"), template("data"))
    )
    for label, templates, expected in CHANGES:
        with pytest.raises(ApiException) as caught:
            replaced(custom, ns, copy.deepcopy(templates))
        found = messages(caught.value)
        assert [m.removeprefix('Invalid value: "array": ') for m in found] == expected, label
    assert sizes(replaced(custom, ns, [template("www", "2Gi"), template("data")])) == ["2Gi", "1Gi"]
    assert sizes(replaced(custom, ns, [template("www", "2048Mi"), template("data", 2**31)])) == [
        "2048Mi",
        2**31,
    ]
    grown = custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        PLURAL,
        "web",
        [
            {
                "op": "replace",
                "path": "/spec/volumeClaimTemplates/0/spec/resources/requests/storage",
                "value": "3Gi",
            }
        ],
        _content_type=JSON_PATCH,
    )
    assert sizes(grown) == ["3Gi", 2**31]


def test_kubectl_patch_grows_and_refuses_shrinking(api: LocalApi, ns: str) -> None:
    api.kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(petset(template("www"))))
    path = "/spec/volumeClaimTemplates/0/spec/resources/requests/storage"
    out = api.kubectl(
        "patch",
        "-n",
        ns,
        "petsets.petdns.dev",
        "web",
        "--type",
        "json",
        "-p",
        json.dumps([{"op": "replace", "path": path, "value": "2Gi"}]),
    )
    assert "petset.petdns.dev/web patched" in out.stdout
    proc = api.kubectl(
        "patch",
        "-n",
        ns,
        "petsets.petdns.dev",
        "web",
        "--type",
        "json",
        "-p",
        json.dumps([{"op": "replace", "path": path, "value": "1Gi"}]),
        check=False,
    )
    assert proc.returncode != 0
    assert (
        f'The PetSet "web" is invalid: spec.volumeClaimTemplates: Invalid value: "array": {SHRINK}'
        in proc.stderr
    )
