"""The pod subresources a kubelet serves upstream: `log` (the container's log files when it runs for real,
else the simulated lifecycle; plain text, followed on request until the pod is gone), `exec` (into a
container that runs for real, else a Status saying no container runs) and `attach`, `portforward`
(refused)."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import Callable

from aiohttp import web

from kubeapi.meta import Obj, parse_time
from localcluster.apiserver.execstream import PROTOCOLS, ExecOptions, serve_exec
from localcluster.apiserver.podfilelog import LogRequest, serve_files
from localcluster.apiserver.podlog import check_started, log_lines, pick_container, select
from localcluster.apiserver.podruntime import PodRuntime
from localcluster.storage.errors import ApiError, bad_request, method_not_allowed
from localcluster.storage.resources import Resource, find
from localcluster.storage.state import Event
from localcluster.storage.store import ObjectStore

STREAMS = ("exec", "attach", "portforward")
SUBRESOURCES = ("log", *STREAMS)
NO_CONTAINERS = (
    "pods run no containers in petdns local: {what} is not available (pod {name} is simulated; "
    "`kubectl logs {name}` shows its lifecycle)"
)
_WHAT = {"exec": "exec", "attach": "attach", "portforward": "port-forward"}


def pod_subresource(rest: list[str]) -> tuple[str, str, str] | None:
    """(namespace, pod, subresource) of `namespaces/<ns>/pods/<name>/<log|exec|attach|portforward>`."""
    if len(rest) == 5 and rest[0] == "namespaces" and rest[2] == "pods" and rest[4] in SUBRESOURCES:
        return rest[1], rest[3], rest[4]
    return None


def _int(query: dict[str, str] | object, key: str) -> int | None:
    text = query.get(key) if isinstance(query, dict) else None
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise bad_request(f'{key}: Invalid value: "{text}": must be an integer') from None


def _flag(text: str | None) -> bool:
    return (text or "").lower() in ("true", "1")


def exec_options(command: list[str], query: dict[str, str]) -> ExecOptions:
    """The exec request's options, with upstream's 400s for what cannot be run."""
    if not command:
        raise bad_request("you must specify at least one command for the container")
    stdin, tty = _flag(query.get("stdin")), _flag(query.get("tty"))
    stdout, stderr = _flag(query.get("stdout", "true")), _flag(query.get("stderr", "true"))
    if not (stdin or stdout or stderr):
        raise bad_request("you must specify at least one of stdin, stdout, stderr")
    # a terminal has one output: stderr is dropped under a tty, as upstream's kubelet does
    return ExecOptions(tuple(command), stdin=stdin, stdout=stdout, stderr=stderr and not tty, tty=tty)


class PodProxy:
    """Answers the pod subresources from the store and, for containers that run for real, the runtime."""

    def __init__(
        self, store: ObjectStore, *, clock: Callable[[], float], runtime: PodRuntime | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.runtime = runtime
        pods = find("", "v1", "pods")
        assert pods is not None
        self.res: Resource = pods

    async def handle(self, request: web.Request, namespace: str, name: str, sub: str) -> web.StreamResponse:
        """Answer one request on a pod subresource."""
        pod = self.store.get(self.res, namespace, name, copy=False)
        if sub in STREAMS:
            if request.method not in ("GET", "POST"):
                raise method_not_allowed("the server does not allow this method on the requested resource")
            if sub == "exec":
                return await self._exec(request, pod)
            raise bad_request(NO_CONTAINERS.format(what=_WHAT[sub], name=name))
        if request.method != "GET":
            raise method_not_allowed("the server does not allow this method on the requested resource")
        return await self._log(request, pod)

    async def _exec(self, request: web.Request, pod: Obj) -> web.StreamResponse:
        meta = pod["metadata"]
        name, namespace = str(meta["name"]), str(meta.get("namespace") or "")
        query = request.query
        container = pick_container(pod, query.get("container", ""))
        argv = self.runtime.enter_argv(namespace, name, container) if self.runtime is not None else None
        if argv is None:
            raise bad_request(NO_CONTAINERS.format(what="exec", name=name))
        opts = exec_options(query.getall("command", []), dict(query))
        offered = {p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")}
        if request.headers.get("Upgrade", "").lower() != "websocket" or not offered & set(PROTOCOLS):
            raise bad_request(
                "exec streams over WebSocket only, with subprotocol v5.channel.k8s.io or v4.channel.k8s.io"
            )
        return await serve_exec(request, argv, opts)

    async def _log(self, request: web.Request, pod: Obj) -> web.StreamResponse:
        query = dict(request.query)
        container = pick_container(pod, query.get("container", ""))
        name = str(pod["metadata"]["name"])
        namespace = str(pod["metadata"].get("namespace") or "")
        want = self._log_request(query, namespace, name, container)
        files = self.runtime.log_files(namespace, name, container) if self.runtime is not None else []
        if files:
            return await self._file_log(request, pod, want, files)
        if want.previous:
            raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        check_started(pod, container)
        lines = select(log_lines(pod, container), tail=want.tail, since=want.since)
        text = "".join(line.render(timestamps=want.timestamps) + "\n" for line in lines)
        if not want.follow:
            body = text.encode()
            limit = want.limit
            return web.Response(body=body[:limit] if limit is not None else body, content_type="text/plain")
        sent = {(x.at, x.text) for x in lines}
        return await self._follow(request, pod, (container, want.timestamps), sent, text)

    def _log_request(self, query: dict[str, str], namespace: str, name: str, container: str) -> LogRequest:
        since = parse_time(query.get("sinceTime")) if query.get("sinceTime") else None
        since_seconds = _int(query, "sinceSeconds")
        if since_seconds is not None:
            since = self.clock() - since_seconds
        return LogRequest(
            namespace,
            name,
            container,
            previous=_flag(query.get("previous")),
            follow=_flag(query.get("follow")),
            timestamps=_flag(query.get("timestamps")),
            tail=_int(query, "tailLines"),
            since=since,
            limit=_int(query, "limitBytes"),
        )

    async def _file_log(
        self, request: web.Request, pod: Obj, want: LogRequest, files: list[pathlib.Path]
    ) -> web.StreamResponse:
        """The container's own log; a followed one ends when the pod is deleted or replaced."""
        assert self.runtime is not None
        uid = pod["metadata"].get("uid")
        gone = False

        def listen(event: Event) -> None:
            nonlocal gone
            seen = event.object.get("metadata") or {}
            if event.store_key != self.res.store_key or (seen.get("namespace"), seen.get("name")) != (
                want.namespace,
                want.pod,
            ):
                return
            gone = gone or event.type == "DELETED" or seen.get("uid") != uid

        unsubscribe = self.store.subscribe(listen) if want.follow else None
        try:
            return await serve_files(request, self.runtime, want, files, lambda: gone)
        finally:
            if unsubscribe is not None:
                unsubscribe()

    async def _follow(
        self,
        request: web.Request,
        pod: Obj,
        which: tuple[str, bool],
        sent: set[tuple[float, str]],
        first: str,
    ) -> web.StreamResponse:
        """Stream the lines there are, then new ones as the pod changes, until it is gone or replaced."""
        container, stamps = which
        meta = pod["metadata"]
        key, uid = (meta.get("namespace"), meta.get("name")), meta.get("uid")
        changes: asyncio.Queue[Obj | None] = asyncio.Queue()

        def listen(event: Event) -> None:
            obj = event.object
            seen = obj.get("metadata") or {}
            if event.store_key != self.res.store_key or (seen.get("namespace"), seen.get("name")) != key:
                return
            gone = event.type == "DELETED" or seen.get("uid") != uid
            changes.put_nowait(None if gone else obj)

        unsubscribe = self.store.subscribe(listen)
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        try:
            await response.prepare(request)
            await response.write(first.encode())
            while (latest := await changes.get()) is not None:
                new = [line for line in log_lines(latest, container) if (line.at, line.text) not in sent]
                sent.update((line.at, line.text) for line in new)
                if new:
                    await response.write(
                        "".join(line.render(timestamps=stamps) + "\n" for line in new).encode()
                    )
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
        except (ConnectionError, ApiError):
            pass
        finally:
            unsubscribe()
        return response
