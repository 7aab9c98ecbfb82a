"""What the server sends back: objects under the requested apiVersion, lists, Tables, Scales, watch lines."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kubeapi import codec
from kubeapi.meta import Obj
from localcluster.apiserver.tables import table
from localcluster.storage.resources import Resource

dumps = codec.dumps


def present(res: Resource, obj: Obj) -> Obj:
    """obj with the apiVersion and kind of the requested resource (a shallow copy when they differ)."""
    if obj.get("apiVersion") == res.api_version and obj.get("kind") == res.kind:
        return obj
    out = {"apiVersion": res.api_version, "kind": res.kind}
    out.update((k, v) for k, v in obj.items() if k not in out)
    return out


def list_body(res: Resource, items: Iterable[Obj], list_meta: Obj) -> Obj:
    """A `<Kind>List` of items."""
    return {
        "kind": res.list_kind,
        "apiVersion": res.api_version,
        "metadata": list_meta,
        "items": [present(res, obj) for obj in items],
    }


def list_metadata(resource_version: str, continue_token: str, remaining: int | None) -> Obj:
    """ListMeta: resourceVersion, and continue / remainingItemCount on a partial page."""
    out: Obj = {"resourceVersion": resource_version}
    if continue_token:
        out["continue"] = continue_token
        if remaining is not None:
            out["remainingItemCount"] = remaining
    return out


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How a request wants objects: plain, or as Tables with an embedded object or metadata."""

    table: bool = False
    include: str = "Metadata"


@dataclass(slots=True)
class ObjectView:
    """Renders a watch's lines for one resource and render options."""

    res: Resource
    options: RenderOptions
    clock: Callable[[], float] = time.time
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = f"{self.res.api_version}|{self.res.kind}|{self.options.table}|{self.options.include}"

    def body(self, obj: Obj) -> Obj:
        """The object as this watch sends it."""
        shown = present(self.res, obj)
        if not self.options.table:
            return shown
        return table(self.res, [shown], now=self.clock(), include=self.options.include)

    def event_line(self, event_type: str, obj: Obj) -> bytes:
        """One `{"type": ..., "object": ...}` line."""
        return dumps({"type": event_type, "object": self.body(obj)}) + b"\n"

    def bookmark_line(self, resource_version: int, *, initial_end: bool = False) -> bytes:
        """One BOOKMARK line: only kind, apiVersion and metadata.resourceVersion."""
        meta: Obj = {"resourceVersion": str(resource_version)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": self.res.kind, "apiVersion": self.res.api_version, "metadata": meta}
        return dumps({"type": "BOOKMARK", "object": obj}) + b"\n"


def error_line(status: Obj) -> bytes:
    """An ERROR watch event carrying a Status."""
    return dumps({"type": "ERROR", "object": status}) + b"\n"
