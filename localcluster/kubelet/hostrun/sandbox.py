"""A pod's sandbox on the host: the holder process in new UTS, mount and PID namespaces, containers entered
with `nsenter`, and the end of it all (SIGKILL of the holder ends every process of the namespace)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
from pathlib import Path

from localcluster.kubelet.hostrun.plan import ContainerPlan, PodPlan

HOLDER = Path(__file__).with_name("holder.py")
PR_SET_PDEATHSIG = 1
READY_TIMEOUT = 10.0
KILL_WAIT = 5.0  # for a killed sandbox's processes to end before `unshare` is killed too


ENTER = 'cd -- "$0" && exec "$@"'  # sh -c ENTER WORKDIR COMMAND...


class SandboxError(Exception):
    """The sandbox could not be set up (unshare missing or refused, a mount refused)."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def children(pid: int) -> list[int]:
    """The host PIDs of a process's children."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(word) for word in text.split()]


def alive(pid: int) -> bool:
    """Whether a process exists (and is not a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return bool(fields) and fields[0] != "Z"


class Sandbox:
    """One pod's namespaces, held by `pid` (the namespace's PID 1, as the host sees it)."""

    def __init__(self, directory: Path, unshare: asyncio.subprocess.Process, pid: int) -> None:
        self.directory = directory
        self.unshare = unshare
        self.pid = pid
        self._killed = False

    @classmethod
    async def start(cls, directory: Path, plan: PodPlan) -> Sandbox:
        """Write the pod's files and start its holder; SandboxError when it does not come up."""
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)
        resolv, hosts = directory / "resolv.conf", directory / "hosts"
        resolv.write_text(plan.resolv_conf)
        hosts.write_text(plan.hosts)
        for path in (resolv, hosts):
            path.chmod(0o644)
        argv = ["unshare", "--uts", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]
        argv += ["--propagation", "private", sys.executable, "-I", "-S", str(HOLDER)]
        argv += ["--hostname", plan.hostname, "--resolv", str(resolv), "--hosts", str(hosts)]
        for source, target in plan.mounts:
            argv += ["--bind", f"{source}:{target}"]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                preexec_fn=_die_with_parent,
                start_new_session=True,
            )
        except OSError as err:
            raise SandboxError(f"cannot start the sandbox: {err}") from err
        assert proc.stdout is not None and proc.stderr is not None
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                line = await proc.stdout.readline()
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            said = (await proc.stderr.read()).decode(errors="replace").strip()
            await proc.wait()
            raise SandboxError(f"the sandbox did not start: {said or 'no reason given'}")
        held = children(proc.pid)
        if not held:
            raise SandboxError("the sandbox's first process is gone")
        return cls(directory, proc, held[0])

    def enter_argv(self, container: ContainerPlan) -> list[str]:
        """The argv prefix that runs a command in the sandbox as the container would run (user, working
        directory, environment)."""
        # the working directory is entered inside the sandbox (as root, before the user is set), so that
        # it is a place of the pod's own mount namespace: getcwd() works for any user (`nsenter --wd` opens
        # it outside, where a directory under a 0700 state directory cannot be walked back by that user)
        argv = ["nsenter", "-t", str(self.pid), "-u", "-m", "-p", "--", "/bin/sh", "-c", ENTER]
        argv += [container.workdir, "setpriv", f"--reuid={container.uid}", f"--regid={container.gid}"]
        argv += ["--clear-groups", "--", "env", "-i"]
        return argv + [f"{key}={value}" for key, value in container.env]

    async def exec(self, container: ContainerPlan, argv: tuple[str, ...]) -> asyncio.subprocess.Process:
        """Start argv in the sandbox as the container; stdout and stderr are pipes."""
        return await asyncio.create_subprocess_exec(
            *self.enter_argv(container),
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )

    @property
    def running(self) -> bool:
        """Whether the holder still runs."""
        return self.unshare.returncode is None and alive(self.pid)

    async def kill(self) -> None:
        """End the sandbox: SIGKILL of its first process takes every process of the namespace with it."""
        if self._killed:  # once: the PIDs may belong to other processes by now
            await self.unshare.wait()
            return
        self._killed = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        # the namespace's first process ends after every other process of it: `unshare` reaps it and
        # exits by itself (killing `unshare` first would leave it to whoever adopts it)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(KILL_WAIT):
                await self.unshare.wait()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.unshare.pid, signal.SIGKILL)
        await self.unshare.wait()


def signal_process(proc: asyncio.subprocess.Process, sig: int) -> None:
    """Signal what an `nsenter` started: its child in the sandbox (nsenter itself forwards nothing)."""
    if proc.returncode is not None:
        return
    for pid in children(proc.pid) or [proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


async def exited(proc: asyncio.subprocess.Process, every: float = 0.05) -> int:
    """The return code once the process has exited (its pipes may stay open: `wait` would wait for them)."""
    while proc.returncode is None:
        await asyncio.sleep(every)
    return proc.returncode


def kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL what is left of a container whose main process ended (its process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
