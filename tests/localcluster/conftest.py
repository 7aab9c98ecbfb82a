"""Fixtures: the local API server on 127.0.0.1 in a thread of its own, a kubeconfig for it, and kubectl."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from localcluster.apiserver.kubeconfig import write_kubeconfig
from localcluster.apiserver.server import ApiServer, ServerConfig
from localcluster.apiserver.tls import ServingCert, serving_cert
from localcluster.apiserver.watch_requests import WatchSettings
from localcluster.storage.resources import find
from localcluster.storage.store import ObjectStore

T = TypeVar("T")
KUBECTL = str(Path(sys.executable).with_name("kubectl"))
NAMESPACES = find("", "v1", "namespaces")


@dataclass
class LocalApi:
    """A running API server and the ways tests reach it."""

    server: ApiServer
    loop: asyncio.AbstractEventLoop
    kubeconfig: Path
    cache: Path
    cert: ServingCert | None = None

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def store(self) -> ObjectStore:
        return self.server.store

    def call(self, fn: Callable[[], T]) -> T:
        """Run fn on the server's event loop (where the store lives) and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def namespace(self, name: str) -> str:
        """Create a namespace (idempotent) and return its name."""

        def create() -> None:
            try:
                self.store.get(NAMESPACES, None, name)
            except Exception:
                self.store.create(NAMESPACES, None, {"metadata": {"name": name}})

        self.call(create)
        return name

    def kubectl_args(self, *args: str) -> list[str]:
        return [KUBECTL, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache}", *args]

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this server; raises with its output when check and it fails."""
        proc = subprocess.run(
            self.kubectl_args(*args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def kubectl_background(self, *args: str) -> subprocess.Popen[str]:
        """Start a long-running kubectl (get -w); the caller kills it."""
        return subprocess.Popen(
            self.kubectl_args(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )


@contextmanager
def serving(
    directory: Path, *, token: str | None = None, window: int = 50_000, **watch: Any
) -> Iterator[LocalApi]:
    """An API server on a free port of 127.0.0.1, served from a background thread until the block ends."""
    holder: dict[str, Any] = {}
    ready = threading.Event()
    settings = WatchSettings(**{"bookmark_every": 0.2, **watch})
    cert = serving_cert(str(directory / "tls")) if token else None

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        store = ObjectStore(window=window)
        store.ensure_namespaces()
        server = ApiServer(store, config=ServerConfig(token=token, watch=settings))
        loop.run_until_complete(server.start("127.0.0.1", 0, tls=cert.server_context() if cert else None))
        holder.update(server=server, loop=loop)
        ready.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())
        loop.close()

    thread = threading.Thread(target=run, name="apiserver", daemon=True)
    thread.start()
    assert ready.wait(10), "the API server did not start"
    server, loop = holder["server"], holder["loop"]
    kubeconfig = directory / "kubeconfig"
    write_kubeconfig(str(kubeconfig), server.url, token=token, ca_pem=cert.ca_pem() if cert else None)
    try:
        yield LocalApi(server, loop, kubeconfig, directory / "cache", cert)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    """One API server per test module (tests isolate themselves by namespace or name)."""
    with serving(tmp_path_factory.mktemp("apiserver")) as running:
        yield running


@pytest.fixture
def ns(api: LocalApi, request: pytest.FixtureRequest) -> str:
    """A fresh namespace named after the test."""
    name = request.node.name.lower().replace("_", "-").replace("[", "-").replace("]", "")[:50].strip("-")
    return api.namespace(name)
