"""Per-kind defaulting the real API server does on every write, and Service cluster IP allocation."""

from __future__ import annotations

import ipaddress
from typing import Any

from kubeapi.meta import Obj
from localcluster.storage.errors import field_invalid

SERVICE_CIDR = ipaddress.IPv4Network("10.96.0.0/12")
# the real allocator keeps the low band of the range for static addresses and hands out the rest first
_STATIC_BAND = 256


def dict_at(obj: Obj, key: str) -> Obj:
    """obj[key] as a mapping, made (or replaced) when it is not one."""
    found = obj.get(key)
    if not isinstance(found, dict):
        found = {}
        obj[key] = found
    return found


def _container_defaults(container: Any) -> None:
    if not isinstance(container, dict):
        return
    image = str(container.get("image") or "")
    tagged = ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
    container.setdefault("imagePullPolicy", "IfNotPresent" if tagged or "@" in image else "Always")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def pod_spec_defaults(spec: Obj) -> None:
    """Defaults of a PodSpec (also used for templates)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            _container_defaults(container)


def template_defaults(spec: Obj) -> None:
    """A workload spec's pod template gets the pod spec's defaults."""
    template = spec.get("template")
    if isinstance(template, dict):
        pod_spec_defaults(dict_at(template, "spec"))


def pod_defaults(obj: Obj) -> None:
    """Defaults of a Pod."""
    pod_spec_defaults(dict_at(obj, "spec"))
    dict_at(obj, "status").setdefault("phase", "Pending")


def claim_defaults(obj: Obj) -> None:
    """Defaults of a PersistentVolumeClaim."""
    dict_at(obj, "spec").setdefault("volumeMode", "Filesystem")
    dict_at(obj, "status").setdefault("phase", "Pending")


def namespace_defaults(obj: Obj) -> None:
    """Defaults of a Namespace, including its metadata.name label."""
    meta = dict_at(obj, "metadata")
    labels = dict_at(meta, "labels")
    labels["kubernetes.io/metadata.name"] = meta.get("name", "")
    dict_at(obj, "spec").setdefault("finalizers", ["kubernetes"])
    dict_at(obj, "status").setdefault("phase", "Active")


def service_defaults(obj: Obj) -> None:
    """Defaults of a Service (its cluster IP is allocated by the store)."""
    spec = dict_at(obj, "spec")
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    dict_at(obj, "status").setdefault("loadBalancer", {})


def wants_cluster_ip(spec: Obj) -> bool:
    """Whether a Service spec needs an allocated address (not headless, not ExternalName)."""
    return spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None"


class ClusterIPs:
    """Allocated Service addresses in SERVICE_CIDR; dynamic addresses come from above the static band."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._next = _STATIC_BAND + 1

    def mark(self, ip: str) -> None:
        """Record an address as in use (loading existing Services)."""
        self._used.add(ip)

    def release(self, ip: str) -> None:
        """Free an address."""
        self._used.discard(ip)

    def is_free(self, ip: str) -> bool:
        """Whether ip may be taken now."""
        return ip not in self._used

    def check(self, ip: str) -> Obj | None:
        """The validation cause for a requested static address, or None when it can be taken."""
        try:
            addr = ipaddress.IPv4Address(ip)
        except ValueError:
            return field_invalid("spec.clusterIPs[0]", ip, "must be a valid IP address, (e.g. 10.9.8.7)")
        if addr not in SERVICE_CIDR or addr in (SERVICE_CIDR.network_address, SERVICE_CIDR.broadcast_address):
            detail = f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range"
            return field_invalid("spec.clusterIPs", [ip], detail)
        if ip in self._used:
            return field_invalid(
                "spec.clusterIPs", [ip], f"failed to allocate IP {ip}: provided IP is already allocated"
            )
        return None

    def next_free(self) -> str:
        """The next free dynamic address (not yet marked; call `mark` when committing)."""
        last = SERVICE_CIDR.num_addresses - 2  # offsets 1 .. last, skipping network and broadcast
        start = max(self._next, _STATIC_BAND + 1)
        for offsets in (range(start, last + 1), range(_STATIC_BAND + 1, start), range(1, _STATIC_BAND + 1)):
            for offset in offsets:
                ip = str(SERVICE_CIDR.network_address + offset)
                if ip not in self._used:
                    self._next = offset + 1
                    return ip
        raise RuntimeError("service IP range exhausted")
