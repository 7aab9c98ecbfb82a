"""A pod's next step on its node: timing annotations and the lifecycle decision table."""

from __future__ import annotations

from typing import Any

import pytest

from localcluster.kubelet import podstatus
from localcluster.kubelet.podlife import (
    FAIL_AFTER,
    READY_AFTER,
    STOP_AFTER,
    Facts,
    Step,
    Timing,
    next_step,
    timing_of,
)

T0 = 1_800_000_000.0
HOST = ("127.0.1.1",)
IPS = ("127.244.0.1",)
TIMING = Timing(ready_after=0.5, stop_after=2.0)


def pod(
    *, annotations: dict[str, str] | None = None, status: Any = None, deleting: int | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web-0", "namespace": "ns", "uid": "u1"}
    if annotations:
        meta["annotations"] = annotations
    if deleting is not None:
        meta["deletionTimestamp"] = "2030-01-01T00:00:00Z"
        meta["deletionGracePeriodSeconds"] = deleting
    obj: dict[str, Any] = {"metadata": meta, "spec": {"nodeName": "node-1", "containers": [{"name": "c"}]}}
    if status is not None:
        obj["status"] = status
    return obj


def facts(**changes: Any) -> Facts:
    return Facts(**{"node": "node-1", "host_ips": HOST, "pod_ips": IPS, **changes})


RUNNING = podstatus.running(pod(), HOST, IPS, ready=True, now=T0)
FAILED = podstatus.failed(pod(), HOST, IPS, reason="Error", message="", now=T0)


@pytest.mark.parametrize(
    ("annotations", "timing", "problems"),
    [
        ({}, Timing(0.5, 1.0, None), 0),
        ({READY_AFTER: "2.5"}, Timing(2.5, 1.0, None), 0),
        ({READY_AFTER: "never"}, Timing(None, 1.0, None), 0),
        ({READY_AFTER: " Never "}, Timing(None, 1.0, None), 0),
        ({STOP_AFTER: "3"}, Timing(0.5, 3.0, None), 0),
        ({STOP_AFTER: "never"}, Timing(0.5, 1.0, None), 1),  # never is for ready-after only
        ({FAIL_AFTER: "0.25"}, Timing(0.5, 1.0, 0.25), 0),
        ({READY_AFTER: "-1", STOP_AFTER: "soon", FAIL_AFTER: "inf"}, Timing(0.5, 1.0, None), 3),
    ],
)
def test_timing_of(annotations: dict[str, str], timing: Timing, problems: int) -> None:
    got, notes = timing_of(pod(annotations=annotations), ready_after=0.5, stop_after=1.0)
    assert got == timing
    assert len(notes) == problems


def _ready(step: Step) -> bool:
    assert step.status is not None
    return podstatus.is_ready({"status": step.status})


@pytest.mark.parametrize(
    ("running_for", "override", "timing", "ready", "wake_in"),
    [
        (0.0, None, TIMING, False, 0.5),
        (0.2, None, TIMING, False, 0.3),
        (0.4995, None, TIMING, True, None),  # a timer firing a hair early counts as due
        (0.6, None, TIMING, True, None),
        (9.0, None, Timing(None, 2.0), False, None),  # never Ready
        (0.0, True, TIMING, True, None),  # forced either way
        (9.0, False, TIMING, False, None),
        (0.1, None, Timing(0.5, 2.0, fail_after=0.3), False, 0.2),  # the earlier of the two timers
        (0.4, None, Timing(0.5, 2.0, fail_after=1.0), False, 0.1),
    ],
)
def test_running_and_ready(
    running_for: float, override: bool | None, timing: Timing, ready: bool, wake_in: float | None
) -> None:
    step = next_step(pod(), facts(running_for=running_for, ready_override=override), timing, T0)
    assert step.status is not None and step.status["phase"] == "Running"
    assert _ready(step) is ready
    assert not step.finish
    assert step.wake_in == pytest.approx(wake_in) if wake_in is not None else step.wake_in is None


def test_fail_after_fails_the_pod() -> None:
    step = next_step(pod(), facts(running_for=1.0), Timing(0.5, 2.0, fail_after=1.0), T0)
    assert step.status is not None and step.status["phase"] == "Failed" and step.wake_in is None


def test_not_started_waits() -> None:
    step = next_step(pod(), facts(running_for=None, pod_ips=()), TIMING, T0)
    assert step.status is not None and step.status["phase"] == "Pending" and step.wake_in is None


@pytest.mark.parametrize(
    ("grace", "stopping_for", "stop_after", "finish", "wake_in"),
    [
        (30, 0.0, 2.0, False, 2.0),
        (30, 1.5, 2.0, False, 0.5),
        (30, 2.0, 2.0, True, None),
        (1, 0.0, 2.0, False, 1.0),  # the grace period caps the stop time
        (1, 1.0, 2.0, True, None),
        (30, 0.0, 0.0, True, None),  # stops at once
    ],
)
def test_graceful_stop(
    grace: int, stopping_for: float, stop_after: float, finish: bool, wake_in: float | None
) -> None:
    running = pod(status=RUNNING, deleting=grace)
    step = next_step(running, facts(running_for=5.0, stopping_for=stopping_for), Timing(0.5, stop_after), T0)
    assert step.finish is finish
    if finish:
        assert step.status is None
    else:
        assert not _ready(step) and step.status is not None and step.status["phase"] == "Running"
        assert step.wake_in == pytest.approx(wake_in)


def test_deleting_a_pod_that_never_started_finishes_at_once() -> None:
    assert next_step(pod(deleting=30), facts(running_for=None), TIMING, T0) == Step(finish=True)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (pod(status=FAILED), Step()),  # finished pods stay as they are
        (pod(status=FAILED, deleting=30), Step(finish=True)),  # ...until deleted
    ],
)
def test_finished_pods(obj: dict[str, Any], expected: Step) -> None:
    assert next_step(obj, facts(running_for=3.0), TIMING, T0) == expected


def test_failure_injection() -> None:
    step = next_step(
        pod(status=RUNNING), facts(running_for=3.0, failure=("Evicted", "low memory")), TIMING, T0
    )
    assert step.status is not None
    assert (step.status["phase"], step.status["reason"], step.status["message"]) == (
        "Failed",
        "Evicted",
        "low memory",
    )
    assert not step.finish
    deleting = next_step(
        pod(status=RUNNING, deleting=30), facts(running_for=3.0, failure=("Error", "")), TIMING, T0
    )
    assert deleting.finish and deleting.status is not None and deleting.status["phase"] == "Failed"


def test_lost_node_only_marks_not_ready() -> None:
    lost = facts(running_for=3.0, node_lost=True)
    step = next_step(pod(status=RUNNING), lost, TIMING, T0 + 1)
    assert step.status == podstatus.mark_not_ready(pod(status=RUNNING), T0 + 1) and not step.finish
    not_ready = pod(status=step.status)
    assert next_step(not_ready, lost, TIMING, T0 + 2) == Step()  # nothing more
    deleting = next_step(pod(status=step.status, deleting=30), lost, TIMING, T0 + 3)
    assert deleting.status is not None and deleting.status["reason"] == "NodeLost" and not deleting.finish
    assert next_step(pod(status=FAILED, deleting=30), lost, TIMING, T0) == Step()  # nobody finishes it
