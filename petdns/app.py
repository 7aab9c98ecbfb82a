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

from kubeapi.auth import Connection
from kubeapi.client import Client
from petdns import http
from petdns.cache import ClusterCache
from petdns.config import PodsMode, Settings
from petdns.forward import ForwardConfig, Forwarder
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
    kube: Connection | None = None  # watch this API server
    health_listen: tuple[tuple[str, int], ...] = ()
    ready_listen: tuple[tuple[str, int], ...] = ()
    forward: ForwardConfig | None = None  # names outside the zones: None refuses them


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
    settle_memory()
    return zone


def settle_memory() -> None:
    """After a bulk load: freeze the long-lived zone out of later collections, give freed memory back."""
    gc.collect()
    gc.freeze()
    name = ctypes.util.find_library("c")
    if name is not None and sys.platform.startswith("linux"):
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


async def serve(options: ServeOptions, zone: RenderedZone) -> None:
    """Serve (and watch the API, when asked) until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        if options.kube is not None:
            zone.synced = False
            client = Client(options.kube)
            stack.push_async_callback(client.close)
            cache = ClusterCache(
                client, zone, watch_pods=options.settings.pods is PodsMode.VERIFIED, on_synced=settle_memory
            )
            task = asyncio.create_task(cache.run())
            stack.callback(task.cancel)
            log.info("watching %s", options.kube.server)
        forward = options.forward
        forwarder = Forwarder(forward) if forward is not None and forward.routes else None
        server = DnsServer(zone, list(options.listen), forwarder=forwarder)
        await server.start()
        stack.push_async_callback(server.stop)
        for host, port in server.bound:
            log.info("serving %s on udp+tcp %s port %d", ", ".join(options.settings.zones), host, port)
        if forwarder is not None:
            routes = forwarder.routes
            log.info(
                "forwarding to %s%s; recursion for %s",
                ", ".join(str(u) for u in routes.default) or "nothing by default",
                "".join(f"; {d} to {', '.join(str(u) for u in ups)}" for d, ups in routes.stubs.items()),
                ", ".join(str(n) for n in forwarder.acl.networks),
            )
        else:
            log.info("not forwarding: names outside the zones are refused")
        for addresses, ready in (
            (options.health_listen, lambda: True),
            (options.ready_listen, lambda: zone.synced),
        ):
            if addresses:
                runner, ports = await http.start(http.app(ready), list(addresses))
                stack.push_async_callback(runner.cleanup)
                log.info(
                    "http on %s", ", ".join(f"{h}:{p}" for (h, _), p in zip(addresses, ports, strict=True))
                )
        await stop.wait()
        log.info("stopping")


def run(options: ServeOptions, zone: RenderedZone) -> None:
    """Run `serve` on uvloop where it is installed."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        asyncio.run(serve(options, zone))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(options, zone))
