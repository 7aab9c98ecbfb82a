"""The hostPath volume provisioner: the pure decisions, then against the local API server and kubectl."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubeapi.auth import Connection
from kubeapi.client import Client
from kubeapi.errors import NotFound
from kubeapi.paths import PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES, STORAGE_CLASSES
from localcluster.controllers.provisioner.controller import Provisioner, ProvisionerConfig
from localcluster.controllers.provisioner.volumes import (
    PROVISIONER,
    claim_binding,
    claim_from_raw,
    class_from_raw,
    class_of,
    provisions,
    removable_path,
    volume_from_raw,
)
from tests.localcluster.conftest import LocalApi
from tests.support.waiting import eventually

Obj = dict[str, Any]


def claim_raw(name: str = "data", *, uid: str = "u1", **spec: Any) -> Obj:
    base: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    return {"kind": "PersistentVolumeClaim", "metadata": {"name": name, "uid": uid}, "spec": base | spec}


def class_raw(name: str, *, provisioner: str = PROVISIONER, default: bool = False, **extra: Any) -> Obj:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    meta = {"name": name, "annotations": annotations, "creationTimestamp": "2030-01-01T00:00:00Z"}
    return {"metadata": meta, "provisioner": provisioner, **extra}


CLASSES = {
    c.name: c
    for c in (
        class_from_raw(class_raw("standard", default=True)),
        class_from_raw(class_raw("other", provisioner="example.com/nfs")),
        class_from_raw(class_raw("late", volumeBindingMode="WaitForFirstConsumer")),
    )
}


# -- pure -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "annotations", "expected"),
    [
        ({}, {}, True),  # no class: the default class
        ({"storageClassName": "standard"}, {}, True),
        ({"storageClassName": ""}, {}, False),  # explicitly no class: static binding only
        ({"storageClassName": "other"}, {}, False),  # another provisioner's class
        ({"storageClassName": "missing"}, {}, False),
        ({"storageClassName": "late"}, {}, False),  # WaitForFirstConsumer: not until a node is chosen
        ({"storageClassName": "late"}, {"volume.kubernetes.io/selected-node": "n1"}, True),
        ({"selector": {"matchLabels": {"a": "b"}}}, {}, False),
        ({"volumeName": "pv-by-hand"}, {}, False),
        ({"volumeName": "pvc-u1"}, {}, True),  # its own volume, binding half done
        ({"resources": {}}, {}, False),  # no size asked for
    ],
)
def test_which_claims_are_provisioned(spec: Obj, annotations: Obj, expected: bool) -> None:
    raw = claim_raw(**spec)
    raw["metadata"]["annotations"] = annotations
    claim = claim_from_raw(raw)
    assert provisions(claim, class_of(claim, CLASSES)) is expected


def test_the_newest_default_class_wins_and_none_without_one() -> None:
    newer = class_raw("newer", default=True)
    newer["metadata"]["creationTimestamp"] = "2031-01-01T00:00:00Z"
    classes = {**CLASSES, "newer": class_from_raw(newer)}
    claim = claim_from_raw(claim_raw())
    found = class_of(claim, classes)
    assert found is not None and found.name == "newer"
    assert class_of(claim, {"other": CLASSES["other"]}) is None


def test_binding_patch_is_minimal() -> None:
    volume = volume_from_raw(
        {
            "metadata": {"name": "pvc-u1"},
            "spec": {"storageClassName": "standard", "capacity": {"storage": "1Gi"}},
        }
    )
    patch = claim_binding(claim_from_raw(claim_raw()), volume)
    assert patch is not None
    assert patch["spec"] == {"volumeName": "pvc-u1", "storageClassName": "standard"}
    assert patch["metadata"]["uid"] == "u1"
    done = claim_raw(volumeName="pvc-u1", storageClassName="standard")
    done["metadata"]["annotations"] = patch["metadata"]["annotations"]
    assert claim_binding(claim_from_raw(done), volume) is None


def test_only_its_own_directories_are_removable(tmp_path: Path) -> None:
    root = str(tmp_path)

    def volume(path: str, *, ours: bool = True) -> Any:
        annotations = {"pv.kubernetes.io/provisioned-by": PROVISIONER} if ours else {}
        return volume_from_raw(
            {"metadata": {"name": "pvc-u1", "annotations": annotations}, "spec": {"hostPath": {"path": path}}}
        )

    assert removable_path(volume(f"{root}/pvc-u1"), root) == str(tmp_path / "pvc-u1")
    assert removable_path(volume(f"{root}/pvc-u1", ours=False), root) is None
    assert removable_path(volume(f"{root}/elsewhere"), root) is None
    assert removable_path(volume(f"{root}/../pvc-u1"), root) is None
    assert removable_path(volume("/"), root) is None


# -- against the API server ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def provisioner(api: LocalApi, root: Path) -> AsyncIterator[tuple[Provisioner, Client]]:
    """A running provisioner and a client for the test's own calls."""
    async with Client(Connection(server=api.url)) as client, Client(Connection(server=api.url)) as own:
        running = Provisioner(own, ProvisionerConfig(volume_root=str(root)))
        task = asyncio.create_task(running.run())
        try:
            await asyncio.wait_for(running.synced.wait(), 10)
            yield running, client
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def new_claim(client: Client, ns: str, name: str, **spec: Any) -> Obj:
    body = claim_raw(name, **spec)
    del body["metadata"]["uid"]
    return await client.create(PERSISTENT_VOLUME_CLAIMS, ns, body)


async def bound(client: Client, ns: str, name: str) -> Obj:
    """The claim once Bound."""
    found: Obj = {}

    async def is_bound() -> bool:
        found.update(await client.get(PERSISTENT_VOLUME_CLAIMS, ns, name))
        return (found.get("status") or {}).get("phase") == "Bound"

    await eventually(is_bound)
    return found


async def gone(client: Client, name: str) -> bool:
    try:
        await client.get(PERSISTENT_VOLUMES, None, name)
    except NotFound:
        return True
    return False


async def test_the_default_class(api: LocalApi, tmp_path: Path) -> None:
    async with provisioner(api, tmp_path / "volumes") as (_, client):
        found = await client.get(STORAGE_CLASSES, None, "standard")
        assert found["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
        assert found["provisioner"] == "localcluster.petdns.dev/hostpath"
        assert (found["reclaimPolicy"], found["volumeBindingMode"]) == ("Delete", "Immediate")
    async with provisioner(api, tmp_path / "volumes"):  # a second start finds it there
        pass
    assert "standard" in api.kubectl("get", "storageclasses").stdout


async def test_a_claim_gets_a_bound_volume(api: LocalApi, ns: str, tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    async with provisioner(api, root) as (_, client):
        created = await new_claim(client, ns, "www-web-0")
        uid = created["metadata"]["uid"]
        claim = await bound(client, ns, "www-web-0")
        volume = await client.get(PERSISTENT_VOLUMES, None, f"pvc-{uid}")
    assert claim["spec"]["volumeName"] == f"pvc-{uid}"
    assert claim["spec"]["storageClassName"] == "standard"
    assert claim["metadata"]["annotations"] == {
        "pv.kubernetes.io/bind-completed": "yes",
        "pv.kubernetes.io/bound-by-controller": "yes",
        "volume.kubernetes.io/storage-provisioner": PROVISIONER,
        "volume.beta.kubernetes.io/storage-provisioner": PROVISIONER,
    }
    assert claim["status"] == {
        "phase": "Bound",
        "capacity": {"storage": "1Gi"},
        "accessModes": ["ReadWriteOnce"],
    }
    spec = volume["spec"]
    ref = spec["claimRef"]
    assert (ref["apiVersion"], ref["kind"], ref["namespace"], ref["name"], ref["uid"]) == (
        "v1",
        "PersistentVolumeClaim",
        ns,
        "www-web-0",
        uid,
    )
    assert ref["resourceVersion"]
    assert spec["capacity"] == {"storage": "1Gi"} and spec["accessModes"] == ["ReadWriteOnce"]
    assert spec["persistentVolumeReclaimPolicy"] == "Delete" and spec["storageClassName"] == "standard"
    assert spec["volumeMode"] == "Filesystem"
    assert spec["hostPath"]["path"] == str(root / f"pvc-{uid}")
    assert (root / f"pvc-{uid}").is_dir()
    assert volume["metadata"]["annotations"] == {"pv.kubernetes.io/provisioned-by": PROVISIONER}
    assert volume["status"]["phase"] == "Bound"
    pvc_row = api.kubectl("get", "pvc", "-n", ns, "--no-headers").stdout.split()
    assert pvc_row[:6] == ["www-web-0", "Bound", f"pvc-{uid}", "1Gi", "RWO", "standard"]
    pv_rows = [r.split() for r in api.kubectl("get", "pv", "--no-headers").stdout.splitlines()]
    assert [f"pvc-{uid}", "1Gi", "RWO", "Delete", "Bound", f"{ns}/www-web-0", "standard"] in [
        r[:7] for r in pv_rows
    ]


async def test_reclaim_delete_and_retain(api: LocalApi, ns: str, tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    keep = class_raw(f"keep-{ns}"[:60], reclaimPolicy="Retain", volumeBindingMode="Immediate")
    await_class = keep["metadata"]["name"]
    async with provisioner(api, root) as (_, client):
        await client.create(
            STORAGE_CLASSES, None, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", **keep}
        )
        dropped = (await new_claim(client, ns, "dropped"))["metadata"]["uid"]
        kept = (await new_claim(client, ns, "kept", storageClassName=await_class))["metadata"]["uid"]
        await bound(client, ns, "dropped")
        await bound(client, ns, "kept")
        for uid in (dropped, kept):
            (root / f"pvc-{uid}" / "data.txt").write_text("pet data")
        await client.delete(PERSISTENT_VOLUME_CLAIMS, ns, "dropped")
        await client.delete(PERSISTENT_VOLUME_CLAIMS, ns, "kept")
        await eventually(lambda: gone(client, f"pvc-{dropped}"))

        async def released() -> bool:
            found = await client.get(PERSISTENT_VOLUMES, None, f"pvc-{kept}")
            return bool(found["status"]["phase"] == "Released")

        await eventually(released)
    assert not (root / f"pvc-{dropped}").exists()
    assert (root / f"pvc-{kept}" / "data.txt").read_text() == "pet data"


async def test_claims_of_others_are_left_alone(api: LocalApi, ns: str, tmp_path: Path) -> None:
    async with provisioner(api, tmp_path / "volumes") as (running, client):
        await new_claim(client, ns, "static", storageClassName="")
        await new_claim(client, ns, "nfs", storageClassName="no-such-class")
        await new_claim(client, ns, "mine")
        await bound(client, ns, "mine")
        await eventually(lambda: _true(running.idle))
        for name in ("static", "nfs"):
            found = await client.get(PERSISTENT_VOLUME_CLAIMS, ns, name)
            assert found["status"]["phase"] == "Pending" and "volumeName" not in found["spec"]


async def _true(value: bool) -> bool:
    return value


async def test_restarts_provision_nothing_twice(api: LocalApi, ns: str, tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    async with provisioner(api, root) as (_, client):
        uid = (await new_claim(client, ns, "data-0"))["metadata"]["uid"]
        first = await bound(client, ns, "data-0")
        doomed = (await new_claim(client, ns, "data-1"))["metadata"]["uid"]
        await bound(client, ns, "data-1")
        (root / f"pvc-{uid}" / "keep.txt").write_text("x")
    async with Client(Connection(server=api.url)) as client:  # while stopped: one claim goes, one comes
        await client.delete(PERSISTENT_VOLUME_CLAIMS, ns, "data-1")
        later = (await new_claim(client, ns, "data-2"))["metadata"]["uid"]
    async with provisioner(api, root) as (running, client):
        await bound(client, ns, "data-2")
        await eventually(lambda: gone(client, f"pvc-{doomed}"))
        await eventually(lambda: _true(running.idle))
        again = await client.get(PERSISTENT_VOLUME_CLAIMS, ns, "data-0")
        volumes, _ = await client.list(PERSISTENT_VOLUMES)
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    mine = sorted(v["metadata"]["name"] for v in volumes if v["spec"]["claimRef"]["namespace"] == ns)
    assert mine == sorted([f"pvc-{uid}", f"pvc-{later}"])
    assert (root / f"pvc-{uid}" / "keep.txt").exists() and not (root / f"pvc-{doomed}").exists()


async def test_a_bound_claim_whose_volume_is_deleted_is_lost(api: LocalApi, ns: str, tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    async with provisioner(api, root) as (_, client):
        uid = (await new_claim(client, ns, "data"))["metadata"]["uid"]
        await bound(client, ns, "data")
        (root / f"pvc-{uid}" / "keep.txt").write_text("x")
        await client.delete(PERSISTENT_VOLUMES, None, f"pvc-{uid}")

        async def lost() -> bool:
            found = await client.get(PERSISTENT_VOLUME_CLAIMS, ns, "data")
            return bool(found["status"]["phase"] == "Lost")

        await eventually(lost)
    assert (root / f"pvc-{uid}" / "keep.txt").exists()  # its claim still exists: the data stays
