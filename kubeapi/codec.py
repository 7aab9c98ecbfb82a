"""JSON decoding of API responses and watch lines: orjson where installed, else the standard library."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

loads: Callable[[bytes | str], Any]
try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the fallback keeps kubeapi importable
    loads = json.loads
else:
    loads = orjson.loads
