"""Value validation against compiled schema nodes: types, formats, limits, required, enum, list types.

On updates a value equal to the old value at the same place is not checked again (validation ratcheting),
so a schema made stricter does not block writes that leave the old values alone.
"""

from __future__ import annotations

import math
from typing import Any

from kubeapi.meta import Obj
from localcluster.storage.schema import causes as c
from localcluster.storage.schema.formats import format_ok
from localcluster.storage.schema.nodes import Node

MISSING: Any = object()
INT64 = (-(2**63), 2**63 - 1)
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


def validate(root: Node, obj: Obj, old: Obj | None) -> list[Obj]:
    """Causes against obj (empty when valid); the root's apiVersion, kind and metadata are not checked
    here beyond what the schema says of metadata.name."""
    out: list[Obj] = []
    old_obj = MISSING if old is None else old
    for key, value in obj.items():
        sub = root.properties.get(key)
        if key == "metadata" and sub is not None and isinstance(value, dict):
            out += _metadata(sub, value, _field(old_obj, key))
        if key in ("apiVersion", "kind", "metadata") or sub is None:
            continue
        out += check(sub, value, _field(old_obj, key), (key,))
    for key in root.required:
        if key not in obj:
            out.append(c.required((key,)))
    return out


def _metadata(node: Node, value: Obj, old: Any) -> list[Obj]:
    """The root schema may constrain metadata.name and metadata.generateName, nothing else."""
    out: list[Obj] = []
    for key in ("name", "generateName"):
        sub = node.properties.get(key)
        if sub is not None and key in value:
            out += check(sub, value[key], _field(old, key), ("metadata", key))
    return out


def _field(old: Any, key: str | int) -> Any:
    if isinstance(key, str) and isinstance(old, dict):
        return old.get(key, MISSING)
    return MISSING


def has_type(node: Node, value: Any) -> bool:
    """Whether value has the schema type (1.5 and integers beyond int64 are not integers)."""
    if node.int_or_string:
        return (isinstance(value, int) and not isinstance(value, bool) and _in_int64(value)) or isinstance(
            value, str
        )
    if not node.type:
        return True
    wanted = _PY_TYPES.get(node.type, ())
    if isinstance(value, bool):
        return node.type == "boolean"
    if not isinstance(value, wanted):
        return False
    if isinstance(value, int):
        return _in_int64(value)
    return not (isinstance(value, float) and not math.isfinite(value))


def _in_int64(value: int) -> bool:
    return INT64[0] <= value <= INT64[1]


def actual_type(value: Any) -> str:
    """The type an out-of-range integer is reported as: a number, as the API server decodes it."""
    if isinstance(value, int) and not isinstance(value, bool) and not _in_int64(value):
        return "number"
    return c.type_name(value)


def check(node: Node, value: Any, old: Any, path: c.Path) -> list[Obj]:
    """Causes against one value and what is below it."""
    if old is not MISSING and old == value and type(old) is type(value):
        return []
    if value is None:
        if node.nullable or (not node.type and node.preserve):
            return []
        return [_type_error(node, value, path)]
    if not has_type(node, value):
        if node.int_or_string:
            return [
                _type_error(Node(type="integer"), value, path),
                _type_error(Node(type="string"), value, path),
                c.invalid(
                    path, actual_type(value), c.in_body(path, "must validate at least one schema (anyOf)")
                ),
            ]
        return [_type_error(node, value, path)]
    out = _limits(node, value, path)
    if node.enum is not None and value not in node.enum:
        out.append(c.not_supported(path, value, list(node.enum)))
    out += _composition(node, value, path)
    if isinstance(value, dict):
        out += _object(node, value, old, path)
    elif isinstance(value, list):
        out += _array(node, value, old, path)
    return out


def _type_error(node: Node, value: Any, path: c.Path) -> Obj:
    return c.type_invalid(path, actual_type(value), node.type or "object")


def _limits(node: Node, value: Any, path: c.Path) -> list[Obj]:
    limits = node.limits
    if not limits and not node.pattern and not node.format:
        return []
    out: list[Obj] = []
    if isinstance(value, str):
        length = len(value)
        if "maxLength" in limits and length > limits["maxLength"]:
            out.append(c.too_long(path, int(limits["maxLength"])))
        if "minLength" in limits and length < limits["minLength"]:
            detail = c.in_body(path, f"should be at least {limits['minLength']} chars long")
            out.append(c.invalid(path, value, detail))
        if node.pattern is not None and not node.pattern.search(value):
            out.append(c.invalid(path, value, c.in_body(path, f"should match '{node.pattern_text}'")))
        if node.format and not format_ok(node.format, value):
            out.append(
                c.invalid(path, value, c.in_body(path, f"must be of type {node.format}: {c.shown(value)}"))
            )
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out += _numeric(limits, value, path)
    elif isinstance(value, list):
        if "maxItems" in limits and len(value) > limits["maxItems"]:
            out.append(c.too_many(path, len(value), int(limits["maxItems"])))
        if "minItems" in limits and len(value) < limits["minItems"]:
            detail = c.in_body(path, f"should have at least {limits['minItems']} items")
            out.append(c.invalid(path, value, detail))
    elif isinstance(value, dict):
        if "maxProperties" in limits and len(value) > limits["maxProperties"]:
            out.append(c.too_many(path, len(value), int(limits["maxProperties"])))
        if "minProperties" in limits and len(value) < limits["minProperties"]:
            detail = c.in_body(path, f"should have at least {limits['minProperties']} properties")
            out.append(c.invalid(path, value, detail))
    return out


def _numeric(limits: dict[str, Any], value: float, path: c.Path) -> list[Obj]:
    out = []
    low, high = limits.get("minimum"), limits.get("maximum")
    exclusive_low, exclusive_high = limits.get("exclusiveMinimum"), limits.get("exclusiveMaximum")
    if low is not None:
        if exclusive_low is True and value <= low:
            out.append(c.invalid(path, value, c.in_body(path, f"should be greater than {low}")))
        elif exclusive_low is not True and value < low:
            out.append(c.invalid(path, value, c.in_body(path, f"should be greater than or equal to {low}")))
    if high is not None:
        if exclusive_high is True and value >= high:
            out.append(c.invalid(path, value, c.in_body(path, f"should be less than {high}")))
        elif exclusive_high is not True and value > high:
            out.append(c.invalid(path, value, c.in_body(path, f"should be less than or equal to {high}")))
    step = limits.get("multipleOf")
    if step and (value / step) != int(value / step):
        out.append(c.invalid(path, value, c.in_body(path, f"should be a multiple of {step}")))
    return out


def _composition(node: Node, value: Any, path: c.Path) -> list[Obj]:
    if not (node.any_of or node.all_of or node.one_of or node.not_):
        return []
    out: list[Obj] = []
    for sub in node.all_of:
        out += check(sub, value, MISSING, path)
    if node.any_of and not node.int_or_string:
        found = [check(sub, value, MISSING, path) for sub in node.any_of]
        if all(found):
            out += [cause for causes in found for cause in causes]
            out.append(c.invalid(path, value, c.in_body(path, "must validate at least one schema (anyOf)")))
    if node.one_of and sum(not check(sub, value, MISSING, path) for sub in node.one_of) != 1:
        out.append(c.invalid(path, value, c.in_body(path, "must validate one and only one schema (oneOf)")))
    if node.not_ is not None and not check(node.not_, value, MISSING, path):
        out.append(c.invalid(path, value, c.in_body(path, "must not validate the schema (not)")))
    return out


def _object(node: Node, value: Obj, old: Any, path: c.Path) -> list[Obj]:
    out: list[Obj] = []
    for key in node.required:
        if key not in value:
            out.append(c.required((*path, key)))
    for key, item in value.items():
        sub = node.child(key)
        if sub is not None:
            out += check(sub, item, _field(old, key), (*path, key))
    return out


def map_key(node: Node, item: Any) -> tuple[Any, ...] | None:
    """The key of a list-type map item (None for items that are not objects)."""
    if not isinstance(item, dict):
        return None
    return tuple(item.get(k) for k in node.map_keys)


def old_items(node: Node, old: Any) -> dict[Any, Any]:
    """Old items of a list-type map by key, or of a set by value: what new items are correlated with."""
    if not isinstance(old, list) or node.list_type not in ("map", "set"):
        return {}
    if node.list_type == "set":
        return {repr(item): item for item in old}
    return {map_key(node, item): item for item in old if isinstance(item, dict)}


def _array(node: Node, value: list[Any], old: Any, path: c.Path) -> list[Obj]:
    out: list[Obj] = []
    seen: set[Any] = set()
    before = old_items(node, old)
    for i, item in enumerate(value):
        key: Any = None
        if node.list_type == "map":
            key = map_key(node, item)
        elif node.list_type == "set":
            key = repr(item)
        if key is not None and key in seen:
            shown = dict(zip(node.map_keys, key, strict=True)) if node.list_type == "map" else item
            out.append(c.duplicate((*path, i), shown))
        seen.add(key)
        if node.items is not None:
            out += check(node.items, item, before.get(key, MISSING), (*path, i))
    return out
