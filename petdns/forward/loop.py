"""Forwarding-loop detection at start, as CoreDNS's `loop` plugin does it.

A probe query `<random>.<random>.` of type HINFO is sent to the server itself, which forwards it like
any other name. Every time the forwarder sees the probe's name it counts it; seen more than twice, the
query has come back through the upstreams: the loop is logged with CoreDNS's line and `on_loop` is
called (the server halts). The probe is sent (once a second, for up to 30 s while the server may still
be starting) until one reply comes back; from then on nothing is counted, so that a later query of the
same name cannot stop the server.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import struct
from collections.abc import Callable
from typing import Final

from petdns.dns.constants import IN, RD
from petdns.dns.query import QD1
from petdns.forward import exchange
from petdns.forward.upstreams import Upstream

log = logging.getLogger("petdns.loop")
HINFO: Final = 13
TRIES_FOR: Final = 30.0  # seconds of trying to send the probe
RETRY_EVERY: Final = 1.0
TROUBLESHOOTING: Final = "https://coredns.io/plugins/loop#troubleshooting"


def _name(rng: random.Random) -> str:
    return f"{rng.getrandbits(63)}.{rng.getrandbits(63)}."


class LoopProbe:
    """The probe's name (`name`, text with the trailing dot; `wire`, lower-case wire form) and how
    often it was seen; `on_loop` is called once, from whatever thread saw the probe the third time."""

    def __init__(
        self, listen: tuple[str, int], on_loop: Callable[[], None], *, rng: random.Random | None = None
    ) -> None:
        self.listen = listen
        self.on_loop = on_loop
        self.name = _name(rng or random.SystemRandom())
        self.wire = b"".join(bytes((len(x),)) + x.encode() for x in self.name.split(".")[:2]) + b"\x00"
        self.seen_count = 0
        self.disabled = False
        self.detected = False

    def query(self) -> bytes:
        """The probe: `<name> IN HINFO`, recursion desired."""
        return (
            secrets.token_bytes(2) + struct.pack("!H", RD) + QD1 + self.wire + struct.pack("!HH", HINFO, IN)
        )

    def message(self, source: str) -> str:
        """CoreDNS's line for a loop seen from `source`."""
        host, port = self.listen
        listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return (
            f'Loop ({source} -> {listen}) detected for zone ".", see {TROUBLESHOOTING}. '
            f'Query: "HINFO {self.name}"'
        )

    def seen(self, name: bytes, source: str) -> None:
        """A forwarded query for `name` (lower-case wire) from `source`: count it when it is the probe."""
        if name != self.wire or self.disabled:
            return
        self.seen_count += 1
        if self.seen_count > 2 and not self.detected:
            self.detected = True
            log.critical("%s", self.message(source))
            self.on_loop()

    async def run(self, timeout: float = 2.0, tries_for: float = TRIES_FOR) -> bool:
        """Send the probe to the server itself until a reply comes back (then counting stops) or
        `tries_for` seconds pass; True when a reply came back."""
        target = Upstream(*self._target())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + tries_for
        while not self.detected:
            try:
                await exchange.udp(target, self.query(), timeout)
            except (TimeoutError, OSError) as err:
                if loop.time() + RETRY_EVERY >= deadline:
                    log.warning("loop probe to %s not answered: %r; loop detection is off", target, err)
                    break
                await asyncio.sleep(RETRY_EVERY)
                continue
            self.disabled = True
            return True
        self.disabled = True
        return False

    def _target(self) -> tuple[str, int]:
        host, port = self.listen
        if host == "0.0.0.0":
            return "127.0.0.1", port
        if host == "::":
            return "::1", port
        return host, port
