"""`x-kubernetes-validations`: CEL rules compiled once per rule text and evaluated with `self` (and, on
updates where the old value exists, `oldSelf`), reported as the API server reports them.

Transition rules (those reading oldSelf) are skipped on create and where no old value is correlated; a
value equal to its old value is not checked again (ratcheting).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import Any

from kubeapi.meta import Obj
from localcluster.storage.schema import causes as c
from localcluster.storage.schema.nodes import Node, RuleSpec
from localcluster.storage.schema.values import MISSING, map_key, old_items

log = logging.getLogger(__name__)

_MAX_PROGRAMS = 2048
_PATH_STEP = re.compile(r"\.([A-Za-z_$][A-Za-z0-9_$-]*)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]")
# what CEL sees of ObjectMeta at the root (and of an embedded resource's metadata)
_CEL_META = ("name", "generateName")


@dataclass(frozen=True, slots=True)
class Program:
    """A compiled rule text, or the reason it does not compile."""

    runner: Any
    error: str = ""


_PROGRAMS: OrderedDict[str, Program] = OrderedDict()


@cache
def _environment() -> Any:
    """The CEL environment, built on first use (building its parser takes most of a second)."""
    import celpy  # noqa: PLC0415 - deferred: only custom resources with rules need it

    return celpy.Environment()


@cache
def _functions() -> dict[str, Any]:
    """Kubernetes' CEL libraries beyond the standard ones: quantities."""
    from localcluster.storage.schema.cel_quantity import FUNCTIONS  # noqa: PLC0415 - imports celpy

    return FUNCTIONS


def _is_bool(value: Any) -> bool:
    from celpy import celtypes  # noqa: PLC0415

    return isinstance(value, celtypes.BoolType)


def program(text: str) -> Program:
    """The compiled program of a CEL expression, compiled once (a bounded cache keyed by the text)."""
    found = _PROGRAMS.get(text)
    if found is not None:
        _PROGRAMS.move_to_end(text)
        return found
    try:
        env = _environment()
        found = Program(env.program(env.compile(text), functions=_functions()))
    except Exception as err:  # the parser's errors have no common base class
        log.warning("CEL rule %r does not compile here, skipped: %s", text, err)
        found = Program(None, str(err))
    _PROGRAMS[text] = found
    if len(_PROGRAMS) > _MAX_PROGRAMS:
        _PROGRAMS.popitem(last=False)
    return found


def compile_rules(node: Node) -> None:
    """Compile every rule of a schema now, so that requests never pay for it."""
    for rule in node.rules:
        program(rule.rule)
        if rule.message_expression:
            program(rule.message_expression)
    for sub in (*node.properties.values(), node.additional, node.items):
        if sub is not None:
            compile_rules(sub)


def evaluate(root: Node, obj: Obj, old: Obj | None) -> list[Obj]:
    """Causes from the rules of every node of obj (empty when all hold)."""
    out: list[Obj] = []
    _walk(root, obj, MISSING if old is None else old, (), out, resource=True)
    return out


def _walk(node: Node, value: Any, old: Any, path: c.Path, out: list[Obj], *, resource: bool = False) -> None:
    if not node.rules_below or value is None:
        return
    if old is not MISSING and old == value:
        return
    if node.rules:
        activation = {"self": _to_cel(value, resource=resource or node.embedded)}
        if old is not MISSING:
            activation["oldSelf"] = _to_cel(old, resource=resource or node.embedded)
        for rule in node.rules:
            if rule.transition and old is MISSING:
                continue
            failed = _run(rule, activation, node, path)
            if failed is not None:
                out.append(failed)
    if isinstance(value, dict):
        for key, item in value.items():
            sub = node.child(key)
            if sub is not None and not (resource and key == "metadata"):
                before = old.get(key, MISSING) if isinstance(old, dict) else MISSING
                _walk(sub, item, before, (*path, key), out)
    elif isinstance(value, list) and node.items is not None:
        before = old_items(node, old)
        for i, item in enumerate(value):
            key = map_key(node, item) if node.list_type == "map" else repr(item)
            _walk(node.items, item, before.get(key, MISSING), (*path, i), out)


def _to_cel(value: Any, *, resource: bool) -> Any:
    if resource and isinstance(value, dict) and isinstance(value.get("metadata"), dict):
        metadata = value["metadata"]
        value = {**value, "metadata": {k: metadata[k] for k in _CEL_META if k in metadata}}
    from celpy.adapter import json_to_cel  # noqa: PLC0415

    return json_to_cel(value)


def _run(rule: RuleSpec, activation: dict[str, Any], node: Node, path: c.Path) -> Obj | None:
    compiled = program(rule.rule)
    if compiled.runner is None:
        return None
    try:
        result = compiled.runner.evaluate(activation)
    except Exception as err:  # CELEvalError, and the runtime's own TypeErrors on odd operands
        detail = f"{_eval_error(err)} evaluating rule: {rule.rule}"
        return c.invalid(path, node.type, detail)
    if _is_bool(result) and bool(result):
        return None
    if not _is_bool(result):
        return c.invalid(path, node.type, f"rule did not evaluate to a bool: {rule.rule}")
    message = _message(rule, activation)
    where = (*path, *field_path(rule.field_path))
    if rule.reason == "FieldValueForbidden":
        return c.forbidden(where, message)
    if rule.reason == "FieldValueRequired":
        return c.cause("FieldValueRequired", where, f"Required value: {message}")
    if rule.reason == "FieldValueDuplicate":
        return c.cause("FieldValueDuplicate", where, f"Duplicate value: {c.shown(node.type)}: {message}")
    return c.invalid(where, node.type, message)


def _message(rule: RuleSpec, activation: dict[str, Any]) -> str:
    if rule.message_expression:
        compiled = program(rule.message_expression)
        if compiled.runner is not None:
            try:
                text = compiled.runner.evaluate(activation)
            except Exception:  # a failing messageExpression falls back to the message, as upstream
                text = None
            if isinstance(text, str) and text.strip():
                return str(text)
    return rule.message or f"failed rule: {rule.rule}"


def _eval_error(err: Exception) -> str:
    args = getattr(err, "args", ())
    if args and isinstance(args[0], str):
        return args[0]
    return str(err)


def field_path(text: str) -> c.Path:
    """`.spec.template['x'].items[0]` as path parts."""
    out: list[str | int] = []
    for match in _PATH_STEP.finditer(text):
        name, quoted, index = match.groups()
        out.append(int(index) if index is not None else name if name is not None else quoted)
    return tuple(out)
