"""PodDisruptionBudget, NetworkPolicy, RBAC and Secret checks (upstream's policy, networking, rbac and core
validation of the fields the local cluster reads). Pure."""

from __future__ import annotations

import base64
import binascii

from kubeapi.labels import label_selector_errors
from kubeapi.meta import Obj
from localcluster.storage.checks.apps import IMMUTABLE, int_or_percent
from localcluster.storage.checks.configmap import MAX_SIZE, key_messages
from localcluster.storage.checks.fields import (
    PROTOCOLS,
    enum_causes,
    invalid,
    items,
    mapping,
    not_supported,
    required,
    too_long,
)
from localcluster.storage.errors import ApiError, bad_request
from localcluster.storage.validation import label_causes

EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")
POLICY_TYPES = ("Ingress", "Egress")
SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


def pdb_causes(obj: Obj) -> list[Obj]:
    """policy/v1 PodDisruptionBudget: one of minAvailable and maxUnavailable, each a count or a percent."""
    spec = mapping(obj.get("spec"))
    causes: list[Obj] = []
    low, high = spec.get("minAvailable"), spec.get("maxUnavailable")
    if low is not None and high is not None:
        causes.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    causes += int_or_percent("spec.minAvailable", low) + int_or_percent("spec.maxUnavailable", high)
    causes += _selector_causes(spec.get("selector"), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in EVICTION_POLICIES:
        causes.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, EVICTION_POLICIES))
    return causes


def _selector_causes(raw: object, path: str) -> list[Obj]:
    if raw is None:
        return []
    causes = [invalid(f"{path}.{where}", raw, why) for where, why in label_selector_errors(raw)]
    return causes + label_causes(mapping(raw).get("matchLabels"), f"{path}.matchLabels")


def networkpolicy_causes(obj: Obj) -> list[Obj]:
    """networking.k8s.io/v1 NetworkPolicy: selectors, policy types, port protocols, ipBlock CIDRs."""
    spec = mapping(obj.get("spec"))
    causes = _selector_causes(spec.get("podSelector"), "spec.podSelector")
    for i, kind in enumerate(items(spec.get("policyTypes"))):
        if kind not in POLICY_TYPES:
            causes.append(not_supported(f"spec.policyTypes[{i}]", kind, POLICY_TYPES))
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(items(spec.get(direction))):
            rule_path = f"spec.{direction}[{i}]"
            for j, port in enumerate(items(mapping(rule).get("ports"))):
                protocol = mapping(port).get("protocol")
                if protocol is not None and protocol not in PROTOCOLS:
                    causes.append(not_supported(f"{rule_path}.ports[{j}].protocol", protocol, PROTOCOLS))
            for j, peer in enumerate(items(mapping(rule).get(peers_key))):
                peer_path = f"{rule_path}.{peers_key}[{j}]"
                for key in ("podSelector", "namespaceSelector"):
                    causes += _selector_causes(mapping(peer).get(key), f"{peer_path}.{key}")
                block = mapping(peer).get("ipBlock")
                if block is not None and not mapping(block).get("cidr"):
                    causes.append(required(f"{peer_path}.ipBlock.cidr"))
    return causes


def role_causes(obj: Obj) -> list[Obj]:
    """Role and ClusterRole: every rule names verbs, and resources or nonResourceURLs."""
    causes: list[Obj] = []
    for i, raw in enumerate(items(obj.get("rules"))):
        path, rule = f"rules[{i}]", mapping(raw)
        if not items(rule.get("verbs")):
            causes.append(required(f"{path}.verbs", "verbs must contain at least one value"))
        if not items(rule.get("resources")) and not items(rule.get("nonResourceURLs")):
            detail = "resource rules must supply at least one api group"
            if not items(rule.get("apiGroups")):
                causes.append(required(f"{path}.apiGroups", detail))
            else:
                causes.append(
                    required(f"{path}.resources", "resource rules must supply at least one resource")
                )
    return causes


def binding_causes(obj: Obj) -> list[Obj]:
    """RoleBinding and ClusterRoleBinding: the roleRef and each subject."""
    ref = mapping(obj.get("roleRef"))
    kinds = ("Role", "ClusterRole") if obj.get("kind") == "RoleBinding" else ("ClusterRole",)
    causes = enum_causes("roleRef.kind", ref.get("kind"), kinds, sort=False)
    if ref.get("apiGroup") != "rbac.authorization.k8s.io":
        causes.append(not_supported("roleRef.apiGroup", ref.get("apiGroup"), ("rbac.authorization.k8s.io",)))
    if not ref.get("name"):
        causes.append(required("roleRef.name"))
    for i, raw in enumerate(items(obj.get("subjects"))):
        path, subject = f"subjects[{i}]", mapping(raw)
        if not subject.get("name"):
            causes.append(required(f"{path}.name"))
        kind = subject.get("kind")
        if kind not in SUBJECT_KINDS:
            causes.append(not_supported(f"{path}.kind", kind, SUBJECT_KINDS))
        elif (
            kind == "ServiceAccount"
            and obj.get("kind") == "ClusterRoleBinding"
            and not subject.get("namespace")
        ):
            causes.append(required(f"{path}.namespace"))
    return causes


def binding_update_causes(old: Obj, new: Obj) -> list[Obj]:
    """A binding's roleRef may not change."""
    if old.get("roleRef") == new.get("roleRef"):
        return []
    return [invalid("roleRef", new.get("roleRef"), "cannot change roleRef")]


def secret_causes(obj: Obj) -> list[Obj]:
    """v1 Secret: keys, base64 values (400 as upstream's decoder), the total size."""
    causes: list[Obj] = []
    total = 0
    for key, value in mapping(obj.get("data")).items():
        causes += [invalid(f"data[{key}]", key, msg) for msg in key_messages(key)]
        total += _decoded(key, value)
    if total > MAX_SIZE:
        causes.append(too_long("data", MAX_SIZE))
    return causes


def _decoded(key: str, value: object) -> int:
    if not isinstance(value, str):
        raise _undecodable(
            f"cannot unmarshal {type(value).__name__} into Go struct field Secret.data of type []uint8"
        )
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        raise _undecodable(f"illegal base64 data in data[{key}]") from None


def _undecodable(detail: str) -> ApiError:
    return bad_request(f'Secret in version "v1" cannot be handled as a Secret: {detail}')


def secret_update_causes(old: Obj, new: Obj) -> list[Obj]:
    """A Secret's type may not change, nor the data of an immutable one."""
    causes = []
    if old.get("type") != new.get("type"):
        causes.append(invalid("type", new.get("type"), IMMUTABLE))
    if old.get("immutable") and (old.get("data") != new.get("data") or not new.get("immutable")):
        causes.append(invalid("data", None, "field is immutable, when `immutable` is set"))
    return causes
