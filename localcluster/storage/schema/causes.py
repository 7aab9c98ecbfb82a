"""Field paths and the `details.causes` entries schema validation reports, worded as the API server does."""

from __future__ import annotations

import json
from typing import Any

from kubeapi.meta import Obj

Path = tuple[str | int, ...]

# the cause types after which CEL rules are not evaluated (the object is too malformed for them)
BLOCKING = frozenset(
    {
        "FieldValueNotSupported",
        "FieldValueRequired",
        "FieldValueTooLong",
        "FieldValueTooMany",
        "FieldValueTypeInvalid",
    }
)
NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; correct the existing errors "
    "to complete validation"
)


def dotted(path: Path) -> str:
    """`spec.volumeClaimTemplates[0].metadata.name`: the field path of a cause."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def type_name(value: Any) -> str:
    """The JSON type of a decoded value as the OpenAPI validator names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shown(value: Any) -> str:
    """A value as field errors print it: strings quoted, numbers plain, the rest as JSON."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def cause(reason: str, path: Path, message: str) -> Obj:
    """One `details.causes` entry."""
    return {"reason": reason, "message": message, "field": dotted(path)}


def invalid(path: Path, value: Any, detail: str) -> Obj:
    """FieldValueInvalid: `Invalid value: <value>: <detail>`."""
    return cause("FieldValueInvalid", path, f"Invalid value: {shown(value)}: {detail}")


def in_body(path: Path, detail: str) -> str:
    """The OpenAPI validator's wording: `spec.replicas in body <detail>`."""
    return f"{dotted(path) or '<root>'} in body {detail}"


def type_invalid(path: Path, actual: str, expected: str) -> Obj:
    """FieldValueTypeInvalid: `Invalid value: "string": spec.replicas in body must be of type ...`."""
    detail = in_body(path, f"must be of type {expected}: {json.dumps(actual)}")
    return cause("FieldValueTypeInvalid", path, f"Invalid value: {json.dumps(actual)}: {detail}")


def required(path: Path) -> Obj:
    """FieldValueRequired."""
    return cause("FieldValueRequired", path, "Required value")


def not_supported(path: Path, value: Any, allowed: list[Any]) -> Obj:
    """FieldValueNotSupported: `Unsupported value: "x": supported values: "a", "b"`."""
    values = ", ".join(shown(v) for v in allowed)
    return cause(
        "FieldValueNotSupported", path, f"Unsupported value: {shown(value)}: supported values: {values}"
    )


def too_long(path: Path, limit: int) -> Obj:
    """FieldValueTooLong (the value is not repeated)."""
    return cause("FieldValueTooLong", path, f"Too long: may not be more than {limit} bytes")


def too_many(path: Path, actual: int, limit: int) -> Obj:
    """FieldValueTooMany: `Too many: 17: must have at most 16 items`."""
    return cause("FieldValueTooMany", path, f"Too many: {actual}: must have at most {limit} items")


def duplicate(path: Path, value: Any) -> Obj:
    """FieldValueDuplicate."""
    return cause("FieldValueDuplicate", path, f"Duplicate value: {shown(value)}")


def forbidden(path: Path, detail: str) -> Obj:
    """FieldValueForbidden."""
    return cause("FieldValueForbidden", path, f"Forbidden: {detail}")


def is_blocking(causes: list[Obj]) -> bool:
    """Whether a cause is of a type after which the CEL rules are skipped."""
    return any(c["reason"] in BLOCKING for c in causes)
