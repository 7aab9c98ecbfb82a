"""Label and field selectors over raw objects: parsing (400 BadRequest on malformed input) and matching."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kubeapi import labels
from kubeapi.labels import Selector
from kubeapi.meta import Obj
from localcluster.storage.errors import bad_request
from localcluster.storage.kinds import rules_for
from localcluster.storage.meta import field_path


def parse_label_selector(text: str) -> Selector:
    """A label selector (comma = AND); 400 BadRequest when malformed."""
    try:
        return labels.parse(text)
    except labels.SelectorError as err:
        raise bad_request(str(err)) from None


def _labels_match(obj: Obj, selector: Selector) -> bool:
    found = field_path(obj, "metadata.labels")
    return selector.matches(found if isinstance(found, dict) else {})


def label_matcher(text: str) -> Callable[[Obj], bool]:
    """A predicate over objects for a label selector ("" matches everything)."""
    selector = parse_label_selector(text)
    return lambda obj: _labels_match(obj, selector)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cur += text[i : i + 2]
            i += 2
            continue
        if text[i] == sep:
            parts.append(cur)
            cur = ""
        else:
            cur += text[i]
        i += 1
    parts.append(cur)
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_field_selector(text: str, kind: str) -> list[tuple[str, str, str]]:
    """(field, "=" or "!=", value) terms; 400 for malformed terms or fields the kind does not index."""
    terms = []
    allowed = ("metadata.name", "metadata.namespace", *rules_for(kind).field_labels)
    for raw in _split_unescaped(text, ","):
        if not raw.strip():
            if text.strip():
                raise bad_request(f"invalid selector: '{text}'; can't understand '{raw}'")
            continue
        match = re.match(r"^((?:[^\\=!]|\\.)*?)\s*(==|!=|=)\s*(.*)$", raw.strip())
        if match is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{raw}'")
        field, op, value = _unescape(match[1].strip()), match[2], _unescape(match[3])
        if field not in allowed:
            raise bad_request(f"field label not supported: {field}")
        terms.append((field, "!=" if op == "!=" else "=", value))
    return terms


def _field_value(obj: Obj, field: str) -> str:
    value: Any = field_path(obj, field)
    if field == "source" and isinstance(value, dict):
        value = value.get("component")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fields_match(obj: Obj, terms: list[tuple[str, str, str]]) -> bool:
    return all((_field_value(obj, f) == v) == (op == "=") for f, op, v in terms)


def field_matcher(text: str, kind: str) -> Callable[[Obj], bool]:
    """A predicate over objects for a field selector ("" matches everything)."""
    terms = parse_field_selector(text, kind)
    return lambda obj: _fields_match(obj, terms)


def selector_matcher(label_selector: str, field_selector: str, kind: str) -> Callable[[Obj], bool] | None:
    """One predicate for a label and a field selector; None when together they select every object."""
    selector = parse_label_selector(label_selector)
    terms = parse_field_selector(field_selector, kind)
    if selector.empty and not terms:
        return None
    return lambda obj: _labels_match(obj, selector) and _fields_match(obj, terms)
