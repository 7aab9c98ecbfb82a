"""Manifest files: multi-document YAML, a JSON object or a (kubectl-style) List, split into raw objects."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kubeapi.decode import DecodeError, load_json, load_yaml_documents


class ManifestError(Exception):
    """A file could not be read; the message names the file and the document (and List item)."""


def documents(path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield (location, raw object) for each object in the file; List items are expanded, empty
    documents skipped. The location reads `path: document N[, item M]`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path}: cannot read: {err}") from None
    try:
        if text.lstrip().startswith(("{", "[")):
            docs: list[Any] = [load_json(text, path)]
        else:
            docs = load_yaml_documents(text, path)
    except DecodeError as err:
        raise ManifestError(str(err)) from None
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        where = f"{path}: document {index}"
        if isinstance(doc, list):
            yield from _items(where, doc)
            continue
        if not isinstance(doc, Mapping):
            raise ManifestError(f"{where}: not an object (found {type(doc).__name__})")
        kind = doc.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and "items" in doc:
            items = doc["items"]
            if not isinstance(items, list):
                raise ManifestError(f"{where}: field items: not a list")
            yield from _items(where, items)
        else:
            yield where, doc


def _items(where: str, items: list[Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ManifestError(f"{where}, item {i}: not an object (found {type(item).__name__})")
        yield f"{where}, item {i}", item


def describe(raw: Mapping[str, Any]) -> str:
    """`Kind 'name': ` for messages about one object (`Kind: ` when it has no name)."""
    meta = raw.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return f"{raw.get('kind')} {name!r}: " if isinstance(name, str) else f"{raw.get('kind')}: "
