"""The operational HTTP both processes serve: `/health`-style liveness, readiness with a reason, a
Prometheus `/metrics` handler, and serving routes on a list of addresses (port 0: any free port)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def health() -> Handler:
    async def handle(_: web.Request) -> web.Response:
        return web.Response(text="OK")

    return handle


def readiness(ready: Callable[[], bool], why: Callable[[], str] = lambda: "not synced yet") -> Handler:
    async def handle(_: web.Request) -> web.Response:
        if ready():
            return web.Response(text="OK")
        return web.Response(status=503, text=why())

    return handle


def metrics(render: Callable[[], bytes], scrapes: ScrapeStats | None = None) -> Handler:
    """Serve `render()` (the exposition of a registry); `scrapes` counts them and their time."""

    async def handle(_: web.Request) -> web.Response:
        started = time.perf_counter()
        body = render()
        if scrapes is not None:
            scrapes.count += 1
            scrapes.seconds += time.perf_counter() - started
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handle


def process_registry(collector: Collector) -> CollectorRegistry:
    """A registry with a program's own collector and the process and platform ones every Prometheus
    client exports."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    ProcessCollector(registry=reg)
    PlatformCollector(registry=reg)
    return reg


def bucket_bound(bound: float) -> str:
    """A histogram bucket bound as Prometheus prints it (`0.00025`, `8.192`, `+Inf`)."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


class ScrapeStats:
    """How many scrapes were served and the time spent rendering them."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0


def routes_app(routes: Mapping[str, Handler]) -> web.Application:
    """An application answering GET on each path."""
    application = web.Application()
    for path, handler in routes.items():
        application.router.add_get(path, handler)
    return application


async def start(
    application: web.Application, listen: list[tuple[str, int]]
) -> tuple[web.AppRunner, list[int]]:
    """Serve the application on each address; returns the runner and the bound ports."""
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    ports = []
    try:
        for host, port in listen:
            site = web.TCPSite(runner, host, port, reuse_address=True)
            await site.start()
            server = site._server  # the bound socket tells the real port when 0 was asked
            sockets = getattr(server, "sockets", None) or []
            ports.append(sockets[0].getsockname()[1] if sockets else port)
    except BaseException:
        await runner.cleanup()
        raise
    return runner, ports
