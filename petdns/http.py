"""Operational HTTP: `/health` (alive) and `/ready` (503 until the watch cache has synced)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web


def app(ready: Callable[[], bool]) -> web.Application:
    """An aiohttp application answering /health and /ready."""

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def readiness(_: web.Request) -> web.Response:
        if ready():
            return web.Response(text="OK")
        return web.Response(status=503, text="not synced yet")

    application = web.Application()
    application.router.add_get("/health", health)
    application.router.add_get("/ready", readiness)
    return application


async def start(
    application: web.Application, listen: list[tuple[str, int]]
) -> tuple[web.AppRunner, list[int]]:
    """Serve the application on each address; returns the runner and the bound ports."""
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    ports = []
    for host, port in listen:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        server = site._server  # the bound socket tells the real port when 0 was asked
        sockets = getattr(server, "sockets", None) or []
        ports.append(sockets[0].getsockname()[1] if sockets else port)
    return runner, ports
