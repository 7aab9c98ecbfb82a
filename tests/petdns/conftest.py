"""Shared fixtures: the table's zones, one per settings variant."""

from __future__ import annotations

import pytest

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
