"""`pods/log` of a container that runs for real: read from the log files the kubelet writes (one per run
of the container, CRI format), followed on request until the pod is gone, the container restarts (a newer
file) or stops running."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from localcluster.apiserver.crilog import CriLine, CriReader, pick, read_lines, render
from localcluster.apiserver.podruntime import PodRuntime
from localcluster.storage.errors import bad_request

POLL = 0.1  # seconds between looks at a followed file
CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class LogRequest:
    """One `pods/log` request for a container, its options read."""

    namespace: str
    pod: str
    container: str
    previous: bool = False
    follow: bool = False
    timestamps: bool = False
    tail: int | None = None
    since: float | None = None  # epoch seconds
    limit: int | None = None


def _read(path: pathlib.Path, offset: int = 0) -> bytes:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return b""


class Budget:
    """What is left of `limitBytes` (None: no limit)."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def take(self, data: bytes) -> bytes:
        """The part of data still allowed."""
        if self.left is None:
            return data
        data = data[: self.left]
        self.left -= len(data)
        return data

    @property
    def spent(self) -> bool:
        """Nothing more may be sent."""
        return self.left is not None and self.left <= 0


def pick_file(files: list[pathlib.Path], want: LogRequest) -> pathlib.Path:
    """The current run's file, or the one before it for `previous` (upstream's 400 when there is none)."""
    if want.previous:
        if len(files) < 2:
            message = f'previous terminated container "{want.container}" in pod "{want.pod}" not found'
            raise bad_request(message)
        return files[-2]
    return files[-1]


async def serve_files(
    request: web.Request,
    runtime: PodRuntime,
    want: LogRequest,
    files: list[pathlib.Path],
    gone: Callable[[], bool],
) -> web.StreamResponse:
    """Answer from the files; `gone` tells when a followed pod has been deleted or replaced."""
    path = pick_file(files, want)
    data = await asyncio.to_thread(_read, path)
    since = int(want.since * 1_000_000_000) if want.since is not None else None
    budget = Budget(want.limit)
    if not want.follow or want.previous:
        lines = pick(read_lines(data), tail=want.tail, since_nanos=since)
        body = budget.take(render(lines, timestamps=want.timestamps))
        return web.Response(body=body, content_type="text/plain")
    reader = CriReader()
    cut = data.rfind(b"\n") + 1  # a file line still being written is read on the next look
    first = pick(reader.feed(data[:cut]), tail=want.tail, since_nanos=since)
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        await response.write(budget.take(render(first, timestamps=want.timestamps)))
        offset = cut
        while not budget.spent:
            more = await asyncio.to_thread(_read, path, offset)
            cut = more.rfind(b"\n") + 1
            offset += cut
            new: list[CriLine] = [x for x in reader.feed(more[:cut]) if since is None or x.nanos >= since]
            if new:
                await response.write(budget.take(render(new, timestamps=want.timestamps)))
            if cut == 0 and _ended(runtime, want, path, gone):
                break
            await asyncio.sleep(POLL if cut == 0 else 0)
        await response.write_eof()
    return response


def _ended(runtime: PodRuntime, want: LogRequest, path: pathlib.Path, gone: Callable[[], bool]) -> bool:
    """Following stops when the pod is gone, the container restarted or stopped running."""
    if gone():
        return True
    files = runtime.log_files(want.namespace, want.pod, want.container)
    if not files or files[-1] != path:
        return True
    return runtime.enter_argv(want.namespace, want.pod, want.container) is None
