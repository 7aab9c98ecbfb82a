"""The PetSet walkthrough on `petdns local`, driven only by the real kubectl and dig.

One process serves the whole story; the steps run in order on the same cluster, as a user would.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.process import ROOT, LocalProcess, wait_for

EXAMPLE = ROOT / "config" / "examples" / "petset.yaml"
ZONE = "nginx.default.svc.cluster.local"
READY = '{.object.status.conditions[?(@.type=="Ready")].status}'
MARKER = "watch-marker"
EVENTS = "jsonpath={.type} {.object.metadata.name} " + READY + '{"\\n"}'


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProcess]:
    running = LocalProcess(tmp_path_factory.mktemp("walkthrough"), "--ready-after", "0.2")
    try:
        yield running
    finally:
        assert running.stop() == 0


class Events:
    """A `kubectl get pods -w` of the nginx pets: (event, pod, ready) in the order they arrived.

    A marker pod (outside the pets' selector, inside the watch's) shows when the watch is live.
    """

    def __init__(self, local: LocalProcess) -> None:
        self.local = local
        self.lines: queue.Queue[str] = queue.Queue()
        self.proc = local.kubectl_watch(
            "get", "pods", "-l", f"app in (nginx,{MARKER})", "-w", "--output-watch-events", "-o", EVENTS
        )
        threading.Thread(target=self._read, daemon=True).start()
        local.kubectl("run", MARKER, "--image=marker", f"--labels=app={MARKER}", "--restart=Never")
        self.seen: list[tuple[str, str, str]] = []
        wait_for(lambda: any(pod == MARKER for _, pod, _ in self._take()), what="the watch to be live")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _take(self) -> list[tuple[str, str, str]]:
        while not self.lines.empty():
            row = [*self.lines.get().split(), "", ""]
            if row[0]:
                self.seen.append((row[0], row[1], row[2]))
        return self.seen

    def stop(self) -> list[tuple[str, str, str]]:
        self.local.kubectl("delete", "pod", MARKER, "--wait=true")
        time.sleep(0.2)  # the last events on their way through kubectl
        self.proc.terminate()
        self.proc.wait(timeout=10)
        return [event for event in self._take() if event[1] != MARKER]


def first(events: list[tuple[str, str, str]], kind: str, name: str, ready: str | None = None) -> int:
    """Index of the first event of this kind for this pod (and readiness); len(events) when none."""
    for at, (event, pod, is_ready) in enumerate(events):
        if event == kind and pod == name and (ready is None or is_ready == ready):
            return at
    return len(events)


def pods(local: LocalProcess) -> dict[str, dict[str, Any]]:
    items = json.loads(local.kubectl("get", "pods", "-l", "app=nginx", "-o", "json"))["items"]
    return {p["metadata"]["name"]: p for p in items}


def ready_pets(local: LocalProcess) -> list[str]:
    return sorted(
        name
        for name, pod in pods(local).items()
        if not pod["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
    )


def claims(local: LocalProcess) -> dict[str, tuple[str, str]]:
    items = json.loads(local.kubectl("get", "pvc", "-o", "json"))["items"]
    return {c["metadata"]["name"]: (c["status"].get("phase", ""), c["metadata"]["uid"]) for c in items}


def srv_targets(local: LocalProcess) -> list[str]:
    return sorted(line.split()[3] for line in local.dig(ZONE, "SRV"))


def resolves_to_pod_ips(local: LocalProcess, names: list[str]) -> bool:
    current = pods(local)
    return all(local.dig(f"{n}.{ZONE}") == [current[n]["status"].get("podIP")] for n in names)


def test_1_create_makes_pets_in_order_with_bound_claims(local: LocalProcess) -> None:
    events = Events(local)
    local.kubectl("create", "-f", str(EXAMPLE))
    wait_for(lambda: ready_pets(local) == ["web-0", "web-1"], what="web-0 and web-1 Ready")
    seen = events.stop()
    assert first(seen, "MODIFIED", "web-0", "True") < first(seen, "ADDED", "web-1") < len(seen), seen
    assert {n: phase for n, (phase, _) in claims(local).items()} == {
        "www-web-0": "Bound",
        "www-web-1": "Bound",
    }
    volumes = json.loads(local.kubectl("get", "pv", "-o", "json"))["items"]
    assert sorted(v["spec"]["claimRef"]["name"] for v in volumes) == ["www-web-0", "www-web-1"]
    assert all(v["status"]["phase"] == "Bound" for v in volumes)
    table = local.kubectl("get", "pods")
    assert "web-0   1/1     Running" in table and "web-1   1/1     Running" in table, table


def test_2_identity_hostnames_and_dns(local: LocalProcess) -> None:
    current = pods(local)
    for name in ("web-0", "web-1"):
        assert current[name]["spec"]["hostname"] == name
        assert current[name]["spec"]["subdomain"] == "nginx"
    wait_for(lambda: resolves_to_pod_ips(local, ["web-0", "web-1"]), what="A records of both pets")
    assert current["web-0"]["status"]["podIP"].startswith("127.244.")
    wait_for(lambda: srv_targets(local) == [f"web-0.{ZONE}.", f"web-1.{ZONE}."], what="SRV of two pets")
    assert {line.split()[2] for line in local.dig(ZONE, "SRV")} == {"80"}
    assert local.dig(f"_web._tcp.{ZONE}", "SRV")  # the named port


def test_3_deleted_pets_come_back_with_their_names_claims_and_dns(local: LocalProcess) -> None:
    before_pods, before_claims = pods(local), claims(local)
    volume = json.loads(local.kubectl("get", "pv", "-o", "json"))["items"][0]
    data = Path(volume["spec"]["hostPath"]["path"]) / "index.html"
    data.write_text("hello from a pet\n")  # what nginx would serve from its claim
    local.kubectl("delete", "pod", "-l", "app=nginx")

    def replaced() -> bool:
        now = pods(local)
        return set(now) == {"web-0", "web-1"} and all(
            now[n]["metadata"]["uid"] != before_pods[n]["metadata"]["uid"] for n in now
        )

    wait_for(replaced, what="new pods under the old names")
    wait_for(lambda: ready_pets(local) == ["web-0", "web-1"], what="the new pets Ready")
    assert claims(local) == before_claims  # the same claims (same UIDs), still Bound
    assert data.read_text() == "hello from a pet\n"  # and the same data
    wait_for(lambda: resolves_to_pod_ips(local, ["web-0", "web-1"]), timeout=5, what="DNS following new IPs")


def test_4_scale_up_in_order_and_down_from_the_top(local: LocalProcess) -> None:
    events = Events(local)
    local.kubectl("scale", "petset", "web", "--replicas=5")
    wait_for(lambda: ready_pets(local) == [f"web-{i}" for i in range(5)], what="five Ready pets")
    seen = events.stop()
    for i in (2, 3):
        assert first(seen, "MODIFIED", f"web-{i}", "True") < first(seen, "ADDED", f"web-{i + 1}") < len(seen)
    wait_for(lambda: len(srv_targets(local)) == 5, what="SRV listing five")

    events = Events(local)
    local.kubectl("scale", "petset", "web", "--replicas=3")
    wait_for(lambda: sorted(pods(local)) == ["web-0", "web-1", "web-2"], what="web-3 and web-4 gone")
    seen = events.stop()
    assert first(seen, "DELETED", "web-4") < first(seen, "DELETED", "web-3") < len(seen), seen
    phases = {n: phase for n, (phase, _) in claims(local).items()}
    assert phases["www-web-3"] == phases["www-web-4"] == "Bound"
    wait_for(lambda: len(srv_targets(local)) == 3, what="SRV listing three")


def progressing(local: LocalProcess) -> str:
    status = json.loads(local.kubectl("get", "petset", "web", "-o", "json")).get("status", {})
    return next((c["reason"] for c in status.get("conditions", []) if c["type"] == "Progressing"), "")


def test_5_initialized_false_pauses_scaling(local: LocalProcess) -> None:
    local.kubectl("annotate", "pod", "web-0", "pod.alpha.kubernetes.io/initialized=false", "--overwrite")
    wait_for(lambda: progressing(local) == "Paused", what="the set reporting the pause")
    local.kubectl("scale", "petset", "web", "--replicas=4")
    with pytest.raises(AssertionError):
        wait_for(lambda: "web-3" in pods(local), timeout=1.5, what="web-3 (must not appear)")
    local.kubectl("annotate", "pod", "web-0", "pod.alpha.kubernetes.io/initialized=true", "--overwrite")
    wait_for(lambda: ready_pets(local) == [f"web-{i}" for i in range(4)], what="web-3 after the pause")
    assert claims(local)["www-web-3"][0] == "Bound"  # reused, not re-made
    local.kubectl("scale", "petset", "web", "--replicas=2")
    wait_for(lambda: sorted(pods(local)) == ["web-0", "web-1"], what="back to two")


def test_6_template_change_reaches_a_pet_only_when_it_is_deleted(local: LocalProcess) -> None:
    image = "gcr.io/google_containers/nginx-slim:0.7"
    patch = [
        {"op": "add", "path": "/spec/updateStrategy", "value": {"type": "OnDelete"}},  # as PetSet updated
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image},
    ]
    local.kubectl("patch", "petset", "web", "--type=json", "-p", json.dumps(patch))
    old_uid = pods(local)["web-0"]["metadata"]["uid"]
    local.kubectl("delete", "pod", "web-0")
    wait_for(
        lambda: (p := pods(local).get("web-0")) is not None and p["metadata"]["uid"] != old_uid,
        what="web-0 re-made",
    )
    wait_for(lambda: ready_pets(local) == ["web-0", "web-1"], what="both Ready")
    current = pods(local)
    assert current["web-0"]["spec"]["containers"][0]["image"] == image
    assert current["web-1"]["spec"]["containers"][0]["image"].endswith("nginx-slim:0.8")


def test_7_orphaned_pets_and_claims_outlive_their_set(local: LocalProcess) -> None:
    local.kubectl("delete", "petset", "web", "--cascade=orphan")
    assert sorted(pods(local)) == ["web-0", "web-1"]
    wait_for(
        lambda: all(not p["metadata"].get("ownerReferences") for p in pods(local).values()), what="released"
    )
    local.kubectl("delete", "pod", "-l", "app=nginx")
    wait_for(lambda: not pods(local), what="pods gone, and not re-made")
    assert len(claims(local)) == 5
    wait_for(lambda: srv_targets(local) == [], what="no SRV targets")
    volumes = local.directory / "state" / "volumes"
    assert len(list(volumes.iterdir())) == 5
    local.kubectl("delete", "pvc", "-l", "app=nginx")
    wait_for(lambda: not claims(local), what="claims deleted")
    wait_for(
        lambda: not json.loads(local.kubectl("get", "pv", "-o", "json"))["items"], what="volumes reclaimed"
    )
    wait_for(lambda: not list(volumes.iterdir()), what="volume directories removed")
