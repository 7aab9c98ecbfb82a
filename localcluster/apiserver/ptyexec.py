"""A command under a pseudo-terminal for `kubectl exec -t`: the command gets the terminal as its
controlling terminal and as stdin, stdout and stderr; the server reads and writes the other end."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import struct
import termios

CHUNK = 1 << 16


class Terminal:
    """The server's end of a pseudo-terminal (non-blocking) and the command started on the other end."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        os.set_blocking(self.master, False)
        self._closed = False

    async def spawn(self, argv: list[str]) -> asyncio.subprocess.Process:
        """Start argv in a new session with the terminal as its controlling terminal."""

        def controlling() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=self.slave,
                stdout=self.slave,
                stderr=self.slave,
                start_new_session=True,
                preexec_fn=controlling,
            )
        finally:
            os.close(self.slave)

    async def read(self) -> bytes:
        """The next output; b"" once the command and everything it started have closed the terminal."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            try:
                return os.read(self.master, CHUNK)
            except BlockingIOError:
                await self._readable(loop)
            except OSError:  # EIO: no process holds the other end any more
                return b""
        return b""

    async def _readable(self, loop: asyncio.AbstractEventLoop) -> None:
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self.master, wake)
        try:
            await ready
        finally:
            loop.remove_reader(self.master)

    async def write(self, data: bytes) -> None:
        """Type data into the terminal (waits while the terminal's input buffer is full)."""
        while data and not self._closed:
            try:
                written = os.write(self.master, data)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            except OSError:
                return
            data = data[written:]

    def resize(self, width: int, height: int) -> None:
        """Set the terminal's size (the command gets SIGWINCH)."""
        if not self._closed and width > 0 and height > 0:
            size = struct.pack("HHHH", height, width, 0, 0)
            with contextlib.suppress(OSError):
                fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)

    def close(self) -> None:
        """Close the server's end."""
        if not self._closed:
            self._closed = True
            os.close(self.master)


def apply_resize(terminal: Terminal, payload: bytes) -> None:
    """Apply one resize message (`{"Width":80,"Height":24}`); unreadable ones are ignored."""
    try:
        size = json.loads(payload)
        terminal.resize(int(size.get("Width", 0)), int(size.get("Height", 0)))
    except (ValueError, TypeError, AttributeError):
        return
