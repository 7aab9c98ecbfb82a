"""The rules a workable PetSet follows: every field error validate() reports, in spec order."""

from __future__ import annotations

import re

from kubeapi.labels import label_selector_errors
from petset_controller.core.model import PetSet
from petset_controller.core.spec import (
    DELETE,
    ON_DELETE,
    ORDERED_READY,
    PARALLEL,
    PERCENT,
    RETAIN,
    ROLLING_UPDATE,
    FieldError,
    PetSetSpec,
    labels_of,
    mapping_of,
)

MAX_HASH_LENGTH = 10  # a 32-bit hash printed in decimal, one safe character per digit
LABEL_VALUE_MAX = 63
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")


def _name_errors(name: str, spec: PetSetSpec) -> list[FieldError]:
    longest = max(LABEL_VALUE_MAX - 1 - MAX_HASH_LENGTH, 0)
    if not name:
        return [FieldError("metadata.name", "required")]
    if not _DNS_LABEL.match(name):
        return [FieldError("metadata.name", "must be a DNS label (lower case letters, digits, '-')")]
    if len(name) > longest:
        return [
            FieldError(
                "metadata.name",
                f"must be at most {longest} characters: the pod label "
                f"'controller-revision-hash: {name}-<hash>' must fit in {LABEL_VALUE_MAX}",
            )
        ]
    last = spec.ordinals[-1] if spec.replicas > 0 else spec.ordinals_start
    if len(f"{name}-{last}") > LABEL_VALUE_MAX:
        return [FieldError("metadata.name", f"pet name {name}-{last} is longer than {LABEL_VALUE_MAX}")]
    return []


def _number_errors(spec: PetSetSpec) -> list[FieldError]:
    checks = (
        ("spec.replicas", spec.replicas),
        ("spec.ordinals.start", spec.ordinals_start),
        ("spec.minReadySeconds", spec.min_ready_seconds),
        ("spec.revisionHistoryLimit", spec.revision_history_limit),
        ("spec.updateStrategy.rollingUpdate.partition", spec.update_strategy.partition),
        ("spec.updateStrategy.rollingUpdate.unhealthyAfterSeconds", spec.update_strategy.unhealthy_after),
    )
    return [FieldError(path, f"must be >= 0, not {value}") for path, value in checks if value < 0]


def _policy_errors(spec: PetSetSpec) -> list[FieldError]:
    errors = []
    if spec.pod_management_policy not in (ORDERED_READY, PARALLEL):
        errors.append(FieldError("spec.podManagementPolicy", f"must be {ORDERED_READY} or {PARALLEL}"))
    if spec.update_strategy.type not in (ROLLING_UPDATE, ON_DELETE):
        errors.append(FieldError("spec.updateStrategy.type", f"must be {ROLLING_UPDATE} or {ON_DELETE}"))
    budget = spec.update_strategy.max_unavailable
    match = PERCENT.match(budget) if isinstance(budget, str) else None
    if (isinstance(budget, int) and budget < 1) or (isinstance(budget, str) and not match):
        errors.append(
            FieldError("spec.updateStrategy.rollingUpdate.maxUnavailable", "must be >= 1 or 1%-100%")
        )
    elif match and not 1 <= int(match.group(1)) <= 100:
        errors.append(FieldError("spec.updateStrategy.rollingUpdate.maxUnavailable", "must be 1%-100%"))
    for path, value in (
        ("whenDeleted", spec.retention.when_deleted),
        ("whenScaled", spec.retention.when_scaled),
    ):
        if value not in (RETAIN, DELETE):
            errors.append(
                FieldError(
                    f"spec.persistentVolumeClaimRetentionPolicy.{path}", f"must be {RETAIN} or {DELETE}"
                )
            )
    if spec.service_name and not _DNS_LABEL.match(spec.service_name):
        errors.append(FieldError("spec.serviceName", "must be a DNS label"))
    return errors


def _selector_errors(spec: PetSetSpec) -> list[FieldError]:
    if spec.selector.empty:
        return [FieldError("spec.selector", "must not be empty (it would select every pod)")]
    errors = [
        FieldError(f"spec.selector.{path}", why) for path, why in label_selector_errors(spec.selector_source)
    ]
    labels = labels_of(mapping_of(spec.template.get("metadata")).get("labels"))
    if not errors and not spec.selector.matches(labels):
        errors.append(FieldError("spec.template.metadata.labels", "do not match spec.selector"))
    return errors


def _template_errors(spec: PetSetSpec) -> list[FieldError]:
    pod_spec = mapping_of(spec.template.get("spec"))
    errors = []
    containers = pod_spec.get("containers")
    if not isinstance(containers, list) or not containers:
        errors.append(FieldError("spec.template.spec.containers", "required"))
    if pod_spec.get("restartPolicy", "Always") != "Always":
        errors.append(FieldError("spec.template.spec.restartPolicy", "must be Always"))
    return errors


def _claim_errors(name: str, spec: PetSetSpec) -> list[FieldError]:
    errors, seen = [], set()
    last = spec.ordinals[-1] if spec.replicas > 0 else spec.ordinals_start
    for index, claim in enumerate(spec.claim_templates):
        path = f"spec.volumeClaimTemplates[{index}].metadata.name"
        if not claim.name:
            errors.append(FieldError(path, "required: claims are named <template>-<set>-<ordinal>"))
        elif not _DNS_LABEL.match(claim.name):
            errors.append(FieldError(path, "must be a DNS label"))
        elif claim.name in seen:
            errors.append(FieldError(path, f"duplicate name {claim.name!r}"))
        elif len(f"{claim.name}-{name}-{last}") > 253:
            errors.append(FieldError(path, "claim names would exceed 253 characters"))
        seen.add(claim.name)
    return errors


def validate(pet_set: PetSet) -> tuple[FieldError, ...]:
    """Every problem that stops the controller from acting on this PetSet (empty when it is workable)."""
    spec = pet_set.spec
    return (
        *pet_set.problems,
        *_name_errors(pet_set.name, spec),
        *_number_errors(spec),
        *_policy_errors(spec),
        *_selector_errors(spec),
        *_template_errors(spec),
        *_claim_errors(pet_set.name, spec),
    )
