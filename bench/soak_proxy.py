"""A TCP fault proxy on 127.0.0.1 for the soak: forwards bytes to the API server and, on demand, resets
every connection (RST), stalls them (bytes held, not lost) or refuses new ones for a while.

It runs an asyncio loop in a thread of its own; the scenario calls its methods from other threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time

LOCALHOST = "127.0.0.1"


class FaultProxy:
    """127.0.0.1:port → 127.0.0.1:upstream_port, with faults the caller switches on and off."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.accepted = 0
        self.resets = 0
        self._refuse_until = 0.0
        self._stalled = threading.Event()  # set: bytes are held
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-proxy", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fault proxy did not start")

    def stop(self) -> None:
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def reset(self) -> int:
        """Abort every open connection with a TCP RST (as a network cut does); how many were open."""
        return int(asyncio.run_coroutine_threadsafe(self._reset(), self._loop).result(10))

    def refuse(self, seconds: float) -> None:
        """Close connections at once for `seconds` (an unreachable server, from the client's side)."""
        self._refuse_until = time.monotonic() + seconds

    def stall(self, on: bool) -> None:
        """Hold every byte in both directions (on) or let the held bytes through (off)."""
        if on:
            self._stalled.set()
        else:
            self._stalled.clear()

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, LOCALHOST, 0, reuse_address=True)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._reset()

    async def _reset(self) -> int:
        pairs = list(self._pairs)
        for pair in pairs:
            for writer in pair:
                _abort(writer)
        self._pairs.clear()
        self.resets += len(pairs)
        return len(pairs)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if time.monotonic() < self._refuse_until:
            _abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(LOCALHOST, self.upstream_port), 3
            )
        except (OSError, TimeoutError):
            _abort(writer)
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._pairs.discard(pair)
            for w in pair:
                with contextlib.suppress(Exception):
                    w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                while self._stalled.is_set() and not writer.is_closing():
                    await asyncio.sleep(0.05)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                if writer.can_write_eof():
                    writer.write_eof()
            # one side ended: end the other too (a half-open HTTP connection serves nobody)
            writer.close()


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
