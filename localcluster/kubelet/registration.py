"""The kubelet's Node objects: registration (again when deleted or restored), and a node lost on request."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import platform
import time
from collections.abc import Awaitable
from typing import TypeVar

from kubeapi.client import Client
from kubeapi.errors import AlreadyExists, ApiError
from kubeapi.paths import NODES
from kubeapi.store import Store
from localcluster.apiserver.discovery import SERVER_VERSION
from localcluster.kubelet.config import KubeletConfig
from localcluster.kubelet.nodes import (
    healthy_conditions,
    lost_conditions,
    node_manifest,
    with_unreachable_taints,
    without_unreachable_taints,
)
from localcluster.kubelet.scheduler import UNREACHABLE, NodeView

log = logging.getLogger("localcluster.kubelet")
T = TypeVar("T")
RETRY_BASE = 0.05
RETRY_CAP = 5.0


class Registrar:
    """Registers the kubelet's nodes and tells which of them are lost; `writes` counts its API writes."""

    def __init__(self, client: Client, config: KubeletConfig, nodes: Store[NodeView]) -> None:
        self.client = client
        self.config = config
        self.host_ips = {node: config.host_ip(node) for node in config.nodes}
        self.lost: set[str] = set()
        self.writes = 0
        self._nodes = nodes
        self._kubelet_version = "v{}.{}.{}".format(*SERVER_VERSION)

    def check(self, node: str) -> None:
        """ValueError for a node that is not this kubelet's."""
        if node not in self.host_ips:
            raise ValueError(f"{node!r} is not one of this kubelet's nodes {list(self.host_ips)}")

    async def register(self, node: str) -> None:
        """Register a node, retrying until the API answers."""
        attempt = 0
        while True:
            try:
                await self.register_once(node)
                return
            except ApiError as err:
                attempt += 1
                if attempt == 1:
                    log.warning("kubelet: registering node %s: %s; retrying", node, err)
                await asyncio.sleep(min(RETRY_BASE * 2**attempt, RETRY_CAP))

    async def register_once(self, node: str) -> None:
        """Create the Node, or make the one registered before Ready again and untainted."""
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        manifest = node_manifest(
            node,
            self.host_ips[node],
            time.time(),
            kubelet_version=self._kubelet_version,
            arch=arch,
            kernel=platform.release(),
        )
        try:
            await self._write(self.client.create(NODES, None, manifest))
            return
        except AlreadyExists:
            pass
        current = await self.client.get(NODES, None, node)
        status = manifest["status"]
        status["conditions"] = healthy_conditions(
            time.time(), (current.get("status") or {}).get("conditions")
        )
        await self._write(self.client.patch(NODES, None, node, {"status": status}, subresource="status"))
        taints = (current.get("spec") or {}).get("taints")
        kept = without_unreachable_taints(taints)
        if kept != (taints or []):
            await self._write(self.client.patch(NODES, None, node, {"spec": {"taints": kept or None}}))

    async def lose(self, node: str) -> None:
        """The node goes silent: its conditions Unknown, tainted unreachable."""
        self.check(node)
        self.lost.add(node)
        now = time.time()
        current = await self.client.get(NODES, None, node)
        taints = with_unreachable_taints((current.get("spec") or {}).get("taints"), now)
        await self._write(self.client.patch(NODES, None, node, {"spec": {"taints": taints}}))
        conditions = lost_conditions((current.get("status") or {}).get("conditions"), now)
        await self._write(
            self.client.patch(NODES, None, node, {"status": {"conditions": conditions}}, subresource="status")
        )

    async def restore(self, node: str) -> None:
        """A lost node answers again: Ready, untainted."""
        self.check(node)
        self.lost.discard(node)
        await self.register_once(node)

    def views(self) -> list[tuple[str, NodeView | None]]:
        """Each node as the scheduler sees it (a lost node not Ready and unreachable, even before the
        watch shows it)."""
        out = []
        for name in self.config.nodes:
            view = self._nodes.get(("", name))
            if view is not None and name in self.lost and not any(t[0] == UNREACHABLE for t in view.taints):
                view = dataclasses.replace(
                    view, ready=False, taints=(*view.taints, (UNREACHABLE, "", "NoSchedule"))
                )
            out.append((name, view))
        return out

    async def _write(self, call: Awaitable[T]) -> T:
        result = await call
        self.writes += 1
        return result
