"""The async API client: the only aiohttp user of kubeapi. Paged lists, watches, writes, subresources."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from kubeapi import codec
from kubeapi.auth import Connection
from kubeapi.errors import ApiError, Gone, Unreachable, from_status, is_retryable
from kubeapi.meta import Obj
from kubeapi.paths import ResourceRef

log = logging.getLogger("kubeapi.client")
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class Client:
    """One keep-alive session to one API server. Retries 429 and 5xx with backoff (Retry-After honoured)."""

    def __init__(
        self, conn: Connection, *, timeout: float = 30.0, retries: int = 4, user_agent: str = "petdns"
    ) -> None:
        self.conn = conn
        self.timeout = timeout
        self.retries = retries
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                ssl=self.conn.ssl_context() or False, limit=0, keepalive_timeout=60
            )
            self._session = aiohttp.ClientSession(
                self.conn.server, connector=connector, headers={"User-Agent": self.user_agent}
            )
        return self._session

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = self.conn.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """One call with retries on throttling, server errors and connection failures; raises ApiError."""
        data = None if body is None else (body if isinstance(body, bytes) else codec.dumps(body))
        attempt = 0
        while True:
            try:
                return await self._once(
                    method,
                    path,
                    params=params,
                    data=data,
                    content_type=content_type if data is not None else None,
                )
            except ApiError as err:
                if not is_retryable(err) or attempt >= self.retries:
                    raise
                delay = err.retry_after if err.retry_after is not None else backoff(attempt)
                log.debug("%s %s: %s, retrying in %.2fs", method, path, err, delay)
                await asyncio.sleep(delay)
                attempt += 1

    async def _once(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None,
        data: bytes | None,
        content_type: str | None,
    ) -> Any:
        try:
            async with self._http().request(
                method,
                path,
                params=params,
                data=data,
                headers=self._headers(content_type),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise _error(resp.status, raw, resp.headers.get("Retry-After"))
                return codec.loads(raw) if raw else None
        except (aiohttp.ClientConnectionError, TimeoutError) as err:
            raise Unreachable(f"{method} {path}: {err or type(err).__name__}") from err

    # -- reads ---------------------------------------------------------------------------------------

    async def get(
        self, ref: ResourceRef, namespace: str | None, name: str, subresource: str | None = None
    ) -> Obj:
        """One object (or its status/scale)."""
        result: Obj = await self.request("GET", ref.path(namespace, name, subresource))
        return result

    async def list_page(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        *,
        limit: int = 500,
        continue_token: str = "",
        label_selector: str = "",
        field_selector: str = "",
    ) -> Obj:
        """One page of a list, as the server sent it (items, metadata.resourceVersion, metadata.continue)."""
        params = _query(limit=str(limit), labelSelector=label_selector, fieldSelector=field_selector)
        if continue_token:
            params["continue"] = continue_token
        page: Obj = await self.request("GET", ref.path(namespace), params=params)
        return page

    async def pages(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        *,
        limit: int = 500,
        label_selector: str = "",
        field_selector: str = "",
    ) -> AsyncIterator[Obj]:
        """Every page of a list, following `continue` (the last page carries the list's resourceVersion)."""
        token = ""
        while True:
            page = await self.list_page(
                ref,
                namespace,
                limit=limit,
                continue_token=token,
                label_selector=label_selector,
                field_selector=field_selector,
            )
            yield page
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return

    async def list(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        *,
        limit: int = 500,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[list[Obj], str]:
        """Every object and the list's resourceVersion."""
        items: list[Obj] = []
        version = ""
        async for page in self.pages(
            ref, namespace, limit=limit, label_selector=label_selector, field_selector=field_selector
        ):
            items.extend(page.get("items") or [])
            version = str((page.get("metadata") or {}).get("resourceVersion", ""))
        return items, version

    async def watch(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        *,
        resource_version: str,
        timeout_seconds: int = 300,
        bookmarks: bool = True,
        label_selector: str = "",
        field_selector: str = "",
    ) -> AsyncIterator[Obj]:
        """Watch events (`{"type", "object"}`) from a resourceVersion until the server ends the stream.

        An ERROR event is raised as its ApiError (Gone for 410); nothing is retried here.
        """
        params = _query(
            watch="true",
            resourceVersion=resource_version,
            timeoutSeconds=str(timeout_seconds),
            allowWatchBookmarks="true" if bookmarks else "false",
            labelSelector=label_selector,
            fieldSelector=field_selector,
        )
        try:
            async with self._http().get(
                ref.path(namespace),
                params=params,
                headers=self._headers(),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.timeout, sock_read=timeout_seconds + self.timeout
                ),
            ) as resp:
                if resp.status >= 400:
                    raise _error(resp.status, await resp.read(), resp.headers.get("Retry-After"))
                async for line in resp.content:
                    if not line.strip():
                        continue
                    event: Obj = codec.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise from_status(int(status.get("code", 500)), status)
                    yield event
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as err:
            raise Unreachable(f"watch {ref.path(namespace)}: {err or type(err).__name__}") from err

    # -- writes --------------------------------------------------------------------------------------

    async def create(self, ref: ResourceRef, namespace: str | None, obj: Obj) -> Obj:
        """POST a new object."""
        result: Obj = await self.request("POST", ref.path(namespace), body=obj)
        return result

    async def replace(
        self, ref: ResourceRef, namespace: str | None, name: str, obj: Obj, subresource: str | None = None
    ) -> Obj:
        """PUT (the object's resourceVersion is the precondition)."""
        result: Obj = await self.request("PUT", ref.path(namespace, name, subresource), body=obj)
        return result

    async def patch(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        content_type: str = MERGE_PATCH,
        subresource: str | None = None,
        field_manager: str = "",
    ) -> Obj:
        """PATCH with one of the four patch content types."""
        params = {"fieldManager": field_manager} if field_manager else None
        result: Obj = await self.request(
            "PATCH",
            ref.path(namespace, name, subresource),
            params=params,
            body=patch,
            content_type=content_type,
        )
        return result

    async def delete(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        *,
        propagation: str | None = None,
        grace_seconds: int | None = None,
        preconditions: Obj | None = None,
    ) -> Obj | None:
        """DELETE with DeleteOptions; a missing object is not an error (None)."""
        options: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            options["propagationPolicy"] = propagation
        if grace_seconds is not None:
            options["gracePeriodSeconds"] = grace_seconds
        if preconditions:
            options["preconditions"] = preconditions
        try:
            result: Obj = await self.request("DELETE", ref.path(namespace, name), body=options)
        except ApiError as err:
            if err.code == 404:
                return None
            raise
        return result


def _query(**params: str) -> dict[str, str]:
    """Query parameters without the empty ones."""
    return {key: value for key, value in params.items() if value}


def _error(code: int, raw: bytes, retry_after: str | None) -> ApiError:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    delay = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
    return from_status(code, body, retry_after=delay)


def backoff(attempt: int, *, base: float = 0.2, cap: float = 10.0) -> float:
    """Capped exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * (2**attempt)))


__all__ = ["APPLY_PATCH", "JSON_PATCH", "MERGE_PATCH", "STRATEGIC_PATCH", "Client", "Gone", "backoff"]
