"""The kubelet's side of pods run as host processes: whether a pod runs for real (planned once per pod
uid, with the claims' host directories and the ConfigMap and Secret values it reads), starting and stopping
it, and its status from what its processes do. Pods not run are left to the simulation (None)."""

from __future__ import annotations

import base64
import binascii
import logging
import os
import shutil
import time
from typing import Any

from kubeapi.client import Client
from kubeapi.errors import ApiError
from kubeapi.meta import Obj
from kubeapi.paths import PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES, ResourceRef
from kubeapi.store import Key
from localcluster.kubelet.config import KubeletConfig
from localcluster.kubelet.events import KUBELET, EventSender, event_body
from localcluster.kubelet.hostrun import status as hoststatus
from localcluster.kubelet.hostrun.plan import Host, NotRun, PodContext, PodPlan, asks_to_run, plan
from localcluster.kubelet.hostrun.runtime import HostRuntime
from localcluster.kubelet.podindex import uid_of
from localcluster.kubelet.podlife import Step, grace_of, may_start, terminating

log = logging.getLogger("localcluster.kubelet")
CONFIG_MAPS = ResourceRef("", "v1", "configmaps")
SECRETS = ResourceRef("", "v1", "secrets")


def this_host() -> Host:
    """The host as the plan reads it."""
    return Host(
        environ=dict(os.environ),
        uid=os.getuid(),
        gid=os.getgid(),
        which=lambda command, path: shutil.which(command, path=path),
        isdir=os.path.isdir,
    )


def _references(pod: Obj) -> set[tuple[str, str]]:
    """The (kind, name) of every ConfigMap and Secret the pod's env entries read."""
    found = set()
    spec = pod.get("spec") or {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for entry in container.get("env") or [] if isinstance(container, dict) else []:
            value_from = entry.get("valueFrom") if isinstance(entry, dict) else None
            for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                ref = (value_from or {}).get(key)
                if isinstance(ref, dict) and ref.get("name"):
                    found.add((kind, str(ref["name"])))
    return found


class HostSync:
    """Plans, starts, stops and reports the pods run as host processes."""

    def __init__(
        self, client: Client, config: KubeletConfig, events: EventSender, runtime: HostRuntime, host: Host
    ) -> None:
        self.client = client
        self.config = config
        self.events = events
        self.runtime = runtime
        self.host = host
        self.decided: dict[str, PodPlan | NotRun] = {}

    def forget(self, uid: str) -> None:
        self.decided.pop(uid, None)

    async def step(
        self, key: Key, pod: Obj, node: str, host_ips: tuple[str, ...], pod_ips: tuple[str, ...]
    ) -> Step | None:
        """The pod's next step when it runs for real, else None (simulated)."""
        uid, now = uid_of(pod), time.time()
        run = self.runtime.get(uid)
        if run is None:
            if not may_start(pod) or not pod_ips:
                return None
            decided = self.decided.get(uid)
            if decided is None:
                decided = self.decided[uid] = await self._plan(key, pod, pod_ips, host_ips[0])
                if isinstance(decided, NotRun):
                    self._not_run(pod, node, decided)
            if isinstance(decided, NotRun):
                return None

            def event(reason: str, message: str, kind: str) -> None:
                body = event_body(
                    pod,
                    reason=reason,
                    message=message,
                    kind=kind,
                    component=KUBELET,
                    now=time.time(),
                    host=node,
                )
                self.events.post(body)

            run = self.runtime.start(key, pod, decided, pod_ip=pod_ips[0], event=event)
        stopping = terminating(pod)
        if stopping:
            run.stop(grace_of(pod))
            if run.stopped.is_set():
                return Step(finish=True)
        view = run.view()
        return Step(status=hoststatus.status(pod, view, host_ips, pod_ips, stopping=stopping, now=now))

    def _not_run(self, pod: Obj, node: str, why: NotRun) -> None:
        meta = pod.get("metadata") or {}
        log.info("kubelet: pod %s/%s is simulated: %s", meta.get("namespace"), meta.get("name"), why.reason)
        now = time.time()
        self.events.post(
            event_body(
                pod, reason="NotRun", message=why.reason, kind="Normal", component=KUBELET, now=now, host=node
            )
        )
        if why.failed:
            self.events.post(
                event_body(
                    pod,
                    reason="Failed",
                    message=why.failed,
                    kind="Warning",
                    component=KUBELET,
                    now=now + 1e-6,  # an Event name of its own
                    host=node,
                )
            )

    async def _plan(self, key: Key, pod: Obj, pod_ips: tuple[str, ...], host_ip: str) -> PodPlan | NotRun:
        if not asks_to_run(pod):  # said before reading anything of the API
            return plan(pod, PodContext(zone=self.config.zone, nameserver="", pod_ips=pod_ips), self.host)
        values = await self._values(key[0], pod)
        ctx = PodContext(
            zone=self.config.zone,
            nameserver=self.config.dns_address,
            pod_ips=pod_ips,
            api=self.config.api,
            host_ip=host_ip,
            claims=await self._claim_dirs(key[0], pod),
            source=lambda kind, name, item: values.get((kind, name), {}).get(item),
        )
        return plan(pod, ctx, self.host)

    async def _values(self, namespace: str, pod: Obj) -> dict[tuple[str, str], dict[str, str]]:
        out: dict[tuple[str, str], dict[str, str]] = {}
        for kind, name in _references(pod):
            try:
                found = await self.client.get(
                    CONFIG_MAPS if kind == "ConfigMap" else SECRETS, namespace, name
                )
            except ApiError:
                continue
            data: dict[str, Any] = found.get("data") or {}
            if kind == "Secret":
                decoded = {}
                for item, text in data.items():
                    try:
                        decoded[item] = base64.b64decode(str(text)).decode(errors="replace")
                    except (binascii.Error, ValueError):
                        continue
                out[(kind, name)] = decoded
            else:
                out[(kind, name)] = {str(k): str(v) for k, v in data.items()}
        return out

    async def _claim_dirs(self, namespace: str, pod: Obj) -> dict[str, str]:
        """Each claim volume's host directory (its bound hostPath volume's path)."""
        out: dict[str, str] = {}
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            claim = (
                (volume.get("persistentVolumeClaim") or {}).get("claimName")
                if isinstance(volume, dict)
                else None
            )
            if not claim:
                continue
            try:
                found = await self.client.get(PERSISTENT_VOLUME_CLAIMS, namespace, str(claim))
                name = (found.get("spec") or {}).get("volumeName")
                pv = await self.client.get(PERSISTENT_VOLUMES, None, str(name)) if name else {}
            except ApiError:
                continue
            path = ((pv.get("spec") or {}).get("hostPath") or {}).get("path")
            if path and os.path.isdir(str(path)):
                out[str(volume["name"])] = str(path)
        return out
