"""Label and field selectors: parsing (400 BadRequest on malformed input) and matching raw objects."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubeapi.meta import Obj
from localcluster.storage.errors import ApiError, bad_request
from localcluster.storage.meta import field_path
from localcluster.storage.validation import is_label_value, is_qualified_name

_OPERATORS = ("==", "!=", "=", "!", "(", ")", ",", "<", ">")
_SPECIAL = "=!(),<> \t\n"
_VALUE_OPS = {"=": "in", "==": "in", "!=": "notin", ">": "gt", "<": "lt"}

# kind -> field selector keys beyond metadata.name and metadata.namespace
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "Pod": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "Event": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "Secret": ("type",),
    "Namespace": ("status.phase",),
    "PersistentVolumeClaim": ("spec.volumeName",),
    "Node": ("spec.unschedulable",),
}


@dataclass(frozen=True, slots=True)
class Requirement:
    """One label requirement: key, operator (in, notin, exists, !, gt, lt) and values."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a label set satisfies this requirement."""
        has = self.key in labels
        value = labels.get(self.key, "")
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op == "in":
            return has and value in self.values
        if self.op == "notin":
            return not has or value not in self.values
        if not has or not re.fullmatch(r"-?\d+", value):
            return False
        return int(value) > int(self.values[0]) if self.op == "gt" else int(value) < int(self.values[0])


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is not None:
            out.append(op)
            i += len(op)
            continue
        j = i
        while j < len(text) and text[j] not in _SPECIAL:
            j += 1
        out.append(text[i:j])
        i = j
    return out


def _is_word(token: str | None) -> bool:
    return token is not None and token not in _OPERATORS


class _LabelParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> str | None:
        tok = self.peek()
        self.pos += 1
        return tok

    def fail(self, why: str) -> ApiError:
        return bad_request(f"unable to parse requirement: {why} (in label selector {self.text!r})")

    def word(self, what: str) -> str:
        tok = self.take()
        if not _is_word(tok):
            raise self.fail(f"found '{tok or ''}', expected: {what}")
        return str(tok)

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while self.peek() is not None:
            reqs.append(self.requirement())
            tok = self.take()
            if tok not in (None, ","):
                raise self.fail(f"found '{tok}', expected: ',' or 'end of string'")
            if tok == "," and self.peek() is None:
                raise self.fail("found 'end of string', expected: identifier")
        return reqs

    def requirement(self) -> Requirement:
        if self.peek() == "!":
            self.take()
            return Requirement(_key(self.word("identifier"), self), "!")
        key = _key(self.word("identifier"), self)
        tok = self.peek()
        if tok in (None, ","):
            return Requirement(key, "exists")
        self.take()
        if tok in _VALUE_OPS:
            value = self.word("value") if _is_word(self.peek()) else ""
            op = _VALUE_OPS[str(tok)]
            if op in ("gt", "lt") and not re.fullmatch(r"-?\d+", value):
                raise self.fail(f"for 'Gt', 'Lt' operators, the value must be an integer: {value!r}")
            return Requirement(key, op, (_value(value, self),))
        if tok in ("in", "notin"):
            return Requirement(key, str(tok), self.value_set())
        raise self.fail(f"found '{tok}', expected: in, notin, =, ==, !=, gt, lt")

    def value_set(self) -> tuple[str, ...]:
        if self.take() != "(":
            raise self.fail("found missing '(', expected: '('")
        values: list[str] = []
        while True:
            values.append(_value(self.word("value") if _is_word(self.peek()) else "", self))
            tok = self.take()
            if tok == ")":
                return tuple(values)
            if tok != ",":
                raise self.fail(f"found '{tok or 'end of string'}', expected: ',' or ')'")


def _key(key: str, parser: _LabelParser) -> str:
    if not is_qualified_name(key):
        raise parser.fail(f'invalid label key "{key}": name part must consist of alphanumeric characters')
    return key


def _value(value: str, parser: _LabelParser) -> str:
    if not is_label_value(value):
        raise parser.fail(f'invalid label value: "{value}": must be 63 characters or less and alphanumeric')
    return value


def parse_label_selector(text: str) -> list[Requirement]:
    """The requirements of a label selector (comma = AND); 400 BadRequest when malformed."""
    return _LabelParser(text).parse()


def _labels_match(obj: Obj, reqs: list[Requirement]) -> bool:
    labels = field_path(obj, "metadata.labels")
    return all(r.matches(labels if isinstance(labels, dict) else {}) for r in reqs)


def label_matcher(text: str) -> Callable[[Obj], bool]:
    """A predicate over objects for a label selector ("" matches everything)."""
    reqs = parse_label_selector(text)
    return lambda obj: _labels_match(obj, reqs)


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
    allowed = ("metadata.name", "metadata.namespace", *FIELD_LABELS.get(kind, ()))
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
    reqs = parse_label_selector(label_selector)
    terms = parse_field_selector(field_selector, kind)
    if not reqs and not terms:
        return None
    return lambda obj: _labels_match(obj, reqs) and _fields_match(obj, terms)


def _expression_text(expr: Any) -> tuple[str, str] | None:
    """(key, text) of one matchExpressions entry as the real server prints it; None when malformed."""
    if not isinstance(expr, dict) or not isinstance(expr.get("key"), str):
        return None
    key, op = expr["key"], expr.get("operator")
    values = ",".join(sorted(str(v) for v in expr.get("values") or []))
    texts = {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key}
    texts["DoesNotExist"] = f"!{key}"
    return (key, texts[op]) if op in texts else None


def format_label_selector(selector: Any) -> str:
    """The string form of a LabelSelector (`app=web,tier in (a,b)`): requirements sorted by key."""
    if not isinstance(selector, dict):
        return ""
    labels = selector.get("matchLabels")
    parts = [(str(k), f"{k}={v}") for k, v in labels.items()] if isinstance(labels, dict) else []
    for expr in selector.get("matchExpressions") or []:
        found = _expression_text(expr)
        if found is not None:
            parts.append(found)
    return ",".join(text for _key, text in sorted(parts, key=lambda part: part[0]))
