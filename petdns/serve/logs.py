"""Logging: stdlib `logging` to stderr as text or as one JSON object per line, reconfigurable live.

JSON lines carry `time` (RFC 3339, UTC, milliseconds), `level`, `logger`, `message`, every extra
field the call passed (`log.info(..., extra={...})`, e.g. the query log's), and `exception` with the
traceback when there is one. The query log (`petdns.query`) is on INFO whatever `--log-level` says:
it is switched with `--query-log`, not with the level.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any, Final

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUERY_LOGGER: Final = "petdns.query"
_STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


_handler: logging.Handler | None = None


def configure(level: str = "info", fmt: str = "text") -> None:
    """Log to stderr at `level` (debug, info, warning, error) as `fmt` (text or json); calling it again
    changes level and format in place."""
    global _handler  # noqa: PLW0603
    root = logging.getLogger()
    if _handler is None:
        _handler = logging.StreamHandler(sys.stderr)
        root.addHandler(_handler)
    _handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.setLevel(level.upper())
    logging.getLogger(QUERY_LOGGER).setLevel(logging.INFO)
