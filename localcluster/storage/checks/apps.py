"""Deployment, ReplicaSet and Job checks (upstream's apps and batch validation): selector and template,
replicas, the rollout strategy, immutable selectors. Pure."""

from __future__ import annotations

import re
from typing import Any

from kubeapi.labels import from_label_selector, label_selector_errors
from kubeapi.meta import Obj
from localcluster.storage.checks.fields import forbidden, invalid, mapping, not_supported, required
from localcluster.storage.checks.pod import pod_causes
from localcluster.storage.validation import label_causes

NONNEGATIVE = "must be greater than or equal to 0"
PERCENT = "[0-9]+%"
PERCENT_MESSAGE = (
    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', "
    f"regex used for validation is '{PERCENT}')"
)
IMMUTABLE = "field is immutable"
DEPLOYMENT_STRATEGIES = ("Recreate", "RollingUpdate")


def nonnegative(path: str, value: Any) -> list[Obj]:
    """ValidateNonnegativeField for an optional integer."""
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int):
        return [invalid(path, value, "must be an integer")]
    return [invalid(path, value, NONNEGATIVE)] if value < 0 else []


def int_or_percent(path: str, value: Any) -> list[Obj]:
    """ValidatePositiveIntOrPercent and IsNotMoreThan100Percent."""
    if value is None:
        return []
    if isinstance(value, str):
        if not re.fullmatch(PERCENT, value):
            return [invalid(path, value, PERCENT_MESSAGE)]
        return [invalid(path, value, "must not be greater than 100%")] if int(value[:-1]) > 100 else []
    return nonnegative(path, value)


def is_zero(value: Any) -> bool:
    """An IntOrString that is 0 or 0%."""
    return value in (0, "0%") or (isinstance(value, str) and re.fullmatch("0+%", value) is not None)


def selector_causes(spec: Obj, kind: str) -> list[Obj]:
    """spec.selector: required, well formed, not empty; the template's labels must match it."""
    raw = spec.get("selector")
    if raw is None:
        return [required("spec.selector")]
    causes = [invalid(f"spec.selector.{path}", raw, why) for path, why in label_selector_errors(raw)]
    causes += label_causes(mapping(raw).get("matchLabels"), "spec.selector.matchLabels")
    found = from_label_selector(raw)
    if found.empty:
        causes.append(invalid("spec.selector", raw, f"empty selector is invalid for {kind}"))
        return causes
    labels = mapping(mapping(mapping(spec.get("template")).get("metadata")).get("labels"))
    if not found.matches({str(k): str(v) for k, v in labels.items()}):
        causes.append(
            invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
        )
    return causes


def template_causes(spec: Obj, restart_policies: tuple[str, ...]) -> list[Obj]:
    """The pod template: present, a valid pod spec, one of the restart policies the kind runs."""
    template = spec.get("template")
    if not isinstance(template, dict):
        return [required("spec.template")]
    pod_spec = mapping(template.get("spec"))
    causes = []
    for cause in pod_causes({"spec": pod_spec}):
        field = str(cause.get("field") or "")
        causes.append({**cause, "field": "spec.template." + field if field else "spec.template"})
    policy = pod_spec.get("restartPolicy")
    if policy not in restart_policies and not any(c["field"].endswith("restartPolicy") for c in causes):
        causes.append(not_supported("spec.template.spec.restartPolicy", policy, restart_policies))
    if pod_spec.get("activeDeadlineSeconds") is not None and restart_policies == ("Always",):
        causes.append(
            forbidden(
                "spec.template.spec.activeDeadlineSeconds",
                "activeDeadlineSeconds in ReplicaSet is not Supported",
            )
        )
    return causes


def replicaset_causes(obj: Obj) -> list[Obj]:
    """apps/v1 ReplicaSet: replicas, minReadySeconds, selector and template."""
    spec = mapping(obj.get("spec"))
    causes = nonnegative("spec.replicas", spec.get("replicas"))
    causes += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    return causes + selector_causes(spec, "replicaset") + template_causes(spec, ("Always",))


def deployment_causes(obj: Obj) -> list[Obj]:
    """apps/v1 Deployment: as a ReplicaSet, plus the strategy, history limit and progress deadline."""
    spec = mapping(obj.get("spec"))
    causes = nonnegative("spec.replicas", spec.get("replicas"))
    causes += selector_causes(spec, "deployment") + template_causes(spec, ("Always",))
    causes += _strategy_causes(mapping(spec.get("strategy")))
    causes += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    deadline, ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds") or 0
    causes += nonnegative("spec.progressDeadlineSeconds", deadline)
    if isinstance(deadline, int) and isinstance(ready, int) and deadline <= ready:
        causes.append(
            invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds")
        )
    return causes


def _strategy_causes(strategy: Obj) -> list[Obj]:
    kind = strategy.get("type")
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            detail = "may not be specified when strategy `type` is 'Recreate'"
            return [forbidden("spec.strategy.rollingUpdate", detail)]
        return []
    if kind != "RollingUpdate":
        return [not_supported("spec.strategy.type", kind, DEPLOYMENT_STRATEGIES)]
    if not isinstance(rolling, dict):
        return [required("spec.strategy.rollingUpdate", "this should be defaulted and never be nil")]
    path = "spec.strategy.rollingUpdate"
    surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
    causes = int_or_percent(f"{path}.maxUnavailable", unavailable) + int_or_percent(f"{path}.maxSurge", surge)
    if is_zero(surge) and is_zero(unavailable):
        causes.append(invalid(f"{path}.maxUnavailable", unavailable, "may not be 0 when `maxSurge` is 0"))
    return causes


def selector_update_causes(old: Obj, new: Obj) -> list[Obj]:
    """apps/v1 (and batch/v1): spec.selector may not change."""
    old_sel, new_sel = mapping(old.get("spec")).get("selector"), mapping(new.get("spec")).get("selector")
    return [] if old_sel == new_sel else [invalid("spec.selector", new_sel, IMMUTABLE)]


def job_causes(obj: Obj) -> list[Obj]:
    """batch/v1 Job: counts, the selector and a template that restarts OnFailure or Never."""
    spec = mapping(obj.get("spec"))
    causes: list[Obj] = []
    for key in (
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
    ):
        causes += nonnegative(f"spec.{key}", spec.get(key))
    causes += selector_causes(spec, "job") + template_causes(spec, ("OnFailure", "Never"))
    mode = spec.get("completionMode")
    if mode not in ("NonIndexed", "Indexed"):
        causes.append(not_supported("spec.completionMode", mode, ("NonIndexed", "Indexed")))
    return causes


def job_update_causes(old: Obj, new: Obj) -> list[Obj]:
    """batch/v1 Job: the selector, completions and template may not change (suspended Jobs aside)."""
    causes = selector_update_causes(old, new)
    old_spec, new_spec = mapping(old.get("spec")), mapping(new.get("spec"))
    if old_spec.get("completions") != new_spec.get("completions"):
        causes.append(invalid("spec.completions", new_spec.get("completions"), IMMUTABLE))
    if old_spec.get("template") != new_spec.get("template") and not old_spec.get("suspend"):
        causes.append(invalid("spec.template", new_spec.get("template"), IMMUTABLE))
    return causes
