"""Labels: key and value syntax, label selectors (text form and metav1.LabelSelector), matching, and the
canonical text upstream's `labels.Selector.String()` prints (requirements by key, values sorted). Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
QUALIFIED_NAME_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    f"'{_NAME}')"
)
LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    f"start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    f"for validation is '({_NAME})?')"
)
# metav1.LabelSelectorOperator -> the text form's operator
LABEL_SELECTOR_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
_TOKENS = ("==", "!=", "=", "!", "(", ")", ",", "<", ">")
_SPECIAL = "=!(),<> \t\n"
_VALUE_OPS = ("=", "==", "!=", ">", "<")
_INTEGER = re.compile(r"-?\d+\Z")


def is_qualified_name(key: str) -> bool:
    """A label or annotation key: `[prefix/]name`, prefix a DNS subdomain, name at most 63 characters."""
    prefix, slash, name = key.rpartition("/")
    if len(name) > 63 or not re.fullmatch(_NAME, name):
        return False
    return not slash or (0 < len(prefix) <= 253 and bool(re.fullmatch(_PREFIX, prefix)))


def is_label_value(value: str) -> bool:
    """A label value: empty, or at most 63 alphanumeric-bounded characters."""
    return not value or (len(value) <= 63 and bool(re.fullmatch(_NAME, value)))


class SelectorError(ValueError):
    """A label selector that cannot be parsed; the message is the one the real API server gives."""


@dataclass(frozen=True, slots=True)
class Requirement:
    """One requirement: key, operator as the text form spells it (`=`, `==`, `!=`, `in`, `notin`, `exists`,
    `!`, `>`, `<`) and values. Any other operator (a malformed LabelSelector) matches nothing."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies this requirement."""
        op, value = self.op, labels.get(self.key)
        if op in ("=", "==", "in"):
            return value is not None and value in self.values
        if op in ("!=", "notin"):
            return value is None or value not in self.values
        if op == "exists":
            return value is not None
        if op == "!":
            return value is None
        if op not in (">", "<") or value is None or not _INTEGER.match(value) or not self.values:
            return False
        return int(value) > int(self.values[0]) if op == ">" else int(value) < int(self.values[0])

    def __str__(self) -> str:
        op = self.op
        if op == "exists":
            return self.key
        if op == "!":
            return f"!{self.key}"
        if op in ("in", "notin"):
            return f"{self.key} {op} ({','.join(sorted(self.values))})"
        if op in _VALUE_OPS:
            return f"{self.key}{op}{','.join(sorted(self.values))}"
        return ""


@dataclass(frozen=True, slots=True)
class Selector:
    """Requirements, ANDed, sorted by key; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        """No requirements at all."""
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with these labels is selected."""
        return all(req.matches(labels) for req in self.requirements)

    def __str__(self) -> str:
        return ",".join(text for text in map(str, self.requirements) if text)


def selector(requirements: Iterable[Requirement]) -> Selector:
    """A selector of these requirements, in upstream's order (by key; stable for equal keys)."""
    return Selector(tuple(sorted(requirements, key=lambda req: req.key)))


def from_label_selector(raw: object) -> Selector:
    """A metav1.LabelSelector (`matchLabels`, `matchExpressions`) as a selector. Lenient: entries that are not
    objects are left out, and an unknown operator is kept as written (it matches nothing and prints nothing),
    so that validation can name it."""
    if not isinstance(raw, Mapping):
        return Selector()
    found = raw.get("matchLabels")
    labels = found if isinstance(found, Mapping) else {}
    reqs = [Requirement(str(k), "=", (str(v),)) for k, v in labels.items()]
    exprs = raw.get("matchExpressions")
    for expr in exprs if isinstance(exprs, list) else []:
        if not isinstance(expr, Mapping):
            continue
        operator = str(expr.get("operator", ""))
        values = expr.get("values")
        reqs.append(
            Requirement(
                str(expr.get("key", "")),
                LABEL_SELECTOR_OPERATORS.get(operator, operator),
                tuple(str(v) for v in values) if isinstance(values, list) else (),
            )
        )
    return selector(reqs)


def selector_text(raw: object) -> str:
    """The canonical text of a metav1.LabelSelector, as `status.selector` and `/scale` report it."""
    return str(from_label_selector(raw))


def parse(text: str) -> Selector:
    """A selector from its text form (`app=web,tier in (a,b),!canary`); SelectorError when malformed."""
    return selector(_Parser(text).parse())


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        op = next((t for t in _TOKENS if text.startswith(t, i)), None)
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
    return token is not None and token not in _TOKENS


class _Parser:
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

    def fail(self, why: str) -> SelectorError:
        return SelectorError(f"unable to parse requirement: {why} (in label selector {self.text!r})")

    def word(self, what: str) -> str:
        tok = self.take()
        if not _is_word(tok):
            raise self.fail(f"found '{tok or ''}', expected: {what}")
        return str(tok)

    def key(self) -> str:
        key = self.word("identifier")
        if not is_qualified_name(key):
            raise self.fail(f'invalid label key "{key}": name part must consist of alphanumeric characters')
        return key

    def raw_value(self) -> str:
        return self.word("value") if _is_word(self.peek()) else ""

    def value(self, value: str) -> str:
        if not is_label_value(value):
            raise self.fail(f'invalid label value: "{value}": must be 63 characters or less and alphanumeric')
        return value

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
            return Requirement(self.key(), "!")
        key = self.key()
        tok = self.peek()
        if tok in (None, ","):
            return Requirement(key, "exists")
        self.take()
        if tok in _VALUE_OPS:
            value = self.raw_value()
            if tok in (">", "<") and not _INTEGER.match(value):
                raise self.fail(f"for 'Gt', 'Lt' operators, the value must be an integer: {value!r}")
            return Requirement(key, str(tok), (self.value(value),))
        if tok in ("in", "notin"):
            return Requirement(key, str(tok), self.value_set())
        raise self.fail(f"found '{tok}', expected: in, notin, =, ==, !=, gt, lt")

    def value_set(self) -> tuple[str, ...]:
        if self.take() != "(":
            raise self.fail("found missing '(', expected: '('")
        values: list[str] = []
        while True:
            values.append(self.value(self.raw_value()))
            tok = self.take()
            if tok == ")":
                return tuple(values)
            if tok != ",":
                raise self.fail(f"found '{tok or 'end of string'}', expected: ',' or ')'")


def label_selector_errors(raw: object) -> list[tuple[str, str]]:
    """(path under the selector, message) for each matchExpressions entry a real server refuses: an unknown
    operator, values missing for In/NotIn or given for Exists/DoesNotExist."""
    exprs = raw.get("matchExpressions") if isinstance(raw, Mapping) else None
    errors = []
    for index, expr in enumerate(exprs if isinstance(exprs, list) else []):
        path = f"matchExpressions[{index}]"
        operator = expr.get("operator") if isinstance(expr, Mapping) else None
        if operator not in LABEL_SELECTOR_OPERATORS:
            errors.append((f"{path}.operator", f"unknown operator {operator!r}"))
            continue
        takes_values = operator in ("In", "NotIn")
        if takes_values != bool(expr.get("values")):
            errors.append((f"{path}.values", "required" if takes_values else "forbidden"))
    return errors
