"""API object shapes: the raw object type and RFC 3339 times as the API writes and reads them. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
"""A raw API object (decoded JSON)."""


def rfc3339(seconds: float) -> str:
    """A Time as the API writes it: `2026-11-25T20:00:00Z`, whole seconds, UTC."""
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(seconds: float) -> str:
    """A MicroTime as the API writes it: RFC 3339 with microseconds, UTC."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: object) -> float | None:
    """RFC 3339 text (`Z` or an offset; naive is UTC) to epoch seconds; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def dig(obj: Any, *path: str) -> Any:
    """obj[path[0]][path[1]]...; None where a step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def section(obj: Obj, key: str) -> Obj:
    """A top-level mapping of an object (metadata, spec, status); {} when absent or not a mapping."""
    found = obj.get(key)
    return found if isinstance(found, dict) else {}
