"""Paged lists: sorted keys per storage, key ranges by bisection, continue tokens, remaining counts."""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kubeapi.decode import load_json
from kubeapi.meta import Obj
from localcluster.storage.errors import bad_request

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects


@dataclass(frozen=True, slots=True)
class ListResult:
    """One page of a list: items, the list's resourceVersion, the next page's token, items after this page."""

    items: list[Obj]
    resource_version: str
    continue_token: str
    remaining: int | None


@dataclass(frozen=True, slots=True)
class Page:
    """The objects of one page, the key of its last object when more follow, and how many follow."""

    items: list[Obj]
    last: Key | None
    remaining: int | None


def encode_continue(rv: int, after: Key) -> str:
    """The opaque continue token: base64 JSON of the list's resourceVersion and the last key served."""
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(after)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_continue(token: str) -> tuple[int, Key]:
    """(resourceVersion, last key) of a continue token; 400 when it is not one."""
    try:
        data = load_json(base64.urlsafe_b64decode(token.encode()), "continue token")
        rv, (ns, name) = int(data["rv"]), data["start"]
        return rv, (str(ns), str(name))
    except (ValueError, TypeError, KeyError, binascii.Error) as err:
        raise bad_request(f"continue key is not valid: {err}") from err


def _namespace_part(key: Key) -> str:
    return key[0]


class SortedKeys:
    """The keys of one storage in (namespace, name) order, kept sorted as objects come and go."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[Key] = ()) -> None:
        self._keys: list[Key] = sorted(keys)

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: Key) -> None:
        """Insert a key that is not present yet."""
        insort(self._keys, key)

    def discard(self, key: Key) -> None:
        """Remove a key if present."""
        at = bisect_left(self._keys, key)
        if at < len(self._keys) and self._keys[at] == key:
            del self._keys[at]

    def span(self, namespace: str | None, after: Key | None) -> tuple[int, int]:
        """Positions [start, end) of the keys in namespace (None: all) that sort after `after` (None: all)."""
        keys = self._keys
        if namespace is None:
            start, end = 0, len(keys)
        else:
            start = bisect_left(keys, namespace, key=_namespace_part)
            end = bisect_right(keys, namespace, lo=start, key=_namespace_part)
        if after is not None:
            start = max(start, bisect_right(keys, after, hi=end))
        return start, end

    @property
    def ordered(self) -> list[Key]:
        """The keys in order (read-only: change them through `add` and `discard` only)."""
        return self._keys


def page(
    keys: SortedKeys,
    objects: dict[Key, Obj],
    *,
    span: tuple[int, int],
    limit: int,
    matches: Callable[[Obj], bool] | None,
) -> Page:
    """Up to `limit` objects (0 or less: all) of a key span that `matches` accepts (None: every object)."""
    if matches is None:
        return _unfiltered(keys, objects, span=span, limit=limit)
    start, end = span
    ordered = keys.ordered
    items: list[Obj] = []
    last = start
    for index in range(start, end):
        obj = objects[ordered[index]]
        if not matches(obj):
            continue
        if 0 < limit == len(items):  # one more matches: this page is not the last
            return Page(items, ordered[last], None)
        items.append(obj)
        last = index
    return Page(items, None, None)


def _unfiltered(keys: SortedKeys, objects: dict[Key, Obj], *, span: tuple[int, int], limit: int) -> Page:
    start, end = span
    stop = min(end, start + limit) if limit > 0 else end
    ordered = keys.ordered
    items = [objects[key] for key in ordered[start:stop]]
    if stop < end:
        return Page(items, ordered[stop - 1], end - stop)
    return Page(items, None, None)
