"""The built-in kinds' content checks, pure: each rule with upstream's field path and message."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from localcluster.storage.checks.claim import IMMUTABLE, claim_causes, claim_update_causes
from localcluster.storage.checks.configmap import configmap_causes
from localcluster.storage.checks.endpointslice import endpointslice_causes, endpointslice_update_causes
from localcluster.storage.checks.fields import quantity_value, shown
from localcluster.storage.checks.pod import pod_causes
from localcluster.storage.checks.service import service_causes, service_update_causes
from localcluster.storage.defaults import claim_defaults, pod_defaults, service_defaults
from localcluster.storage.errors import ApiError

Obj = dict[str, Any]
LABEL = "a lowercase RFC 1123 label must consist of"
PROTOCOLS = 'supported values: "SCTP", "TCP", "UDP"'


def found(causes: list[Obj]) -> list[tuple[str, str]]:
    return [(c["field"], c["message"]) for c in causes]


def service(**spec: Any) -> Obj:
    obj = {"kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}], **spec}}
    service_defaults(obj)
    return obj


def pod(**spec: Any) -> Obj:
    base: Obj = {"containers": [{"name": "c", "image": "nginx"}]}
    obj = {"kind": "Pod", "metadata": {"name": "p"}, "spec": base | spec}
    pod_defaults(obj)
    return obj


def claim(**spec: Any) -> Obj:
    base: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    obj = {"kind": "PersistentVolumeClaim", "metadata": {"name": "c"}, "spec": base | spec}
    claim_defaults(obj)
    return obj


def eps(**fields: Any) -> Obj:
    base: Obj = {"addressType": "IPv4", "endpoints": [{"addresses": ["10.244.0.5"]}], "ports": []}
    return {"kind": "EndpointSlice", "metadata": {"name": "e"}} | base | fields


@pytest.mark.parametrize(
    "obj",
    [
        service(),
        service(clusterIP="None", ports=[]),
        service(clusterIP="None", ports=[{"port": 53, "protocol": "UDP", "targetPort": "dns"}]),
        service(type="ExternalName", externalName="db.example.com.", ports=[]),
        service(ports=[{"name": "a", "port": 53, "protocol": "UDP"}, {"name": "b", "port": 53}]),
        service(
            clusterIP="10.96.0.10",
            clusterIPs=["10.96.0.10"],
            ipFamilies=["IPv4"],
            ipFamilyPolicy="SingleStack",
        ),
        service(
            selector={"app.kubernetes.io/name": "web"},
            sessionAffinity="ClientIP",
            publishNotReadyAddresses=True,
        ),
    ],
)
def test_valid_services_pass(obj: Obj) -> None:
    assert service_causes(obj) == []


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (service(ports=[]), [("spec.ports", "Required value")]),
        (
            service(ports=[{"port": 0}]),
            [
                ("spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
                ("spec.ports[0].targetPort", "Invalid value: 0: must be between 1 and 65535, inclusive"),
            ],
        ),
        (
            service(ports=[{"port": 80, "targetPort": 70000}]),
            [("spec.ports[0].targetPort", "Invalid value: 70000: must be between 1 and 65535, inclusive")],
        ),
        (
            service(ports=[{"port": 80, "targetPort": "Web_1"}]),
            [
                (
                    "spec.ports[0].targetPort",
                    'Invalid value: "Web_1": must contain only alpha-numeric characters (a-z, 0-9), '
                    "and hyphens (-)",
                )
            ],
        ),
        (
            service(ports=[{"port": 80, "protocol": "HTTP"}]),
            [("spec.ports[0].protocol", f'Unsupported value: "HTTP": {PROTOCOLS}')],
        ),
        (
            service(ports=[{"port": 80}, {"name": "b", "port": 81}]),
            [("spec.ports[0].name", "Required value")],
        ),
        (
            service(ports=[{"name": "a", "port": 80}, {"name": "a", "port": 81}]),
            [("spec.ports[1].name", 'Duplicate value: "a"')],
        ),
        (
            service(ports=[{"name": "a", "port": 80}, {"name": "b", "port": 80}]),
            [
                (
                    "spec.ports[1]",
                    'Duplicate value: {"Name":"","Protocol":"TCP","AppProtocol":null,"Port":80,'
                    '"TargetPort":0,"NodePort":0}',
                )
            ],
        ),
        (
            service(type="Fancy"),
            [
                (
                    "spec.type",
                    'Unsupported value: "Fancy": supported values: "ClusterIP", "ExternalName", '
                    '"LoadBalancer", "NodePort"',
                )
            ],
        ),
        (
            service(type="ExternalName", ports=[]),
            [("spec.externalName", "Required value")],
        ),
        (
            service(clusterIP="10.96.0.300"),
            [
                (
                    "spec.clusterIPs[0]",
                    'Invalid value: "10.96.0.300": must be a valid IP '
                    "address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                )
            ],
        ),
        (
            service(clusterIP="None", clusterIPs=["None", "10.96.0.1"]),
            [
                (
                    "spec.clusterIPs",
                    'Invalid value: ["None","10.96.0.1"]: \'None\' must be the first and only value',
                )
            ],
        ),
        (
            service(sessionAffinity="Sticky"),
            [("spec.sessionAffinity", 'Unsupported value: "Sticky": supported values: "ClientIP", "None"')],
        ),
        (
            service(ipFamilies=["IPv5"], ipFamilyPolicy="Both"),
            [
                ("spec.ipFamilies[0]", 'Unsupported value: "IPv5": supported values: "IPv4", "IPv6"'),
                (
                    "spec.ipFamilyPolicy",
                    'Unsupported value: "Both": supported values: "PreferDualStack", "RequireDualStack", '
                    '"SingleStack"',
                ),
            ],
        ),
    ],
)
def test_service_rules(obj: Obj, expected: list[tuple[str, str]]) -> None:
    assert found(service_causes(obj)) == expected


def test_service_selector_and_external_name_are_checked() -> None:
    causes = found(service_causes(service(selector={"bad key!": "v"})))
    assert [f for f, _ in causes] == ["spec.selector"] and causes[0][1].startswith(
        'Invalid value: "bad key!"'
    )
    bad = found(service_causes(service(type="ExternalName", externalName="Bad_Name", ports=[])))
    assert bad[0][0] == "spec.externalName" and "RFC 1123 subdomain" in bad[0][1]


def test_a_non_boolean_publish_not_ready_addresses_is_undecodable() -> None:
    with pytest.raises(ApiError) as bad:
        service_causes(service(publishNotReadyAddresses="yes"))
    assert (bad.value.code, bad.value.message) == (
        400,
        'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal string into Go '
        "struct field ServiceSpec.spec.publishNotReadyAddresses of type bool",
    )


def test_a_headless_service_may_not_gain_an_address() -> None:
    old = service(clusterIP="None")
    new = service(clusterIP="10.96.0.20")
    assert found(service_update_causes(old, new)) == [
        ("spec.clusterIPs[0]", 'Invalid value: ["10.96.0.20"]: may not change once set')
    ]
    assert service_update_causes(old, service(clusterIP="None")) == []


@pytest.mark.parametrize(
    "obj",
    [
        pod(),
        pod(hostname="web-0", subdomain="nginx", restartPolicy="Never", dnsPolicy="Default"),
        pod(
            containers=[
                {
                    "name": "c",
                    "image": "i",
                    "ports": [{"name": "web", "containerPort": 80}],
                    "volumeMounts": [{"name": "data", "mountPath": "/d"}],
                }
            ],
            volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}}],
        ),
    ],
)
def test_valid_pods_pass(obj: Obj) -> None:
    assert pod_causes(obj) == []


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (pod(containers=[]), [("spec.containers", "Required value")]),
        (
            pod(containers=[{"name": "c", "image": "i"}, {"name": "c"}]),
            [
                ("spec.containers[1].name", 'Duplicate value: "c"'),
                ("spec.containers[1].image", "Required value"),
            ],
        ),
        (
            pod(
                containers=[
                    {"name": "c", "image": "i", "ports": [{"containerPort": 70000, "protocol": "ICMP"}]}
                ]
            ),
            [
                (
                    "spec.containers[0].ports[0].containerPort",
                    "Invalid value: 70000: must be between 1 and 65535, inclusive",
                ),
                ("spec.containers[0].ports[0].protocol", f'Unsupported value: "ICMP": {PROTOCOLS}'),
            ],
        ),
        (
            pod(restartPolicy="Sometimes"),
            [
                (
                    "spec.restartPolicy",
                    'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
                )
            ],
        ),
        (
            pod(dnsPolicy="Custom"),
            [
                (
                    "spec.dnsPolicy",
                    'Unsupported value: "Custom": supported values: "ClusterFirstWithHostNet", '
                    '"ClusterFirst", "Default", "None"',
                )
            ],
        ),
        (
            pod(dnsPolicy="None"),
            [("spec.dnsConfig", "Required value: must provide `dnsConfig` when `dnsPolicy` is None")],
        ),
        (
            pod(volumes=[{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]),
            [("spec.volumes[1].name", 'Duplicate value: "v"')],
        ),
        (
            pod(volumes=[{"name": "v", "emptyDir": {}, "persistentVolumeClaim": {"claimName": "x"}}]),
            [("spec.volumes[0].persistentVolumeClaim", "Forbidden: may not specify more than 1 volume type")],
        ),
        (
            pod(volumes=[{"name": "v"}]),
            [("spec.volumes[0]", "Required value: must specify a volume type")],
        ),
        (
            pod(volumes=[{"name": "v", "persistentVolumeClaim": {}}]),
            [("spec.volumes[0].persistentVolumeClaim.claimName", "Required value")],
        ),
        (
            pod(
                containers=[
                    {"name": "c", "image": "i", "volumeMounts": [{"name": "nope", "mountPath": "/d"}]}
                ]
            ),
            [("spec.containers[0].volumeMounts[0].name", 'Not found: "nope"')],
        ),
    ],
)
def test_pod_rules(obj: Obj, expected: list[tuple[str, str]]) -> None:
    assert found(pod_causes(obj)) == expected


def test_pod_names_are_dns_labels() -> None:
    causes = found(
        pod_causes(pod(hostname="Web.0", subdomain="a_b", containers=[{"name": "C", "image": "i"}]))
    )
    assert [f for f, _ in causes] == ["spec.containers[0].name", "spec.hostname", "spec.subdomain"]
    assert all(LABEL in message for _, message in causes)


def test_claim_rules() -> None:
    assert claim_causes(claim()) == []
    assert found(claim_causes(claim(accessModes=[], resources={}))) == [
        ("spec.accessModes", "Required value: at least 1 access mode is required"),
        ("spec.resources[storage]", "Required value"),
    ]
    assert found(claim_causes(claim(accessModes=["ReadWriteSometimes"]))) == [
        (
            "spec.accessModes",
            'Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", "ReadWriteMany", '
            '"ReadWriteOnce", "ReadWriteOncePod"',
        )
    ]
    assert found(claim_causes(claim(resources={"requests": {"storage": "0"}}))) == [
        ("spec.resources[storage]", 'Invalid value: "0": must be greater than zero')
    ]
    with pytest.raises(ApiError) as bad:
        claim_causes(claim(resources={"requests": {"storage": "lots"}}))
    assert bad.value.code == 400 and "quantities must match the regular expression" in bad.value.message


def test_claim_updates() -> None:
    old = claim()
    bound = copy.deepcopy(old) | {"status": {"phase": "Bound"}}
    binding = claim(volumeName="pvc-1", storageClassName="standard")
    assert claim_update_causes(old, binding) == []  # binding: volumeName once, a class where none was
    changed = found(claim_update_causes(old, claim(accessModes=["ReadWriteMany"])))
    assert changed[0][0] == "spec" and changed[0][1].startswith(f"Forbidden: {IMMUTABLE}\n")
    grown = claim(resources={"requests": {"storage": "2Gi"}}) | {"status": {"phase": "Bound"}}
    assert claim_update_causes(bound, grown) == []
    shrunk = claim(resources={"requests": {"storage": "512Mi"}}) | {"status": {"phase": "Bound"}}
    assert found(claim_update_causes(bound, shrunk)) == [
        ("spec.resources.requests.storage", "Forbidden: field can not be less than previous value")
    ]
    pending = found(claim_update_causes(old, claim(resources={"requests": {"storage": "2Gi"}})))
    assert [f for f, _ in pending] == ["spec"]  # resizing needs a bound claim


def test_endpointslice_rules() -> None:
    assert endpointslice_causes(eps()) == []
    assert endpointslice_causes(eps(addressType="FQDN", endpoints=[{"addresses": ["db.example.com"]}])) == []
    assert found(endpointslice_causes(eps(addressType="IP"))) == [
        ("addressType", 'Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"')
    ]
    assert found(endpointslice_causes(eps(addressType=""))) == [("addressType", "Required value")]
    assert found(endpointslice_causes(eps(endpoints=[{"addresses": []}, {"addresses": ["fd00::1"]}]))) == [
        ("endpoints[0].addresses", "Required value: must contain at least 1 address"),
        ("endpoints[1].addresses[0]", 'Invalid value: "fd00::1": must be a valid IPv4 address'),
    ]
    many = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(101)]
    assert found(endpointslice_causes(eps(endpoints=[{"addresses": many}]))) == [
        ("endpoints[0].addresses", "Too many: 101: must have at most 100 items")
    ]
    assert found(endpointslice_causes(eps(endpoints=[{"addresses": ["10.0.0.1"]}] * 1001))) == [
        ("endpoints", "Too many: 1001: must have at most 1000 items")
    ]
    ports = [{"name": "a", "port": 80}, {"name": "a", "port": 81, "protocol": "ICMP"}]
    assert found(endpointslice_causes(eps(ports=ports))) == [
        ("ports[1].name", 'Duplicate value: "a"'),
        ("ports[1].protocol", f'Unsupported value: "ICMP": {PROTOCOLS}'),
    ]
    assert found(endpointslice_causes(eps(ports=[{"port": i} for i in range(101)]))) == [
        ("ports", "Too many: 101: must have at most 100 items")
    ]
    assert found(endpointslice_update_causes(eps(), eps(addressType="IPv6"))) == [
        ("addressType", 'Invalid value: "IPv6": field is immutable')
    ]


def test_configmap_rules() -> None:
    assert configmap_causes({"data": {"a.b_C-1": "x"}, "binaryData": {"bin": "AAEC"}}) == []
    causes = found(configmap_causes({"data": {"a/b": "x", "..": "y", "k": "1"}, "binaryData": {"k": "AA=="}}))
    assert causes[0][0] == "data[a/b]" and "a valid config key must consist of alphanumeric" in causes[0][1]
    assert ("data[..]", "Invalid value: \"..\": must not be '..'") in causes
    assert ("data[k]", 'Invalid value: "k": duplicate of key present in binaryData') in causes
    assert found(configmap_causes({"data": {"a": "x" * (1 << 20), "b": "y"}})) == [
        ("[]", "Too long: must have at most 1048576 bytes")
    ]
    assert configmap_causes({"data": {"a": "x" * (1 << 20)}}) == []


def test_values_print_as_upstream_prints_them() -> None:
    assert [shown(v) for v in (0, True, "x", ["a"], None)] == ["0", "true", '"x"', '["a"]', "null"]
    assert quantity_value("PersistentVolumeClaim", "1Gi") == 2**30
    assert quantity_value("PersistentVolumeClaim", "1.5e3") == 1500
    assert quantity_value("PersistentVolumeClaim", "500m") == 0.5
