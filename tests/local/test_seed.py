"""`petdns local -f`: every object is checked before anything starts; a bad one names file, document
and field; objects that exist already are left as they are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kubeapi.manifests import ManifestError
from localcluster.seed import plan_files
from tests.support.process import ROOT, LocalProcess


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
