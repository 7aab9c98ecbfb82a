"""Composition root of `petdns local`: the object store, its journal, the API server and the kubeconfig."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator

from localcluster.apiserver import ApiServer, ServerConfig
from localcluster.journal import SqliteJournal
from localcluster.kubeconfig import read_token, write_kubeconfig
from localcluster.objects import Store
from localcluster.tls import ServingCert, serving_cert

log = logging.getLogger("localcluster")

START_NAMESPACES = ("default", "kube-system", "kube-public")


def client_url(scheme: str, host: str, port: int) -> str:
    """The URL clients use for a listen address (a wildcard address becomes loopback)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def open_store(state: str | None) -> tuple[Store, SqliteJournal | None]:
    """The store, persisted in `<state>/state.db` when a state directory is given."""
    journal = None
    if state:
        os.makedirs(state, exist_ok=True)
        journal = SqliteJournal(os.path.join(state, "state.db"))
    store = Store(journal=journal)
    store.ensure_namespaces(START_NAMESPACES)
    return store, journal


@contextlib.contextmanager
def _certificate(state: str | None, wanted: bool) -> Iterator[ServingCert | None]:
    """The serving certificate when TLS is wanted: kept in `<state>/tls`, else in a temporary directory."""
    if not wanted:
        yield None
    elif state:
        yield serving_cert(os.path.join(state, "tls"))
    else:
        with tempfile.TemporaryDirectory(prefix="petdns-tls-") as directory:
            yield serving_cert(directory)


async def run_local(
    *,
    api: tuple[str, int],
    kubeconfig: str,
    state: str | None,
    token_file: str | None,
    dns: tuple[str, int] | None,
    files: list[str],
) -> None:
    """Serve the local control plane until cancelled; the kubeconfig is written once the API listens.

    With a token file every request needs `Authorization: Bearer <token>`, and the server speaks HTTPS
    with a self-signed certificate (kubectl sends credentials only over TLS); the kubeconfig carries both.
    """
    token = read_token(token_file) if token_file else None
    store, journal = open_store(state)
    server = ApiServer(store, config=ServerConfig(token=token))
    try:
        with _certificate(state, token is not None) as cert:
            await server.start(*api, tls=cert.server_context() if cert else None)
            url = client_url(server.scheme, api[0], server.port)
            write_kubeconfig(kubeconfig, url, token=token, ca_pem=cert.ca_pem() if cert else None)
            log.info("API server at %s; kubeconfig written to %s", url, kubeconfig)
            if dns is not None:
                log.warning("--dns %s:%d is not used yet: the local DNS server is not wired in", *dns)
            if files:
                log.warning("-f %s: object files are not loaded yet", " ".join(files))
            await asyncio.Event().wait()
    finally:
        await server.stop()
        if journal is not None:
            journal.close()
