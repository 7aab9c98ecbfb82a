"""Volume expansion: the pure resize steps, then the provisioner growing volumes against the local API
server (unmounted at once; mounted through FileSystemResizePending) and the API server's resize admission."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubeapi.auth import Connection
from kubeapi.client import Client
from kubeapi.errors import Forbidden, Invalid
from kubeapi.meta import rfc3339
from kubeapi.paths import PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES, PODS, STORAGE_CLASSES
from localcluster.controllers.provisioner.controller import Provisioner, ProvisionerConfig
from localcluster.controllers.provisioner.resize import (
    FS_RESIZE_PENDING,
    mounts,
    needs_resize,
    resize_status,
    volume_growth,
)
from localcluster.controllers.provisioner.volumes import (
    PROVISIONER,
    StorageClass,
    claim_from_raw,
    volume_from_raw,
)
from localcluster.storage.checks.claim import RESIZE_FORBIDDEN
from tests.localcluster.conftest import LocalApi
from tests.support.waiting import eventually

Obj = dict[str, Any]
NOW = 1_900_000_000.0
GROWS = StorageClass("standard", PROVISIONER, "Delete", "Immediate", True, "", allow_expansion=True)
FIXED = StorageClass("fixed", PROVISIONER, "Delete", "Immediate", False, "")


def claim(request: str, capacity: str, *, phase: str = "Bound", pending_since: float | None = None) -> Any:
    status: Obj = {"phase": phase, "capacity": {"storage": capacity}}
    if pending_since is not None:
        stamp = {"type": FS_RESIZE_PENDING, "status": "True", "lastTransitionTime": rfc3339(pending_since)}
        status["conditions"] = [stamp, {"type": "Other", "status": "True"}]
    return claim_from_raw(
        {
            "metadata": {"namespace": "ns", "name": "www-web-0", "uid": "c1"},
            "spec": {"resources": {"requests": {"storage": request}}, "storageClassName": "standard"},
            "status": status,
        }
    )


def volume(capacity: str) -> Any:
    annotations = {"pv.kubernetes.io/provisioned-by": PROVISIONER}
    return volume_from_raw(
        {
            "metadata": {"name": "pvc-c1", "uid": "v1", "annotations": annotations},
            "spec": {"capacity": {"storage": capacity}},
        }
    )


def test_a_volume_grows_only_for_a_bound_claim_of_an_expandable_class() -> None:
    grown = {"metadata": {"uid": "v1"}, "spec": {"capacity": {"storage": "2Gi"}}}
    assert volume_growth(claim("2Gi", "1Gi"), volume("1Gi"), GROWS) == grown
    assert volume_growth(claim("2Gi", "1Gi"), volume("1Gi"), FIXED) is None
    assert volume_growth(claim("2Gi", "1Gi"), volume("1Gi"), None) is None
    assert volume_growth(claim("2Gi", "", phase="Pending"), volume("1Gi"), GROWS) is None
    assert volume_growth(claim("1Gi", "2Gi"), volume("2Gi"), GROWS) is None  # never shrunk
    assert volume_growth(claim("1024Mi", "1Gi"), volume("1Gi"), GROWS) is None  # the same size
    assert needs_resize(claim("2Gi", "1Gi"), volume("2Gi"))
    assert not needs_resize(claim("2Gi", "1Gi"), volume("1Gi"))
    assert not needs_resize(claim("2Gi", "2Gi"), volume("2Gi"))


def test_the_file_system_step_waits_while_mounted() -> None:
    grown = volume("2Gi")
    patch, wait = resize_status(claim("2Gi", "1Gi"), grown, mounted=False, now=NOW, wait=1.0)
    assert (patch["status"], wait) == ({"capacity": {"storage": "2Gi"}, "conditions": None}, 0.0)
    patch, wait = resize_status(claim("2Gi", "1Gi"), grown, mounted=True, now=NOW, wait=1.0)
    (condition,) = patch["status"]["conditions"]
    assert (condition["type"], condition["status"], wait) == (FS_RESIZE_PENDING, "True", 1.0)
    assert condition["message"].startswith("Waiting for user to (re-)start a pod")
    assert "capacity" not in patch["status"]
    waiting = claim("2Gi", "1Gi", pending_since=NOW)
    assert resize_status(waiting, grown, mounted=True, now=NOW + 1.25, wait=1.0) == ({}, 0.75)
    patch, wait = resize_status(waiting, grown, mounted=True, now=NOW + 2, wait=1.0)
    assert patch["status"] == {
        "capacity": {"storage": "2Gi"},
        "conditions": [{"type": "Other", "status": "True"}],
    }
    assert wait == 0.0


def test_which_pods_mount_a_claim() -> None:
    def pod(phase: str, claim_name: str, **meta: Any) -> Obj:
        volumes = [{"name": "www", "persistentVolumeClaim": {"claimName": claim_name}}]
        return {"metadata": meta, "spec": {"volumes": volumes}, "status": {"phase": phase}}

    assert mounts(pod("Running", "www-web-0"), "www-web-0")
    assert not mounts(pod("Pending", "www-web-0"), "www-web-0")
    assert not mounts(pod("Running", "www-web-1"), "www-web-0")
    assert not mounts(pod("Running", "www-web-0", deletionTimestamp="2030-01-01T00:00:00Z"), "www-web-0")


# -- against the API server ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def provisioner(api: LocalApi, root: Path) -> AsyncIterator[Client]:
    async with Client(Connection(server=api.url)) as client, Client(Connection(server=api.url)) as own:
        running = Provisioner(own, ProvisionerConfig(volume_root=str(root), resize_wait=0.5))
        task = asyncio.create_task(running.run())
        try:
            await asyncio.wait_for(running.synced.wait(), 10)
            yield client
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def bound_claim(client: Client, ns: str, name: str, **spec: Any) -> Obj:
    body = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, **spec},
    }
    await client.create(PERSISTENT_VOLUME_CLAIMS, ns, body)
    found: Obj = {}

    async def is_bound() -> bool:
        found.update(await client.get(PERSISTENT_VOLUME_CLAIMS, ns, name))
        return (found.get("status") or {}).get("phase") == "Bound"

    await eventually(is_bound)
    return found


def grow(size: str) -> Obj:
    return {"spec": {"resources": {"requests": {"storage": size}}}}


async def status_of(client: Client, ns: str, name: str) -> Obj:
    found = await client.get(PERSISTENT_VOLUME_CLAIMS, ns, name)
    return dict(found.get("status") or {})


async def test_the_default_class_allows_expansion(api: LocalApi, tmp_path: Path) -> None:
    async with provisioner(api, tmp_path / "volumes") as client:
        found = await client.get(STORAGE_CLASSES, None, "standard")
    assert found["allowVolumeExpansion"] is True
    assert (
        "true"
        in api.kubectl("get", "storageclass", "standard", "-o", "jsonpath={.allowVolumeExpansion}").stdout
    )


async def test_an_unmounted_claim_grows_at_once(api: LocalApi, ns: str, tmp_path: Path) -> None:
    async with provisioner(api, tmp_path / "volumes") as client:
        made = await bound_claim(client, ns, "data")
        await client.patch(PERSISTENT_VOLUME_CLAIMS, ns, "data", grow("2Gi"))

        async def grown() -> bool:
            return (await status_of(client, ns, "data")).get("capacity") == {"storage": "2Gi"}

        await eventually(grown)
        volume = await client.get(PERSISTENT_VOLUMES, None, made["spec"]["volumeName"])
        status = await status_of(client, ns, "data")
    assert volume["spec"]["capacity"] == {"storage": "2Gi"}
    assert "conditions" not in status and status["phase"] == "Bound"
    row = api.kubectl("get", "pvc", "data", "-n", ns, "--no-headers").stdout.split()
    assert row[:4] == ["data", "Bound", made["spec"]["volumeName"], "2Gi"]


async def test_a_mounted_claim_passes_through_file_system_resize_pending(
    api: LocalApi, ns: str, tmp_path: Path
) -> None:
    async with provisioner(api, tmp_path / "volumes") as client:
        await bound_claim(client, ns, "www-web-0")
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web-0"},
            "spec": {
                "containers": [{"name": "c", "image": "nginx"}],
                "volumes": [{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}}],
            },
        }
        await client.create(PODS, ns, pod)
        await client.patch(PODS, ns, "web-0", {"status": {"phase": "Running"}}, subresource="status")
        seen: list[tuple[str, tuple[str, ...]]] = []

        async def done() -> bool:
            status = await status_of(client, ns, "www-web-0")
            step = (status["capacity"]["storage"], tuple(c["type"] for c in status.get("conditions") or ()))
            if not seen or seen[-1] != step:
                seen.append(step)
            return step == ("2Gi", ())

        await client.patch(PERSISTENT_VOLUME_CLAIMS, ns, "www-web-0", grow("2Gi"))
        await eventually(done)
    assert ("1Gi", (FS_RESIZE_PENDING,)) in seen and seen[-1] == ("2Gi", ())


async def test_growing_a_claim_of_a_fixed_class_is_forbidden(api: LocalApi, ns: str, tmp_path: Path) -> None:
    fixed = f"fixed-{ns}"[:60]
    async with provisioner(api, tmp_path / "volumes") as client:
        body = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": fixed}}
        await client.create(STORAGE_CLASSES, None, body | {"provisioner": PROVISIONER})
        await bound_claim(client, ns, "kept", storageClassName=fixed)
        with pytest.raises(Forbidden) as refused:
            await client.patch(PERSISTENT_VOLUME_CLAIMS, ns, "kept", grow("2Gi"))
        with pytest.raises(Invalid) as shrunk:
            await client.patch(PERSISTENT_VOLUME_CLAIMS, ns, "kept", grow("512Mi"))
        await client.create(
            PERSISTENT_VOLUME_CLAIMS,
            ns,
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "waiting"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                    "storageClassName": "",
                },
            },
        )
        with pytest.raises(Invalid):  # an unbound claim's spec is immutable
            await client.patch(PERSISTENT_VOLUME_CLAIMS, ns, "waiting", grow("2Gi"))
    assert refused.value.code == 403 and refused.value.reason == "Forbidden"
    assert (
        str(refused.value.status.get("message"))
        == f'persistentvolumeclaims "kept" is forbidden: {RESIZE_FORBIDDEN}'
    )
    assert "field can not be less than previous value" in str(shrunk.value)
    proc = api.kubectl("patch", "pvc", "kept", "-n", ns, "-p", json.dumps(grow("3Gi")), check=False)
    assert proc.returncode != 0
    assert (
        f'Error from server (Forbidden): persistentvolumeclaims "kept" is forbidden: {RESIZE_FORBIDDEN}'
        in proc.stderr
    )
