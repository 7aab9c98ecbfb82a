"""The host-process runtime of the local kubelet: the pods it runs for real, by uid, where their files are,
how to enter their containers and read their logs (the API server's `PodRuntime`), and their end."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from kubeapi.meta import Obj
from kubeapi.store import Key
from localcluster.kubelet.hostrun import logfiles
from localcluster.kubelet.hostrun.plan import PodPlan
from localcluster.kubelet.hostrun.podrun import Event, PodRun

log = logging.getLogger("localcluster.kubelet")


def available(euid: int | None = None) -> str | None:
    """Why pods cannot run on this host (None: they can): the tools, and root (new UTS, mount and PID
    namespaces, and DNS on port 53 for the pets)."""
    missing = [tool for tool in ("unshare", "nsenter", "setpriv", "env") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found on PATH"
    if (os.geteuid() if euid is None else euid) != 0:
        return "not running as root (pods run in new UTS, mount and PID namespaces; their DNS is on port 53)"
    return None


class HostRuntime:
    """Pods run as host processes under `root/<namespace>_<name>_<uid>/` (removed with the pod); `notify(key)`
    on every change (the kubelet that syncs them sets it)."""

    def __init__(self, root: str | None, notify: Callable[[Key], None] = lambda key: None) -> None:
        self._temp = None if root else tempfile.TemporaryDirectory(prefix="petdns-pods-")
        self.root = Path(root) if root else Path(self._temp.name if self._temp else ".")
        self.root.mkdir(parents=True, exist_ok=True)
        self.notify = notify
        self.runs: dict[str, PodRun] = {}  # by pod uid
        self._by_name: dict[tuple[str, str], PodRun] = {}

    def directory(self, namespace: str, name: str, uid: str) -> Path:
        """A pod's directory: its resolv.conf, hosts and container logs."""
        return self.root / f"{namespace}_{name}_{uid}"

    def start(self, key: Key, pod: Obj, plan: PodPlan, *, pod_ip: str, event: Event) -> PodRun:
        """Start running a pod (its uid must not be running yet)."""
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        directory = self.directory(key[0], key[1], uid)
        shutil.rmtree(directory, ignore_errors=True)  # what an earlier process left of it
        run = PodRun(
            pod,
            plan,
            directory,
            pod_ip=pod_ip,
            notify=lambda: self.notify(key),
            event=event,
        )
        self.runs[uid] = run
        self._by_name[key] = run
        run.start()
        return run

    def get(self, uid: str) -> PodRun | None:
        return self.runs.get(uid)

    async def forget(self, key: Key, uid: str) -> None:
        """A pod is gone: end whatever still runs of it."""
        run = self.runs.pop(uid, None)
        if run is None:
            return
        if self._by_name.get(key) is run:
            del self._by_name[key]
        await run.kill()
        shutil.rmtree(run.directory, ignore_errors=True)

    async def shutdown(self) -> None:
        """End every pod (nothing is left running when the kubelet stops)."""
        runs = list(self.runs.values())
        self.runs.clear()
        await asyncio.gather(*(run.kill() for run in runs), return_exceptions=True)
        if self._temp is not None:
            self._temp.cleanup()

    # --- PodRuntime (the API server's pods/exec and pods/log) -------------------------------------------

    def enter_argv(self, namespace: str, pod: str, container: str) -> list[str] | None:
        """The argv prefix that runs a command in a running container; None when it does not run."""
        run = self._by_name.get((namespace, pod))
        return None if run is None else run.enter_argv(container)

    def log_files(self, namespace: str, pod: str, container: str) -> list[Path]:
        """A container's log files, oldest run first ([] when it never ran for real)."""
        run = self._by_name.get((namespace, pod))
        return [] if run is None else logfiles.runs(run.directory, container)
