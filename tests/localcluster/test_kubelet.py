"""The simulated kubelet against the real local API server: nodes, scheduling, addresses, lifecycle."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kubeapi.auth import Connection
from kubeapi.client import Client
from kubeapi.errors import NotFound
from kubeapi.paths import NODES, PERSISTENT_VOLUME_CLAIMS, PODS
from localcluster.kubelet.kubelet import Kubelet, KubeletConfig
from localcluster.kubelet.podlife import FAIL_AFTER, READY_AFTER, STOP_AFTER
from localcluster.kubelet.scheduler import UNREACHABLE
from tests.localcluster.conftest import LocalApi, serving
from tests.support.faultproxy import FaultProxy
from tests.support.waiting import eventually

T = TypeVar("T")
Obj = dict[str, Any]
NS = "default"
FAST = KubeletConfig(ready_after=0.05)
PREEMPTION = "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalApi]:
    """A fresh API server per test: the kubelet owns every node and pod in it."""
    with serving(tmp_path) as api:
        yield api


@asynccontextmanager
async def kubelet_for(url: str, config: KubeletConfig = FAST) -> AsyncIterator[tuple[Kubelet, Client]]:
    """A running kubelet (synced) and a client of its own."""
    client = Client(Connection(server=url))
    kubelet = Kubelet(client, config)
    task = asyncio.create_task(kubelet.run())
    synced = asyncio.create_task(kubelet.synced.wait())
    try:
        done, _ = await asyncio.wait([task, synced], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        assert synced in done, "the kubelet did not sync"
        yield kubelet, client
    finally:
        synced.cancel()
        task.cancel()
        await asyncio.gather(task, synced, return_exceptions=True)
        await client.close()


async def pod_when(
    client: Client, name: str, test: Callable[[Obj], bool], what: str, timeout: float = 5.0
) -> Obj:
    async def check() -> Obj | None:
        pod = await client.get(PODS, NS, name)
        return pod if test(pod) else None

    return await eventually(check, f"pod {name}: {what}", timeout)


async def gone(client: Client, name: str, timeout: float = 5.0) -> None:
    async def check() -> bool:
        try:
            await client.get(PODS, NS, name)
        except NotFound:
            return True
        return False

    await eventually(check, f"pod {name} gone", timeout)


def manifest(
    name: str, *, claims: tuple[str, ...] = (), node: str = "", annotations: dict[str, str] | None = None
) -> Obj:
    spec: Obj = {"containers": [{"name": "web", "image": "nginx:1.27"}]}
    if claims:
        spec["volumes"] = [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]
    if node:
        spec["nodeName"] = node
    meta: Obj = {"name": name, "annotations": annotations} if annotations else {"name": name}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def condition(pod: Obj, kind: str) -> Obj:
    return next((c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase"))


def ready(pod: Obj) -> bool:
    return condition(pod, "Ready").get("status") == "True"


def running(pod: Obj) -> bool:
    return phase(pod) == "Running"


async def kubectl(api: LocalApi, *args: str) -> list[list[str]]:
    """kubectl's table output as rows of cells (run off the event loop: the kubelet keeps working)."""
    out = (await asyncio.to_thread(api.kubectl, *args)).stdout
    return [line.split() for line in out.splitlines()]


def row(table: list[list[str]], name: str) -> list[str]:
    return next(r for r in table if r[0] == name)


# --- nodes -------------------------------------------------------------------------------------------


async def test_registers_nodes_as_kubectl_shows_them(cluster: LocalApi) -> None:
    async with kubelet_for(cluster.url) as (_, client):
        nodes, _ = await client.list(NODES)
        assert [n["metadata"]["name"] for n in nodes] == ["node-1", "node-2", "node-3"]
        node = nodes[1]
        assert node["status"]["addresses"] == [
            {"type": "InternalIP", "address": "127.0.1.2"},
            {"type": "Hostname", "address": "node-2"},
        ]
        assert (
            condition(node, "Ready")["status"] == "True"
            and condition(node, "Ready")["reason"] == "KubeletReady"
        )
        assert node["status"]["capacity"]["pods"] == "110" and node["status"]["allocatable"]["cpu"] == "4"
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.31.0"
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-2"

        table = await kubectl(cluster, "get", "nodes")
        assert table[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
        assert [(r[0], r[1], r[2], r[4]) for r in table[1:]] == [
            (f"node-{n}", "Ready", "<none>", "v1.31.0") for n in (1, 2, 3)
        ]
        wide = await kubectl(cluster, "get", "nodes", "-o", "wide")
        assert wide[0][5:7] == ["INTERNAL-IP", "EXTERNAL-IP"]
        assert row(wide, "node-3")[5:7] == ["127.0.1.3", "<none>"]

        await client.patch(NODES, None, "node-1", {"spec": {"unschedulable": True}})  # cordoned
        assert row(await kubectl(cluster, "get", "nodes"), "node-1")[1] == "Ready,SchedulingDisabled"
        await client.create(PODS, NS, manifest("web-0"))
        assert (await pod_when(client, "web-0", running, "Running"))["spec"]["nodeName"] == "node-2"
        await client.delete(NODES, None, "node-3")  # a kubelet registers its node again

        async def back() -> bool:
            nodes, _ = await client.list(NODES)
            return any(
                n["metadata"]["name"] == "node-3" and condition(n, "Ready")["status"] == "True" for n in nodes
            )

        await eventually(back, "node-3 registered again")
    async with kubelet_for(cluster.url) as (again, _):  # a restarted kubelet finds its nodes registered
        assert again.synced.is_set()


# --- scheduling and the pod lifecycle ----------------------------------------------------------------------


async def test_pod_is_scheduled_started_and_ready_after_its_delay(cluster: LocalApi) -> None:
    async with kubelet_for(cluster.url, KubeletConfig(ready_after=0.5)) as (_, client):
        await client.create(PODS, NS, manifest("web-0"))
        started = await pod_when(client, "web-0", running, "Running")
        seen_running = time.monotonic()
        assert not ready(started)
        assert condition(started, "Ready")["reason"] == "ContainersNotReady"
        done = await pod_when(client, "web-0", ready, "Ready")
        assert time.monotonic() - seen_running >= 0.35

    assert done["spec"]["nodeName"] == "node-1"
    status = done["status"]
    assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network("127.244.0.0/16")
    assert status["podIP"] != "127.244.0.0" and status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["hostIP"] == "127.0.1.1" and status["hostIPs"] == [{"ip": "127.0.1.1"}]
    assert status["qosClass"] == "BestEffort" and status["startTime"]
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [
        ("PodReadyToStartContainers", "True"),
        ("Initialized", "True"),
        ("Ready", "True"),
        ("ContainersReady", "True"),
        ("PodScheduled", "True"),
    ]
    assert all(c["lastTransitionTime"] for c in status["conditions"])
    (container,) = status["containerStatuses"]
    assert container["name"] == "web" and container["image"] == "docker.io/library/nginx:1.27"
    assert container["imageID"].startswith("docker.io/library/nginx@sha256:")
    assert container["containerID"].startswith("containerd://")
    assert (container["ready"], container["started"], container["restartCount"]) == (True, True, 0)
    assert container["state"]["running"]["startedAt"]

    table = await kubectl(cluster, "get", "pods", "-o", "wide")
    assert row(table, "web-0")[:3] == ["web-0", "1/1", "Running"]
    assert row(table, "web-0")[5:7] == [status["podIP"], "node-1"]


async def test_spreads_pods_to_the_node_with_fewest_ties_by_name(cluster: LocalApi) -> None:
    async with kubelet_for(cluster.url) as (kubelet, client):
        await client.create(PODS, NS, manifest("pinned", node="node-3"))  # placed by hand: counts too
        await pod_when(client, "pinned", running, "Running")
        first = await client.create(PODS, NS, manifest("first"))
        assert first["spec"].get("nodeName") is None
        assert (await pod_when(client, "first", running, "Running"))["spec"]["nodeName"] == "node-1"
        await asyncio.gather(*(client.create(PODS, NS, manifest(f"p{n}")) for n in range(4)))
        for n in range(4):
            await pod_when(client, f"p{n}", running, "Running")
        pods, _ = await client.list(PODS, NS)
        assert Counter(p["spec"]["nodeName"] for p in pods) == {"node-1": 2, "node-2": 2, "node-3": 2}
        assert len({p["status"]["podIP"] for p in pods}) == 6
        assert kubelet.writes <= 3 + 6 * 3  # nodes, then a bind, Running and Ready per pod


async def test_waits_until_its_claims_are_bound(cluster: LocalApi) -> None:
    async with kubelet_for(cluster.url) as (_, client):
        await client.create(PODS, NS, manifest("db-0", claims=("data-db-0",)))
        missing = f'0/3 nodes are available: persistentvolumeclaim "data-db-0" not found. {PREEMPTION}'
        pod = await pod_when(
            client, "db-0", lambda p: condition(p, "PodScheduled").get("message") == missing, ""
        )
        assert condition(pod, "PodScheduled")["status"] == "False"
        assert condition(pod, "PodScheduled")["reason"] == "Unschedulable"
        assert phase(pod) == "Pending" and not pod["spec"].get("nodeName")

        spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
        claim = {"metadata": {"name": "data-db-0"}, "spec": spec}
        await client.create(PERSISTENT_VOLUME_CLAIMS, NS, claim)
        unbound = f"0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. {PREEMPTION}"
        await pod_when(
            client, "db-0", lambda p: condition(p, "PodScheduled").get("message") == unbound, "unbound"
        )
        assert row(await kubectl(cluster, "get", "pods"), "db-0")[1:3] == ["0/1", "Pending"]

        # placed on a node by hand with its claim unbound: the containers wait to be created
        await client.create(PERSISTENT_VOLUME_CLAIMS, NS, {**claim, "metadata": {"name": "data-pre"}})
        await client.create(PODS, NS, manifest("pre", claims=("data-pre",), node="node-2"))
        pre = await pod_when(client, "pre", lambda p: bool((p.get("status") or {}).get("hostIP")), "placed")
        assert (
            phase(pre) == "Pending"
            and pre["status"]["hostIP"] == "127.0.1.2"
            and "podIP" not in pre["status"]
        )
        assert row(await kubectl(cluster, "get", "pods"), "pre")[1:3] == ["0/1", "ContainerCreating"]

        for name in ("data-db-0", "data-pre"):
            bound = {"status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"]}}
            await client.patch(PERSISTENT_VOLUME_CLAIMS, NS, name, bound, subresource="status")
        db = await pod_when(client, "db-0", ready, "Ready once bound")
        assert condition(db, "PodScheduled")["status"] == "True" and db["spec"]["nodeName"]
        assert (await pod_when(client, "pre", ready, "Ready once bound"))["spec"]["nodeName"] == "node-2"


async def test_per_pod_annotations_override_the_timing(cluster: LocalApi) -> None:
    async with kubelet_for(cluster.url, KubeletConfig(ready_after=30)) as (kubelet, client):
        await client.create(PODS, NS, manifest("never", annotations={READY_AFTER: "never"}))
        await client.create(
            PODS, NS, manifest("unreadable", annotations={READY_AFTER: "soon"})
        )  # the default: 30 s
        await client.create(PODS, NS, manifest("crashes", annotations={FAIL_AFTER: "0.1"}))
        await pod_when(client, "never", running, "Running")
        await client.create(PODS, NS, manifest("quick", annotations={READY_AFTER: "0.1"}))
        await pod_when(client, "quick", ready, "Ready after 0.1 s")
        crashed = await pod_when(client, "crashes", lambda p: phase(p) == "Failed", "Failed")
        assert crashed["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Error"
        for name in ("never", "unreadable"):
            pod = await client.get(PODS, NS, name)
            assert running(pod) and not ready(pod), name
        table = await kubectl(cluster, "get", "pods")
        assert row(table, "never")[1:3] == ["0/1", "Running"]
        assert row(table, "quick")[1:3] == ["1/1", "Running"]
        assert row(table, "crashes")[1:3] == ["0/1", "Failed"]
        await kubelet.set_ready(NS, "never", True)  # a forced readiness wins over the annotation
        assert ready(await client.get(PODS, NS, "never"))
        assert phase(await client.get(PODS, NS, "crashes")) == "Failed"  # failed pods stay


async def test_graceful_deletion_waits_for_the_containers_within_the_grace(cluster: LocalApi) -> None:
    async with kubelet_for(cluster.url) as (_, client):
        await client.create(PODS, NS, manifest("slow", annotations={STOP_AFTER: "0.4"}))
        await client.create(PODS, NS, manifest("capped", annotations={STOP_AFTER: "30"}))
        await client.create(PODS, NS, manifest("quick"))
        for name in ("slow", "capped", "quick"):
            await pod_when(client, name, ready, "Ready")

        async def timed_delete(name: str, grace: int | None) -> float:
            start = time.monotonic()
            marked = await client.delete(PODS, NS, name, grace_seconds=grace)
            assert marked is not None and marked["metadata"]["deletionTimestamp"]
            await pod_when(client, name, lambda p: not ready(p), "not Ready while stopping")
            await gone(client, name)
            return time.monotonic() - start

        slow, capped = await asyncio.gather(timed_delete("slow", None), timed_delete("capped", 1))
        assert 0.35 <= slow < 2.0  # stop-after 0.4 s, well within the default 30 s grace
        assert 0.9 <= capped < 3.0  # stop-after 30 s, but the grace period is 1 s
        await asyncio.to_thread(cluster.kubectl, "delete", "pod", "quick", "--timeout=5s")
        await gone(client, "quick", timeout=0.5)


async def test_unscheduled_pods_are_deleted_by_the_server_at_once(cluster: LocalApi) -> None:
    async with kubelet_for(cluster.url) as (_, client):
        await client.create(PODS, NS, manifest("stuck", claims=("nothing",)))
        await pod_when(client, "stuck", lambda p: condition(p, "PodScheduled").get("status") == "False", "")
        assert await client.delete(PODS, NS, "stuck") is not None
        await gone(client, "stuck", timeout=0.5)


# --- failure injection ---------------------------------------------------------------------------------


async def test_fail_pod_and_set_ready(cluster: LocalApi) -> None:
    async with kubelet_for(cluster.url) as (kubelet, client):
        for name in ("a", "b", "c"):
            await client.create(PODS, NS, manifest(name))
        for name in ("a", "b", "c"):
            await pod_when(client, name, ready, "Ready")
        await kubelet.fail_pod(NS, "a")
        failed = await client.get(PODS, NS, "a")
        assert phase(failed) == "Failed" and not ready(failed) and "reason" not in failed["status"]
        ended = failed["status"]["containerStatuses"][0]["state"]["terminated"]
        assert (ended["reason"], ended["exitCode"]) == ("Error", 1)
        assert failed["status"]["podIP"]

        await kubelet.fail_pod(NS, "b", reason="Evicted", message="The node was low on resource: memory.")
        evicted = await client.get(PODS, NS, "b")
        assert (evicted["status"]["reason"], evicted["status"]["message"]) == (
            "Evicted",
            "The node was low on resource: memory.",
        )
        assert row(await kubectl(cluster, "get", "pods"), "b")[1:3] == ["0/1", "Evicted"]

        await kubelet.set_ready(NS, "c", False)
        c = await client.get(PODS, NS, "c")
        assert running(c) and not ready(c) and c["status"]["containerStatuses"][0]["ready"] is False
        assert row(await kubectl(cluster, "get", "pods"), "c")[1:3] == ["0/1", "Running"]
        await kubelet.set_ready(NS, "c", True)
        assert ready(await client.get(PODS, NS, "c"))

        assert phase(await client.get(PODS, NS, "a")) == "Failed"  # nobody deleted it
        await client.delete(PODS, NS, "a")  # a finished pod goes at once
        await gone(client, "a", timeout=0.5)


async def test_lost_node(cluster: LocalApi) -> None:
    async with kubelet_for(cluster.url) as (kubelet, client):
        for n in range(3):
            await client.create(PODS, NS, manifest(f"p{n}"))
        for n in range(3):
            await pod_when(client, f"p{n}", ready, "Ready")
        assert (await client.get(PODS, NS, "p0"))["spec"]["nodeName"] == "node-1"

        await kubelet.lose_node("node-1")
        node = await client.get(NODES, None, "node-1")
        assert {c["type"]: c["status"] for c in node["status"]["conditions"]} == {
            "MemoryPressure": "Unknown",
            "DiskPressure": "Unknown",
            "PIDPressure": "Unknown",
            "Ready": "Unknown",
        }
        assert condition(node, "Ready")["reason"] == "NodeStatusUnknown"
        assert {(t["key"], t["effect"]) for t in node["spec"]["taints"]} == {
            (UNREACHABLE, "NoSchedule"),
            (UNREACHABLE, "NoExecute"),
        }
        lost = await pod_when(client, "p0", lambda p: not ready(p), "not Ready")
        assert running(lost)  # the control plane only marks it; nothing reports its containers
        assert ready(await client.get(PODS, NS, "p1"))
        assert row(await kubectl(cluster, "get", "nodes"), "node-1")[1] == "NotReady"

        await client.create(PODS, NS, manifest("later"))
        assert (await pod_when(client, "later", ready, "Ready"))["spec"]["nodeName"] != "node-1"

        await client.delete(PODS, NS, "p0")  # nobody on the node finishes the deletion
        stuck = await pod_when(
            client, "p0", lambda p: (p.get("status") or {}).get("reason") == "NodeLost", ""
        )
        assert stuck["status"]["message"] == "Node node-1 which was running pod p0 is unresponsive"
        assert row(await kubectl(cluster, "get", "pods"), "p0")[2] == "Terminating"
        await client.get(PODS, NS, "p0")

        await kubelet.restore_node("node-1")
        await gone(client, "p0")
        node = await client.get(NODES, None, "node-1")
        assert condition(node, "Ready")["status"] == "True" and not node["spec"].get("taints")


# --- addresses ------------------------------------------------------------------------------------------


async def test_restarted_kubelet_hands_out_no_address_twice(cluster: LocalApi) -> None:
    config = KubeletConfig(ready_after=0.0, pod_cidr="127.244.0.0/28")
    async with kubelet_for(cluster.url, config) as (_, client):
        for n in range(4):
            await client.create(PODS, NS, manifest(f"old{n}"))
        for n in range(4):
            await pod_when(client, f"old{n}", ready, "Ready")
        before = {p["metadata"]["name"]: p for p in (await client.list(PODS, NS))[0]}

    async with kubelet_for(cluster.url, config) as (kubelet, client):
        for n in range(4):
            await client.create(PODS, NS, manifest(f"new{n}"))
        for n in range(4):
            await pod_when(client, f"new{n}", ready, "Ready")
        after = {p["metadata"]["name"]: p for p in (await client.list(PODS, NS))[0]}
        assert kubelet.writes <= 3 + 4 * 2  # the nodes again, and the new pods: nothing rewritten
    for name, pod in before.items():
        assert after[name]["metadata"]["resourceVersion"] == pod["metadata"]["resourceVersion"]
    ips = [p["status"]["podIP"] for p in after.values()]
    assert len(set(ips)) == 8


async def test_addresses_are_freed_when_pods_are_gone(cluster: LocalApi) -> None:
    config = KubeletConfig(ready_after=0.0, pod_cidr="127.244.0.0/29")  # six addresses
    async with kubelet_for(cluster.url, config) as (_, client):
        for n in range(7):
            await client.create(PODS, NS, manifest(f"p{n}"))

        async def six_running_one_waiting() -> list[Obj] | None:
            pods, _ = await client.list(PODS, NS)
            placed = [p for p in pods if (p.get("status") or {}).get("hostIP")]
            return pods if len(placed) == 7 and sum(map(running, pods)) == 6 else None

        pods = await eventually(six_running_one_waiting, "six pods running, one waiting for an address")
        (waiting,) = [p for p in pods if not running(p)]
        assert phase(waiting) == "Pending"
        assert waiting["status"]["containerStatuses"][0]["state"] == {
            "waiting": {"reason": "ContainerCreating"}
        }
        victim = next(p for p in pods if running(p))
        await client.delete(PODS, NS, victim["metadata"]["name"])
        started = await pod_when(
            client, waiting["metadata"]["name"], running, "Running with the freed address"
        )
        assert started["status"]["podIP"] == victim["status"]["podIP"]


async def test_dual_stack_pods_get_an_address_of_each_family(cluster: LocalApi) -> None:
    config = KubeletConfig(ready_after=0.0, pod_cidr6="fd00:10:244::/64")
    async with kubelet_for(cluster.url, config) as (_, client):
        await client.create(PODS, NS, manifest("a"))
        await client.create(PODS, NS, manifest("b"))
        a = await pod_when(client, "a", ready, "Ready")
        b = await pod_when(client, "b", ready, "Ready")
    assert [x["ip"] for x in a["status"]["podIPs"]] == ["127.244.0.1", "fd00:10:244::1"]
    assert [x["ip"] for x in b["status"]["podIPs"]] == ["127.244.0.2", "fd00:10:244::2"]
    assert a["status"]["podIP"] == "127.244.0.1"


# --- scale and faults ----------------------------------------------------------------------------------


async def test_a_thousand_pods(cluster: LocalApi) -> None:
    count = 1000
    async with kubelet_for(cluster.url, KubeletConfig(ready_after=0.0)) as (kubelet, client):
        limit = asyncio.Semaphore(32)

        async def create(n: int) -> None:
            async with limit:
                await client.create(PODS, NS, manifest(f"p{n:04d}"))

        await asyncio.gather(*(create(n) for n in range(count)))

        async def all_ready() -> list[Obj] | None:
            pods, _ = await client.list(PODS, NS)
            return pods if sum(map(ready, pods)) == count else None

        pods = await eventually(all_ready, f"{count} pods Ready", timeout=30)
        assert kubelet.writes <= 3 + 2 * count  # a bind and one status write per pod
    assert len({p["status"]["podIP"] for p in pods}) == count
    assert sorted(Counter(p["spec"]["nodeName"] for p in pods).values()) == [333, 333, 334]


async def test_survives_an_api_outage_and_failed_writes(cluster: LocalApi) -> None:
    proxy = FaultProxy(cluster.url)
    await proxy.start()
    direct = Client(Connection(server=cluster.url))
    try:
        async with kubelet_for(proxy.url) as (kubelet, _):
            proxy.faults.down = True
            proxy.cut()
            refused = len(proxy.faults.seen)
            await direct.create(PODS, NS, manifest("during"))

            async def refused_some() -> bool:
                return len(proxy.faults.seen) > refused

            await eventually(refused_some, "a request refused")
            proxy.faults.down = False
            await pod_when(direct, "during", ready, "Ready after the outage", timeout=10)

            proxy.faults.fail_code, proxy.faults.fail_requests = 409, 2  # the next writes conflict
            await direct.create(PODS, NS, manifest("conflicted"))
            await pod_when(direct, "conflicted", ready, "Ready despite conflicts")
            binds = [r for r in proxy.faults.seen if r.startswith("PATCH") and r.endswith("/pods/conflicted")]
            assert proxy.faults.fail_requests == 0 and len(binds) >= 2  # retried without a new event
            assert kubelet.synced.is_set()
    finally:
        await direct.close()
        await proxy.stop()
