"""The Kubernetes docs' "StatefulSet Basics" on `petdns local`, driven by the real kubectl and dnspython: the
manifest unchanged, pets in order, their DNS names, and `kubectl rollout status|history|undo|restart` with the
exact output a real cluster gives.

One process serves the whole story; the steps run in order on the same cluster, as a user would.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import pytest

from tests.support.process import KUBECTL, ROOT, LocalProcess, wait_for

BASICS = ROOT / "tests" / "data" / "real" / "statefulset-basics.yaml"
OLD_IMAGE = "registry.k8s.io/nginx-slim:0.21"
NEW_IMAGE = "registry.k8s.io/nginx-slim:0.24"
ZONE = "nginx.default.svc.cluster.local"
READY = '{.status.conditions[?(@.type=="Ready")].status}'


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProcess]:
    running = LocalProcess(
        tmp_path_factory.mktemp("statefulset-basics"),
        "--ready-after",
        "0.1",
        *(
            "--health-listen",
            "127.0.0.1:0",
            "--ready-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ),
    )
    try:
        yield running
    finally:
        assert running.stop() == 0


def pods(local: LocalProcess) -> dict[str, Any]:
    listed = json.loads(local.kubectl("get", "pods", "-l", "app=nginx", "-o", "json"))
    return {p["metadata"]["name"]: p for p in listed["items"]}


def settled(local: LocalProcess, image: str) -> bool:
    """Both pets Running and Ready with this image, not terminating, and the set's status says so."""
    found = pods(local)
    if sorted(found) != ["web-0", "web-1"]:
        return False
    for pod in found.values():
        ready = [c for c in pod["status"].get("conditions", []) if c["type"] == "Ready"]
        if pod["metadata"].get("deletionTimestamp") or not ready or ready[0]["status"] != "True":
            return False
        if pod["spec"]["containers"][0]["image"] != image:
            return False
    status = json.loads(local.kubectl("get", "sts", "web", "-o", "json"))["status"]
    return status.get("updatedReplicas") == 2 and status.get("currentRevision") == status.get(
        "updateRevision"
    )


def rollout(local: LocalProcess, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            KUBECTL,
            f"--kubeconfig={local.kubeconfig}",
            f"--cache-dir={local.directory / 'cache'}",
            "rollout",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


def ask(local: LocalProcess, name: str, qtype: str) -> list[str]:
    query = dns.message.make_query(name, qtype)
    reply = dns.query.udp(query, local.dns_host, port=local.dns_port, timeout=2)
    return sorted(r.to_text() for rrset in reply.answer for r in rrset)


def test_pets_come_up_in_order_with_names(local: LocalProcess) -> None:
    lines: queue.Queue[str] = queue.Queue()
    watch = local.kubectl_watch(
        "get",
        "pods",
        "-l",
        "app=nginx",
        "-w",
        "--output-watch-events",
        "-o",
        "jsonpath={.type} {.object.metadata.name} " + READY.replace("{.", "{.object.") + '{"\\n"}',
    )

    def read() -> None:
        assert watch.stdout is not None
        for line in watch.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        out = local.kubectl("apply", "-f", str(BASICS))
        assert out == "service/nginx created\nstatefulset.apps/web created\n"
        wait_for(lambda: settled(local, OLD_IMAGE), what="web-0 and web-1 Ready")
    finally:
        watch.terminate()
        watch.wait(timeout=10)
    seen = []
    while not lines.empty():
        seen.append(lines.get().split())
    first_web1 = next(at for at, row in enumerate(seen) if row[1] == "web-1")
    web0_ready = next(at for at, row in enumerate(seen) if row[1] == "web-0" and row[2:] == ["True"])
    assert web0_ready < first_web1  # OrderedReady: web-1 is made once web-0 is Ready
    found = pods(local)
    web0 = found["web-0"]
    assert web0["metadata"]["labels"] == {
        "app": "nginx",
        "apps.kubernetes.io/pod-index": "0",
        "controller-revision-hash": web0["metadata"]["labels"]["controller-revision-hash"],
        "statefulset.kubernetes.io/pod-name": "web-0",
    }
    (owner,) = web0["metadata"]["ownerReferences"]
    assert (owner["apiVersion"], owner["kind"], owner["name"], owner["controller"]) == (
        "apps/v1",
        "StatefulSet",
        "web",
        True,
    )
    assert (web0["spec"]["hostname"], web0["spec"]["subdomain"]) == ("web-0", "nginx")
    assert ask(local, f"web-0.{ZONE}", "A") == [web0["status"]["podIP"]]
    assert ask(local, ZONE, "SRV") == [f"0 50 80 web-0.{ZONE}.", f"0 50 80 web-1.{ZONE}."]
    table = local.kubectl("get", "sts").splitlines()
    assert table[0].split() == ["NAME", "READY", "AGE"] and table[1].split()[:2] == ["web", "2/2"]
    assert local.kubectl("get", "pvc", "-o", "name").split() == [
        "persistentvolumeclaim/www-web-0",
        "persistentvolumeclaim/www-web-1",
    ]


def test_rollout_status_and_history(local: LocalProcess) -> None:
    done = rollout(local, "status", "statefulset/web")
    assert done.stdout == "partitioned roll out complete: 2 new pods have been updated...\n"
    assert rollout(local, "history", "statefulset/web").stdout == (
        "statefulset.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n\n"
    )
    one = rollout(local, "history", "statefulset/web", "--revision=1").stdout
    assert one.startswith("statefulset.apps/web with revision #1\nPod Template:\n  Labels:\tapp=nginx\n")
    assert f"    Image:\t{OLD_IMAGE}\n" in one
    assert rollout(local, "history", "statefulset/web", "--revision=7", check=False).stderr == (
        "error: unable to find the specified revision\n"
    )


def test_update_with_partition_then_undo(local: LocalProcess) -> None:
    patch = {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 1}}}}
    local.kubectl("patch", "statefulset", "web", "-p", json.dumps(patch))
    local.kubectl("set", "image", "statefulset/web", f"nginx={NEW_IMAGE}")

    def partitioned() -> str | None:
        out = rollout(local, "status", "statefulset/web", "--watch=false").stdout
        return out if out.startswith("partitioned") else None

    assert wait_for(partitioned, what="the partitioned roll out") == (
        "partitioned roll out complete: 1 new pods have been updated...\n"
    )
    images = {n: p["spec"]["containers"][0]["image"] for n, p in pods(local).items()}
    assert images == {"web-0": OLD_IMAGE, "web-1": NEW_IMAGE}
    local.kubectl(
        "patch",
        "statefulset",
        "web",
        "-p",
        json.dumps({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}),
    )
    wait_for(lambda: settled(local, NEW_IMAGE), what="the roll out past the partition")
    assert rollout(local, "status", "statefulset/web").stdout.splitlines()[-1] == (
        "partitioned roll out complete: 2 new pods have been updated..."
    )
    history = rollout(local, "history", "statefulset/web").stdout
    assert history == "statefulset.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n"
    undone = rollout(local, "undo", "statefulset/web")
    assert undone.stdout == "statefulset.apps/web rolled back\n"
    wait_for(lambda: settled(local, OLD_IMAGE), what="the roll back to revision 1")
    assert rollout(local, "history", "statefulset/web").stdout.splitlines()[2:] == [
        "2         <none>",
        "3         <none>",
        "",
    ]
    assert (
        rollout(local, "undo", "statefulset/web", "--to-revision=2").stdout
        == "statefulset.apps/web rolled back\n"
    )
    wait_for(lambda: settled(local, NEW_IMAGE), what="the roll back to revision 2")
    again = rollout(local, "undo", "statefulset/web", "--to-revision=4")
    skipped = "skipped rollback (current template already matches revision 4)"
    assert again.stdout == f"statefulset.apps/web {skipped}\n"
    missing = rollout(local, "undo", "statefulset/web", "--to-revision=9", check=False)
    assert missing.returncode == 1  # after kubectl's warning that the set was made with `kubectl apply`
    assert missing.stderr.splitlines()[-1] == "error: unable to find specified revision 9 in history"


def test_restart_rolls_the_pets_and_pause_is_refused(local: LocalProcess) -> None:
    before = {n: p["metadata"]["uid"] for n, p in pods(local).items()}
    assert rollout(local, "restart", "statefulset/web").stdout == "statefulset.apps/web restarted\n"
    wait_for(
        lambda: (
            settled(local, NEW_IMAGE)
            and not set(before.values()) & {p["metadata"]["uid"] for p in pods(local).values()}
        ),
        what="both pets made again",
    )
    for pod in pods(local).values():
        assert "kubectl.kubernetes.io/restartedAt" in pod["metadata"]["annotations"]
    for verb in ("pause", "resume"):
        refused = rollout(local, verb, "statefulset/web", check=False)
        assert (refused.returncode, refused.stdout) == (1, "")
        assert refused.stderr == f'error: statefulsets.apps "web" {verb[:-1]}ing is not supported\n'


def test_deleting_the_set_takes_its_pets_and_keeps_their_claims(local: LocalProcess) -> None:
    assert (
        local.kubectl("delete", "statefulset", "web")
        == 'statefulset.apps "web" deleted from default namespace\n'
    )
    wait_for(lambda: not pods(local), what="the pets to go with their set")
    assert not local.kubectl("get", "controllerrevisions", "-o", "name")
    assert local.kubectl("get", "pvc", "-o", "name").split() == [
        "persistentvolumeclaim/www-web-0",
        "persistentvolumeclaim/www-web-1",
    ]
