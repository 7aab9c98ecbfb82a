"""The PetSet spec: its values, and lenient reading with defaults (noting fields of the wrong type)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeapi.labels import Selector, from_label_selector

Json = Mapping[str, Any]
RETAIN = "Retain"
DELETE = "Delete"
ORDERED_READY = "OrderedReady"
PARALLEL = "Parallel"
ROLLING_UPDATE = "RollingUpdate"
ON_DELETE = "OnDelete"
PERCENT = re.compile(r"([0-9]+)%\Z")
PETSET_KIND = "PetSet"
STATEFULSET_KIND = "StatefulSet"
# on a PetSet written as apps/v1alpha1 (the API server notes it): PetSet v1.4's semantics
API_VERSION_ANNOTATION = "petdns.dev/api-version"


@dataclass(frozen=True, slots=True)
class Flavor:
    """One kind of set the controller manages, and what it defaults differently.

    `selector_from_template`: an absent selector selects the template's labels (PetSet) instead of
    nothing (StatefulSet, where the API server requires one); `update_type`: the update strategy when
    the spec names none (PetSet v1.4 had no such field: a template change reaches a pet only when the
    pet is deleted; a strategy written on it anyway is followed).
    """

    kind: str
    api_version: str
    selector_from_template: bool = True
    update_type: str | None = None
    typed_template: bool = False  # the template as kubectl renders a typed object (`typed_template`)


PETSET = Flavor(PETSET_KIND, "petdns.dev/v1")
ALPHA_PETSET = Flavor(PETSET_KIND, "apps/v1alpha1", update_type=ON_DELETE)
STATEFULSET = Flavor(STATEFULSET_KIND, "apps/v1", selector_from_template=False, typed_template=True)
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def typed_template(template: Json) -> Json:
    """The pod template as a typed client encodes it: every container's `resources` present (an empty
    struct is not omitted). kubectl's `rollout undo` compares a StatefulSet's revision data byte for byte
    with that encoding of the set's template (sorted keys, no spaces) to say "skipped rollback"."""
    out = dict(template)
    spec = mapping_of(template.get("spec"))
    if spec:
        typed = dict(spec)
        for key in _CONTAINER_LISTS:
            items = spec.get(key)
            if isinstance(items, list):
                typed[key] = [{"resources": {}, **c} if isinstance(c, Mapping) else c for c in items]
        out["spec"] = typed
    return out


def flavor_of(kind: str, annotations: Mapping[str, str]) -> Flavor:
    """The flavor of a set of this kind: a PetSet noted as written as apps/v1alpha1 is the v1.4 one."""
    if kind == STATEFULSET_KIND:
        return STATEFULSET
    return ALPHA_PETSET if annotations.get(API_VERSION_ANNOTATION) == ALPHA_PETSET.api_version else PETSET


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


DEFAULT_UNHEALTHY_AFTER = 60


@dataclass(frozen=True, slots=True)
class UpdateStrategy:
    """RollingUpdate (with partition and maxUnavailable, an int or a percentage) or OnDelete."""

    type: str = ROLLING_UPDATE
    partition: int = 0
    max_unavailable: int | str = 1
    replace_unhealthy: bool = False  # an outdated pet not Ready for long is replaced (opt-in)
    unhealthy_after: int = DEFAULT_UNHEALTHY_AFTER  # seconds beyond minReadySeconds before it is


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

    def boolean(self, obj: Json, path: str, default: bool) -> bool:
        value = obj.get(path.rsplit(".", 1)[-1])
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problems.append(FieldError(path, f"must be a boolean, not {value!r}"))
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
        replace_unhealthy=read.boolean(rolling, "spec.updateStrategy.rollingUpdate.replaceUnhealthy", False),
        unhealthy_after=read.integer(
            rolling, "spec.updateStrategy.rollingUpdate.unhealthyAfterSeconds", DEFAULT_UNHEALTHY_AFTER
        ),
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


def read_spec(spec: Json, flavor: Flavor = PETSET) -> tuple[PetSetSpec, tuple[FieldError, ...]]:
    """A raw spec with the flavor's defaults applied (for PetSets the selector defaults to the template
    labels, as PetSet did)."""
    read = _Reader()
    template = read.mapping(spec, "spec.template")
    if flavor.typed_template and template:
        template = typed_template(template)
    if spec.get("selector") is None and not flavor.selector_from_template:
        source: Json = {}
        selector = Selector()
    elif spec.get("selector") is None:
        source = {}
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
        update_strategy=(
            UpdateStrategy(type=flavor.update_type)
            if flavor.update_type and spec.get("updateStrategy") is None
            else _strategy(read, spec)
        ),
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
        match = PERCENT.match(budget)
        budget = int(match.group(1)) * max(spec.replicas, 0) // 100 if match else 1
    return max(budget, 1)
