"""Real kubectl against the local API server: create, apply, get, watch, patch, label, scale, delete, wait."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.localcluster.conftest import LocalApi

ROOT = Path(__file__).parents[2]
PETSET_EXAMPLE = ROOT / "config" / "examples" / "petset.yaml"


def manifest(*docs: dict[str, object]) -> str:
    return yaml.safe_dump_all(docs)


def configmap(name: str, **data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def pod(name: str, **labels: str) -> dict[str, object]:
    spec = {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec}


def lines_of(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """A queue fed with proc's stdout lines by a reader thread."""
    out: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.put(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return out


def wait_line(lines: queue.Queue[str], predicate: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        if predicate in line:
            return line


def test_petset_example_creates(api: LocalApi, ns: str) -> None:
    out = api.kubectl("create", "-n", ns, "-f", str(PETSET_EXAMPLE)).stdout
    assert "service/nginx created" in out and "petset.apps/web created" in out
    table = api.kubectl("get", "-n", ns, "petset", "web").stdout.splitlines()
    assert table[0].split() == ["NAME", "DESIRED", "CURRENT", "AGE"]  # as PetSet v1.4's kubectl
    assert table[1].split()[:2] == ["web", "2"]
    ours = json.loads(api.kubectl("get", "-n", ns, "petsets.petdns.dev", "web", "-o", "json").stdout)
    assert ours["apiVersion"] == "petdns.dev/v1" and ours["spec"]["serviceName"] == "nginx"
    svc = api.kubectl("get", "-n", ns, "svc", "nginx", "-o", "wide").stdout
    assert "None" in svc and "80/TCP" in svc and "app=nginx" in svc


def test_api_resources_show_petsets(api: LocalApi) -> None:
    rows = [line.split() for line in api.kubectl("api-resources").stdout.splitlines()]
    petsets = [row for row in rows if row[0] == "petsets"]
    assert ["petsets", "pets", "petdns.dev/v1", "true", "PetSet"] in petsets
    assert ["petsets", "apps/v1alpha1", "true", "PetSet"] in petsets
    assert ["pods", "po", "v1", "true", "Pod"] in rows
    assert "petdns.dev/v1" in api.kubectl("api-versions").stdout.split()


def test_apply_twice_then_server_side(api: LocalApi, ns: str) -> None:
    first = api.kubectl("apply", "-n", ns, "-f", "-", stdin=manifest(configmap("app", mode="a")))
    assert "configmap/app created" in first.stdout
    second = api.kubectl("apply", "-n", ns, "-f", "-", stdin=manifest(configmap("app", mode="b")))
    assert "configmap/app configured" in second.stdout
    live = json.loads(api.kubectl("get", "-n", ns, "cm", "app", "-o", "json").stdout)
    assert live["data"] == {"mode": "b"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in live["metadata"]["annotations"]
    server_side = api.kubectl(
        "apply", "--server-side", "-n", ns, "-f", "-", stdin=manifest(configmap("app", mode="c"))
    )
    assert "serverside-applied" in server_side.stdout
    assert api.kubectl("get", "-n", ns, "cm", "app", "-o", "jsonpath={.data.mode}").stdout == "c"
    fresh = api.kubectl(
        "apply", "--server-side", "-n", ns, "-f", "-", stdin=manifest(configmap("ssa", k="v"))
    )
    assert "configmap/ssa serverside-applied" in fresh.stdout


def test_get_output_formats_and_selectors(api: LocalApi, ns: str) -> None:
    api.kubectl("create", "-n", ns, "-f", "-", stdin=manifest(pod("p1", tier="web"), pod("p2", tier="db")))
    as_yaml = yaml.safe_load(api.kubectl("get", "-n", ns, "pod", "p1", "-o", "yaml").stdout)
    assert as_yaml["kind"] == "Pod" and as_yaml["metadata"]["labels"] == {"tier": "web"}
    as_list = json.loads(api.kubectl("get", "-n", ns, "pods", "-o", "json").stdout)
    assert as_list["kind"] == "List" and [i["metadata"]["name"] for i in as_list["items"]] == ["p1", "p2"]
    table = api.kubectl("get", "-n", ns, "pods", "-l", "tier=db").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [row.split()[:3] for row in table[1:]] == [["p2", "0/1", "Pending"]]
    assert api.kubectl("get", "-n", ns, "pods", "-l", "tier=none").stderr.startswith("No resources found")
    missing = api.kubectl("get", "-n", ns, "pod", "nope", check=False)
    assert missing.returncode == 1 and 'pods "nope" not found' in missing.stderr


def test_get_watch_sees_changes(api: LocalApi, ns: str) -> None:
    api.kubectl("create", "-n", ns, "-f", "-", stdin=manifest(configmap("watched", v="1")))
    proc = api.kubectl_background("get", "-n", ns, "configmaps", "-w", "--request-timeout=20s")
    try:
        lines = lines_of(proc)
        assert wait_line(lines, "NAME").split() == ["NAME", "DATA", "AGE"]
        wait_line(lines, "watched")
        api.kubectl("create", "-n", ns, "-f", "-", stdin=manifest(configmap("later", a="1", b="2")))
        assert wait_line(lines, "later").split()[:2] == ["later", "2"]
    finally:
        proc.kill()
        proc.wait(5)


def test_patch_kinds_and_label(api: LocalApi, ns: str) -> None:
    api.kubectl("create", "-n", ns, "-f", str(PETSET_EXAMPLE))
    api.kubectl("patch", "-n", ns, "svc", "nginx", "-p", '{"spec":{"ports":[{"port":8080,"name":"alt"}]}}')
    ports = json.loads(api.kubectl("get", "-n", ns, "svc", "nginx", "-o", "jsonpath={.spec.ports}").stdout)
    assert sorted(p["port"] for p in ports) == [80, 8080]  # strategic merge: merged by port
    api.kubectl("create", "-n", ns, "-f", "-", stdin=manifest(pod("pp")))
    api.kubectl(
        "patch", "-n", ns, "pod", "pp", "-p", '{"spec":{"containers":[{"name":"c","image":"nginx:2"}]}}'
    )
    assert (
        api.kubectl("get", "-n", ns, "pod", "pp", "-o", "jsonpath={.spec.containers[0].image}").stdout
        == "nginx:2"
    )
    api.kubectl("patch", "-n", ns, "petset", "web", "--type=merge", "-p", '{"spec":{"replicas":3}}')
    api.kubectl(
        "patch",
        "-n",
        ns,
        "petset",
        "web",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/minReadySeconds","value":4}]',
    )
    live = json.loads(api.kubectl("get", "-n", ns, "petset", "web", "-o", "json").stdout)
    assert (live["spec"]["replicas"], live["spec"]["minReadySeconds"]) == (3, 4)
    refused = api.kubectl(
        "patch", "-n", ns, "petsets.petdns.dev", "web", "-p", '{"spec":{"replicas":1}}', check=False
    )
    assert refused.returncode == 1 and "strategic-merge-patch+json is not supported" in refused.stderr
    # the built-in apps/v1alpha1 kind takes a strategic merge patch, as PetSet v1.4 did
    api.kubectl("patch", "-n", ns, "petset", "web", "-p", '{"spec":{"replicas":3}}')
    api.kubectl("label", "-n", ns, "petset", "web", "tier=db")
    api.kubectl("label", "-n", ns, "pod", "pp", "tier=web")
    assert (
        api.kubectl("get", "-n", ns, "petset", "-l", "tier=db", "-o", "name").stdout.strip()
        == "petset.apps/web"
    )
    assert api.kubectl("get", "-n", ns, "pods", "-l", "tier=web", "-o", "name").stdout.strip() == "pod/pp"


def test_scale_petset(api: LocalApi, ns: str) -> None:
    api.kubectl("create", "-n", ns, "-f", str(PETSET_EXAMPLE))
    assert "petset.apps/web scaled" in api.kubectl("scale", "-n", ns, "petset", "web", "--replicas=5").stdout
    assert api.kubectl("get", "-n", ns, "petset", "web", "-o", "jsonpath={.spec.replicas}").stdout == "5"
    checked = api.kubectl("scale", "-n", ns, "petset", "web", "--current-replicas=5", "--replicas=1")
    assert "scaled" in checked.stdout
    stale = api.kubectl(
        "scale", "-n", ns, "petset", "web", "--current-replicas=5", "--replicas=2", check=False
    )
    assert stale.returncode != 0 and "Expected replicas to be 5, was 1" in stale.stderr
    assert api.kubectl("get", "-n", ns, "pets", "web", "-o", "jsonpath={.spec.replicas}").stdout == "1"


@pytest.mark.parametrize("cascade", ["background", "orphan", "foreground"])
def test_delete_cascades(api: LocalApi, ns: str, cascade: str) -> None:
    api.kubectl("create", "-n", ns, "-f", str(PETSET_EXAMPLE))
    owned = pod("web-0", app="nginx")
    uid = api.kubectl("get", "-n", ns, "petset", "web", "-o", "jsonpath={.metadata.uid}").stdout
    owned["metadata"]["ownerReferences"] = [  # type: ignore[index]
        {"apiVersion": "apps/v1alpha1", "kind": "PetSet", "name": "web", "uid": uid, "controller": True}
    ]
    api.kubectl("create", "-n", ns, "-f", "-", stdin=manifest(owned))
    done = api.kubectl("delete", "-n", ns, "petset", "web", f"--cascade={cascade}", "--timeout=10s")
    assert 'petset.apps "web" deleted' in done.stdout
    assert api.kubectl("get", "-n", ns, "petset", "web", check=False).returncode == 1
    left = api.kubectl("get", "-n", ns, "pods", "-o", "name").stdout.split()
    if cascade == "orphan":
        assert left == ["pod/web-0"]
        refs = api.kubectl(
            "get", "-n", ns, "pod", "web-0", "-o", "jsonpath={.metadata.ownerReferences}"
        ).stdout
        assert refs == ""
    else:
        assert left == []


def test_delete_and_wait(api: LocalApi, ns: str) -> None:
    api.kubectl("create", "-n", ns, "-f", "-", stdin=manifest(pod("x"), configmap("c")))
    api.kubectl("delete", "-n", ns, "pod", "x", "--wait=false")
    assert api.kubectl("wait", "-n", ns, "--for=delete", "pod/x", "--timeout=10s").returncode == 0
    waiter = api.kubectl_background("wait", "-n", ns, "--for=delete", "configmap/c", "--timeout=10s")
    time.sleep(0.3)
    api.kubectl("delete", "-n", ns, "configmap", "c")
    assert waiter.wait(10) == 0


def test_get_pvc_and_all(api: LocalApi, ns: str) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "www-web-0"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    api.kubectl("create", "-n", ns, "-f", "-", stdin=manifest(claim))
    table = api.kubectl("get", "-n", ns, "pvc").stdout.splitlines()
    assert table[0].split()[:2] == ["NAME", "STATUS"]
    assert table[1].split()[:2] == ["www-web-0", "Pending"]
    api.kubectl("create", "-n", ns, "-f", str(PETSET_EXAMPLE))
    everything = api.kubectl("get", "-n", ns, "all").stdout
    assert "service/nginx" in everything and "petset.petdns.dev/web" in everything


def test_create_subcommands_sending_protobuf(api: LocalApi) -> None:
    assert api.kubectl("create", "namespace", "typed").stdout.strip() == "namespace/typed created"
    api.kubectl("create", "configmap", "-n", "typed", "cfg", "--from-literal=a=b", "--from-literal=c=d")
    assert json.loads(api.kubectl("get", "-n", "typed", "cm", "cfg", "-o", "jsonpath={.data}").stdout) == {
        "a": "b",
        "c": "d",
    }
    assert (
        "serviceaccount/robot created"
        in api.kubectl("create", "serviceaccount", "-n", "typed", "robot").stdout
    )
    refused = api.kubectl("create", "service", "clusterip", "-n", "typed", "s", "--tcp=80:8080", check=False)
    assert refused.returncode == 1 and "send JSON" in refused.stderr


def test_patch_a_storage_class_with_kubectl_s_default_strategic_merge(api: LocalApi) -> None:
    api.kubectl(
        "apply",
        "-f",
        "-",
        stdin=manifest(
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": "slow"},
                "provisioner": "example.com/slow",
            }
        ),
    )
    api.kubectl("patch", "storageclass", "slow", "-p", '{"allowVolumeExpansion":true}')
    got = api.kubectl("get", "storageclass", "slow", "-o", "jsonpath={.allowVolumeExpansion}")
    assert got.stdout == "true"
