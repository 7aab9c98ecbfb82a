"""Composition root of `petdns serve`: load objects, render the zone, run the transports, HTTP (health,
readiness, metrics) and the watch until a stop signal, applying configuration reloads meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeapi.client import Client
from petdns.answer.zone import RenderedZone
from petdns.forward.forwarder import Forwarder
from petdns.forward.loop import LoopProbe
from petdns.schema.loader import Loaded, load_files
from petdns.schema.model import KubeObject
from petdns.schema.scope import Scope
from petdns.serve import http, logs, metrics
from petdns.serve.lifecycle import DRAIN_SECONDS, Lifecycle
from petdns.serve.reload import Reloader
from petdns.serve.transport import DnsServer
from petdns.serve.watch_cache import ClusterCache
from petdns.settings import config_file
from petdns.settings.options import OptionError, ServeOptions, build
from petdns.settings.values import PodsMode

__all__ = [
    "ConfigSource",
    "Runtime",
    "ServeOptions",
    "build_zone",
    "one_malloc_arena",
    "run",
    "run_loop",
    "serve",
    "serving",
    "settle_memory",
    "stop",
]

GIL_SWITCH_SECONDS = 0.0005
log = logging.getLogger("petdns")
Address = tuple[str, int]


@dataclass
class ConfigSource:
    """The configuration file being followed: its path, the flags given on the command line (they win
    over it) and the merged values in force."""

    path: str
    flags: dict[str, Any]
    values: dict[str, Any]
    load: Callable[[str], dict[str, Any]] = config_file.load  # a Corefile: its own reader
    watch: Callable[[str], object] = config_file.fingerprint


def load_objects(paths: tuple[str, ...], scope: Scope | None = None) -> Loaded:
    """The object files read (LoadError on a malformed one; only `scope`'s objects), with a warning per
    object given twice."""
    loaded = load_files(list(paths), scope)
    for line in loaded.duplicates:
        log.warning("object files: %s", line)
    return loaded


def build_zone(options: ServeOptions) -> RenderedZone:
    """Load the object files (LoadError on a malformed one) into a rendered zone."""
    loaded = load_objects(options.objects, options.scope)
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


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name is not None and sys.platform.startswith("linux") else None


def one_malloc_arena() -> None:
    """Let every thread allocate from one malloc arena (before the threads start): the UDP threads
    render names first asked, and an arena of their own each would keep freed memory apart (at 100k
    names about 4 MB); they allocate little else (pymalloc serves Python's small objects)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(-8, 1)  # M_ARENA_MAX


def settle_memory() -> None:
    """After a bulk load: freeze the long-lived zone out of later collections, give freed memory back."""
    gc.collect()
    gc.freeze()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def make_forwarder(options: ServeOptions, previous: Forwarder | None = None) -> Forwarder | None:
    """The forwarder of `options` (None when nothing is forwarded), continuing `previous`'s counters."""
    forward = options.forward
    if forward is None or not forward.routes:
        return None
    forwarder = Forwarder(forward, stats=previous.stats if previous is not None else None)
    if previous is not None:
        forwarder.cache.carry_counters(previous.cache)
        forwarder.loop_probe = previous.loop_probe
    return forwarder


def describe_forwarding(forwarder: Forwarder | None) -> str:
    if forwarder is None:
        return "not forwarding: names outside the zones are refused"
    routes = forwarder.routes
    return "forwarding to {}{}; recursion for {}".format(
        ", ".join(str(u) for u in routes.default) or "nothing by default",
        "".join(f"; {d} to {', '.join(str(u) for u in ups)}" for d, ups in routes.stubs.items()),
        ", ".join(str(n) for n in forwarder.acl.networks),
    )


@dataclass
class Runtime:
    """What `serve` runs, and what a configuration reload changes in it."""

    options: ServeOptions
    server: DnsServer
    lifecycle: Lifecycle
    cache: ClusterCache | None = None
    config: ConfigSource | None = None
    reloads: metrics.ReloadCounts = field(default_factory=metrics.ReloadCounts)
    http: list[tuple[tuple[str, ...], Address]] = field(default_factory=list)  # (paths, bound address)
    halted: bool = False  # a forwarding loop was detected: stop at once, exit non-zero

    def ready(self) -> bool:
        return self.server.zone.synced and not self.lifecycle.stopping

    def not_ready_reason(self) -> str:
        return "stopping" if self.lifecycle.stopping else "not synced yet"

    def objects(self, options: ServeOptions) -> list[KubeObject]:
        """The current objects: the object files (read again) and what the watch holds."""
        objects: list[KubeObject] = (
            list(load_objects(options.objects, options.scope).objects) if options.objects else []
        )
        if self.cache is not None:
            objects += self.cache.objects()
        return objects

    def apply(self, values: dict[str, Any]) -> None:
        """Take new settings values (a reload): build everything first, then swap. Raises (OptionError,
        LoadError) without changing anything when they cannot be used."""
        assert self.config is not None
        path, old = self.config.path, self.config.values
        groups = config_file.changed(old, values)
        restart = sorted(groups.pop(config_file.RESTART, set()))
        in_force = {**values, **{key: old[key] for key in restart}}
        new = build(in_force, connect=False, kube=self.options.kube)
        if bool(new.settings.zones) != bool(self.options.settings.zones):  # the watch starts only at start
            raise OptionError("zones", "between no cluster zone (forward only) and some takes a restart")
        zone = None
        if config_file.ZONE in groups:
            zone = RenderedZone(new.settings)
            zone.load(self.objects(new))
            zone.synced = self.server.zone.synced
        forwarder = make_forwarder(new, self.server.forwarder) if config_file.FORWARD in groups else None
        # everything is built: apply
        self.options, self.config.values = new, in_force
        if zone is not None:
            self.server.set_zone(zone)
            if self.cache is not None:
                self.cache.zone = zone
            settle_memory()
            log.info(
                "zone rendered again (%s): %d names",
                ", ".join(sorted(groups[config_file.ZONE])),
                len(zone.nodes),
            )
        if config_file.FORWARD in groups:
            self.server.set_forwarder(forwarder)
            log.info(
                "%s (%s)", describe_forwarding(forwarder), ", ".join(sorted(groups[config_file.FORWARD]))
            )
        self.server.acl = new.acl
        if config_file.LOG in groups:
            logs.configure(new.log_level, new.log_format)
            self.server.query_log = new.query_log
        if restart:
            log.warning("config %s: %s changed: that takes a restart", path, ", ".join(restart))
        changed = sorted(key for keys in groups.values() for key in keys)
        log.info("config %s reloaded%s", path, f": {', '.join(changed)}" if changed else " (no change)")


def _http_routes(
    runtime: Runtime, registry_render: Callable[[], bytes], scrapes: http.ScrapeStats
) -> dict[Address, dict[str, http.Handler]]:
    """Per HTTP address, the paths it serves (one address may serve several)."""
    options = runtime.options
    handlers = {
        "/health": http.health(),
        "/ready": http.readiness(runtime.ready, runtime.not_ready_reason),
        "/metrics": http.metrics(registry_render, scrapes),
        "/explain": http.explainer(lambda: runtime.server.zone),
    }
    out: dict[Address, dict[str, http.Handler]] = {}
    for path, addresses in (
        ("/health", options.health_listen),
        ("/ready", options.ready_listen),
        ("/metrics", options.metrics_listen),
        ("/explain", (*options.health_listen, *options.ready_listen)),
    ):
        for address in addresses:
            out.setdefault(address, {})[path] = handlers[path]
    return out


async def _start_http(
    runtime: Runtime, routes: Mapping[Address, dict[str, http.Handler]], stack: contextlib.AsyncExitStack
) -> None:
    for address, paths in routes.items():
        try:
            runner, (port,) = await http.start(http.routes_app(paths), [address])
        except OSError as err:
            if set(paths) - {"/explain"} <= runtime.options.default_http:  # /explain rides along
                log.warning(
                    "%s not served: %s:%d: %s (a default address; the flags pick another)",
                    " ".join(sorted(paths)),
                    *address,
                    err,
                )
                continue
            raise
        stack.push_async_callback(runner.cleanup)
        runtime.http.append((tuple(sorted(paths)), (address[0], port)))
        log.info("http %s on %s:%d", " ".join(sorted(paths)), address[0], port)


@contextlib.asynccontextmanager
async def serving(
    options: ServeOptions,
    zone: RenderedZone,
    *,
    lifecycle: Lifecycle,
    config: ConfigSource | None = None,
    client: Client | None = None,
) -> AsyncIterator[Runtime]:
    """The DNS stack running: the watch (when `options.kube` is set; through `client` when given), the
    transports, HTTP (health, readiness, metrics) and, with `config`, its reloads. Leaving closes all of
    it at once; `stop(runtime)` first for the graceful stop."""
    async with contextlib.AsyncExitStack() as stack:
        cache = None
        if options.kube is not None:
            zone.synced = False
            if client is None:
                client = Client(options.kube)
                stack.push_async_callback(client.close)
            cache = ClusterCache(
                client,
                zone,
                watch_pods=options.settings.pods is PodsMode.VERIFIED,
                on_synced=settle_memory,
                scope=options.scope,
            )
            task = asyncio.create_task(cache.run())
            stack.callback(task.cancel)
            log.info("watching %s", options.kube.server)
        forwarder = make_forwarder(options)
        server = DnsServer(
            zone,
            list(options.listen),
            forwarder=forwarder,
            query_log=options.query_log,
            tcp=options.tcp,
            workers=options.workers,
            acl=options.acl,
        )
        # the UDP threads and the event loop (TCP, forwarding, the watch) share the GIL: a UDP thread
        # waits at most this long for a busy loop to hand it over (Python's default is 5 ms)
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        await server.start()
        stack.push_async_callback(server.close)
        runtime = Runtime(options, server, lifecycle, cache, config)
        served = ", ".join(options.settings.zones) or "no cluster zone (forward only)"
        for host, port in server.bound:
            log.info("serving %s on udp+tcp %s port %d", served, host, port)
        log.info("%s", describe_forwarding(forwarder))
        if options.loop_detect and forwarder is not None:
            _detect_loops(runtime, forwarder, stack)
        scrapes = http.ScrapeStats()
        registry = metrics.registry(
            metrics.Sources(server, cache, runtime.reloads if config else None, scrapes)
        )
        await _start_http(runtime, _http_routes(runtime, metrics.renderer(registry), scrapes), stack)
        if config is not None:
            reloader = Reloader(
                config.path,
                config.flags,
                runtime.apply,
                runtime.reloads,
                load=config.load,
                watch=config.watch,
            )
            watcher = asyncio.create_task(reloader.run())
            stack.callback(watcher.cancel)
            log.info("following config %s", config.path)
        yield runtime


def _detect_loops(runtime: Runtime, forwarder: Forwarder, stack: contextlib.AsyncExitStack) -> None:
    """Probe for a forwarding loop (as CoreDNS's `loop`); one found halts the server."""
    loop = asyncio.get_running_loop()

    def halt() -> None:
        runtime.halted = True
        runtime.lifecycle.signal()

    def on_loop() -> None:  # any thread: a UDP thread may see the probe
        loop.call_soon_threadsafe(halt)

    probe = LoopProbe(runtime.server.bound[0], on_loop)
    forwarder.loop_probe = probe
    task = asyncio.create_task(probe.run(forwarder.config.timeout))
    stack.callback(task.cancel)
    log.info("loop detection: probing with HINFO %s", probe.name)


async def serve(
    options: ServeOptions,
    zone: RenderedZone,
    *,
    config: ConfigSource | None = None,
    started: Callable[[Runtime], None] | None = None,
) -> int:
    """Serve (and watch the API, when asked) until SIGINT or SIGTERM, then stop gracefully; follow
    `config` for reloads when given. The exit code: 0, or 1 when a forwarding loop halted the server."""
    lifecycle = Lifecycle()
    lifecycle.install()
    async with serving(options, zone, lifecycle=lifecycle, config=config) as runtime:
        if started is not None:
            started(runtime)
        await lifecycle.wait()
        if runtime.halted:
            return 1
        await stop(runtime)
    return 0


async def stop(runtime: Runtime) -> None:
    """The stop sequence: /ready is already 503; answer through the lame duck, stop accepting, drain."""
    seconds = runtime.options.lameduck
    log.info("stopping: /ready answers 503; still answering for %g s (lame duck)", seconds)
    await runtime.lifecycle.lame_duck(seconds)
    server = runtime.server
    await server.stop_accepting()
    log.info("stopped accepting queries; finishing the ones in flight (up to %g s)", DRAIN_SECONDS)
    if not await server.drain(DRAIN_SECONDS):
        log.warning("queries still in flight after %g s are dropped", DRAIN_SECONDS)
    await server.close()
    log.info("stopped")


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` to the end on uvloop where it is installed (the event loop of every petdns command)."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(main)
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main)


def run(options: ServeOptions, zone: RenderedZone, *, config: ConfigSource | None = None) -> None:
    """Run `serve` until a stop signal; SystemExit(1) when a forwarding loop halted it."""
    codes: list[int] = []

    async def main() -> None:
        codes.append(await serve(options, zone, config=config))

    run_loop(main())
    if codes and codes[0]:
        raise SystemExit(codes[0])
