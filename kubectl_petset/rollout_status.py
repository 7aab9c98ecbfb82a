"""`rollout status`: one PetSet's rollout as `kubectl rollout status statefulset/NAME` words it. Pure.

The rules are StatefulSet's: the spec must have been observed, every replica Ready, then either the
partition's share updated (when `rollingUpdate` is given) or the update revision become current.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class RolloutError(Exception):
    """A rollout verb cannot go on; the text is what follows kubectl's `error: `."""


@dataclass(frozen=True, slots=True)
class Progress:
    """One line of `rollout status` (with its newline) and whether the rollout is complete."""

    text: str
    done: bool


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def rollout_progress(pet_set: Mapping[str, Any]) -> Progress:
    """The set's rollout as kubectl's StatefulSet status viewer reports it.

    Raises RolloutError for the OnDelete strategy, whose rollouts are the user's to make.
    """
    meta, spec, status = (_mapping(pet_set.get(key)) for key in ("metadata", "spec", "status"))
    strategy = _mapping(spec.get("updateStrategy"))
    if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
        raise RolloutError("rollout status is only available for RollingUpdate strategy type")
    observed = _int(status.get("observedGeneration"))
    if observed == 0 or _int(meta.get("generation")) > observed:
        return Progress("Waiting for petset spec update to be observed...\n", False)
    replicas = _int(spec.get("replicas"), 1)
    ready = _int(status.get("readyReplicas"))
    if ready < replicas:
        return Progress(f"Waiting for {replicas - ready} pods to be ready...\n", False)
    updated = _int(status.get("updatedReplicas"))
    rolling = strategy.get("rollingUpdate")
    if isinstance(rolling, Mapping):
        partition = rolling.get("partition")
        if isinstance(partition, int) and updated < replicas - partition:
            return Progress(
                "Waiting for partitioned roll out to finish: "
                f"{updated} out of {replicas - partition} new pods have been updated...\n",
                False,
            )
        return Progress(f"partitioned roll out complete: {updated} new pods have been updated...\n", True)
    current_revision, update_revision = status.get("currentRevision"), status.get("updateRevision")
    if update_revision != current_revision:
        return Progress(
            f"waiting for petset rolling update to complete {updated} pods"
            f" at revision {update_revision}...\n",
            False,
        )
    current = _int(status.get("currentReplicas"))
    return Progress(
        f"petset rolling update complete {current} pods at revision {current_revision}...\n", True
    )
