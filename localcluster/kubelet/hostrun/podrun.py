"""One pod run for real: its sandbox, init containers in order, then its containers, each restarted as its
restartPolicy says with the kubelet's back-off, probed, and stopped (preStop, SIGTERM, grace, SIGKILL)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubeapi.meta import Obj, rfc3339
from localcluster.kubelet.hostrun import listeners, logfiles
from localcluster.kubelet.hostrun.plan import ContainerPlan, PodPlan
from localcluster.kubelet.hostrun.probes import run_probe
from localcluster.kubelet.hostrun.probestate import (
    BACKOFF_RESET,
    ContainerProbes,
    event_message,
    restart_delay,
)
from localcluster.kubelet.hostrun.sandbox import Sandbox, SandboxError, exited, kill_group, signal_process
from localcluster.kubelet.hostrun.status import RunView
from localcluster.kubelet.podstatus import container_id

log = logging.getLogger("localcluster.kubelet")
Event = Callable[[str, str, str], None]  # (reason, message, Normal|Warning)
BIND_CHECKS = (0.5, 1.0, 2.0, 4.0, 8.0)  # seconds between looks for wildcard binds, then every 10 s
KILL_GRACE = 30.0  # a liveness failure's stop grace when the pod sets none


def exit_code(returncode: int) -> int:
    """A process's exit as the container's exitCode (128 + signal when killed)."""
    return 128 - returncode if returncode < 0 else returncode


class ContainerRun:
    """What the kubelet reports of one container: state, lastState, restartCount, ready, started."""

    def __init__(self, plan: ContainerPlan, pod_uid: str) -> None:
        self.plan = plan
        self.pod_uid = pod_uid
        self.state: Obj = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: Obj = {}
        self.restarts = 0
        self.ready = False
        self.started = False
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def id(self) -> str:
        return container_id(self.pod_uid, self.plan.name, self.restarts)

    def view(self) -> Obj:
        """This container's part of the status (the pod's status builder adds name and image)."""
        return {
            "state": self.state,
            "lastState": self.last_state,
            "restartCount": self.restarts,
            "ready": self.ready,
            "started": self.started,
            "containerID": self.id if "waiting" not in self.state or self.restarts else "",
        }


class PodRun:
    """Runs a pod's plan until it ends or is stopped; `notify` is called on every change of state."""

    def __init__(
        self,
        pod: Obj,
        plan: PodPlan,
        directory: Path,
        *,
        pod_ip: str,
        notify: Callable[[], None],
        event: Event,
    ) -> None:
        meta = pod.get("metadata") or {}
        self.namespace, self.name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        self.uid = str(meta.get("uid") or "")
        self.plan = plan
        self.directory = directory
        self.pod_ip = pod_ip
        self.grace = float((pod.get("spec") or {}).get("terminationGracePeriodSeconds") or KILL_GRACE)
        self.notify = notify
        self.event = event
        self.init = [ContainerRun(c, self.uid) for c in plan.init]
        self.containers = [ContainerRun(c, self.uid) for c in plan.containers]
        self.sandbox: Sandbox | None = None
        self.initialized = not plan.init
        self.phase = "Pending"
        self.message = ""
        self.stopping = False
        self.stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self._binds: asyncio.Task[None] | None = None  # looks for wildcard binds while the pod runs

    # --- what the kubelet reads ------------------------------------------------------------------------

    def find(self, name: str) -> ContainerRun | None:
        return next((c for c in (*self.init, *self.containers) if c.plan.name == name), None)

    def view(self) -> RunView:
        """The pod as its status shows it."""
        return RunView(
            sandbox=self.sandbox is not None and not self.stopped.is_set(),
            initialized=self.initialized,
            phase=self.phase,
            init={c.plan.name: c.view() for c in self.init},
            containers={c.plan.name: c.view() for c in self.containers},
            message=self.message,
        )

    def enter_argv(self, name: str) -> list[str] | None:
        found = self.find(name)
        if self.sandbox is None or found is None or "running" not in found.state or self.stopped.is_set():
            return None
        return self.sandbox.enter_argv(found.plan)

    # --- running ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"pod {self.namespace}/{self.name}")

    async def _run(self) -> None:
        try:
            self.sandbox = await Sandbox.start(self.directory, self.plan)
        except SandboxError as err:
            self.phase, self.message = "Failed", str(err)
            self.event("FailedCreatePodSandBox", str(err), "Warning")
            self.stopped.set()
            self.notify()
            return
        for path in self.plan.owned_dirs:
            uid = self.plan.containers[0].uid
            with contextlib.suppress(OSError):
                os.chown(path, uid, self.plan.containers[0].gid)
        self.notify()
        self._binds = asyncio.create_task(self._watch_binds(self.sandbox.pid))
        for init in self.init:
            if not await self._supervise(init, init_container=True):
                await self._end("Failed")
                return
        self.initialized, self.phase = True, "Running"
        self.notify()
        results = await asyncio.gather(*(self._supervise(c, init_container=False) for c in self.containers))
        if not self.stopping:
            await self._end("Succeeded" if all(results) else "Failed")

    async def _end(self, phase: str) -> None:
        self.phase = phase
        if self.sandbox is not None:
            await self.sandbox.kill()
        self._stopped()
        self.notify()

    async def _supervise(self, run: ContainerRun, *, init_container: bool) -> bool:
        """Run a container as its restartPolicy says; whether it ended well (exit 0)."""
        policy = "OnFailure" if init_container and self.plan.restart_policy == "Always" else None
        policy = policy or self.plan.restart_policy
        backoff = 0  # restarts counted for the back-off: a run of BACKOFF_RESET seconds starts it afresh
        while True:
            began = time.monotonic()
            code = await self._run_once(run, probe=not init_container)
            backoff = 0 if time.monotonic() - began >= BACKOFF_RESET else backoff
            if self.stopping or policy == "Never" or (code == 0 and policy == "OnFailure"):
                return code == 0
            if init_container and code == 0:
                return True
            run.last_state, run.ready, run.started = run.state, False, False
            delay = restart_delay(backoff)
            backoff += 1
            if delay > 0:
                message = f"back-off {delay:g}s restarting failed container={run.plan.name} pod={self._who()}"
                run.state = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
                self.event(
                    "BackOff",
                    f"Back-off restarting failed container {run.plan.name} in pod {self._who()}",
                    "Warning",
                )
                self.notify()
                await asyncio.sleep(delay)
            if self.stopping:
                return code == 0
            run.restarts += 1

    def _stopped(self) -> None:
        self.stopped.set()
        if self._binds is not None:
            self._binds.cancel()

    async def _watch_binds(self, holder: int) -> None:
        """Say once per port when a process of the pod listens on every address (pods share the host's
        network here: that port is then taken from every other pet)."""
        said: set[str] = set()
        delays = iter(BIND_CHECKS)
        while not self.stopped.is_set():
            await asyncio.sleep(next(delays, 10.0))
            for bind in await asyncio.to_thread(listeners.wildcard_binds, holder):
                if bind not in said:
                    said.add(bind)
                    text = (
                        f"a process of the pod listens on {bind}: pods share the host's network in petdns "
                        f"local, so no other pet can use that port; bind $(POD_IP) ({self.pod_ip}) instead"
                    )
                    self.event("WildcardBind", text, "Warning")

    def _who(self) -> str:
        return f"{self.name}_{self.namespace}({self.uid})"

    async def _run_once(self, run: ContainerRun, *, probe: bool) -> int:
        assert self.sandbox is not None
        path = logfiles.log_path(self.directory, run.plan.name, run.restarts)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as out:
            proc = run.proc = await self.sandbox.exec(run.plan, run.plan.argv)
            started = rfc3339(time.time())
            run.state, run.started = {"running": {"startedAt": started}}, True
            run.ready = not probe or not any(kind == "readiness" for kind, _ in run.plan.probes)
            self.event("Started", f"Started container {run.plan.name}", "Normal")
            self.notify()
            assert proc.stdout is not None and proc.stderr is not None
            pumps = asyncio.gather(
                logfiles.pump(proc.stdout, "stdout", out), logfiles.pump(proc.stderr, "stderr", out)
            )
            pumps.add_done_callback(lambda done: done.cancelled() or done.exception())  # seen when cut short
            prober = asyncio.create_task(self._probe(run, proc)) if probe and run.plan.probes else None
            try:
                returncode = await exited(proc)
                kill_group(proc)  # the container ends with its main process
                await pumps
                await proc.wait()
            finally:
                if prober is not None:
                    prober.cancel()
                    await asyncio.gather(prober, return_exceptions=True)
        code = exit_code(returncode)
        run.state = {
            "terminated": {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": started,
                "finishedAt": rfc3339(time.time()),
                "containerID": run.id,
            }
        }
        run.ready = False
        run.proc = None
        self.notify()
        return code

    async def _probe(self, run: ContainerRun, proc: asyncio.subprocess.Process) -> None:
        """Probe a running container; a failed liveness (or startup) probe kills it to be restarted."""
        assert self.sandbox is not None
        spec: dict[str, Any] = {f"{kind}Probe": probe for kind, probe in run.plan.probes}
        probes = ContainerProbes(spec, time.monotonic())
        ports = dict(run.plan.ports)
        enter = self.sandbox.enter_argv(run.plan)
        while not self.stopping:
            due = probes.due(time.monotonic())
            if not due:
                break
            kind, when = min(due.items(), key=lambda item: item[1])
            await asyncio.sleep(max(0.0, when - time.monotonic()))
            result = await run_probe(spec[f"{kind}Probe"], pod_ip=self.pod_ip, ports=ports, enter_argv=enter)
            probes.record(kind, time.monotonic(), result.success)
            if not result.success:
                self.event("Unhealthy", event_message(kind, result), "Warning")
            if (probes.ready, probes.started) != (run.ready, run.started):
                run.ready, run.started = probes.ready, probes.started
                self.notify()
            failed = probes.restart_needed
            if failed is not None:
                text = f"Container {run.plan.name} failed {failed} probe, will be restarted"
                self.event("Killing", text, "Normal")
                await self._kill(proc, self.grace)
                return
        await asyncio.Event().wait()  # nothing more to probe: wait to be cancelled

    async def _kill(self, proc: asyncio.subprocess.Process, grace: float) -> None:
        signal_process(proc, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(grace, 0.0)):
                await exited(proc)
        signal_process(proc, signal.SIGKILL)

    # --- stopping --------------------------------------------------------------------------------------

    def stop(self, grace: float) -> None:
        """Stop the pod within `grace` seconds (once; later calls do nothing)."""
        if self._stop_task is None:
            self._stop_task = asyncio.create_task(self._stop(grace))

    async def _stop(self, grace: float) -> None:
        self.stopping = True
        deadline = time.monotonic() + grace
        running = [c for c in self.containers if c.proc is not None and c.proc.returncode is None]
        if self.sandbox is not None:
            for run in running:
                self.event("Killing", f"Stopping container {run.plan.name}", "Normal")
            await asyncio.gather(*(self._pre_stop(r, deadline) for r in running), return_exceptions=True)
            for run in (*self.init, *self.containers):
                if run.proc is not None:
                    signal_process(run.proc, signal.SIGTERM)
            waits = [exited(r.proc) for r in (*self.init, *self.containers) if r.proc]
            if waits:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
                        await asyncio.gather(*waits)
        await self.kill()

    async def _pre_stop(self, run: ContainerRun, deadline: float) -> None:
        if run.plan.pre_stop_http is not None:  # the probe's GET, bounded by the time left
            left = max(int(deadline - time.monotonic()), 1)
            probe = {"httpGet": run.plan.pre_stop_http, "timeoutSeconds": left}
            await run_probe(probe, pod_ip=self.pod_ip, ports=dict(run.plan.ports), enter_argv=None)
        if not run.plan.pre_stop or self.sandbox is None:
            return
        proc = await self.sandbox.exec(run.plan, run.plan.pre_stop)
        try:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
                await proc.communicate()
        except TimeoutError:
            signal_process(proc, signal.SIGKILL)

    async def kill(self) -> None:
        """End everything at once (the kubelet's shutdown, a pod forgotten)."""
        self.stopping = True
        if self.sandbox is not None:
            await self.sandbox.kill()
        if self._task is not None and not self._task.done():
            if any(c.proc is not None for c in (*self.init, *self.containers)):  # let it see the ends
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2.0):
                        await asyncio.shield(self._task)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._stopped()
        self.notify()
