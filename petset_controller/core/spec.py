"""The PetSet spec: its values, lenient reading with defaults, and the rules a workable spec follows."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubeapi.labels import Selector, from_label_selector, label_selector_errors

if TYPE_CHECKING:
    from petset_controller.core.model import PetSet

Json = Mapping[str, Any]
RETAIN = "Retain"
DELETE = "Delete"
ORDERED_READY = "OrderedReady"
PARALLEL = "Parallel"
ROLLING_UPDATE = "RollingUpdate"
ON_DELETE = "OnDelete"
MAX_HASH_LENGTH = 10  # a 32-bit hash printed in decimal, one safe character per digit
LABEL_VALUE_MAX = 63
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_PERCENT = re.compile(r"([0-9]+)%\Z")


def mapping_of(value: object) -> Json:
    """The value when it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def labels_of(value: object) -> Mapping[str, str]:
    """A labels or annotations object as a str -> str mapping."""
    return {str(k): str(v) for k, v in mapping_of(value).items()}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with a PetSet, named by its dotted field path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class ClaimTemplate:
    """One volumeClaimTemplates entry; `raw` is kept whole to build the claims."""

    name: str
    raw: Json


@dataclass(frozen=True, slots=True)
class UpdateStrategy:
    """RollingUpdate (with partition and maxUnavailable, an int or a percentage) or OnDelete."""

    type: str = ROLLING_UPDATE
    partition: int = 0
    max_unavailable: int | str = 1


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """persistentVolumeClaimRetentionPolicy: Retain or Delete for each of whenDeleted and whenScaled."""

    when_deleted: str = RETAIN
    when_scaled: str = RETAIN


@dataclass(frozen=True, slots=True)
class PetSetSpec:
    """The spec fields the controller uses, defaulted; `template` is the raw pod template."""

    replicas: int = 1
    selector: Selector = field(default_factory=Selector)
    selector_source: Json = field(default_factory=dict)  # the LabelSelector as written ({} when defaulted)
    service_name: str = ""
    template: Json = field(default_factory=dict)
    claim_templates: tuple[ClaimTemplate, ...] = ()
    pod_management_policy: str = ORDERED_READY
    update_strategy: UpdateStrategy = UpdateStrategy()
    revision_history_limit: int = 10
    min_ready_seconds: int = 0
    ordinals_start: int = 0
    retention: RetentionPolicy = RetentionPolicy()

    @property
    def ordinals(self) -> range:
        """The ordinals the set should have."""
        return range(self.ordinals_start, self.ordinals_start + max(self.replicas, 0))

    @property
    def parallel(self) -> bool:
        """Burst mode: no waiting between pets."""
        return self.pod_management_policy == PARALLEL

    @property
    def partition_start(self) -> int:
        """The lowest ordinal a rolling update may replace (everything for OnDelete scale-ups)."""
        if self.update_strategy.type != ROLLING_UPDATE:
            return self.ordinals_start
        return self.ordinals_start + max(self.update_strategy.partition, 0)


@dataclass(slots=True)
class _Reader:
    """Reads fields with defaults, noting each one of the wrong type; the key is the path's last part."""

    problems: list[FieldError] = field(default_factory=list)

    def integer(self, obj: Json, path: str, default: int) -> int:
        value = obj.get(path.rsplit(".", 1)[-1])
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.append(FieldError(path, f"must be an integer, not {value!r}"))
            return default
        return value

    def text(self, obj: Json, path: str, default: str) -> str:
        value = obj.get(path.rsplit(".", 1)[-1])
        if value is None:
            return default
        if not isinstance(value, str):
            self.problems.append(FieldError(path, f"must be a string, not {value!r}"))
            return default
        return value

    def mapping(self, obj: Json, path: str) -> Json:
        value = obj.get(path.rsplit(".", 1)[-1])
        if value is not None and not isinstance(value, Mapping):
            self.problems.append(FieldError(path, "must be an object"))
        return mapping_of(value)


def _strategy(read: _Reader, spec: Json) -> UpdateStrategy:
    raw = read.mapping(spec, "spec.updateStrategy")
    rolling = read.mapping(raw, "spec.updateStrategy.rollingUpdate")
    budget = rolling.get("maxUnavailable", 1)
    if isinstance(budget, bool) or not isinstance(budget, int | str):
        read.problems.append(FieldError("spec.updateStrategy.rollingUpdate.maxUnavailable", "int or percent"))
        budget = 1
    return UpdateStrategy(
        type=read.text(raw, "spec.updateStrategy.type", ROLLING_UPDATE),
        partition=read.integer(rolling, "spec.updateStrategy.rollingUpdate.partition", 0),
        max_unavailable=budget,
    )


def _claim_templates(read: _Reader, spec: Json) -> tuple[ClaimTemplate, ...]:
    raw = spec.get("volumeClaimTemplates")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        read.problems.append(FieldError("spec.volumeClaimTemplates", "must be a list"))
        return ()
    out = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            read.problems.append(FieldError(f"spec.volumeClaimTemplates[{index}]", "must be an object"))
            continue
        name = mapping_of(item.get("metadata")).get("name")
        out.append(ClaimTemplate(name if isinstance(name, str) else "", item))
    return tuple(out)


def read_spec(spec: Json) -> tuple[PetSetSpec, tuple[FieldError, ...]]:
    """A raw spec with defaults applied (the selector defaults to the template labels, as PetSet did)."""
    read = _Reader()
    template = read.mapping(spec, "spec.template")
    if spec.get("selector") is None:
        source: Json = {}
        selector = from_label_selector({"matchLabels": mapping_of(template.get("metadata")).get("labels")})
    else:
        source = read.mapping(spec, "spec.selector")
        selector = from_label_selector(source)
    retention = read.mapping(spec, "spec.persistentVolumeClaimRetentionPolicy")
    rpath = "spec.persistentVolumeClaimRetentionPolicy"
    value = PetSetSpec(
        replicas=read.integer(spec, "spec.replicas", 1),
        selector=selector,
        selector_source=source,
        service_name=read.text(spec, "spec.serviceName", ""),
        template=template,
        claim_templates=_claim_templates(read, spec),
        pod_management_policy=read.text(spec, "spec.podManagementPolicy", ORDERED_READY),
        update_strategy=_strategy(read, spec),
        revision_history_limit=read.integer(spec, "spec.revisionHistoryLimit", 10),
        min_ready_seconds=read.integer(spec, "spec.minReadySeconds", 0),
        ordinals_start=read.integer(read.mapping(spec, "spec.ordinals"), "spec.ordinals.start", 0),
        retention=RetentionPolicy(
            when_deleted=read.text(retention, f"{rpath}.whenDeleted", RETAIN),
            when_scaled=read.text(retention, f"{rpath}.whenScaled", RETAIN),
        ),
    )
    return value, tuple(read.problems)


def max_unavailable(spec: PetSetSpec) -> int:
    """The rolling-update budget: an int, or a percentage of replicas rounded down; at least 1."""
    budget = spec.update_strategy.max_unavailable
    if isinstance(budget, str):
        match = _PERCENT.match(budget)
        budget = int(match.group(1)) * max(spec.replicas, 0) // 100 if match else 1
    return max(budget, 1)


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
    )
    return [FieldError(path, f"must be >= 0, not {value}") for path, value in checks if value < 0]


def _policy_errors(spec: PetSetSpec) -> list[FieldError]:
    errors = []
    if spec.pod_management_policy not in (ORDERED_READY, PARALLEL):
        errors.append(FieldError("spec.podManagementPolicy", f"must be {ORDERED_READY} or {PARALLEL}"))
    if spec.update_strategy.type not in (ROLLING_UPDATE, ON_DELETE):
        errors.append(FieldError("spec.updateStrategy.type", f"must be {ROLLING_UPDATE} or {ON_DELETE}"))
    budget = spec.update_strategy.max_unavailable
    match = _PERCENT.match(budget) if isinstance(budget, str) else None
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
