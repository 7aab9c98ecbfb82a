"""Dynamic hostPath volumes, pure: slim claims, volumes and classes, which claims this provisioner serves,
and the objects and patches that bind a claim to its volume or release the volume again."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeapi.meta import Obj

ClaimKey = tuple[str, str]  # (namespace, name)

PROVISIONER = "localcluster.petdns.dev/hostpath"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
BOUND, RELEASED, LOST = "Bound", "Released", "Lost"


@dataclass(frozen=True, slots=True)
class StorageClass:
    """What the provisioner reads of a StorageClass."""

    name: str
    provisioner: str
    reclaim_policy: str
    binding_mode: str
    default: bool
    created: str
    allow_expansion: bool = False


@dataclass(frozen=True, slots=True)
class Claim:
    """What the provisioner reads of a PersistentVolumeClaim. `class_name` None: not set (the default
    class applies); "" asks for no class."""

    namespace: str
    name: str
    uid: str
    class_name: str | None
    volume_name: str
    request: str
    access_modes: tuple[str, ...]
    volume_mode: str
    has_selector: bool
    annotations: tuple[tuple[str, str], ...]
    phase: str
    capacity: str
    status_modes: tuple[str, ...]
    deleting: bool = False
    conditions: tuple[Mapping[str, Any], ...] = ()

    @property
    def key(self) -> ClaimKey:
        """(namespace, name)."""
        return (self.namespace, self.name)

    def annotation(self, key: str) -> str:
        """One annotation, "" when absent."""
        return dict(self.annotations).get(key, "")


@dataclass(frozen=True, slots=True)
class Volume:
    """What the provisioner reads of a PersistentVolume; `claim` is its claimRef (namespace, name, uid)."""

    name: str
    uid: str
    claim: tuple[str, str, str] | None
    phase: str
    reclaim_policy: str
    path: str
    provisioned_by: str
    capacity: str
    class_name: str = ""
    deleting: bool = False

    @property
    def ours(self) -> bool:
        """Made by this provisioner."""
        return self.provisioned_by == PROVISIONER


def _meta(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    found = raw.get("metadata")
    return found if isinstance(found, Mapping) else {}


def class_from_raw(raw: Mapping[str, Any]) -> StorageClass:
    """A StorageClass."""
    meta = _meta(raw)
    return StorageClass(
        name=str(meta.get("name") or ""),
        provisioner=str(raw.get("provisioner") or ""),
        reclaim_policy=str(raw.get("reclaimPolicy") or "Delete"),
        binding_mode=str(raw.get("volumeBindingMode") or "Immediate"),
        default=(meta.get("annotations") or {}).get(DEFAULT_CLASS) == "true",
        created=str(meta.get("creationTimestamp") or ""),
        allow_expansion=raw.get("allowVolumeExpansion") is True,
    )


def claim_from_raw(raw: Mapping[str, Any]) -> Claim:
    """A PersistentVolumeClaim."""
    meta, spec, status = _meta(raw), raw.get("spec") or {}, raw.get("status") or {}
    class_name = spec.get("storageClassName")
    return Claim(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        class_name=None if class_name is None else str(class_name),
        volume_name=str(spec.get("volumeName") or ""),
        request=str(((spec.get("resources") or {}).get("requests") or {}).get("storage") or ""),
        access_modes=tuple(str(m) for m in spec.get("accessModes") or ()),
        volume_mode=str(spec.get("volumeMode") or "Filesystem"),
        has_selector=bool(spec.get("selector")),
        annotations=tuple(sorted((str(k), str(v)) for k, v in (meta.get("annotations") or {}).items())),
        phase=str(status.get("phase") or "Pending"),
        capacity=str((status.get("capacity") or {}).get("storage") or ""),
        status_modes=tuple(str(m) for m in status.get("accessModes") or ()),
        deleting=bool(meta.get("deletionTimestamp")),
        conditions=tuple(c for c in status.get("conditions") or () if isinstance(c, Mapping)),
    )


def volume_from_raw(raw: Mapping[str, Any]) -> Volume:
    """A PersistentVolume."""
    meta, spec, status = _meta(raw), raw.get("spec") or {}, raw.get("status") or {}
    ref = spec.get("claimRef") or None
    claim = (
        (str(ref.get("namespace") or ""), str(ref.get("name") or ""), str(ref.get("uid") or ""))
        if ref
        else None
    )
    return Volume(
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        claim=claim,
        phase=str(status.get("phase") or "Pending"),
        reclaim_policy=str(spec.get("persistentVolumeReclaimPolicy") or "Retain"),
        path=str((spec.get("hostPath") or {}).get("path") or ""),
        provisioned_by=str((meta.get("annotations") or {}).get(PROVISIONED_BY) or ""),
        capacity=str((spec.get("capacity") or {}).get("storage") or ""),
        class_name=str(spec.get("storageClassName") or ""),
        deleting=bool(meta.get("deletionTimestamp")),
    )


def storage_class_manifest(name: str) -> Obj:
    """The default StorageClass: this provisioner, reclaim Delete, bound at once, volumes may grow."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": {DEFAULT_CLASS: "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": True,
    }


def volume_name(claim: Claim) -> str:
    """The volume made for a claim: `pvc-<claim uid>`."""
    return f"pvc-{claim.uid}"


def private_dir(path: str) -> None:
    """Make the directory (and its parents) when missing; the directory itself is its owner's only (0700)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)


def volume_path(root: str, name: str) -> str:
    """The directory that holds a volume's data."""
    return os.path.join(root, name)


def default_class(classes: Iterable[StorageClass]) -> StorageClass | None:
    """The default class: the newest of those annotated as default."""
    marked = sorted((c for c in classes if c.default), key=lambda c: (c.created, c.name))
    return marked[-1] if marked else None


def class_of(claim: Claim, classes: Mapping[str, StorageClass]) -> StorageClass | None:
    """The class a claim gets its volume from (not set: the default class; "": none)."""
    if claim.class_name is None:
        return default_class(classes.values())
    return classes.get(claim.class_name) if claim.class_name else None


def provisions(claim: Claim, cls: StorageClass | None) -> bool:
    """Whether this provisioner makes a volume for the claim now: a live, unbound claim of one of its
    classes, without a selector, and for WaitForFirstConsumer classes once a node was chosen."""
    if cls is None or cls.provisioner != PROVISIONER or claim.deleting or claim.has_selector:
        return False
    if claim.volume_name and claim.volume_name != volume_name(claim):
        return False  # bound by hand to another volume
    if not claim.request:
        return False
    return cls.binding_mode != "WaitForFirstConsumer" or bool(claim.annotation(SELECTED_NODE))


def volume_manifest(claim: Claim, cls: StorageClass, claim_version: str, path: str) -> Obj:
    """The PersistentVolume for a claim, bound to it by claimRef."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": volume_name(claim), "annotations": {PROVISIONED_BY: PROVISIONER}},
        "spec": {
            "capacity": {"storage": claim.request},
            "accessModes": list(claim.access_modes) or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": cls.reclaim_policy,
            "storageClassName": cls.name,
            "volumeMode": claim.volume_mode,
            "hostPath": {"path": path, "type": "DirectoryOrCreate"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": claim.namespace,
                "name": claim.name,
                "uid": claim.uid,
                "resourceVersion": claim_version,
            },
        },
    }


def claim_binding(claim: Claim, volume: Volume) -> Obj | None:
    """The merge patch that points a claim at its volume, with the volume's class when the claim named
    none (None when it already does)."""
    wanted = {
        BIND_COMPLETED: "yes",
        BOUND_BY_CONTROLLER: "yes",
        STORAGE_PROVISIONER: PROVISIONER,
        BETA_STORAGE_PROVISIONER: PROVISIONER,
    }
    annotations = {k: v for k, v in wanted.items() if claim.annotation(k) != v}
    spec: Obj = {}
    if claim.volume_name != volume.name:
        spec["volumeName"] = volume.name
    if claim.class_name is None and volume.class_name:
        spec["storageClassName"] = volume.class_name
    if not annotations and not spec:
        return None
    patch: Obj = {"metadata": {"uid": claim.uid}}
    if annotations:
        patch["metadata"]["annotations"] = annotations
    if spec:
        patch["spec"] = spec
    return patch


def claim_status(claim: Claim, volume: Volume) -> Obj | None:
    """The status patch that makes a claim Bound with its volume's capacity (None when it is); a bound
    claim's capacity changes only through the resize steps."""
    modes = claim.access_modes or ("ReadWriteOnce",)
    capacity = claim.capacity if claim.phase == BOUND and claim.capacity else volume.capacity
    if claim.phase == BOUND and claim.capacity == capacity and claim.status_modes == modes:
        return None
    status = {"phase": BOUND, "capacity": {"storage": capacity}, "accessModes": list(modes)}
    return {"metadata": {"uid": claim.uid}, "status": status}


def claim_is_gone(volume: Volume, claim: Claim | None) -> bool:
    """Whether the claim a volume was made for no longer exists (absent, or another claim of that name)."""
    return volume.claim is not None and (claim is None or claim.uid != volume.claim[2])


def removable_path(volume: Volume, root: str) -> str | None:
    """The volume's directory when it is this provisioner's to remove: `<root>/<volume name>`."""
    expected = os.path.realpath(volume_path(root, volume.name))
    if not volume.ours or not volume.path or os.path.realpath(volume.path) != expected:
        return None
    return expected
