"""Operational HTTP of the DNS server: `/health` (alive), `/ready` (503 until the watch cache has synced,
and from the moment a stop begins), `/metrics` (Prometheus text format), on kubeapi.probes, and
`/explain?name=&type=&namespace=` (JSON: why a name does or does not resolve, from the served zone)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from kubeapi.probes import Handler, ScrapeStats, health, metrics, readiness, routes_app, start
from petdns.answer.zone import RenderedZone
from petdns.explain.facts import Facts
from petdns.explain.objects import InputError, check_name, parse_type
from petdns.explain.search import explain
from petdns.explain.services import View

__all__ = [
    "Handler",
    "ScrapeStats",
    "app",
    "explainer",
    "health",
    "metrics",
    "readiness",
    "routes_app",
    "start",
]


def app(ready: Callable[[], bool]) -> web.Application:
    """An aiohttp application answering /health and /ready."""
    return routes_app({"/health": health(), "/ready": readiness(ready)})


def explainer(zone: Callable[[], RenderedZone]) -> Handler:
    """`/explain`: the diagnosis of `name` (and `type`, default A; `namespace`, the asker's, default
    default) from the zone being served, so that it says what the server answers. 400 on bad input."""

    async def handle(request: web.Request) -> web.Response:
        try:
            name = check_name(request.query.get("name", ""))
            qtype = parse_type(request.query.get("type", "A"))
        except InputError as err:
            return web.json_response({"error": str(err)}, status=400)
        served = zone()
        with served.lock:  # the watch's writers hold it: one consistent catalog
            view = View(served.catalog, served.settings, Facts())
            found = explain(
                view, name, qtype, namespace=request.query.get("namespace", "default"), synced=served.synced
            )
        return web.json_response(found.to_json())

    return handle
