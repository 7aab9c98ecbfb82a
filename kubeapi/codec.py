"""JSON for the API: orjson where installed, else the standard library; both give compact UTF-8."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_std_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

loads: Callable[[bytes | str], Any]
try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the fallback keeps kubeapi importable
    loads = json.loads

    def dumps(value: Any) -> bytes:
        """Compact JSON bytes."""
        return _std_dumps(value).encode()

else:
    loads = orjson.loads

    def dumps(value: Any) -> bytes:
        """Compact JSON bytes (the standard library for what orjson refuses: integers beyond 64 bits)."""
        try:
            return orjson.dumps(value)
        except TypeError:
            return _std_dumps(value).encode()
