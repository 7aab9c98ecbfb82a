"""Stopping `petdns serve` gracefully, as CoreDNS's `health` lame duck does.

The first SIGTERM or SIGINT makes `/ready` answer 503 at once, so that load balancers and endpoint
controllers take the pod out, while DNS keeps answering for the lame duck (`--lameduck`, 5 s by
default). Then the transports stop accepting (UDP and TCP), queries in flight (forwarded ones, TCP
connections in the middle of an answer) get up to `DRAIN_SECONDS` to finish, and the process exits
0. A second signal cuts the lame duck short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Final

log = logging.getLogger("petdns")
DRAIN_SECONDS: Final = 5.0


class Lifecycle:
    """Whether a stop has begun, and the waits of the stop sequence."""

    def __init__(self) -> None:
        self.stopping = False
        self.signals = 0
        self._stop = asyncio.Event()
        self._hurry = asyncio.Event()

    def install(self) -> None:
        """Handle SIGINT and SIGTERM on the running loop."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.signal, sig)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        """A stop signal: the first begins the stop, the next ones end the lame duck early."""
        self.signals += 1
        if self.stopping:
            log.info("%s again: ending the lame duck", signal.Signals(sig).name)
            self._hurry.set()
            return
        self.stopping = True
        self._stop.set()

    async def wait(self) -> None:
        """Until the first stop signal."""
        await self._stop.wait()

    async def lame_duck(self, seconds: float) -> None:
        """Wait `seconds`, or until another signal."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._hurry.wait()
