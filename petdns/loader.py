"""Object files: multi-document YAML, a JSON object or a (kubectl-style) JSON List, read into the model."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeapi import codec
from petdns.model import KubeObject, ModelError, from_raw


class LoadError(Exception):
    """A file could not be read; the message names the file, the document and the field."""


@dataclass
class Loaded:
    """What a set of files held: the model objects and a count of the kinds that were ignored."""

    objects: list[KubeObject] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)


def load_files(paths: list[str]) -> Loaded:
    """Read every file into one Loaded; raise LoadError on the first malformed document."""
    loaded = Loaded()
    for path in paths:
        for where, raw in _documents(path):
            try:
                obj = from_raw(raw)
            except ModelError as err:
                raise LoadError(f"{where}: {_describe(raw)}field {err.field}: {err.message}") from None
            if obj is None:
                loaded.ignored[str(raw.get("kind"))] += 1
            else:
                loaded.objects.append(obj)
    return loaded


def _describe(raw: Mapping[str, Any]) -> str:
    meta = raw.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return f"{raw.get('kind')} {name!r}: " if isinstance(name, str) else f"{raw.get('kind')}: "


def _documents(path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield (location, raw object) for each object in the file; List items are expanded."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise LoadError(f"{path}: cannot read: {err}") from None
    docs: list[Any]
    if text.lstrip().startswith(("{", "[")):
        try:
            docs = [codec.loads(text)]
        except json.JSONDecodeError as err:
            raise LoadError(
                f"{path}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
            ) from None
    else:
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            at = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or str(err)
            raise LoadError(f"{path}: invalid YAML{at}: {problem}") from None
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        where = f"{path}: document {index}"
        if isinstance(doc, list):
            yield from _items(where, doc)
            continue
        if not isinstance(doc, Mapping):
            raise LoadError(f"{where}: not an object (found {type(doc).__name__})")
        kind = doc.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and "items" in doc:
            items = doc["items"]
            if not isinstance(items, list):
                raise LoadError(f"{where}: field items: not a list")
            yield from _items(where, items)
        else:
            yield where, doc


def _items(where: str, items: list[Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise LoadError(f"{where}, item {i}: not an object (found {type(item).__name__})")
        yield f"{where}, item {i}", item
