"""Fixtures: a local API server on loopback, in the test's own event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from localcluster.apiserver.server import ApiServer
from localcluster.storage.store import ObjectStore


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    store = ObjectStore()
    store.ensure_namespaces()
    api = ApiServer(store)
    await api.start("127.0.0.1", 0)
    yield api
    await api.stop()
