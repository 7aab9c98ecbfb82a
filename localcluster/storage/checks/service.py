"""Service spec checks (upstream's ValidateService): ports, type, ExternalName, cluster IPs, selector."""

from __future__ import annotations

from typing import Any

from kubeapi.meta import Obj
from localcluster.storage.checks.fields import (
    PROTOCOLS,
    duplicate,
    enum_causes,
    forbidden,
    invalid,
    ip_causes,
    items,
    mapping,
    not_supported,
    port_num_or_name_causes,
    port_number_causes,
    required,
    undecodable,
)
from localcluster.storage.validation import dns_causes, label_causes

TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
AFFINITIES = ("ClientIP", "None")
FAMILIES = ("IPv4", "IPv6")
FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")


def service_causes(obj: Obj) -> list[Obj]:
    """Causes against a (defaulted) Service's spec, in upstream's order; empty when valid."""
    spec = mapping(obj.get("spec"))
    kind = spec.get("type")
    headless = spec.get("clusterIP") == "None"
    ports = items(spec.get("ports"))
    causes: list[Obj] = []
    if not ports and not headless and kind != "ExternalName":
        causes.append(required("spec.ports"))
    if kind == "ExternalName":
        causes += _external_name_causes(spec)
    names: set[str] = set()
    for i, port in enumerate(ports):
        causes += _port_causes(mapping(port), f"spec.ports[{i}]", len(ports) > 1, names)
    causes += label_causes(spec.get("selector"), "spec.selector")
    causes += enum_causes("spec.sessionAffinity", spec.get("sessionAffinity"), AFFINITIES)
    causes += enum_causes("spec.type", kind, TYPES)
    seen: set[tuple[Any, Any]] = set()
    for i, raw in enumerate(ports):
        key = (mapping(raw).get("protocol"), mapping(raw).get("port"))
        if key in seen:
            value = {"Name": "", "Protocol": key[0], "AppProtocol": None, "Port": key[1], "TargetPort": 0}
            causes.append(duplicate(f"spec.ports[{i}]", value | {"NodePort": 0}))
        seen.add(key)
    pnr = spec.get("publishNotReadyAddresses")
    if pnr is not None and not isinstance(pnr, bool):
        raise undecodable("Service", "ServiceSpec.spec.publishNotReadyAddresses", pnr, "bool")
    return causes + _cluster_ip_causes(spec)


def _external_name_causes(spec: Obj) -> list[Obj]:
    causes = []
    for key in ("clusterIPs", "ipFamilies", "ipFamilyPolicy"):
        if spec.get(key):
            causes.append(forbidden(f"spec.{key}", "may not be set for ExternalName services"))
    name = spec.get("externalName")
    cname = name.removesuffix(".") if isinstance(name, str) else ""
    if cname:
        causes += dns_causes("subdomain", cname, "spec.externalName")
    else:
        causes.append(required("spec.externalName"))
    return causes


def _port_causes(port: Obj, path: str, require_name: bool, names: set[str]) -> list[Obj]:
    causes: list[Obj] = []
    name = port.get("name")
    if require_name and not name:
        causes.append(required(f"{path}.name"))
    elif name:
        causes += dns_causes("label", str(name), f"{path}.name")
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        else:
            names.add(str(name))
    causes += port_number_causes(f"{path}.port", port.get("port", 0))
    causes += enum_causes(f"{path}.protocol", port.get("protocol"), PROTOCOLS)
    causes += port_num_or_name_causes(f"{path}.targetPort", port.get("targetPort", 0))
    return causes


def _cluster_ip_causes(spec: Obj) -> list[Obj]:
    if spec.get("type") == "ExternalName":
        return []
    causes = []
    ips = items(spec.get("clusterIPs"))
    cluster_ip = spec.get("clusterIP") or (ips[0] if ips else "")  # the create strategy syncs the two
    if cluster_ip and ips and ips[0] != cluster_ip:
        causes.append(invalid("spec.clusterIPs", ips, "first value must match `clusterIP`"))
    seen: set[str] = set()
    for i, family in enumerate(items(spec.get("ipFamilies"))):
        if family not in FAMILIES:
            causes.append(not_supported(f"spec.ipFamilies[{i}]", family, FAMILIES))
        if family in seen:
            causes.append(duplicate(f"spec.ipFamilies[{i}]", family))
        seen.add(str(family))
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in FAMILY_POLICIES:
        causes.append(not_supported("spec.ipFamilyPolicy", policy, FAMILY_POLICIES))
    checked = ips or ([cluster_ip] if cluster_ip else [])
    for i, ip in enumerate(checked):
        if i == 0 and ip == "None":
            if len(checked) > 1:
                causes.append(invalid("spec.clusterIPs", checked, "'None' must be the first and only value"))
            continue
        causes += ip_causes(f"spec.clusterIPs[{i}]", ip)
    return causes


def service_update_causes(old: Obj, new: Obj) -> list[Obj]:
    """A headless Service may not gain an address (allocated addresses are kept by the write path). As
    upstream's update strategy, new first keeps an omitted "None", and a changed clusterIP with unchanged
    clusterIPs makes clusterIPs [clusterIP]."""
    old_spec, new_spec = mapping(old.get("spec")), mapping(new.get("spec"))
    if "ExternalName" in (old_spec.get("type"), new_spec.get("type")) or old_spec.get("clusterIP") != "None":
        return []
    if not new_spec.get("clusterIP"):
        new_spec["clusterIP"] = "None"
        new_spec.setdefault("clusterIPs", old_spec.get("clusterIPs") or ["None"])
    elif new_spec["clusterIP"] != "None" and new_spec.get("clusterIPs") == old_spec.get("clusterIPs"):
        new_spec["clusterIPs"] = [new_spec["clusterIP"]]
    new_ips = items(new_spec.get("clusterIPs"))
    if new_ips == items(old_spec.get("clusterIPs")) or new_ips == ["None"]:
        return []
    return [invalid("spec.clusterIPs[0]", new_ips, "may not change once set")]
