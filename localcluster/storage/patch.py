"""Patch documents applied to raw objects: JSON merge (RFC 7386), JSON patch (RFC 6902), strategic, apply."""

from __future__ import annotations

from typing import Any

from kubeapi.decode import MAX_BODY_BYTES, DecodeError, load_json, load_yaml
from kubeapi.meta import Obj
from localcluster.storage.errors import (
    ApiError,
    bad_request,
    undecodable,
    unprocessable,
    unsupported_media_type,
)
from localcluster.storage.meta import clone
from localcluster.storage.strategic import SCHEMAS, merge_patch_strategic

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
BUILTIN_TYPES = (JSON_PATCH, MERGE, APPLY, STRATEGIC)
CUSTOM_TYPES = (JSON_PATCH, MERGE, APPLY)
MAX_JSON_PATCH_OPERATIONS = 10_000


def patch_types(kind: str) -> tuple[str, ...]:
    """Patch content types a kind accepts (strategic merge only for built-in kinds)."""
    return BUILTIN_TYPES if kind in SCHEMAS else CUSTOM_TYPES


def media_type(content_type: str) -> str:
    """The content type without parameters (`; charset=utf-8`)."""
    return content_type.split(";", 1)[0].strip().lower()


def apply_patch(current: Obj, body: bytes, content_type: str, *, kind: str = "") -> Obj:
    """current with the patch applied (current is not modified); 400/415/422 ApiErrors for bad patches.

    `kind` (default: current's kind) decides whether strategic merge is allowed and which merge keys apply.
    """
    kind = kind or str(current.get("kind") or "")
    kind_types = patch_types(kind)
    ctype = media_type(content_type)
    if ctype not in kind_types:
        raise unsupported_media_type(kind_types)
    if ctype == JSON_PATCH:
        return _as_object(json_patch(current, _decode_json(body)))
    if ctype == APPLY:
        return apply_config(kind, current, decode_apply(body))
    doc = _decode_json(body)
    if not isinstance(doc, dict):
        raise bad_request("the patch must be a JSON object")
    if ctype == MERGE:
        return _as_object(merge_patch(current, doc))
    return merge_patch_strategic(current, doc, SCHEMAS[kind])


def apply_config(kind: str, live: Obj, applied: Obj) -> Obj:
    """Server-side apply over a live object: applied fields merged in (list-map keys for built-ins)."""
    return merge_patch_strategic(live, _drop_nulls(applied), SCHEMAS.get(kind, {}))


def decode_apply(body: bytes) -> Obj:
    """An apply configuration (YAML or JSON); 400 when it is not one object with apiVersion and kind."""
    try:
        doc = load_yaml(body, "the apply configuration", max_bytes=MAX_BODY_BYTES)
    except DecodeError as err:
        raise undecodable(err, "error decoding YAML") from None
    if not isinstance(doc, dict):
        raise bad_request("the apply configuration must be an object")
    for field in ("apiVersion", "kind"):
        if not doc.get(field):
            raise bad_request(f"invalid object: {field} must be set in an apply configuration")
    return doc


def _decode_json(body: bytes) -> Any:
    try:
        return load_json(body, "the patch", max_bytes=MAX_BODY_BYTES)
    except DecodeError as err:
        raise undecodable(err, "error decoding patch") from None


def _as_object(doc: Any) -> Obj:
    if not isinstance(doc, dict):
        raise unprocessable("the patched document is not an object")
    return doc


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    out = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# --- RFC 6902 ------------------------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise unprocessable(f"invalid JSON pointer: {path!r}")
    if not path:
        return []
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _index(container: list[Any], token: str, *, adding: bool) -> int:
    if adding and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise unprocessable(f"invalid array index: {token!r}")
    index = int(token)
    if index > len(container) or (index == len(container) and not adding):
        raise unprocessable(f"array index out of bounds: {index}")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    cur = doc
    for token in tokens[:-1]:
        if isinstance(cur, dict) and token in cur:
            cur = cur[token]
        elif isinstance(cur, list):
            cur = cur[_index(cur, token, adding=False)]
        else:
            raise unprocessable(f"missing path: /{'/'.join(tokens)}")
    return cur


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    token = tokens[-1]
    if isinstance(parent, dict) and token in parent:
        return parent[token]
    if isinstance(parent, list):
        return parent[_index(parent, token, adding=False)]
    raise unprocessable(f"missing path: /{'/'.join(tokens)}")


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, tokens[-1], adding=True), value)
    else:
        raise unprocessable(f"cannot add at /{'/'.join(tokens)}")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise unprocessable("cannot remove the whole document")
    parent = _parent(doc, tokens)
    token = tokens[-1]
    if isinstance(parent, dict) and token in parent:
        return parent.pop(token)
    if isinstance(parent, list):
        return parent.pop(_index(parent, token, adding=False))
    raise unprocessable(f"missing path: /{'/'.join(tokens)}")


def json_equal(a: Any, b: Any) -> bool:
    """JSON value equality (true is not 1; 1 equals 1.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _operation(doc: Any, op: Obj) -> Any:
    name = op.get("op")
    tokens = _pointer(op.get("path"))
    if name in ("add", "replace", "test") and "value" not in op:
        raise unprocessable(f"{name} operation does not have a value")
    if name == "add":
        return _add(doc, tokens, clone(op["value"]))
    if name == "remove":
        _remove(doc, tokens)
        return doc
    if name == "replace":
        _get(doc, tokens)
        if not tokens:
            return clone(op["value"])
        _remove(doc, tokens)
        return _add(doc, tokens, clone(op["value"]))
    if name == "test":
        if not json_equal(_get(doc, tokens), op["value"]):
            raise unprocessable(f"testing value {op.get('path')} failed: test failed")
        return doc
    if name in ("move", "copy"):
        source = _pointer(op.get("from"))
        if name == "move":
            if tokens[: len(source)] == source and len(tokens) > len(source):
                raise unprocessable("cannot move a value into one of its children")
            return _add(doc, tokens, _remove(doc, source))
        return _add(doc, tokens, clone(_get(doc, source)))
    raise unprocessable(f"unexpected kind of operation: {name!r}")


def json_patch(document: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch applied to a copy of document; 422 when an operation (or a `test`) fails."""
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise bad_request("a JSON patch must be a list of operations")
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        limit, got = MAX_JSON_PATCH_OPERATIONS, len(operations)
        msg = (
            f"Request entity too large: The allowed maximum operations in a JSON patch is {limit}, got {got}"
        )
        raise ApiError(413, "RequestEntityTooLarge", msg)
    doc = clone(document)
    try:
        for op in operations:
            doc = _operation(doc, op)
    except (TypeError, KeyError, IndexError) as err:
        raise unprocessable(str(err)) from err
    return doc
