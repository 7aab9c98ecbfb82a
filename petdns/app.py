"""Composition root of `petdns serve`: load objects, render the zone, run the transports until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import signal
import sys
from dataclasses import dataclass

from petdns.config import Settings
from petdns.loader import load_files
from petdns.server import DnsServer
from petdns.zone import RenderedZone

log = logging.getLogger("petdns")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Everything `petdns serve` was asked to do."""

    settings: Settings
    objects: tuple[str, ...]
    listen: tuple[tuple[str, int], ...]


def build_zone(options: ServeOptions) -> RenderedZone:
    """Load the object files (LoadError on a malformed one) into a rendered zone."""
    loaded = load_files(list(options.objects))
    zone = RenderedZone(options.settings)
    zone.load(loaded.objects)
    ignored = ", ".join(f"{n} {kind}" for kind, n in sorted(loaded.ignored.items()))
    log.info(
        "loaded %d objects from %d file(s)%s; %d names rendered",
        len(loaded.objects),
        len(options.objects),
        f" (ignored: {ignored})" if ignored else "",
        len(zone.nodes),
    )
    del loaded
    gc.collect()
    gc.freeze()  # the rendered zone is long-lived: keep it out of every later collection
    _release_free_memory()
    return zone


def _release_free_memory() -> None:
    """Give the memory the raw documents used back to the system (glibc keeps it otherwise)."""
    name = ctypes.util.find_library("c")
    if name is not None and sys.platform.startswith("linux"):
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


async def serve(options: ServeOptions, zone: RenderedZone) -> None:
    """Serve until SIGINT or SIGTERM."""
    server = DnsServer(zone, list(options.listen))
    await server.start()
    for host, port in server.bound:
        log.info("serving %s on udp+tcp %s port %d", ", ".join(options.settings.zones), host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    await server.stop()


def run(options: ServeOptions, zone: RenderedZone) -> None:
    """Run `serve` on uvloop where it is installed."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        asyncio.run(serve(options, zone))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(options, zone))
