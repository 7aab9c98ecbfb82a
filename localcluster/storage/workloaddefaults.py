"""Upstream's defaults for the companions of a stateful app: Deployment, ReplicaSet, Job,
PodDisruptionBudget, Secret and the RBAC bindings (their `SetDefaults_*` and create strategies)."""

from __future__ import annotations

import base64
from typing import Any

from kubeapi.meta import Obj
from localcluster.storage.defaults import dict_at, template_defaults
from localcluster.storage.meta import meta

RBAC_GROUP = "rbac.authorization.k8s.io"
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def deployment_defaults(obj: Obj) -> None:
    """apps/v1 Deployment: one replica, RollingUpdate 25%/25%, ten revisions kept, a 600s deadline."""
    spec = dict_at(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = dict_at(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = dict_at(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    template_defaults(spec)
    obj.setdefault("status", {})


def replicaset_defaults(obj: Obj) -> None:
    """apps/v1 ReplicaSet: one replica; status.replicas is always written."""
    spec = dict_at(obj, "spec")
    spec.setdefault("replicas", 1)
    template_defaults(spec)
    dict_at(obj, "status").setdefault("replicas", 0)


def job_defaults(obj: Obj) -> None:
    """batch/v1 Job: completions and parallelism 1, six retries, NonIndexed, and (without
    manualSelector) the selector and template labels upstream generates from the Job's uid."""
    spec = dict_at(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    if spec.get("podFailurePolicy") is None:
        spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    m = meta(obj)
    if not spec.get("manualSelector") and spec.get("selector") is None and m.get("uid"):
        uid, name = str(m["uid"]), str(m.get("name") or "")
        spec["selector"] = {"matchLabels": {JOB_UID_LABEL: uid}}
        template = dict_at(spec, "template")
        labels = dict_at(dict_at(template, "metadata"), "labels")
        labels.update({JOB_UID_LABEL: uid, JOB_NAME_LABEL: name, "controller-uid": uid, "job-name": name})
    template_defaults(spec)
    obj.setdefault("status", {})


def pdb_defaults(obj: Obj) -> None:
    """policy/v1 PodDisruptionBudget: its status counters are always written (0 until computed)."""
    status = dict_at(obj, "status")
    for key in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
        status.setdefault(key, 0)


def secret_defaults(obj: Obj) -> None:
    """v1 Secret: type Opaque; stringData folded into data (base64) and dropped, as the API does."""
    obj.setdefault("type", "Opaque")
    strings = obj.pop("stringData", None)
    if isinstance(strings, dict) and strings:
        data = dict_at(obj, "data")
        for key, value in strings.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _subject_defaults(subjects: Any) -> None:
    for subject in subjects if isinstance(subjects, list) else []:
        named = isinstance(subject, dict) and subject.get("kind") in ("User", "Group")
        if named and not subject.get("apiGroup"):
            subject["apiGroup"] = RBAC_GROUP


def binding_defaults(obj: Obj) -> None:
    """RoleBinding and ClusterRoleBinding: roleRef.apiGroup and User/Group subjects' apiGroup."""
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = RBAC_GROUP
    _subject_defaults(obj.get("subjects"))
