"""Object files: multi-document YAML, a JSON object or a (kubectl-style) JSON List, read into the model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeapi.manifests import ManifestError, describe, documents
from petdns.schema.bulk import paused_gc
from petdns.schema.model import KubeObject, ModelError, from_raw
from petdns.schema.scope import Scope


class LoadError(Exception):
    """A file could not be read; the message names the file, the document and the field."""


@dataclass
class Loaded:
    """What a set of files held: the model objects and a count of the kinds that were ignored."""

    objects: list[KubeObject] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    duplicates: list[str] = field(default_factory=list)  # one line per object given more than once


def identity(obj: KubeObject) -> str:
    """`Kind namespace/name` (`Kind name` for cluster-scoped kinds): what makes two objects the same."""
    namespace = getattr(obj, "namespace", "")
    return f"{type(obj).__name__} {namespace}/{obj.name}" if namespace else f"{type(obj).__name__} {obj.name}"


def load_files(paths: list[str], scope: Scope | None = None) -> Loaded:
    """Read every file into one Loaded; raise LoadError on the first malformed document. With a
    `scope`, only the objects it serves are kept (the others are not checked)."""
    with paused_gc():
        return _load(paths, scope)


def _load(paths: list[str], scope: Scope | None) -> Loaded:
    loaded = Loaded()
    first_seen: dict[str, str] = {}
    for where, raw in _scoped(paths, scope):
        try:
            obj = from_raw(raw)
        except ModelError as err:
            raise LoadError(f"{where}: {describe(raw)}field {err.field}: {err.message}") from None
        if obj is None:
            loaded.ignored[str(raw.get("kind"))] += 1
            continue
        key = identity(obj)
        if key in first_seen:
            loaded.duplicates.append(
                f"{key} is given twice ({first_seen[key]}, {where}): the last one is used"
            )
        first_seen[key] = where
        loaded.objects.append(obj)
    return loaded


def _scoped(paths: list[str], scope: Scope | None) -> Iterator[tuple[str, Mapping[str, Any]]]:
    docs = (doc for path in paths for doc in _documents(path))
    if scope is None or scope.everything:
        yield from docs
        return
    listed = list(docs)
    kept = {id(raw) for raw in scope.filter(raw for _, raw in listed)}
    yield from ((where, raw) for where, raw in listed if id(raw) in kept)


def _documents(path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    try:
        yield from documents(path)
    except ManifestError as err:
        raise LoadError(str(err)) from None
