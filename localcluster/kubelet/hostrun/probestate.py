"""Probe timing and results as the kubelet keeps them, pure: when each probe is due, what a run of results
means (successThreshold, failureThreshold), the startup probe gating the others, and the restart back-off.

Upstream's defaults: initialDelaySeconds 0, periodSeconds 10, timeoutSeconds 1, successThreshold 1,
failureThreshold 3. Before any result a readiness probe says not ready, a liveness probe alive and a startup
probe unknown; a container without the probe is ready, alive and started."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["readiness", "liveness", "startup"]
KINDS: tuple[Kind, ...] = ("startup", "liveness", "readiness")
HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")

BACKOFF_INITIAL = 10.0  # seconds before the second restart; doubles with each restart after it
BACKOFF_MAX = 300.0  # CrashLoopBackOff's ceiling
BACKOFF_RESET = 600.0  # a container that ran this long without exiting starts its back-off afresh


@dataclass(frozen=True)
class ProbeResult:
    """One probe run: success, and the output upstream puts after "<Kind> probe failed: "."""

    success: bool
    message: str = ""


def _field(probe: Mapping[str, Any], name: str, default: int, least: int) -> int:
    value = probe.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        return default
    return value


def timeout_seconds(probe: Mapping[str, Any]) -> float:
    """The probe's timeoutSeconds (default 1, at least 1)."""
    return float(_field(probe, "timeoutSeconds", 1, 1))


def handler(probe: Mapping[str, Any]) -> str | None:
    """Which of exec, httpGet, tcpSocket, grpc the probe uses (None: none of them)."""
    return next((name for name in HANDLERS if isinstance(probe.get(name), Mapping)), None)


def named_ports(container: Mapping[str, Any]) -> dict[str, int]:
    """The container's ports by name, for probes that name theirs."""
    out: dict[str, int] = {}
    for port in container.get("ports") or []:
        if isinstance(port, Mapping) and port.get("name") and isinstance(port.get("containerPort"), int):
            out[str(port["name"])] = port["containerPort"]
    return out


def event_message(kind: Kind, result: ProbeResult) -> str:
    """The Unhealthy event's message, as the kubelet writes it."""
    return f"{kind.capitalize()} probe failed: {result.message}"


class ProbeTracker:
    """One container's probe of one kind: when it is due and what its results amount to.

    `state`: readiness -> ready, liveness -> alive, startup -> started; None while unknown (a startup
    probe before its verdict). A liveness or startup probe that reached its failureThreshold stops
    (`due` is None) and `state` is False: the container is to be killed and restarted with a new tracker."""

    def __init__(self, probe: Mapping[str, Any] | None, kind: Kind, started: float) -> None:
        self.kind: Kind = kind
        self.probe: Mapping[str, Any] | None = probe if probe and handler(probe) else None
        spec = self.probe or {}
        self.initial_delay = float(_field(spec, "initialDelaySeconds", 0, 0))
        self.period = float(_field(spec, "periodSeconds", 10, 1))
        self.timeout = timeout_seconds(spec)
        self.success_threshold = _field(spec, "successThreshold", 1, 1)
        if kind != "readiness":
            self.success_threshold = 1  # the API requires 1 for liveness and startup
        self.failure_threshold = _field(spec, "failureThreshold", 3, 1)
        self.state: bool | None
        if self.probe is None:
            self.state = True
        else:
            self.state = {"readiness": False, "liveness": True, "startup": None}[kind]
        self._next: float | None = None if self.probe is None else started + self.initial_delay
        self._last: bool | None = None
        self._run = 0
        self.results = 0  # results recorded

    @property
    def failed(self) -> bool:
        """A liveness or startup probe that reached its failureThreshold: the container must restart."""
        return self.kind != "readiness" and self.state is False

    def due(self, now: float) -> float | None:
        """When the probe should run next (a time at or before `now`: run it now); None: never again (no
        probe, the startup probe succeeded, or the container is to be restarted)."""
        del now  # the schedule only moves when a result is recorded
        if self.probe is None or self.failed or (self.kind == "startup" and self.state is True):
            return None
        return self._next

    def record(self, now: float, ok: bool) -> None:
        """A result at `now`: count the run of equal results, change state at the thresholds, and schedule
        the next run one period later."""
        if self.probe is None:
            return
        self.results += 1
        self._run = self._run + 1 if self._last is ok else 1
        self._last = ok
        if ok and self._run >= self.success_threshold:
            self.state = True
        elif not ok and self._run >= self.failure_threshold:
            self.state = False
        self._next = now + self.period


class ContainerProbes:
    """A running container's three probes; liveness and readiness wait until the startup probe succeeds."""

    def __init__(self, container: Mapping[str, Any], started: float) -> None:
        self.trackers: dict[Kind, ProbeTracker] = {
            kind: ProbeTracker(_probe(container, kind), kind, started) for kind in KINDS
        }

    @property
    def started(self) -> bool:
        return self.trackers["startup"].state is True

    @property
    def ready(self) -> bool:
        return self.started and self.trackers["readiness"].state is True

    @property
    def restart_needed(self) -> Kind | None:
        """The probe whose failures call for a restart (startup or liveness), else None."""
        return next((kind for kind in ("startup", "liveness") if self.trackers[kind].failed), None)

    def due(self, now: float) -> dict[Kind, float]:
        """Each probe that will run, with when (those at or before `now` should run now)."""
        if self.restart_needed:
            return {}
        kinds: tuple[Kind, ...] = ("liveness", "readiness") if self.started else ("startup",)
        out: dict[Kind, float] = {}
        for kind in kinds:
            when = self.trackers[kind].due(now)
            if when is not None:
                out[kind] = when
        return out

    def record(self, kind: Kind, now: float, ok: bool) -> None:
        self.trackers[kind].record(now, ok)


def _probe(container: Mapping[str, Any], kind: Kind) -> Mapping[str, Any] | None:
    probe = container.get(f"{kind}Probe")
    return probe if isinstance(probe, Mapping) else None


def restart_delay(restarts: int) -> float:
    """Seconds to wait before restarting a container that has already restarted `restarts` times, as the
    kubelet's CrashLoopBackOff: the first restart at once, then 10 s, 20 s, 40 s, ... at most 300 s."""
    if restarts <= 0:
        return 0.0
    return min(BACKOFF_MAX, BACKOFF_INITIAL * 2.0 ** min(restarts - 1, 16))
