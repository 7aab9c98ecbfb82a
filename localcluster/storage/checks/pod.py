"""Pod spec checks (upstream's ValidatePodSpec): volumes, containers, ports, restart and DNS policies."""

from __future__ import annotations

from kubeapi.meta import Obj
from localcluster.storage.checks.fields import (
    PROTOCOLS,
    duplicate,
    enum_causes,
    forbidden,
    invalid,
    items,
    mapping,
    not_found,
    port_name_messages,
    port_number_causes,
    required,
)
from localcluster.storage.validation import dns_causes

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
# the VolumeSource members, in the order upstream's validateVolumeSource looks at them
VOLUME_SOURCES = (
    "hostPath",
    "emptyDir",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "quobyte",
    "cinder",
    "cephfs",
    "flexVolume",
    "downwardAPI",
    "fc",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "configMap",
    "csi",
    "ephemeral",
    "image",
)


def pod_causes(obj: Obj) -> list[Obj]:
    """Causes against a (defaulted) Pod's spec, in upstream's order; empty when valid."""
    spec = mapping(obj.get("spec"))
    causes, volumes = _volume_causes(items(spec.get("volumes")))
    names: set[str] = set()
    containers = items(spec.get("containers"))
    if not containers:
        causes.append(required("spec.containers"))
    for key in ("containers", "initContainers"):
        for i, container in enumerate(items(spec.get(key))):
            causes += _container_causes(mapping(container), f"spec.{key}[{i}]", names, volumes)
    causes += enum_causes("spec.restartPolicy", spec.get("restartPolicy"), RESTART_POLICIES, sort=False)
    causes += enum_causes("spec.dnsPolicy", spec.get("dnsPolicy"), DNS_POLICIES, sort=False)
    if spec.get("dnsPolicy") == "None" and not isinstance(spec.get("dnsConfig"), dict):
        causes.append(required("spec.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None"))
    for key in ("hostname", "subdomain"):
        value = spec.get(key)
        if value:
            causes += dns_causes("label", str(value), f"spec.{key}")
    return causes


def _volume_causes(volumes: list[object]) -> tuple[list[Obj], set[str]]:
    causes: list[Obj] = []
    names: set[str] = set()
    for i, raw in enumerate(volumes):
        volume, path = mapping(raw), f"spec.volumes[{i}]"
        found = _source_causes(volume, path)
        name = volume.get("name")
        if not name:
            found.append(required(f"{path}.name"))
        else:
            found += dns_causes("label", str(name), f"{path}.name")
        if name in names:
            found.append(duplicate(f"{path}.name", name))
        if found:
            causes += found
        else:
            names.add(str(name))
    return causes, names


def _source_causes(volume: Obj, path: str) -> list[Obj]:
    causes: list[Obj] = []
    sources = [key for key in VOLUME_SOURCES if volume.get(key) is not None]
    if not sources:
        return [required(path, "must specify a volume type")]
    for key in sources[1:]:
        causes.append(forbidden(f"{path}.{key}", "may not specify more than 1 volume type"))
    claim = volume.get("persistentVolumeClaim")
    if sources[0] == "persistentVolumeClaim" and not mapping(claim).get("claimName"):
        causes.append(required(f"{path}.persistentVolumeClaim.claimName"))
    return causes


def _container_causes(container: Obj, path: str, names: set[str], volumes: set[str]) -> list[Obj]:
    causes: list[Obj] = []
    name = container.get("name")
    if not name:
        causes.append(required(f"{path}.name"))
    else:
        causes += dns_causes("label", str(name), f"{path}.name")
    if name in names:
        causes.append(duplicate(f"{path}.name", name))
    elif name:
        names.add(str(name))
    if not container.get("image"):
        causes.append(required(f"{path}.image"))
    port_names: set[str] = set()
    for i, port in enumerate(items(container.get("ports"))):
        causes += _container_port_causes(mapping(port), f"{path}.ports[{i}]", port_names)
    for i, raw in enumerate(items(container.get("volumeMounts"))):
        mount, mpath = mapping(raw), f"{path}.volumeMounts[{i}]"
        if not mount.get("name"):
            causes.append(required(f"{mpath}.name"))
        elif mount["name"] not in volumes:
            causes.append(not_found(f"{mpath}.name", mount["name"]))
        if not mount.get("mountPath"):
            causes.append(required(f"{mpath}.mountPath"))
    return causes


def _container_port_causes(port: Obj, path: str, names: set[str]) -> list[Obj]:
    causes: list[Obj] = []
    name = port.get("name")
    if name:
        messages = port_name_messages(str(name))
        if messages:
            causes += [invalid(f"{path}.name", name, msg) for msg in messages]
        elif name in names:
            causes.append(duplicate(f"{path}.name", name))
        else:
            names.add(str(name))
    if not port.get("containerPort"):
        causes.append(required(f"{path}.containerPort"))
    else:
        causes += port_number_causes(f"{path}.containerPort", port["containerPort"])
    if port.get("hostPort"):
        causes += port_number_causes(f"{path}.hostPort", port["hostPort"])
    causes += enum_causes(f"{path}.protocol", port.get("protocol"), PROTOCOLS)
    return causes
