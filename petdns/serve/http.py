"""Operational HTTP of the DNS server: `/health` (alive), `/ready` (503 until the watch cache has synced,
and from the moment a stop begins) and `/metrics` (Prometheus text format), on kubeapi.probes."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from kubeapi.probes import Handler, ScrapeStats, health, metrics, readiness, routes_app, start

__all__ = ["Handler", "ScrapeStats", "app", "health", "metrics", "readiness", "routes_app", "start"]


def app(ready: Callable[[], bool]) -> web.Application:
    """An aiohttp application answering /health and /ready."""
    return routes_app({"/health": health(), "/ready": readiness(ready)})
