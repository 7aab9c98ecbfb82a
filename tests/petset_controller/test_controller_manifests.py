"""The controller's manifests: CRD structure, defaults and CEL rules; RBAC against real use; Deployment."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from kubeapi.paths import CONTROLLER_REVISIONS, PODS
from localcluster.storage.schema.cel_quantity import FUNCTIONS
from petset_controller.runtime.leader import LeaderElector, LeaseConfig
from tests.localcluster.conftest import serving
from tests.petset_controller.harness import NS, eventually, harness, petset
from tests.support.faultproxy import FaultProxy

ROOT = Path(__file__).parents[2]
CRD = ROOT / "config" / "crd" / "petsets.petdns.dev.yaml"
Obj = dict[str, Any]


def load(path: Path) -> list[Obj]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def crd_schema() -> Obj:
    (crd,) = load(CRD)
    schema: Obj = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def spec_schema() -> Obj:
    props: Obj = crd_schema()["properties"]["spec"]["properties"]
    return props


def nodes(schema: Obj, path: str = "") -> Iterator[tuple[str, Obj]]:
    """Every schema node with its dotted path."""
    yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        yield from nodes(child, f"{path}.{name}" if path else name)
    if isinstance(schema.get("items"), dict):
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


def test_crd_names_subresources_and_columns() -> None:
    (crd,) = load(CRD)
    assert (crd["apiVersion"], crd["kind"]) == ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    spec = crd["spec"]
    assert crd["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}" == "petsets.petdns.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] | {"categories": None} == {
        "plural": "petsets",
        "singular": "petset",
        "kind": "PetSet",
        "listKind": "PetSetList",
        "shortNames": ["pets"],
        "categories": None,
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Ready": ".status.readyReplicas",
        "Replicas": ".spec.replicas",
        "Age": ".metadata.creationTimestamp",
    }


def test_crd_schema_is_structural_with_defaults() -> None:
    for path, node in nodes(crd_schema()):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path or 'root'} has no type"
        if "default" in node and "enum" in node:
            assert node["default"] in node["enum"], path
        if node.get("type") == "array":
            assert "items" in node, path
    spec = spec_schema()
    defaults = {name: spec[name].get("default") for name in spec}
    assert defaults["replicas"] == 1
    assert defaults["podManagementPolicy"] == "OrderedReady"
    assert defaults["updateStrategy"] == {"type": "RollingUpdate"}
    assert defaults["revisionHistoryLimit"] == 10
    assert defaults["minReadySeconds"] == 0
    assert defaults["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    rolling = spec["updateStrategy"]["properties"]["rollingUpdate"]["properties"]
    assert (rolling["partition"]["default"], rolling["maxUnavailable"]["default"]) == (0, 1)
    required = crd_schema()["properties"]["spec"].get("required", [])
    assert "selector" not in required  # the controller defaults it from the template labels
    status = crd_schema()["properties"]["status"]["properties"]
    for field in ("replicas", "readyReplicas", "currentRevision", "updateRevision", "selector", "conditions"):
        assert field in status


def rules() -> list[tuple[str, Obj]]:
    return [
        (path, rule)
        for path, node in nodes(crd_schema())
        for rule in node.get("x-kubernetes-validations", [])
    ]


def test_crd_rules_are_well_formed() -> None:
    found = rules()
    assert found
    for path, rule in found:
        assert set(rule) <= {"rule", "message", "messageExpression", "reason", "fieldPath"}, path
        assert rule["message"].startswith(("spec.", "`selector`", "must be no more than")), path
        assert rule["rule"].count("(") == rule["rule"].count(")"), path
    immutable = {path for path, rule in found if rule["rule"] == "self == oldSelf"}
    assert immutable == {"spec.selector", "spec.serviceName", "spec.podManagementPolicy"}
    growing = [
        rule for path, rule in found if path == "spec.volumeClaimTemplates" and "oldSelf" in rule["rule"]
    ]
    assert any("quantity(" in rule["rule"] for rule in growing)


def _evaluate(rule: str, new: Any, *, old: Any = None) -> bool:
    celpy = pytest.importorskip("celpy")
    env = celpy.Environment()
    program = env.program(env.compile(rule), functions=FUNCTIONS)
    activation = {"self": celpy.json_to_cel(new)}
    if old is not None:
        activation["oldSelf"] = celpy.json_to_cel(old)
    return bool(program.evaluate(activation))


def test_crd_rules_keep_identity_fields_immutable() -> None:
    spec = petset()["spec"]
    by_path: dict[str, list[str]] = {}
    for path, found in rules():
        by_path.setdefault(path, []).append(found["rule"])
    changes: list[tuple[str, Any]] = [
        ("selector", {"matchLabels": {"app": "other"}}),
        ("serviceName", "other"),
        ("volumeClaimTemplates", [{"metadata": {"name": "data"}}]),
        ("podManagementPolicy", "Parallel"),
    ]
    for field, changed in changes:
        transitions = [r for r in by_path[f"spec.{field}"] if "oldSelf" in r]
        same = spec.get(field, "OrderedReady")
        assert all(_evaluate(rule, same, old=same) for rule in transitions)
        assert not all(_evaluate(rule, changed, old=same) for rule in transitions), field
    grown = copy.deepcopy(spec["volumeClaimTemplates"])
    grown[0]["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert all(
        _evaluate(r, grown, old=spec["volumeClaimTemplates"]) for r in by_path["spec.volumeClaimTemplates"]
    )
    whole = by_path["spec"]
    assert all(_evaluate(r, spec, old=copy.deepcopy(spec)) for r in whole)
    without = {k: v for k, v in spec.items() if k != "serviceName"}
    assert not all(_evaluate(r, without, old=spec) for r in whole)  # removing it is a change too
    (budget,) = by_path["spec.updateStrategy.rollingUpdate"]
    verdicts = [_evaluate(budget, {"maxUnavailable": v}) for v in (1, 3, "25%", "100%", 0, "0%", "150%", "x")]
    assert verdicts == [True, True, True, True, False, False, False, False]
    (strategy,) = by_path["spec.updateStrategy"]
    assert not _evaluate(strategy, {"type": "OnDelete", "rollingUpdate": {"partition": 1}})


def test_kubectl_applies_the_crd(tmp_path: Path) -> None:
    with serving(tmp_path) as api:
        assert "apiextensions.k8s.io/v1" in api.kubectl("api-versions").stdout.split()
        out = api.kubectl("apply", "--dry-run=client", "-f", str(CRD)).stdout
        assert "customresourcedefinition.apiextensions.k8s.io/petsets.petdns.dev created (dry run)" in out
        out = api.kubectl("apply", "--server-side", "-f", str(CRD)).stdout
        assert "customresourcedefinition.apiextensions.k8s.io/petsets.petdns.dev serverside-applied" in out
        names = api.kubectl("get", "crd", "-o", "name").stdout.split()
        assert names == ["customresourcedefinition.apiextensions.k8s.io/petsets.petdns.dev"]


def test_deployment_runs_two_elected_non_root_replicas() -> None:
    (deployment,) = load(ROOT / "config" / "controller" / "deployment.yaml")
    (account,) = load(ROOT / "config" / "rbac" / "service_account.yaml")
    role, binding = load(ROOT / "config" / "rbac" / "leader_election_role.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 2 and "--leader-elect" in container["args"]
    assert pod["serviceAccountName"] == account["metadata"]["name"] == binding["subjects"][0]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["requests"] and container["resources"]["limits"]
    lease = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in container["args"] if "=" in a}
    assert lease["--lease-namespace"] == role["metadata"]["namespace"]
    assert [lease["--lease-name"]] == role["rules"][1]["resourceNames"]


def granted() -> set[tuple[str, str, str]]:
    """(group, resource, verb) the ClusterRole and the lease Role allow."""
    out = set()
    docs = load(ROOT / "config" / "rbac" / "cluster_role.yaml") + load(
        ROOT / "config" / "rbac" / "leader_election_role.yaml"
    )
    for doc in docs:
        for rule in doc.get("rules", []):
            out |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return out


def request_verb(seen: str) -> tuple[str, str, str]:
    """(group, resource[/subresource], verb) of one request line `METHOD /path?query`."""
    method, target = seen.split(" ", 1)
    url = urlsplit(target)
    parts = url.path.strip("/").split("/")
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")
    if method == "GET":
        verb = "watch" if parse_qs(url.query).get("watch") == ["true"] else "get" if len(rest) > 1 else "list"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
    return group, resource, verb


async def test_rbac_covers_every_request_the_controller_makes() -> None:
    async with harness(ready_after=1) as h:
        proxy = FaultProxy(h.server.url)
        await proxy.start()
        try:
            config = LeaseConfig(identity="a", lease_duration=2.0, renew_deadline=1.2, retry_period=0.2)
            running = h.start(elector=lambda client: LeaderElector(client, config), url=proxy.url)
            await _exercise(h, running)
            await running.stop()
        finally:
            await proxy.stop()
    used = {request_verb(line) for line in proxy.faults.seen}
    assert used <= granted(), used - granted()
    rarely = {
        ("", "pods", "get"),  # after a UID-guarded write is refused
        ("", "persistentvolumeclaims", "get"),
        ("apps", "controllerrevisions", "get"),
        ("petdns.dev", "petsets/finalizers", "update"),  # checked by admission, never called
    }
    assert granted() - used <= rarely, granted() - used - rarely


async def _exercise(h: Any, running: Any) -> None:
    """Adoption, claims, scale-down with claim hand-over, updates, rollback, pruning, label repair."""
    orphan = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0", "labels": {"app": "web"}}}
    await h.client.create(PODS, NS, {**orphan, "spec": {"containers": [{"name": "c", "image": "nginx:0"}]}})
    h.invariants.claims_may_go = lambda name: name == "www-web-1"  # whenScaled: Delete
    policy = {"whenScaled": "Delete", "whenDeleted": "Retain"}
    await h.create(petset(replicas=2, revisionHistoryLimit=1, persistentVolumeClaimRetentionPolicy=policy))
    await eventually(lambda: running.controller.leading)
    await h.run_until(lambda: len(h.invariants.ready()) == 2)
    template = (await h.get("web"))["spec"]["template"]
    for image in ("nginx:2", "nginx:1", "nginx:3"):  # update, roll back (renumber), update (prune)
        template["spec"]["containers"][0]["image"] = image
        await h.patch("web", {"template": template})
        await h.run_until(lambda: _all_run(h, image))  # noqa: B023
    await h.client.patch(PODS, NS, "web-1", {"metadata": {"labels": {"apps.kubernetes.io/pod-index": None}}})
    await h.settle()
    await h.patch("web", {"replicas": 1})
    await h.run_until(
        lambda: sorted(h.invariants.pods) == ["web-0"] and "www-web-1" not in h.invariants.claims
    )
    revisions, _ = await h.client.list(CONTROLLER_REVISIONS, NS)
    assert len(revisions) == 2  # the live one and one more (revisionHistoryLimit 1)


def _all_run(h: Any, image: str) -> bool:
    pods = h.invariants.pods.values()
    return len(h.invariants.ready()) == 2 and {p["spec"]["containers"][0]["image"] for p in pods} == {image}
