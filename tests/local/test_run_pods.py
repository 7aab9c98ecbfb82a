"""`petdns local --run-pods`: the Raft example runs as real host processes with a pet's identity (pod IP,
hostname, resolv.conf, claim), Ready only through its own httpGet probe once a leader exists; a killed
process and a deleted pod come back under the same name with their claim data; `kubectl exec` and
`kubectl logs` reach the real processes. Without the flag or the annotation, or with a command the host
lacks, nothing runs and an Event says why. `petdns peers` in a pet sees its set; etcd (where installed)
bootstraps by DNS SRV discovery through petdns."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.process import LocalProcess, wait_for
from tests.support.runpods import (
    QUIET,
    RAFT,
    addresses,
    b64,
    etcd_call,
    extra_manifest,
    host_processes,
    raft_status,
    ready_ips,
    why_not,
)

REASON = why_not()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
NAMES = ["raft-0", "raft-1", "raft-2"]
BASE = 200 + os.getpid() % 50  # pod ranges of their own: pets bind their pod IPs, DNS binds address 10
TIMINGS: dict[str, float] = {}


def status(ip: str) -> dict[str, Any] | None:
    return raft_status(f"{ip}:8080")


class Cluster:
    def __init__(self, local: LocalProcess) -> None:
        self.local, self.started = local, time.monotonic()

    def pods(self, selector: str) -> dict[str, dict[str, Any]]:
        listed = json.loads(self.local.kubectl("get", "pods", "-l", selector, "-o", "json"))
        return {p["metadata"]["name"]: p for p in listed["items"]}

    def ready(self, selector: str, count: int) -> dict[str, str] | None:
        """{name: IP} of the Ready pods when there are `count` of them."""
        found = addresses(self.pods(selector), ready_only=True)
        return found if len(found) == count else None

    def events(self, pod: str) -> list[tuple[str, str]]:
        listed = json.loads(self.local.kubectl("get", "events", "-o", "json"))
        return [(e["reason"], e["message"]) for e in listed["items"] if e["involvedObject"]["name"] == pod]

    def settled(self, commit: int = 1) -> dict[str, dict[str, Any]] | None:
        """Three Ready pets, exactly one leader that all follow, each with at least `commit` values."""
        pods = addresses(self.pods("app=raft"), ready_only=True)
        if sorted(pods) != NAMES:
            return None
        found = {name: status(ip) for name, ip in pods.items()}
        if any(s is None for s in found.values()):
            return None
        done = {n: s for n, s in found.items() if s is not None}
        leaders = {s["leader"] for s in done.values()}
        roles = [s["role"] for s in done.values()]
        if (
            len(leaders) != 1
            or roles.count("leader") != 1
            or min(s["commit"] for s in done.values()) < commit
        ):
            return None
        return {n: {**s, "ip": pods[n]} for n, s in done.items()}

    def wait_settled(self, commit: int = 1, timeout: float = 30) -> dict[str, dict[str, Any]]:
        return wait_for(
            lambda: self.settled(commit), timeout=timeout, every=0.2, what="3 Ready pets, 1 leader"
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("runpods")
    extra = extra_manifest(directory)
    resolv = Path("/etc/resolv.conf").read_bytes()
    local = LocalProcess(
        directory, "--no-forward", *QUIET, "--pod-cidr", f"127.{BASE}.0.0/16", "--run-pods",
        "-f", str(RAFT), "-f", str(extra), timeout=60,
    )  # fmt: skip
    try:
        running = Cluster(local)
        running.wait_settled(timeout=60)
        TIMINGS["raft formed"] = time.monotonic() - running.started
        yield running
    finally:
        assert local.stop() == 0
        assert Path("/etc/resolv.conf").read_bytes() == resolv  # the host's files are never touched
        print("run-pods timings:", {k: round(v, 1) for k, v in TIMINGS.items()})


def test_pets_are_ready_only_once_a_leader_is_known(cluster: Cluster) -> None:
    pets = cluster.wait_settled()
    for name, pet in pets.items():
        assert pet["ready"] and pet["leader"] in NAMES and pet["name"] == name
        logged = cluster.local.kubectl("logs", name, "--timestamps")
        known = next(
            line for line in logged.splitlines() if "leader raft-" in line or "leader in term" in line
        )
        pod = cluster.pods("app=raft")[name]
        ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
        assert known.split(".")[0] <= ready["lastTransitionTime"].rstrip("Z"), (known, ready)


def test_each_pet_is_its_dns_name_hostname_and_logs(cluster: Cluster) -> None:
    pets = cluster.wait_settled()
    for name, pet in pets.items():
        fqdn = f"{name}.raft.default.svc.cluster.local"
        assert cluster.local.dig(fqdn) == [pet["ip"]]
        assert host_processes(name, pet["ip"]), f"no host process for {name}"
    assert cluster.local.kubectl("exec", "raft-1", "--", "hostname").strip() == "raft-1"
    assert cluster.local.kubectl("exec", "raft-1", "--", "hostname", "-f").strip() == (
        "raft-1.raft.default.svc.cluster.local"
    )
    logged = cluster.local.kubectl("logs", "raft-0")
    assert (
        f"raft-0: listening on {pets['raft-0']['ip']}:8080" in logged
        and "peers raft-0 raft-1 raft-2" in logged
    )


def _heals(cluster: Cluster, before: dict[str, dict[str, Any]], kind: str) -> None:
    """raft-1 leaves the Ready addresses of raft-ready, comes back with its claim data and rejoins."""
    lost = time.monotonic()
    wait_for(
        lambda: before["raft-1"]["ip"] not in ready_ips(cluster.local), timeout=20, what="raft-1 unready"
    )
    TIMINGS[f"{kind}: lost"] = time.monotonic() - lost
    after = cluster.wait_settled(commit=before["raft-1"]["commit"] + 2, timeout=40)
    TIMINGS[f"{kind}: healed"] = time.monotonic() - lost
    assert after["raft-1"]["restored"] >= before["raft-1"]["commit"] > 0  # from its claim
    kept = before["raft-1"]["values"]
    assert all(pet["values"][: len(kept)] == kept for pet in after.values())
    assert cluster.local.dig("raft-1.raft.default.svc.cluster.local") == [after["raft-1"]["ip"]]
    wait_for(lambda: after["raft-1"]["ip"] in ready_ips(cluster.local), timeout=10, what="raft-1 ready again")


def test_a_killed_process_restarts_with_its_claim(cluster: Cluster) -> None:
    before = cluster.wait_settled(commit=2)
    [pid] = host_processes("raft-1", before["raft-1"]["ip"])
    os.kill(pid, 9)
    _heals(cluster, before, "kill -9")
    pod = cluster.pods("app=raft")["raft-1"]
    assert pod["status"]["containerStatuses"][0]["restartCount"] >= 1


def test_a_deleted_pet_comes_back_with_its_claim(cluster: Cluster) -> None:
    before = cluster.wait_settled(commit=2)
    uid = cluster.pods("app=raft")["raft-1"]["metadata"]["uid"]
    cluster.local.kubectl("delete", "pod", "raft-1", "--wait=false")
    _heals(cluster, before, "delete pod")
    assert cluster.pods("app=raft")["raft-1"]["metadata"]["uid"] != uid


def test_without_the_annotation_or_with_a_missing_command_nothing_runs(cluster: Cluster) -> None:
    plain = wait_for(
        lambda: [e for e in cluster.events("plain") if e[0] == "NotRun"], what="NotRun for plain"
    )
    assert "localcluster.petdns.dev/run" in plain[0][1]
    ip = cluster.pods("kind=plain")["plain"]["status"]["podIP"]
    assert not host_processes("plain", ip)
    failed = wait_for(
        lambda: [e for e in cluster.events("missing") if e[0] == "Failed"], what="Failed for missing"
    )
    assert 'exec: "no-such-command-here": executable file not found in $PATH' in failed[0][1]


def claim_file(cluster: Cluster, claim: str, name: str) -> str | None:
    volume = cluster.local.kubectl("get", "pvc", claim, "-o", "jsonpath={.spec.volumeName}")
    root = cluster.local.kubectl("get", "pv", volume, "-o", "jsonpath={.spec.hostPath.path}")
    path = Path(root) / name
    return path.read_text() if path.exists() else None


def test_petdns_peers_runs_on_start_then_on_change(cluster: Cluster) -> None:
    fqdns = [f"peers-{i}.peers.default.svc.cluster.local" for i in range(4)]

    def seen() -> list[str] | None:  # the names the scripts were given last
        changed = claim_file(cluster, "data-peers-0", "on-change.txt")
        started = claim_file(cluster, "data-peers-0", "on-start.txt")
        return (changed or started or "").split() or None

    wait_for(lambda: claim_file(cluster, "data-peers-0", "on-start.txt"), timeout=30, what="on-start")
    started = (claim_file(cluster, "data-peers-0", "on-start.txt") or "").split()
    assert started == sorted(started) and fqdns[0] in started and set(started) <= set(fqdns[:3])
    wait_for(lambda: seen() == fqdns[:3], timeout=30, what="the three peers")  # pets started in parallel
    cluster.local.kubectl("scale", "statefulset", "peers", "--replicas=4")
    wait_for(lambda: seen() == fqdns, timeout=30, what="on-change with four peers")


@pytest.mark.skipif(not shutil.which("etcd"), reason="etcd is not installed (Debian: etcd-server)")
def test_etcd_bootstraps_by_srv_discovery_and_a_deleted_member_rejoins(cluster: Cluster) -> None:
    ready = wait_for(
        lambda: cluster.ready("app=etcd", 3),
        timeout=60,
        what="3 etcd pets Ready",
    )
    TIMINGS["etcd formed"] = time.monotonic() - cluster.started
    members = etcd_call(ready["etcd-0"], "cluster/member/list", {})["members"]
    assert sorted(m["name"] for m in members) == ["etcd-0", "etcd-1", "etcd-2"]
    etcd_call(ready["etcd-0"], "kv/put", {"key": b64("key"), "value": b64("value")})
    cluster.local.kubectl("delete", "pod", "etcd-1", "--wait=false")
    lost = time.monotonic()
    wait_for(lambda: "etcd-1" not in addresses(cluster.pods("app=etcd"), ready_only=True), what="etcd-1 gone")
    back = wait_for(
        lambda: cluster.ready("app=etcd", 3),
        timeout=60,
        what="etcd-1 back",
    )
    TIMINGS["etcd healed"] = time.monotonic() - lost
    again = etcd_call(back["etcd-1"], "cluster/member/list", {})["members"]
    assert sorted(m["ID"] for m in again) == sorted(m["ID"] for m in members)
    got = etcd_call(back["etcd-1"], "kv/range", {"key": b64("key")})
    assert [kv["value"] for kv in got["kvs"]] == [b64("value")]


def test_without_the_flag_nothing_runs(tmp_path: Path) -> None:
    local = LocalProcess(
        tmp_path, "--no-forward", *QUIET, "--pod-cidr", f"127.{BASE + 1}.0.0/16", "-f", str(RAFT)
    )
    try:
        cluster = Cluster(local)
        pods = wait_for(
            lambda: cluster.ready("app=raft", 3),
            what="3 simulated pets Ready",
        )
        assert not any(host_processes(name, ip) for name, ip in pods.items())
        assert status(pods["raft-0"]) is None  # nothing listens on the pod IP
    finally:
        assert local.stop() == 0
