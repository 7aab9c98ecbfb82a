"""`petdns local -f`: every object is checked before anything starts; a bad one names file, document
and field; objects that exist already are left as they are."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeapi.manifests import ManifestError
from localcluster.seed import plan_files
from tests.support.process import ROOT, LocalProcess, wait_for


def test_the_example_plans_a_service_and_a_petset() -> None:
    planned = plan_files([str(ROOT / "config" / "examples" / "petset.yaml")])
    assert [(ref.plural, ref.group, ns, raw["metadata"]["name"]) for _, ref, ns, raw in planned] == [
        ("services", "", "default", "nginx"),
        ("petsets", "apps", "default", "web"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Service\nmetadata: {name: a}\n", "document 0: Service 'a': field apiVersion: required"),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {}\n",
            "document 0: Service: field metadata.name: required",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: [\n",
            "invalid YAML at line 4 column 1: expected the node content, but found '<stream end>'",
        ),
        ('{"kind": "List", "items": [1]}', "document 0, item 0: not an object (found int)"),
    ],
)
def test_a_bad_file_is_named_with_its_document_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError) as caught:
        plan_files([str(path)])
    assert str(caught.value) == f"{path}: {message}"


UNSERVED = (
    "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Gadget\n"
    "metadata: {name: g}\n---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n"
    "metadata: {name: h}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
)


def _served(line: str) -> dict[str, set[str]]:
    assert line.startswith("served here: ")
    groups = [part.split(" ", 1) for part in line.removeprefix("served here: ").split("; ")]
    return {api_version: set(kinds.split(", ")) for api_version, kinds in groups}


def test_every_object_of_a_kind_not_served_is_named_then_what_is_served(tmp_path: Path) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text(UNSERVED)
    with pytest.raises(ManifestError) as caught:
        plan_files([str(path)])
    lines = str(caught.value).splitlines()
    assert lines[:2] == [
        f"{path}: document 1: Gadget 'g': field kind: Gadget in v1 is not served here",
        f"{path}: document 2: HorizontalPodAutoscaler 'h': field kind: HorizontalPodAutoscaler in "
        "autoscaling/v2 is not served here",
    ]
    served = _served(lines[2])
    assert {"ConfigMap", "Secret", "ServiceAccount", "Service", "Pod"} <= served["v1"]
    assert {"Deployment", "ReplicaSet"} <= served["apps/v1"]
    assert served["policy/v1"] == {"PodDisruptionBudget"}
    rbac = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    assert served["rbac.authorization.k8s.io/v1"] == rbac
    assert served["networking.k8s.io/v1"] == {"NetworkPolicy"} and served["batch/v1"] == {"Job"}
    assert len(lines) == 3


def test_petdns_local_names_every_unserved_object_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text(UNSERVED)
    done = subprocess.run(
        [sys.executable, "-m", "petdns", "local", "-f", str(path), "--state", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0] == (
        f"petdns: error: {path}: document 1: Gadget 'g': field kind: Gadget in v1 is not served here"
    )
    assert "HorizontalPodAutoscaler 'h'" in lines[1] and "policy/v1" in _served(lines[2])
    assert not (tmp_path / "state").exists()


def test_petdns_local_refuses_a_bad_file_before_starting(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: v1\nkind: Service\nmetadata: {}\n")
    done = subprocess.run(
        [sys.executable, "-m", "petdns", "local", "-f", str(path), "--state", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"petdns: error: {path}: document 0: Service: field metadata.name: required"
    assert not (tmp_path / "state").exists()  # nothing was started


def test_an_object_the_api_refuses_stops_it_with_the_document_named(tmp_path: Path) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: good}\nspec: {ports: [{port: 80}]}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: Bad_Name}\nspec: {ports: [{port: 80}]}\n"
    )
    command = [sys.executable, "-m", "petdns", "local", "-f", str(path), "--api", "127.0.0.1:0"]
    command += ["--dns", "127.0.0.1:0", "--state", str(tmp_path / "state"), "--log-level", "warning"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"petdns: error: {path}: document 1: Service 'Bad_Name': "), done.stderr
    assert "Bad_Name" in done.stderr and "metadata.name" in done.stderr


def test_files_create_what_is_missing_and_leave_what_exists(tmp_path: Path) -> None:
    example = str(ROOT / "config" / "examples" / "petset.yaml")
    first = LocalProcess(tmp_path, "-f", example, "--log-level", "info")
    try:
        first.kubectl("scale", "petset", "web", "--replicas=3")
    finally:
        assert first.stop() == 0
    again = LocalProcess(tmp_path, "-f", example)
    try:
        assert again.kubectl("get", "petset", "web", "-o", "jsonpath={.spec.replicas}") == "3"
    finally:
        assert again.stop() == 0


# --- the PetSet walkthrough of Kubernetes 1.4 (/work/shared/seed), its commands verbatim --------------

SEED_PETSET = """# A headless service to create DNS records
apiVersion: v1
kind: Service
metadata:
  name: nginx
  labels:
    app: nginx
spec:
  ports:
  - port: 80
    name: web
  # *.nginx.default.svc.cluster.local
  clusterIP: None
  selector:
    app: nginx
---
apiVersion: apps/v1alpha1
kind: PetSet
metadata:
  name: web
spec:
  serviceName: "nginx"
  replicas: 2
  template:
    metadata:
      labels:
        app: nginx
      annotations:
        pod.alpha.kubernetes.io/initialized: "true"
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: nginx
        image: gcr.io/google_containers/nginx-slim:0.8
        ports:
        - containerPort: 80
          name: web
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
      annotations:
        volume.alpha.kubernetes.io/storage-class: anything
    spec:
      accessModes: [ "ReadWriteOnce" ]
      resources:
        requests:
          storage: 1Gi
"""
NGINX = "gcr.io/google_containers/nginx-slim"
IMAGES = "{{range $i, $c := .spec.containers}}{{$c.image}}{{end}}"


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProcess]:
    """`petdns local` with the seed's petset.yaml saved in its directory (kubectl runs with that path)."""
    directory = tmp_path_factory.mktemp("seed")
    (directory / "petset.yaml").write_text(SEED_PETSET)
    running = LocalProcess(directory, "--no-forward")
    try:
        yield running
    finally:
        assert running.stop() == 0


def rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()[1:]]


def running_pods(local: LocalProcess, count: int) -> list[list[str]]:
    def check() -> list[list[str]] | None:
        found = rows(local.kubectl("get", "po", "-l", "app=nginx"))
        ok = len(found) == count and all(row[1:3] == ["1/1", "Running"] for row in found)
        return found if ok else None

    return wait_for(check, what=f"{count} pets Running and Ready")


def images(local: LocalProcess, count: int) -> list[str]:
    return [local.kubectl("get", "po", f"web-{p}", "--template", IMAGES, check=False) for p in range(count)]


def test_the_seed_walkthrough_verbatim(seed: LocalProcess) -> None:
    petset = str(seed.directory / "petset.yaml")
    assert seed.kubectl("create", "-f", petset).splitlines() == [
        "service/nginx created",
        "petset.apps/web created",
    ]
    assert [row[0] for row in running_pods(seed, 2)] == ["web-0", "web-1"]
    volumes = wait_for(
        lambda: rows(seed.kubectl("get", "pv")) if len(rows(seed.kubectl("get", "pv"))) == 2 else None
    )
    assert sorted((row[4], row[5]) for row in volumes) == [
        ("Bound", "default/www-web-0"),
        ("Bound", "default/www-web-1"),
    ]
    services = rows(seed.kubectl("get", "svc"))  # NAME TYPE CLUSTER-IP ... today
    assert [(row[0], row[2]) for row in services if row[0] == "nginx"] == [("nginx", "None")]

    deleted = seed.kubectl("delete", "po", "-l", "app=nginx").splitlines()
    assert deleted == [
        'pod "web-0" deleted from default namespace',
        'pod "web-1" deleted from default namespace',
    ]
    running_pods(seed, 2)  # they come back

    assert seed.kubectl("scale", "petset", "web", "--replicas=5").strip() == "petset.apps/web scaled"
    assert [row[0] for row in running_pods(seed, 5)] == [f"web-{n}" for n in range(5)]
    seed.kubectl("scale", "petset", "web", "--replicas=3")  # "scale the PetSet back down to 3"
    running_pods(seed, 3)
    claims = rows(seed.kubectl("get", "pvc"))  # "Note that we still have 5 pvcs"
    assert [(row[0], row[1]) for row in claims] == [(f"www-web-{n}", "Bound") for n in range(5)]

    assert images(seed, 3) == ["gcr.io/google_containers/nginx-slim:0.8"] * 3
    # "Edit the image on the PetSet" (no command in the seed): a strategic merge patch by container name; a
    # v1.4 PetSet has no update strategy, so no running pet changes until it is deleted
    edit = {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": f"{NGINX}:0.7"}]}}}}
    seed.kubectl("patch", "petset", "web", "-p", json.dumps(edit))
    time.sleep(1)  # the controller has seen the change: still nothing rolls
    assert images(seed, 3) == ["gcr.io/google_containers/nginx-slim:0.8"] * 3
    seed.kubectl("delete", "po", "web-0")
    wait_for(
        lambda: images(seed, 3)[0].endswith(":0.7") and len(running_pods(seed, 3)) == 3, what="web-0 at 0.7"
    )
    assert images(seed, 3)[1:] == ["gcr.io/google_containers/nginx-slim:0.8"] * 2
    seed.kubectl("delete", "po", "web-1", "web-2")
    wait_for(lambda: images(seed, 3) == ["gcr.io/google_containers/nginx-slim:0.7"] * 3, what="all at 0.7")

    orphaned = seed.kubectl("delete", "-f", petset, "--cascade=false").splitlines()
    assert orphaned == [
        'service "nginx" deleted from default namespace',
        'petset.apps "web" deleted from default namespace',
    ]
    assert [row[0] for row in running_pods(seed, 3)] == ["web-0", "web-1", "web-2"]
    seed.kubectl("delete", "po", "-l", "app=nginx")
    wait_for(lambda: not seed.kubectl("get", "po", "-l", "app=nginx").strip(), what="pets gone, not replaced")
    assert len(rows(seed.kubectl("get", "pvc", "-l", "app=nginx"))) == 5
    seed.kubectl("delete", "pvc", "-l", "app=nginx")
    wait_for(lambda: not seed.kubectl("get", "pv").strip(), what="the volumes deleted with their claims")


def _recreated(seed: LocalProcess) -> None:
    seed.kubectl("apply", "-f", str(seed.directory / "petset.yaml"))
    running_pods(seed, 2)


def test_the_seed_get_petset_columns(seed: LocalProcess) -> None:
    _recreated(seed)
    out = seed.kubectl("get", "petset")
    assert out.splitlines()[0].split() == ["NAME", "DESIRED", "CURRENT", "AGE"]
    assert rows(out)[0][:3] == ["web", "2", "2"]


def test_the_seed_patch_without_type(seed: LocalProcess) -> None:
    _recreated(seed)
    assert (
        seed.kubectl("patch", "petset", "web", "-p", '{"spec":{"replicas":3}}').strip()
        == "petset.apps/web patched"
    )
    running_pods(seed, 3)


def test_the_seed_clean_everything(seed: LocalProcess) -> None:
    _recreated(seed)
    grace = seed.kubectl("get", "po", "web-0", "--template", "{{.spec.terminationGracePeriodSeconds}}")
    assert grace == "0"
    out = seed.kubectl("delete", "petset,po", "-l", "app=nginx")
    time.sleep(float(grace))
    assert 'petset.apps "web" deleted from default namespace' in out.splitlines()
    seed.kubectl("delete", "pvc", "-l", "app=nginx")
    wait_for(lambda: not seed.kubectl("get", "pvc,pv").strip(), what="everything cleaned")
