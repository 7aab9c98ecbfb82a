"""An HTTP proxy in front of the local API server that breaks things on purpose (for watch-cache tests)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web


@dataclass
class Faults:
    """What to break next; tests change these while traffic flows."""

    fail_requests: int = 0  # answer the next N requests with `fail_code`
    fail_code: int = 500
    retry_after: str = ""  # Retry-After header with 429s
    close_watch_after: int = 0  # end every watch stream after N events (0: never)
    delay: float = 0.0  # seconds before forwarding any request
    down: bool = False  # refuse everything (connection closed without an answer)
    seen: list[str] = field(default_factory=list)  # "METHOD path?query" of every request


class FaultProxy:
    """Forwards to `upstream`, streaming watches line by line, applying `faults`."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults = Faults()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._streams: set[web.StreamResponse] = set()
        self.port = 0

    def cut(self) -> None:
        """Break every open watch stream now (as a dying server or a network cut would)."""
        for resp in list(self._streams):
            task = resp.task
            if task is not None:
                task.cancel()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(self.upstream)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self.cut()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        f = self.faults
        f.seen.append(f"{request.method} {request.path_qs}")
        if f.delay:
            await asyncio.sleep(f.delay)
        if f.down:
            assert request.transport is not None
            request.transport.close()
            raise ConnectionResetError
        if f.fail_requests > 0:
            f.fail_requests -= 1
            headers = {"Retry-After": f.retry_after} if f.retry_after else {}
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "code": f.fail_code,
                "reason": "TooManyRequests" if f.fail_code == 429 else "InternalError",
                "message": "injected",
            }
            return web.json_response(status, status=f.fail_code, headers=headers)
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with self._session.request(
            request.method,
            request.path_qs,
            data=body or None,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=None),
        ) as up:
            if "watch=" not in request.path_qs:
                return web.Response(
                    body=await up.read(), status=up.status, content_type=up.content_type or "application/json"
                )
            resp = web.StreamResponse(status=up.status)
            resp.content_type = "application/json"
            await resp.prepare(request)
            self._streams.add(resp)
            try:
                events = 0
                async for line in up.content:
                    await resp.write(line)
                    events += 1
                    if f.close_watch_after and events >= f.close_watch_after:
                        break
                await resp.write_eof()
            finally:
                self._streams.discard(resp)
            return resp
