"""Reflector transforms that skip, and name, objects they cannot read instead of failing the watch."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def skipping(
    transform: Callable[[Mapping[str, Any]], T | None], kind: str, log: logging.Logger
) -> Callable[[dict[str, Any]], T | None]:
    """`transform`, with a warning and None for an object of `kind` it fails on."""

    def run(raw: dict[str, Any]) -> T | None:
        try:
            return transform(raw)
        except (TypeError, ValueError, AttributeError, KeyError) as err:
            meta = raw.get("metadata") or {}
            log.warning("skipping %s %s/%s: %r", kind, meta.get("namespace"), meta.get("name"), err)
            return None

    return run
