"""A structural openAPIV3Schema compiled once into nodes: types, value limits, patterns, defaults, rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kubeapi.meta import Obj

NO_DEFAULT: Any = object()


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One `x-kubernetes-validations` entry, as written."""

    rule: str
    message: str = ""
    message_expression: str = ""
    reason: str = "FieldValueInvalid"
    field_path: str = ""

    @property
    def transition(self) -> bool:
        """A transition rule reads oldSelf: it runs only on updates where the old value exists."""
        return re.search(r"\boldSelf\b", self.rule) is not None


@dataclass(slots=True)
class Node:
    """One schema node. `additional` is the schema of additionalProperties values (None: not set)."""

    type: str = ""
    properties: dict[str, Node] = field(default_factory=dict)
    additional: Node | None = None
    items: Node | None = None
    preserve: bool = False
    int_or_string: bool = False
    embedded: bool = False
    nullable: bool = False
    default: Any = NO_DEFAULT
    required: tuple[str, ...] = ()
    enum: tuple[Any, ...] | None = None
    format: str = ""
    pattern: re.Pattern[str] | None = None
    pattern_text: str = ""
    limits: dict[str, Any] = field(default_factory=dict)  # maxLength, minimum, maxItems, ... as written
    list_type: str = ""  # "atomic", "set", "map"
    map_keys: tuple[str, ...] = ()
    any_of: tuple[Node, ...] = ()
    all_of: tuple[Node, ...] = ()
    one_of: tuple[Node, ...] = ()
    not_: Node | None = None
    rules: tuple[RuleSpec, ...] = ()
    rules_below: bool = False  # this node or one below it carries rules

    def child(self, key: str) -> Node | None:
        """The schema of an object's field: a property, else the additionalProperties schema."""
        return self.properties.get(key) or self.additional


_LIMITS = (
    "maxLength",
    "minLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
)


def compile_schema(raw: Obj) -> Node:
    """The node tree of a schema; unknown keywords (description, example, ...) are ignored."""
    node = Node(
        type=str(raw.get("type") or ""),
        preserve=bool(raw.get("x-kubernetes-preserve-unknown-fields")),
        int_or_string=bool(raw.get("x-kubernetes-int-or-string")),
        embedded=bool(raw.get("x-kubernetes-embedded-resource")),
        nullable=bool(raw.get("nullable")),
        required=tuple(str(r) for r in raw.get("required") or ()),
        format=str(raw.get("format") or ""),
        list_type=str(raw.get("x-kubernetes-list-type") or ""),
        map_keys=tuple(str(k) for k in raw.get("x-kubernetes-list-map-keys") or ()),
    )
    if "default" in raw:
        node.default = raw["default"]
    if isinstance(raw.get("enum"), list):
        node.enum = tuple(raw["enum"])
    if isinstance(raw.get("pattern"), str):
        node.pattern_text = raw["pattern"]
        node.pattern = re.compile(_python_regex(raw["pattern"]))
    node.limits = {key: raw[key] for key in _LIMITS if key in raw}
    for name, sub in (raw.get("properties") or {}).items():
        if isinstance(sub, dict):
            node.properties[str(name)] = compile_schema(sub)
    extra = raw.get("additionalProperties")
    if isinstance(extra, dict):
        node.additional = compile_schema(extra)
    elif extra is True:
        node.additional = Node(preserve=True)
    if isinstance(raw.get("items"), dict):
        node.items = compile_schema(raw["items"])
    node.any_of = tuple(compile_schema(s) for s in raw.get("anyOf") or () if isinstance(s, dict))
    node.all_of = tuple(compile_schema(s) for s in raw.get("allOf") or () if isinstance(s, dict))
    node.one_of = tuple(compile_schema(s) for s in raw.get("oneOf") or () if isinstance(s, dict))
    if isinstance(raw.get("not"), dict):
        node.not_ = compile_schema(raw["not"])
    node.rules = tuple(_rule(r) for r in raw.get("x-kubernetes-validations") or () if isinstance(r, dict))
    below = [*node.properties.values(), node.additional, node.items]
    node.rules_below = bool(node.rules) or any(n is not None and n.rules_below for n in below)
    return node


def _rule(raw: Obj) -> RuleSpec:
    return RuleSpec(
        rule=str(raw.get("rule") or ""),
        message=str(raw.get("message") or ""),
        message_expression=str(raw.get("messageExpression") or ""),
        reason=str(raw.get("reason") or "FieldValueInvalid"),
        field_path=str(raw.get("fieldPath") or ""),
    )


def _python_regex(pattern: str) -> str:
    """ECMA 262 / RE2 patterns as Python's re reads them (the common subset differs only in escapes)."""
    return pattern.replace(r"\d", "[0-9]")
