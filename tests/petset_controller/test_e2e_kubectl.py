"""End to end with real kubectl: the example PetSet on the local API server, the controller and a kubelet."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from kubeapi.auth import Connection
from kubeapi.client import Client
from localcluster.storage.resources import Resource, find
from petset_controller.core.model import pod_from_raw
from petset_controller.runtime.controller import Controller
from tests.localcluster.conftest import LocalApi, serving
from tests.petset_controller.harness import Invariants
from tests.petset_controller.kubelet import Kubelet

T = TypeVar("T")
ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "config" / "examples" / "petset.yaml"


def resource(group: str, plural: str) -> Resource:
    found = find(group, "v1", plural)
    assert found is not None
    return found


PODS, CLAIMS, PETSETS = (
    resource("", "pods"),
    resource("", "persistentvolumeclaims"),
    resource("petdns.dev", "petsets"),
)
OLD_IMAGE = "gcr.io/google_containers/nginx-slim:0.8"
NEW_IMAGE = "gcr.io/google_containers/nginx-slim:0.9"
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    """The API server in its own thread, with the controller and a reacting kubelet on its loop."""
    with serving(tmp_path_factory.mktemp("e2e")) as running:
        tasks: list[asyncio.Task[None]] = []
        clients: list[Client] = []

        async def start() -> None:
            clients.extend(Client(Connection(running.url)) for _ in range(2))
            tasks.append(asyncio.create_task(Controller(clients[0]).run()))
            tasks.append(asyncio.create_task(Kubelet(clients[1]).run()))

        async def stop() -> None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for client in clients:
                await client.close()

        asyncio.run_coroutine_threadsafe(start(), running.loop).result(10)
        yield running
        asyncio.run_coroutine_threadsafe(stop(), running.loop).result(10)


@pytest.fixture
def ns(api: LocalApi, request: pytest.FixtureRequest) -> str:
    return api.namespace(request.node.name.lower().replace("_", "-")[:50].strip("-"))


@pytest.fixture
def watched(api: LocalApi, ns: str) -> Iterator[Invariants]:
    """Invariants of set `web` in the test's namespace, checked on every change the server commits."""
    invariants = Invariants("web", namespace=ns)
    unsubscribe = api.call(lambda: api.store.subscribe(invariants))
    yield invariants
    api.call(unsubscribe)
    assert not invariants.violations, invariants.violations


def until(api: LocalApi, check: Callable[[], T], *, timeout: float = 15) -> T:
    """Poll a read of the store (on the server's loop) until it gives something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = api.call(check)
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def pods(api: LocalApi, ns: str) -> dict[str, Obj]:
    return {p["metadata"]["name"]: p for p in api.store.list(PODS, ns).items}


def claims(api: LocalApi, ns: str) -> dict[str, str]:
    return {c["metadata"]["name"]: c["metadata"]["uid"] for c in api.store.list(CLAIMS, ns).items}


def petset(api: LocalApi, ns: str) -> Obj:
    found: Obj = api.store.get(PETSETS, ns, "web")
    return found


def ready(api: LocalApi, ns: str, *names: str) -> bool:
    """Exactly these pets exist, each Running and Ready."""
    found = pods(api, ns)
    return sorted(found) == sorted(names) and all(pod_from_raw(p).healthy for p in found.values())


def image(pod: Obj) -> str:
    return str(pod["spec"]["containers"][0]["image"])


def settled(api: LocalApi, ns: str) -> bool:
    """The controller has written the status of the set's current generation."""
    found = petset(api, ns)
    return bool(found.get("status", {}).get("observedGeneration") == found["metadata"].get("generation"))


def create_example(api: LocalApi, ns: str) -> None:
    out = api.kubectl("create", "-n", ns, "-f", str(EXAMPLE)).stdout
    assert "petset.apps/web created" in out


def test_example_comes_up_in_order_and_scales_2_5_3(api: LocalApi, ns: str, watched: Invariants) -> None:
    create_example(api, ns)
    until(api, lambda: ready(api, ns, "web-0", "web-1"))
    assert watched.created == ["web-0", "web-1"]
    assert "petset.apps/web scaled" in api.kubectl("scale", "-n", ns, "petset", "web", "--replicas=5").stdout
    until(api, lambda: ready(api, ns, *(f"web-{i}" for i in range(5))))
    assert watched.created == [f"web-{i}" for i in range(5)]
    api.kubectl("scale", "-n", ns, "petset", "web", "--replicas=3")
    until(api, lambda: ready(api, ns, "web-0", "web-1", "web-2"))
    left = api.kubectl("get", "-n", ns, "pvc", "-o", "name").stdout.split()
    assert left == [f"persistentvolumeclaim/www-web-{i}" for i in range(5)]  # www-web-3, www-web-4 stay
    until(api, lambda: petset(api, ns).get("status", {}).get("readyReplicas") == 3)
    row = api.kubectl("get", "-n", ns, "pets", "web").stdout.splitlines()[1].split()
    assert row[:3] == ["web", "3", "3"]
    pod = json.loads(api.kubectl("get", "-n", ns, "pod", "web-2", "-o", "json").stdout)
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("web-2", "nginx")
    assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "2"


def test_deleted_pet_comes_back_with_its_name_and_claim(api: LocalApi, ns: str, watched: Invariants) -> None:
    create_example(api, ns)
    until(api, lambda: ready(api, ns, "web-0", "web-1"))
    before, kept = pods(api, ns)["web-1"]["metadata"]["uid"], claims(api, ns)
    api.kubectl("delete", "-n", ns, "pod", "web-1")
    until(
        api, lambda: ready(api, ns, "web-0", "web-1") and pods(api, ns)["web-1"]["metadata"]["uid"] != before
    )
    volumes = pods(api, ns)["web-1"]["spec"]["volumes"]
    assert volumes[0]["persistentVolumeClaim"]["claimName"] == "www-web-1"
    assert claims(api, ns) == kept


def test_template_change_with_on_delete(api: LocalApi, ns: str, watched: Invariants) -> None:
    create_example(api, ns)
    until(api, lambda: ready(api, ns, "web-0", "web-1"))
    api.kubectl("patch", "-n", ns, "petset", "web", "--type=merge", "-p", _on_delete_with(NEW_IMAGE))
    until(api, lambda: settled(api, ns))
    status = petset(api, ns)["status"]
    assert status["updateRevision"] != status["currentRevision"]
    assert {image(p) for p in pods(api, ns).values()} == {OLD_IMAGE}  # nothing moves by itself
    for name in ("web-1", "web-0"):
        api.kubectl("delete", "-n", ns, "pod", name)
        until(api, lambda: ready(api, ns, "web-0", "web-1") and image(pods(api, ns)[name]) == NEW_IMAGE)  # noqa: B023
    until(api, lambda: petset(api, ns)["status"]["currentRevision"] == status["updateRevision"])


def _on_delete_with(new_image: str) -> str:
    container = {"name": "nginx", "image": new_image}
    return json.dumps(
        {"spec": {"updateStrategy": {"type": "OnDelete"}, "template": {"spec": {"containers": [container]}}}}
    )


def test_rolling_update_with_partition(api: LocalApi, ns: str, watched: Invariants) -> None:
    create_example(api, ns)
    api.kubectl("scale", "-n", ns, "petset", "web", "--replicas=3")
    until(api, lambda: ready(api, ns, "web-0", "web-1", "web-2"))
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}
    patch = [
        {"op": "add", "path": "/spec/updateStrategy", "value": strategy},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": NEW_IMAGE},
    ]
    api.kubectl("patch", "-n", ns, "petset", "web", "--type=json", "-p", json.dumps(patch))

    def images() -> dict[str, str]:
        return {n: image(p) for n, p in pods(api, ns).items() if pod_from_raw(p).healthy}

    want = {"web-0": OLD_IMAGE, "web-1": NEW_IMAGE, "web-2": NEW_IMAGE}
    until(api, lambda: images() == want and settled(api, ns))
    status = petset(api, ns)["status"]
    assert status["currentRevision"] != status["updateRevision"]  # not done while the partition holds
    api.kubectl("patch", "-n", ns, "petset", "web", "--type=merge", "-p", _partition(0))
    until(api, lambda: set(images().values()) == {NEW_IMAGE} and len(images()) == 3)
    until(api, lambda: petset(api, ns)["status"]["currentRevision"] == status["updateRevision"])


def _partition(value: int) -> str:
    return json.dumps({"spec": {"updateStrategy": {"rollingUpdate": {"partition": value}}}})


def test_orphan_cascade_then_readoption(api: LocalApi, ns: str, watched: Invariants) -> None:
    create_example(api, ns)
    until(api, lambda: ready(api, ns, "web-0", "web-1"))
    uids = {n: p["metadata"]["uid"] for n, p in pods(api, ns).items()}
    kept = claims(api, ns)
    api.kubectl("delete", "-n", ns, "petset", "web", "--cascade=orphan")
    assert api.kubectl("get", "-n", ns, "petset", "web", check=False).returncode == 1
    left = pods(api, ns)
    assert {n: p["metadata"]["uid"] for n, p in left.items()} == uids
    assert all(not p["metadata"].get("ownerReferences") for p in left.values())
    assert claims(api, ns) == kept
    petset_doc = list(yaml.safe_load_all(EXAMPLE.read_text()))[1]
    api.kubectl("create", "-n", ns, "-f", "-", stdin=yaml.safe_dump(petset_doc))
    new_uid = petset(api, ns)["metadata"]["uid"]

    def adopted() -> bool:
        owners = [
            (p["metadata"].get("ownerReferences") or [{}])[0].get("uid") for p in pods(api, ns).values()
        ]
        return owners == [new_uid, new_uid] and settled(api, ns)

    until(api, adopted)
    assert {n: p["metadata"]["uid"] for n, p in pods(api, ns).items()} == uids  # adopted, not remade
    assert claims(api, ns) == kept
    assert petset(api, ns)["status"]["readyReplicas"] == 2
