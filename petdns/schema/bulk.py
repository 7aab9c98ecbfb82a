"""Bulk building: the cyclic garbage collector paused while many long-lived objects are made."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic collector for a bulk load (object files, a zone's first rendering): each full
    collection on the way would walk every object made so far again (at 100k endpoints, about 1 s of
    a start-up each for reading and rendering). Reference counting still frees what is dropped;
    cycles wait for the next collection (rendering leaves a few dozen objects to it, no more memory
    than with the collector running)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
