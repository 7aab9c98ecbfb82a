"""Shared fixtures: the table's zones, one per settings variant; an embedded API server and a client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kubeapi.auth import Connection
from kubeapi.client import Client
from localcluster.apiserver.server import ApiServer
from localcluster.storage.store import ObjectStore
from petdns.answer.zone import RenderedZone
from tests.support.dns_table import SETTINGS, objects

FIXED_NOW = 1_800_000_000


@pytest.fixture(scope="session")
def zones() -> dict[str, RenderedZone]:
    """A rendered zone per settings variant, loaded from tests/data/cluster.yaml."""
    out = {}
    loaded = objects()
    for key, settings in SETTINGS.items():
        zone = RenderedZone(settings, clock=lambda: FIXED_NOW)
        zone.load(loaded)
        out[key] = zone
    return out


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    """An embedded API server with the default namespace."""
    store = ObjectStore()
    store.ensure_namespaces(("default",))
    server = ApiServer(store)
    await server.start("127.0.0.1", 0)
    yield server
    await server.stop()


@pytest.fixture
async def writer(api: ApiServer) -> AsyncIterator[Client]:
    """A client of `api`."""
    async with Client(Connection(api.url)) as client:
        yield client
