"""REST verbs on resources: get, list, create, update, patch, delete, deletecollection, status, scale."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kubeapi.meta import Obj
from localcluster.apiserver.params import (
    ListOptions,
    check_kind,
    decode_body,
    decode_optional_body,
    delete_options,
    dry_run,
    list_options,
)
from localcluster.apiserver.routing import Target
from localcluster.apiserver.tables import INCLUDE_OBJECT, table, wants_table
from localcluster.apiserver.views import RenderOptions, dumps, list_body, list_metadata, present
from localcluster.storage.errors import ApiError, bad_request, method_not_allowed
from localcluster.storage.eviction import evict
from localcluster.storage.resources import Resource
from localcluster.storage.store import ListResult, ObjectStore

APPLY_PATCH = "application/apply-patch+yaml"
RETURNS_DELETED = ("pods", "serviceaccounts")  # the real server answers a delete of these with the object
SUBRESOURCE_VERBS = ("GET", "PUT", "PATCH")


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON response."""
    return web.Response(body=dumps(body), status=status, content_type="application/json")


def render_options(request: web.Request) -> RenderOptions:
    """Table or plain, from the Accept header and `includeObject`."""
    include = request.query.get("includeObject", "Metadata") or "Metadata"
    if include not in INCLUDE_OBJECT:
        raise bad_request(f'includeObject: Unsupported value: "{include}"')
    return RenderOptions(table=wants_table(request.headers.get("Accept", "")), include=include)


def _media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()


def _verb(method: str, *, listing: bool) -> str:
    """The API verb of an HTTP method on an item or a collection ("" when there is none)."""
    on_item = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    on_collection = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}
    return (on_collection if listing else on_item).get(method, "")


def _verb_allowed(target: Target, method: str, *, listing: bool) -> None:
    if target.subresource:
        allowed = method in SUBRESOURCE_VERBS
    else:
        allowed = _verb(method, listing=listing) in target.res.verbs
    if not allowed:
        raise method_not_allowed("the server does not allow this method on the requested resource")


class ResourceHandlers:
    """Verbs on one store, answering with objects under the requested group/version."""

    def __init__(self, store: ObjectStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    async def handle(self, request: web.Request, target: Target) -> web.StreamResponse:
        """Answer one non-watch request on a resource path."""
        method = request.method
        listing = not target.name
        if target.subresource == "eviction":
            return await self.evict(request, target)
        _verb_allowed(target, method, listing=listing)
        if method == "GET":
            return self.get(request, target) if target.name else self.list(request, target)
        if method == "POST":
            return await self.create(request, target)
        if method == "PUT":
            return await self.update(request, target)
        if method == "PATCH":
            return await self.patch(request, target)
        if target.name:
            return await self.delete(request, target)
        return await self.delete_collection(request, target)

    def _one(self, request: web.Request, res: Resource, obj: Obj, status: int = 200) -> web.Response:
        shown = present(res, obj)
        options = render_options(request)
        if options.table:
            meta = {"resourceVersion": str((obj.get("metadata") or {}).get("resourceVersion", ""))}
            body = table(res, [shown], now=self.clock(), include=options.include, list_meta=meta)
            return json_response(body, status)
        return json_response(shown, status)

    def _reply(self, request: web.Request, target: Target, obj: Obj, status: int = 200) -> web.Response:
        """An object of the resource, or a Scale as the store made it."""
        if target.subresource == "scale":
            return json_response(obj, status)
        return self._one(request, target.res, obj, status)

    def get(self, request: web.Request, target: Target) -> web.Response:
        """GET of one object, its status, or its scale."""
        obj = self.store.get(
            target.res, target.namespace, target.name, subresource=target.subresource, copy=False
        )
        return self._reply(request, target, obj)

    def list(self, request: web.Request, target: Target) -> web.Response:
        """GET of a collection."""
        opts = list_options(request.query)
        result = self._list(target, opts)
        meta = list_metadata(result.resource_version, result.continue_token, result.remaining)
        options = render_options(request)
        if options.table:
            shown = [present(target.res, obj) for obj in result.items]
            body = table(target.res, shown, now=self.clock(), include=options.include, list_meta=meta)
            return json_response(body)
        return json_response(list_body(target.res, result.items, meta))

    def _list(self, target: Target, opts: ListOptions) -> ListResult:
        return self.store.list(
            target.res,
            target.namespace,
            label_selector=opts.label_selector,
            field_selector=opts.field_selector,
            limit=opts.limit,
            continue_token=opts.continue_token,
            copy=False,
        )

    async def _body(self, request: web.Request) -> Obj:
        return decode_body(await request.read(), _media_type(request))

    def _checked(self, target: Target, body: Obj, *, named: bool) -> Obj:
        """body with its namespace (and name, for item paths) checked against the URL."""
        res = target.res
        if target.subresource != "scale":
            check_kind(body, expected=(res.api_version, res.kind))
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if res.namespaced and target.namespace is not None:
            if meta.get("namespace") and meta["namespace"] != target.namespace:
                msg = "the namespace of the provided object does not match the namespace sent on the request"
                raise bad_request(msg)
            meta["namespace"] = target.namespace
        if named and meta.get("name") and meta["name"] != target.name:
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({target.name})"
            )
        return body

    async def create(self, request: web.Request, target: Target) -> web.Response:
        """POST to a collection."""
        if target.res.namespaced and target.namespace is None:
            raise method_not_allowed("a namespaced object is created under /namespaces/<namespace>/")
        body = self._checked(target, await self._body(request), named=False)
        created = self.store.create(target.res, target.namespace, body, dry_run=_dry_run(request))
        return self._one(request, target.res, created, 201)

    async def update(self, request: web.Request, target: Target) -> web.Response:
        """PUT of an object, its status, or its scale."""
        body = self._checked(target, await self._body(request), named=True)
        updated = self.store.update(
            target.res,
            target.namespace,
            target.name,
            body,
            subresource=target.subresource,
            dry_run=_dry_run(request),
        )
        return self._reply(request, target, updated)

    async def patch(self, request: web.Request, target: Target) -> web.Response:
        """PATCH of an object, its status, or its scale (merge, JSON, strategic merge or apply)."""
        raw = await request.read()
        content_type = _media_type(request)
        existed = content_type != APPLY_PATCH or self._exists(target)
        patched = self.store.patch(
            target.res,
            target.namespace,
            target.name,
            raw,
            content_type,
            subresource=target.subresource,
            field_manager=request.query.get("fieldManager", ""),
            force=request.query.get("force", "").lower() in ("true", "1"),
            dry_run=_dry_run(request),
        )
        return self._reply(request, target, patched, 200 if existed else 201)

    async def evict(self, request: web.Request, target: Target) -> web.Response:
        """POST of a policy/v1 Eviction to pods/<name>/eviction: the pod deleted, or 429 from its budget."""
        if request.method != "POST":
            raise method_not_allowed("the server does not allow this method on the requested resource")
        body = decode_body(await request.read(), _media_type(request))
        done = evict(self.store, target.namespace or "", target.name, body, now=self.clock())
        return json_response(done, 201)

    def _exists(self, target: Target) -> bool:
        try:
            self.store.get(target.res, target.namespace, target.name, copy=False)
        except ApiError as err:
            if err.code == 404:
                return False
            raise
        return True

    async def delete(self, request: web.Request, target: Target) -> web.Response:
        """DELETE of one object: the object while it is terminating, a Status (or the object) once gone."""
        body = decode_optional_body(await request.read(), _media_type(request))
        options = delete_options(body, request.query, request.query.getall("dryRun", []))
        obj, gone = self.store.delete(
            target.res,
            target.namespace,
            target.name,
            propagation=options.propagation,
            grace_seconds=options.grace_seconds,
            preconditions=options.preconditions,
            dry_run=options.dry_run,
        )
        status = 202 if not gone and options.orphan_dependents is False else 200
        if gone and target.res.store_key not in RETURNS_DELETED:
            return json_response(_deleted_status(target.res, obj), status)
        return self._one(request, target.res, obj, status)

    async def delete_collection(self, request: web.Request, target: Target) -> web.Response:
        """DELETE of a collection: every object the selectors match; the list of what was deleted."""
        opts = list_options(request.query)
        body = decode_optional_body(await request.read(), _media_type(request))
        options = delete_options(body, request.query, request.query.getall("dryRun", []))
        deleted = self.store.delete_collection(
            target.res,
            target.namespace,
            label_selector=opts.label_selector,
            field_selector=opts.field_selector,
            propagation=options.propagation,
            grace_seconds=options.grace_seconds,
            dry_run=options.dry_run,
        )
        meta = {"resourceVersion": str(self.store.resource_version)}
        return json_response(list_body(target.res, deleted, meta))


def _dry_run(request: web.Request) -> bool:
    return dry_run(request.query.getall("dryRun", []))


def _deleted_status(res: Resource, obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    details: Obj = {"name": meta.get("name", "")}
    if res.group:
        details["group"] = res.group
    details.update(kind=res.plural, uid=meta.get("uid", ""))
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
