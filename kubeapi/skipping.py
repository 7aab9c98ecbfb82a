"""The reflectors' policy for objects their transform cannot read: skip the object and name it in a warning,
instead of failing the watch."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
READ_ERRORS: tuple[type[Exception], ...] = (TypeError, ValueError, AttributeError, KeyError)


def skipping(
    transform: Callable[[dict[str, Any]], T | None],
    kind: str,
    log: logging.Logger,
    *,
    errors: tuple[type[Exception], ...] = READ_ERRORS,
    reason: Callable[[Exception], str] = repr,
    once: bool = False,
) -> Callable[[dict[str, Any]], T | None]:
    """`transform`, with a warning and None for an object of `kind` it fails on with one of `errors`;
    `once` warns about each object and error only the first time it is seen."""
    warned: set[tuple[str, str, str]] = set()

    def run(raw: dict[str, Any]) -> T | None:
        try:
            return transform(raw)
        except errors as err:
            meta = raw.get("metadata") or {}
            namespace, name = meta.get("namespace", ""), meta.get("name", "")
            key = (str(namespace), str(name), str(err))
            if key not in warned:
                log.warning("skipping %s %s/%s: %s", kind, namespace, name, reason(err))
                if once:
                    warned.add(key)
            return None

    return run
