"""The Kubernetes-compatible HTTP API server of the local control plane (aiohttp, loopback by default)."""

from __future__ import annotations

import dataclasses
import hmac
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from kubeapi.decode import MAX_BODY_BYTES
from localcluster.apiserver import discovery, openapi
from localcluster.apiserver.handlers import ResourceHandlers, json_response, render_options
from localcluster.apiserver.params import list_options
from localcluster.apiserver.podproxy import PodProxy, pod_subresource
from localcluster.apiserver.podruntime import PodRuntime
from localcluster.apiserver.routing import group_version_of, not_found_path, parse_target, split_path
from localcluster.apiserver.views import dumps
from localcluster.apiserver.watch import WatchHub
from localcluster.apiserver.watch_requests import WatchHandler, WatchSettings
from localcluster.storage.errors import ApiError, method_not_allowed, too_large
from localcluster.storage.store import ObjectStore

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HEALTH = ("healthz", "livez", "readyz")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How the API server behaves: bearer token (None: no authentication) and watch settings."""

    token: str | None = None
    watch: WatchSettings = field(default_factory=WatchSettings)


def _unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


class ApiServer:
    """Serves an ObjectStore over the Kubernetes REST API: discovery, verbs, subresources and watches."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        config: ServerConfig | None = None,
        clock: Callable[[], float] = time.time,
        runtime: PodRuntime | None = None,
    ) -> None:
        self.store = store
        self.config = config or ServerConfig()
        self.hub = WatchHub(store.subscribe)
        self.resources = ResourceHandlers(store, clock=clock)
        self.watches = WatchHandler(store, self.hub, settings=self.config.watch, clock=clock)
        self.pod_proxy = PodProxy(store, clock=clock, runtime=runtime)
        self._runner: web.AppRunner | None = None
        self.host = ""
        self.port = 0
        self.scheme = "http"

    @property
    def url(self) -> str:
        """`http(s)://host:port` once started."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def application(self) -> web.Application:
        """The aiohttp application."""
        # aiohttp refuses a body of client_max_size bytes or more; the API server takes up to its limit
        app = web.Application(middlewares=[self._errors], client_max_size=MAX_BODY_BYTES + 1)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None
    ) -> None:
        """Listen on host:port (port 0: any free port, then `self.port`), over TLS when given a context."""
        self._runner = web.AppRunner(self.application(), handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True, ssl_context=tls)
        self.scheme = "https" if tls is not None else "http"
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.host = host
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("API server listening on %s", self.url)

    async def stop(self) -> None:
        """Close every connection, open watches included."""
        self.hub.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            self._authenticate(request)
            return await handler(request)
        except ApiError as err:
            return json_response(err.status(), err.code)
        except web.HTTPRequestEntityTooLarge:
            return json_response(too_large(MAX_BODY_BYTES).status(), 413)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("%s %s failed", request.method, request.path_qs)
            return json_response(ApiError(500, "InternalError", "an internal error occurred").status(), 500)

    def _authenticate(self, request: web.Request) -> None:
        token = self.config.token
        if token is None:
            return
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise _unauthorized()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = split_path(request.path)
        gv = group_version_of(parts)
        if gv is not None and gv[2]:
            return await self._resource(request, *gv)
        if gv is not None:
            response: web.StreamResponse = json_response(discovery.api_resource_list(gv[0], gv[1]))
        else:
            response = self._meta(request, parts)  # 404 for a path that names nothing
        if request.method != "GET":
            raise method_not_allowed("the server does not allow this method on the requested resource")
        return response

    async def _resource(
        self, request: web.Request, group: str, version: str, rest: list[str]
    ) -> web.StreamResponse:
        proxied = pod_subresource(rest) if (group, version) == ("", "v1") else None
        if proxied is not None:
            return await self.pod_proxy.handle(request, *proxied)
        target = parse_target(group, version, rest)
        if request.method == "GET" and not target.subresource:
            opts = list_options(request.query)
            if opts.watch or target.watch_path:
                if target.name:  # a watch of one object: its collection, narrowed to its name
                    by_name = f"metadata.name={target.name}"
                    selector = f"{opts.field_selector},{by_name}" if opts.field_selector else by_name
                    opts = dataclasses.replace(opts, field_selector=selector)
                    target = dataclasses.replace(target, name="")
                return await self.watches.serve(request, target, opts, render_options(request))
        elif target.watch_path:
            raise method_not_allowed("the server does not allow this method on the requested resource")
        return await self.resources.handle(request, target)

    def _meta(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        """Everything that is not a resource: version, health, discovery roots, OpenAPI."""
        head = parts[0] if parts else ""
        if not parts:
            paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3"]
            paths += ["/readyz", "/version"]
            return json_response({"paths": paths})
        if head in HEALTH:
            return web.Response(text="ok", content_type="text/plain")
        if parts == ["version"]:
            return json_response(discovery.version_info())
        if head == "openapi":
            return self._openapi(parts[1:])
        if parts == ["api"]:
            return self._discovery_root(request, legacy=True)
        if parts == ["apis"]:
            return self._discovery_root(request, legacy=False)
        if len(parts) == 2 and head == "apis":
            group = discovery.api_group(parts[1])
            if group is not None:
                return json_response(group)
        raise not_found_path()

    def _discovery_root(self, request: web.Request, *, legacy: bool) -> web.Response:
        version = discovery.aggregated_version(request.headers.get("Accept", ""))
        if version is not None:
            body = discovery.aggregated_list(legacy=legacy, version=version)
            content_type = discovery.aggregated_content_type(version)
            return web.Response(body=dumps(body), headers={"Content-Type": content_type})
        if legacy:
            return json_response(discovery.api_versions(request.host))
        return json_response(discovery.api_group_list())

    def _openapi(self, rest: list[str]) -> web.Response:
        if rest == ["v3"]:
            return web.Response(body=openapi.root_document(), content_type="application/json")
        if rest == ["v2"]:
            return web.Response(body=openapi.v2_document(), content_type=openapi.OPENAPI_V2_MEDIA)
        if len(rest) >= 3 and rest[0] == "v3":
            gv = group_version_of(rest[1:])
            doc = openapi.group_version_document(gv[0], gv[1]) if gv is not None and not gv[2] else None
            if doc is not None:
                return web.Response(body=doc, content_type="application/json")
        raise not_found_path()
