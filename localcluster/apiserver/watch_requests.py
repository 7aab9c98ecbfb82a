"""Watch requests: initial events or a replay from a resourceVersion, then live events, chunked."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from kubeapi.meta import Obj
from localcluster.apiserver.params import ListOptions
from localcluster.apiserver.routing import Target
from localcluster.apiserver.views import ObjectView, RenderOptions, error_line
from localcluster.apiserver.watch import Delivery, SelectorEdges, StreamTiming, Watcher, WatchHub, stream
from localcluster.storage.errors import ApiError, bad_request
from localcluster.storage.selectors import selector_matcher
from localcluster.storage.store import ObjectStore


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """Server-wide watch settings: bookmark period, per-watch queue bound, longest stream."""

    bookmark_every: float = 5.0
    capacity: int = 10_000
    max_seconds: float = 1800.0


def _edges(target: Target, opts: ListOptions) -> SelectorEdges | None:
    matches = selector_matcher(opts.label_selector, opts.field_selector, target.res.kind)
    return None if matches is None else SelectorEdges(matches)


def _wants_initial(opts: ListOptions) -> bool:
    if opts.send_initial_events is not None:
        return opts.send_initial_events
    return opts.resource_version in ("", "0")


def _resource_version(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise bad_request(f"invalid resource version: {text!r}") from None


class WatchHandler:
    """Opens watches on a store through one hub."""

    def __init__(
        self, store: ObjectStore, hub: WatchHub, *, settings: WatchSettings, clock: Callable[[], float]
    ) -> None:
        self.store = store
        self.hub = hub
        self.settings = settings
        self.clock = clock

    def _list(self, target: Target, opts: ListOptions) -> tuple[list[Obj], str]:
        result = self.store.list(
            target.res,
            target.namespace,
            label_selector=opts.label_selector,
            field_selector=opts.field_selector,
            copy=False,
        )
        return result.items, result.resource_version

    def open(self, target: Target, opts: ListOptions, render: RenderOptions) -> Watcher:
        """Register a watch with its first events queued, in one synchronous step (no gap, no duplicate)."""
        view = ObjectView(target.res, render, self.clock)
        edges = _edges(target, opts)
        namespace = target.namespace if target.res.namespaced else None
        watcher = Watcher(
            store_key=target.res.store_key,
            namespace=namespace,
            view=view,
            edges=edges,
            capacity=self.settings.capacity,
        )
        if _wants_initial(opts):
            items, rv = self._list(target, opts)
            for obj in items:
                watcher.offer("ADDED", Delivery(obj), force=True)
            if opts.send_initial_events and opts.allow_bookmarks:
                watcher.push(view.bookmark_line(int(rv), initial_end=True))
            self.hub.add(watcher)
            return watcher
        rv_text = opts.resource_version or str(self.store.resource_version)
        events = self.store.events_after(target.res, target.namespace, _resource_version(rv_text))
        self.hub.add(watcher)
        for event in events:
            watcher.offer(event.type, Delivery(event.object), old=event.old, force=True)
        return watcher

    def timing(self, opts: ListOptions) -> StreamTiming:
        """When this watch ends and whether it sends bookmarks."""
        longest = self.settings.max_seconds * (1 + random.random())
        seconds = min(opts.timeout_seconds, longest) if opts.timeout_seconds else longest
        every = self.settings.bookmark_every if opts.allow_bookmarks else None
        return StreamTiming(deadline=time.monotonic() + seconds, bookmark_every=every)

    async def serve(
        self, request: web.Request, target: Target, opts: ListOptions, render: RenderOptions
    ) -> web.StreamResponse:
        """Answer a watch: a 200 chunked stream (an ERROR event when the resourceVersion is too old)."""
        try:
            watcher: Watcher | None = self.open(target, opts, render)
            failure = b""
        except ApiError as err:
            if err.code != 410:
                raise
            watcher, failure = None, error_line(err.status())
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        try:
            await resp.prepare(request)
            if watcher is None:
                await resp.write(failure)
            else:
                timing = self.timing(opts)
                await stream(resp, watcher, timing=timing, current_rv=lambda: self.store.resource_version)
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            if watcher is not None:
                self.hub.remove(watcher)
        return resp
