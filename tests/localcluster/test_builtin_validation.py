"""Built-in kinds validated as a real API server does, seen through the official client and real kubectl:
422 Invalid with upstream's causes, invalid updates refused, valid objects still taken."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes import config
from kubernetes.client import ApiClient, CoreV1Api, DiscoveryV1Api
from kubernetes.client.exceptions import ApiException

from tests.localcluster.conftest import LocalApi

Obj = dict[str, Any]
CLAIM_SPEC = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}


@pytest.fixture(scope="module")
def client(api: LocalApi) -> Iterator[ApiClient]:
    with config.new_client_from_config(config_file=str(api.kubeconfig)) as made:
        yield made


@pytest.fixture
def core(client: ApiClient) -> CoreV1Api:
    return CoreV1Api(client)


def refused(call: Callable[[], object], code: int = 422) -> Obj:
    """The Status body of a call the server refuses with code."""
    with pytest.raises(ApiException) as info:
        call()
    assert info.value.status == code, info.value.body
    status: Obj = json.loads(info.value.body)
    return status


def causes(status: Obj) -> list[tuple[str, str, str]]:
    assert status["reason"] == "Invalid"
    return [(c["reason"], c["field"], c["message"]) for c in status["details"]["causes"]]


def service(name: str, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def pod(name: str, **spec: Any) -> Obj:
    base = {"containers": [{"name": "c", "image": "nginx", "ports": [{"name": "web", "containerPort": 80}]}]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": base | spec}


def test_service_ports(core: CoreV1Api, ns: str) -> None:
    status = refused(
        lambda: core.create_namespaced_service(ns, service("web", ports=[{"port": 0, "targetPort": 80}]))
    )
    assert status["message"] == (
        'Service "web" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, '
        "inclusive"
    )
    assert status["details"] == {
        "name": "web",
        "kind": "Service",
        "causes": [
            {
                "reason": "FieldValueInvalid",
                "message": "Invalid value: 0: must be between 1 and 65535, inclusive",
                "field": "spec.ports[0].port",
            }
        ],
    }
    two = [{"port": 80, "protocol": "HTTP"}, {"name": "b", "port": 81, "targetPort": "no_such"}]
    assert causes(refused(lambda: core.create_namespaced_service(ns, service("web", ports=two)))) == [
        ("FieldValueRequired", "spec.ports[0].name", "Required value"),
        (
            "FieldValueNotSupported",
            "spec.ports[0].protocol",
            'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        ),
        (
            "FieldValueInvalid",
            "spec.ports[1].targetPort",
            'Invalid value: "no_such": must contain only alpha-numeric characters (a-z, 0-9), and hyphens '
            "(-)",
        ),
    ]
    assert causes(refused(lambda: core.create_namespaced_service(ns, service("web")))) == [
        ("FieldValueRequired", "spec.ports", "Required value")
    ]
    headless = core.create_namespaced_service(ns, service("web", clusterIP="None", selector={"app": "web"}))
    assert headless.spec.cluster_ip == "None" and headless.spec.ports is None


def test_service_type_external_name_and_cluster_ip(core: CoreV1Api, ns: str) -> None:
    ports = [{"port": 80}]
    assert causes(
        refused(lambda: core.create_namespaced_service(ns, service("a", type="Fancy", ports=ports)))
    ) == [
        (
            "FieldValueNotSupported",
            "spec.type",
            'Unsupported value: "Fancy": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
            '"NodePort"',
        )
    ]
    assert causes(refused(lambda: core.create_namespaced_service(ns, service("a", type="ExternalName")))) == [
        ("FieldValueRequired", "spec.externalName", "Required value")
    ]
    made = core.create_namespaced_service(
        ns, service("a", type="ExternalName", externalName="db.example.com.")
    )
    assert made.spec.external_name == "db.example.com."
    assert causes(
        refused(
            lambda: core.create_namespaced_service(ns, service("b", clusterIP="10.96.0.300", ports=ports))
        )
    ) == [
        (
            "FieldValueInvalid",
            "spec.clusterIPs[0]",
            'Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
        )
    ]
    headless = core.create_namespaced_service(ns, service("h", clusterIP="None", ports=ports))
    patch = {"spec": {"clusterIP": "10.96.0.200"}}
    assert causes(refused(lambda: core.patch_namespaced_service("h", ns, patch))) == [
        ("FieldValueInvalid", "spec.clusterIPs[0]", 'Invalid value: ["10.96.0.200"]: may not change once set')
    ]
    assert headless.spec.cluster_ip == "None"
    sticky = {"spec": {"sessionAffinity": "Sticky"}}
    assert (
        causes(refused(lambda: core.patch_namespaced_service("h", ns, sticky)))[0][1]
        == "spec.sessionAffinity"
    )


def test_pod_spec(core: CoreV1Api, ns: str) -> None:
    bad = pod(
        "p",
        restartPolicy="Sometimes",
        hostname="Web_0",
        containers=[{"name": "c"}, {"name": "c", "image": "i"}],
    )
    assert [c[:2] for c in causes(refused(lambda: core.create_namespaced_pod(ns, bad)))] == [
        ("FieldValueRequired", "spec.containers[0].image"),
        ("FieldValueDuplicate", "spec.containers[1].name"),
        ("FieldValueNotSupported", "spec.restartPolicy"),
        ("FieldValueInvalid", "spec.hostname"),
    ]
    assert causes(refused(lambda: core.create_namespaced_pod(ns, pod("p", containers=[])))) == [
        ("FieldValueRequired", "spec.containers", "Required value")
    ]
    volumes = [{"name": "data"}]
    assert causes(refused(lambda: core.create_namespaced_pod(ns, pod("p", volumes=volumes)))) == [
        ("FieldValueRequired", "spec.volumes[0]", "Required value: must specify a volume type")
    ]
    made = core.create_namespaced_pod(ns, pod("p", hostname="web-0", subdomain="nginx"))
    assert made.spec.hostname == "web-0"


def test_claims(core: CoreV1Api, ns: str) -> None:
    def claim(name: str, spec: Obj) -> Obj:
        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}

    assert causes(refused(lambda: core.create_namespaced_persistent_volume_claim(ns, claim("c", {})))) == [
        ("FieldValueRequired", "spec.accessModes", "Required value: at least 1 access mode is required"),
        ("FieldValueRequired", "spec.resources[storage]", "Required value"),
    ]
    lots = claim("c", CLAIM_SPEC | {"resources": {"requests": {"storage": "lots"}}})
    status = refused(lambda: core.create_namespaced_persistent_volume_claim(ns, lots), 400)
    assert status["reason"] == "BadRequest" and status["message"] == (
        'PersistentVolumeClaim in version "v1" cannot be handled as a PersistentVolumeClaim: quantities must '
        "match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )
    core.create_namespaced_persistent_volume_claim(ns, claim("c", CLAIM_SPEC))
    change = {"spec": {"accessModes": ["ReadWriteMany"]}}
    status = refused(lambda: core.patch_namespaced_persistent_volume_claim("c", ns, change))
    assert status["message"].startswith(
        'PersistentVolumeClaim "c" is invalid: spec: Forbidden: spec is immutable after creation except '
        "resources.requests and volumeAttributesClassName for bound claims\n"
    )
    labelled = core.patch_namespaced_persistent_volume_claim("c", ns, {"metadata": {"labels": {"a": "b"}}})
    assert labelled.metadata.labels == {"a": "b"}


def test_endpointslices(client: ApiClient, ns: str) -> None:
    discovery = DiscoveryV1Api(client)

    def eps(name: str, **fields: Any) -> Obj:
        base = {"addressType": "IPv4", "endpoints": [{"addresses": ["10.244.0.5"]}], "ports": [{"port": 80}]}
        return (
            {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": name}}
            | base
            | fields
        )

    bad = eps("e", endpoints=[{"addresses": []}, {"addresses": ["fd00::1"]}])
    assert causes(refused(lambda: discovery.create_namespaced_endpoint_slice(ns, bad))) == [
        ("FieldValueRequired", "endpoints[0].addresses", "Required value: must contain at least 1 address"),
        (
            "FieldValueInvalid",
            "endpoints[1].addresses[0]",
            'Invalid value: "fd00::1": must be a valid IPv4 address',
        ),
    ]
    ports = [{"port": i, "name": f"p{i}"} for i in range(101)]
    assert causes(refused(lambda: discovery.create_namespaced_endpoint_slice(ns, eps("e", ports=ports)))) == [
        ("FieldValueTooMany", "ports", "Too many: 101: must have at most 100 items")
    ]
    discovery.create_namespaced_endpoint_slice(ns, eps("e"))
    status = refused(
        lambda: discovery.patch_namespaced_endpoint_slice("e", ns, {"addressType": "IPv6", "endpoints": []})
    )
    assert causes(status) == [
        ("FieldValueInvalid", "addressType", 'Invalid value: "IPv6": field is immutable')
    ]


def test_configmaps(core: CoreV1Api, ns: str) -> None:
    def cm(name: str, data: dict[str, str]) -> Obj:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}

    status = refused(
        lambda: core.create_namespaced_config_map(ns, cm("big", {"a": "x" * (1 << 20), "b": "y"}))
    )
    assert status["message"] == 'ConfigMap "big" is invalid: []: Too long: must have at most 1048576 bytes'
    assert causes(refused(lambda: core.create_namespaced_config_map(ns, cm("k", {"a/b": "1"}))))[0][:2] == (
        "FieldValueInvalid",
        "data[a/b]",
    )
    core.create_namespaced_config_map(ns, cm("k", {"a.b_C-1": "1"}))


def test_kubectl_prints_what_a_real_cluster_prints(api: LocalApi, ns: str) -> None:
    bad = service("web", ports=[{"port": 0, "targetPort": 8080}])
    out = api.kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(bad), check=False)
    assert out.returncode == 1
    assert out.stderr == (
        'The Service "web" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, '
        "inclusive\n"
    )
    bad_pod = pod(
        "p",
        restartPolicy="Sometimes",
        containers=[{"name": "c", "image": "i", "ports": [{"containerPort": 0}]}],
    )
    out = api.kubectl("create", "-n", ns, "-f", "-", stdin=yaml.safe_dump(bad_pod), check=False)
    assert out.stderr == (
        'The Pod "p" is invalid: \n'
        "* spec.containers[0].ports[0].containerPort: Required value\n"
        '* spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", '
        '"Never"\n'
    )
    good = service("web", selector={"app": "web"}, ports=[{"name": "http", "port": 80, "targetPort": "http"}])
    assert (
        api.kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(good)).stdout
        == "service/web created\n"
    )
