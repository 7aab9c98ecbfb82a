"""The controller's HTTP endpoints: `/healthz`, `/readyz` and `/metrics`, at the addresses
controller-runtime's flags name (`--health-probe-bind-address`, `--metrics-bind-address`; `0` turns one off).

`/readyz` is 200 once every informer has listed, whether this replica leads or stands by (a standby is
ready to take over); `/healthz` is 200 while the process runs its loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from kubeapi.probes import Handler, health, metrics, process_registry, readiness, routes_app, start
from petset_controller.runtime.controller import Controller
from petset_controller.runtime.metrics import ControllerCollector

OFF = "0"
Address = tuple[str, int]


def parse_bind(text: str) -> Address | None:
    """`:8081`, `127.0.0.1:8081` or `[::1]:8081` into (host, port); `0` (off) into None."""
    if text == OFF:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bind address {text!r} is not HOST:PORT, :PORT or 0")
    return host.strip("[]") or "0.0.0.0", int(port)


def registry(controller: Controller) -> CollectorRegistry:
    """The controller's families plus the process and platform ones every Prometheus client exports."""
    return process_registry(ControllerCollector(controller))


def routes(controller: Controller, *, health_paths: bool, metrics_path: bool) -> dict[str, Handler]:
    """The handlers of one listener."""
    out: dict[str, Handler] = {}
    if health_paths:
        out["/healthz"] = health()
        out["/readyz"] = readiness(lambda: controller.synced, lambda: "informers have not synced yet")
    if metrics_path:
        reg = registry(controller)
        out["/metrics"] = metrics(lambda: generate_latest(reg))
    return out


@contextlib.asynccontextmanager
async def serving(
    controller: Controller, *, health_at: Address | None, metrics_at: Address | None
) -> AsyncIterator[list[tuple[Address, int]]]:
    """Serve the endpoints while the block runs; yields each listener's address with its bound port."""
    listeners: list[tuple[Address, set[str]]] = []
    for address, kind in ((health_at, "health"), (metrics_at, "metrics")):
        if address is None:
            continue
        shared = [kinds for at, kinds in listeners if at == address and address[1] != 0]
        if shared:  # one port asked for both: one listener serves both
            shared[0].add(kind)
        else:
            listeners.append((address, {kind}))
    runners: list[web.AppRunner] = []
    bound: list[tuple[Address, int]] = []
    try:
        for address, which in listeners:
            app = routes_app(
                routes(controller, health_paths="health" in which, metrics_path="metrics" in which)
            )
            runner, (port,) = await start(app, [address])
            runners.append(runner)
            bound.append((address, port))
        yield bound
    finally:
        for runner in runners:
            await runner.cleanup()
