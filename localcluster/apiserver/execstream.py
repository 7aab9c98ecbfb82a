"""`pods/exec` into a container that runs for real, over the WebSocket streaming protocol kubectl and the
official clients speak (`v5.channel.k8s.io`, `v4.channel.k8s.io`).

Every message is binary (text accepted too): its first byte names a channel, the rest is data. 0 stdin
(client to server), 1 stdout, 2 stderr, 3 error (one metav1.Status as JSON once the command ended, then the
server closes), 4 resize (`{"Width":..,"Height":..}`, for a terminal), and in v5 `255 <channel>`: the client
will send nothing more on that channel (stdin's end of file). As upstream's kubelet, the server opens with
an empty message on the lowest channel it writes to.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from localcluster.apiserver.ptyexec import Terminal, apply_resize

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
CHUNK = 1 << 16

Send = Callable[[int, bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ExecOptions:
    """What the client asked for: the command and which streams it attaches."""

    command: tuple[str, ...]
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    tty: bool = False


def exit_status(command: Sequence[str], code: int) -> dict[str, object]:
    """The Status sent on the error channel when the command has ended with `code` (upstream's shape:
    kubectl exits with the code of the `ExitCode` cause)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            f"command terminated with non-zero exit code: error executing command "
            f"[{' '.join(command)}], exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def failure_status(message: str) -> dict[str, object]:
    """The Status sent when the command could not start at all."""
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500}


def _json(status: dict[str, object]) -> bytes:
    return json.dumps(status, separators=(",", ":")).encode()


def _code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode  # killed by a signal: 128 + its number


class Session:
    """One exec: the subprocess, and the pumps between it and the WebSocket."""

    def __init__(self, ws: web.WebSocketResponse, opts: ExecOptions) -> None:
        self.ws = ws
        self.opts = opts
        self.lock = asyncio.Lock()
        self.proc: asyncio.subprocess.Process | None = None
        self.terminal: Terminal | None = None

    async def send(self, channel: int, data: bytes) -> None:
        """One message on a channel (a closed connection swallows it)."""
        async with self.lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_bytes(bytes([channel]) + data)

    async def run(self, argv: list[str]) -> None:
        """Start the command, stream until it ends and its output is drained, send the Status, close."""
        opts = self.opts
        first = STDOUT if opts.stdout else STDERR if opts.stderr and not opts.tty else ERROR
        await self.send(first, b"")
        try:
            pumps = await self._start(argv)
        except OSError as err:
            await self.send(ERROR, _json(failure_status(str(err))))
            await self.ws.close()
            return
        inbound = asyncio.create_task(self._inbound())
        try:
            await asyncio.gather(*pumps)
            assert self.proc is not None
            code = _code(await self.proc.wait())
            await self.send(ERROR, _json(exit_status(opts.command, code)))
            await self.ws.close()
        finally:
            inbound.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await inbound
            self._kill()
            if self.terminal is not None:
                self.terminal.close()

    async def _start(self, argv: list[str]) -> list[Awaitable[None]]:
        opts = self.opts
        if opts.tty:
            self.terminal = Terminal()
            self.proc = await self.terminal.spawn(argv)
            return [self._pump(self.terminal.read, STDOUT if opts.stdout else None)]
        pipe, devnull = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        self.proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=pipe if opts.stdin else devnull,
            stdout=pipe if opts.stdout else devnull,
            stderr=pipe if opts.stderr else devnull,
            start_new_session=True,
        )
        pumps: list[Awaitable[None]] = []
        for stream, channel in ((self.proc.stdout, STDOUT), (self.proc.stderr, STDERR)):
            if stream is not None:
                pumps.append(self._pump(functools.partial(stream.read, CHUNK), channel))
        return pumps

    async def _pump(self, read: Callable[[], Awaitable[bytes]], channel: int | None) -> None:
        while data := await read():
            if channel is not None:
                await self.send(channel, data)

    async def _inbound(self) -> None:
        """Stdin, resize and close messages from the client, until it goes away (then the command is
        killed, as nobody is there any more to read its output)."""
        async for msg in self.ws:
            if msg.type == WSMsgType.BINARY:
                data = bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                data = str(msg.data).encode()
            else:
                continue
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == STDIN and payload:
                await self._write_stdin(payload)
            elif channel == CLOSE and payload[:1] == bytes([STDIN]):
                await self._close_stdin()
            elif channel == RESIZE and self.terminal is not None:
                apply_resize(self.terminal, payload)
        self._kill()

    async def _write_stdin(self, data: bytes) -> None:
        if self.terminal is not None:
            await self.terminal.write(data)
            return
        stdin = self.proc.stdin if self.proc is not None else None
        if stdin is None:
            return
        with contextlib.suppress(ConnectionError):
            stdin.write(data)
            await stdin.drain()

    async def _close_stdin(self) -> None:
        if self.terminal is not None:
            await self.terminal.write(b"\x04")  # end of file, as a terminal's ^D
            return
        stdin = self.proc.stdin if self.proc is not None else None
        if stdin is not None:
            with contextlib.suppress(ConnectionError):
                stdin.close()

    def _kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)


async def serve_exec(request: web.Request, argv: list[str], opts: ExecOptions) -> web.StreamResponse:
    """Upgrade the request and run `argv + command` as one exec session."""
    ws = web.WebSocketResponse(protocols=PROTOCOLS, autoping=True, heartbeat=None)
    await ws.prepare(request)
    await Session(ws, opts).run([*argv, *opts.command])
    return ws
