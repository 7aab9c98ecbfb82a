"""`rollout status` of a PetSet: kubectl's StatefulSet rules and words, one row per state."""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_petset.rollout_status import RolloutError, rollout_progress


def pet_set(
    *,
    generation: int = 2,
    observed: int | None = 2,
    replicas: int = 3,
    ready: int = 3,
    updated: int = 3,
    current: int = 3,
    current_revision: str = "web-a",
    update_revision: str = "web-a",
    strategy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "replicas": replicas,
        "readyReplicas": ready,
        "updatedReplicas": updated,
        "currentReplicas": current,
        "currentRevision": current_revision,
        "updateRevision": update_revision,
    }
    if observed is not None:
        status["observedGeneration"] = observed
    spec: dict[str, Any] = {"replicas": replicas}
    if strategy is not None:
        spec["updateStrategy"] = strategy
    return {"metadata": {"name": "web", "generation": generation}, "spec": spec, "status": status}


ROWS = [
    (pet_set(observed=None), "Waiting for petset spec update to be observed...\n", False),
    (pet_set(generation=3), "Waiting for petset spec update to be observed...\n", False),
    (pet_set(ready=1), "Waiting for 2 pods to be ready...\n", False),
    (
        pet_set(updated=1, current=2, update_revision="web-b"),
        "waiting for petset rolling update to complete 1 pods at revision web-b...\n",
        False,
    ),
    (pet_set(), "petset rolling update complete 3 pods at revision web-a...\n", True),
    (
        pet_set(
            strategy={"type": "RollingUpdate"},
            current=0,
            updated=3,
            current_revision="web-b",
            update_revision="web-b",
        ),
        "petset rolling update complete 0 pods at revision web-b...\n",
        True,
    ),
    (
        pet_set(strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}, updated=1),
        "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...\n",
        False,
    ),
    (
        pet_set(strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}, updated=2),
        "partitioned roll out complete: 2 new pods have been updated...\n",
        True,
    ),
    (
        pet_set(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}, updated=0),
        "partitioned roll out complete: 0 new pods have been updated...\n",
        True,
    ),
    (
        {"metadata": {"generation": 1}, "spec": {}, "status": {"observedGeneration": 1}},
        "Waiting for 1 pods to be ready...\n",
        False,
    ),
]


@pytest.mark.parametrize(("obj", "text", "done"), ROWS)
def test_progress_is_worded_as_kubectl_words_a_statefulset(
    obj: dict[str, Any], text: str, done: bool
) -> None:
    progress = rollout_progress(obj)
    assert (progress.text, progress.done) == (text, done)


def test_on_delete_sets_have_no_rollout_status() -> None:
    with pytest.raises(
        RolloutError, match=r"^rollout status is only available for RollingUpdate strategy type$"
    ):
        rollout_progress(pet_set(strategy={"type": "OnDelete"}))
