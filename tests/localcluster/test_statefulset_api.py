"""apps/v1 StatefulSet served as a real API server serves it, seen through the official client and real
kubectl: upstream's defaults, validation messages, immutable fields, strategic merge keys, columns and
discovery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config
from kubernetes.client import AppsV1Api
from kubernetes.client.exceptions import ApiException

from tests.localcluster.conftest import LocalApi

Obj = dict[str, Any]
BASICS = Path(__file__).parents[1] / "data" / "real" / "statefulset-basics.yaml"
CLAIM = {"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {}}}


@pytest.fixture(scope="module")
def apps(api: LocalApi) -> Iterator[AppsV1Api]:
    with config.new_client_from_config(config_file=str(api.kubeconfig)) as client:
        yield AppsV1Api(client)


def statefulset(name: str = "web", **spec: Any) -> Obj:
    base: Obj = {
        "serviceName": "nginx",
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1", "ports": [{"containerPort": 80}]}]},
        },
    }
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name}, "spec": base | spec}


def refused(apps: AppsV1Api, ns: str, body: Obj) -> Obj:
    with pytest.raises(ApiException) as info:
        apps.create_namespaced_stateful_set(ns, body)
    assert info.value.status == 422, info.value.body
    status: Obj = json.loads(info.value.body)
    return status


def causes(status: Obj) -> list[tuple[str, str]]:
    return [(c["field"], c["message"]) for c in status["details"]["causes"]]


def test_defaults(api: LocalApi, apps: AppsV1Api, ns: str) -> None:
    apps.create_namespaced_stateful_set(ns, statefulset(volumeClaimTemplates=[CLAIM]))
    live = json.loads(api.kubectl("get", "-n", ns, "sts", "web", "-o", "json").stdout)
    spec = live["spec"]
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    pod_spec = spec["template"]["spec"]
    assert (pod_spec["restartPolicy"], pod_spec["dnsPolicy"]) == ("Always", "ClusterFirst")
    assert pod_spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert pod_spec["containers"][0]["ports"][0]["protocol"] == "TCP"
    claim = spec["volumeClaimTemplates"][0]
    assert claim["spec"]["volumeMode"] == "Filesystem" and claim["status"] == {"phase": "Pending"}
    assert live["metadata"]["generation"] == 1
    ondelete = statefulset("od", updateStrategy={"type": "OnDelete"})
    made = apps.create_namespaced_stateful_set(ns, ondelete)
    assert made.spec.update_strategy.type == "OnDelete" and made.spec.update_strategy.rolling_update is None


def test_validation_messages(api: LocalApi, apps: AppsV1Api, ns: str) -> None:
    other = statefulset()
    other["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    status = refused(apps, ns, other)
    assert status["details"]["kind"] == "StatefulSet" and status["details"]["group"] == "apps"
    assert causes(status) == [
        (
            "spec.template.metadata.labels",
            'Invalid value: {"app":"other"}: `selector` does not match template `labels`',
        )
    ]
    bad = statefulset(
        replicas=-1,
        podManagementPolicy="Burst",
        serviceName="Nginx",
        volumeClaimTemplates=[{"metadata": {}, "spec": CLAIM["spec"]}],
    )
    del bad["spec"]["selector"]
    done = api.kubectl("create", "--validate=false", "-n", ns, "-f", "-", stdin=json.dumps(bad), check=False)
    lines = done.stderr.splitlines()
    assert done.returncode == 1 and lines[0] == 'The StatefulSet "web" is invalid: '
    assert lines[1:3] == [
        "* spec.podManagementPolicy: Invalid value: \"Burst\": must be 'OrderedReady' or 'Parallel'",
        "* spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    ]
    assert lines[3].startswith('* spec.serviceName: Invalid value: "Nginx": a lowercase RFC 1123 label')
    assert lines[4:] == [
        "* spec.selector: Required value",
        "* spec.volumeClaimTemplates[0].metadata.name: Required value: name is required for a claim template",
    ]
    named = causes(refused(apps, ns, statefulset("web.1")))
    assert named[0][0] == "metadata.name" and "a lowercase RFC 1123 label must consist of" in named[0][1]
    empty = statefulset(selector={})
    assert causes(refused(apps, ns, empty)) == [
        ("spec.selector", "Invalid value: {}: empty selector is invalid for statefulset")
    ]


def test_updates_keep_fixed_fields(api: LocalApi, apps: AppsV1Api, ns: str) -> None:
    apps.create_namespaced_stateful_set(ns, statefulset())
    done = api.kubectl(
        "patch", "-n", ns, "sts", "web", "--type=merge", "-p", '{"spec":{"serviceName":"other"}}', check=False
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        'The StatefulSet "web" is invalid: spec: Forbidden: updates to statefulset spec for fields other '
        "than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' "
        "and 'minReadySeconds' are forbidden"
    )
    scaled = api.kubectl("scale", "-n", ns, "sts", "web", "--replicas=0").stdout
    assert scaled == "statefulset.apps/web scaled\n"


def test_strategic_merge_by_name(api: LocalApi, ns: str) -> None:
    body = statefulset()
    body["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox:1"})
    api.kubectl("create", "-n", ns, "-f", "-", stdin=json.dumps(body))
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "side", "env": [{"name": "A", "value": "1"}]}]}}
        }
    }
    assert api.kubectl("patch", "-n", ns, "sts", "web", "-p", json.dumps(patch)).stdout == (
        "statefulset.apps/web patched\n"
    )
    live = json.loads(api.kubectl("get", "-n", ns, "sts", "web", "-o", "json").stdout)
    nginx, side = live["spec"]["template"]["spec"]["containers"]
    assert (nginx["name"], nginx["image"]) == ("nginx", "nginx:1")
    assert (side["image"], side["env"]) == ("busybox:1", [{"name": "A", "value": "1"}])
    assert live["metadata"]["generation"] == 2


def test_kubectl_sees_it_as_upstream(api: LocalApi, ns: str) -> None:
    rows = [line.split() for line in api.kubectl("api-resources", "--api-group=apps").stdout.splitlines()]
    assert ["statefulsets", "sts", "apps/v1", "true", "StatefulSet"] in rows
    applied = api.kubectl("apply", "--validate=strict", "-n", ns, "-f", str(BASICS)).stdout
    assert applied == "service/nginx created\nstatefulset.apps/web created\n"
    again = api.kubectl("apply", "--validate=strict", "-n", ns, "-f", str(BASICS)).stdout
    # the claim templates are a list without merge keys whose live copy holds defaults the file lacks:
    # kubectl sends them again, and the server finds nothing to change
    assert again == "service/nginx unchanged\nstatefulset.apps/web configured\n"
    assert (
        json.loads(api.kubectl("get", "-n", ns, "sts", "web", "-o", "json").stdout)["metadata"]["generation"]
        == 1
    )
    table = api.kubectl("get", "-n", ns, "sts").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "AGE"] and table[1].split()[:2] == ["web", "0/2"]
    wide = api.kubectl("get", "-n", ns, "sts", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
    assert wide[1].split()[3:] == ["nginx", "registry.k8s.io/nginx-slim:0.21"]
    everything = api.kubectl("get", "-n", ns, "all", "-o", "name").stdout.split()
    assert "statefulset.apps/web" in everything
    scale = json.loads(
        api.kubectl("get", "--raw", f"/apis/apps/v1/namespaces/{ns}/statefulsets/web/scale").stdout
    )
    assert scale["spec"] == {"replicas": 2} and scale["status"]["selector"] == "app=nginx"
