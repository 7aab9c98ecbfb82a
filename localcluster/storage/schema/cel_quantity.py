"""Kubernetes' CEL quantity library (k8s.io/apiserver/pkg/cel/library/quantity.go) for celpy: `quantity`,
`isQuantity`, and the methods `compareTo`, `isGreaterThan`, `isLessThan`, `add`, `sub`, `sign`,
`isInteger`, `asInteger`, `asApproximateFloat`. Values are read by kubeapi.quantity (exact decimals)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError

from kubeapi import quantity as q

_INT64 = 2**63
_PATTERN = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"


class Quantity:
    """A CEL value of type kubernetes.Quantity: an exact decimal, printed as it was written."""

    __slots__ = ("text", "value")

    def __init__(self, value: Decimal, text: str) -> None:
        self.value = value
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"quantity({self.text!r})"


def _quantity(text: Any) -> Quantity | CELEvalError:
    value = q.parse(str(text)) if isinstance(text, str) else None
    if value is None:
        return CELEvalError(f"quantities must match the regular expression '{_PATTERN}'")
    return Quantity(value, str(text))


def _is_quantity(text: Any) -> celtypes.BoolType:
    return celtypes.BoolType(isinstance(text, str) and q.parse(str(text)) is not None)


def _operand(value: Any) -> Decimal:
    if isinstance(value, Quantity):
        return value.value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(int(value))
    raise TypeError(f"no such overload: {type(value).__name__}")


def _compare(a: Quantity, b: Any) -> celtypes.IntType:
    left, right = _operand(a), _operand(b)
    return celtypes.IntType((left > right) - (left < right))


def _greater(a: Quantity, b: Quantity) -> celtypes.BoolType:
    return celtypes.BoolType(_operand(a) > _operand(b))


def _less(a: Quantity, b: Quantity) -> celtypes.BoolType:
    return celtypes.BoolType(_operand(a) < _operand(b))


def _add(a: Quantity, b: Any) -> Quantity:
    total = _operand(a) + _operand(b)
    return Quantity(total, str(total))


def _sub(a: Quantity, b: Any) -> Quantity:
    total = _operand(a) - _operand(b)
    return Quantity(total, str(total))


def _sign(a: Quantity) -> celtypes.IntType:
    value = _operand(a)
    return celtypes.IntType((value > 0) - (value < 0))


def _is_integer(a: Quantity) -> celtypes.BoolType:
    value = _operand(a)
    return celtypes.BoolType(value == value.to_integral_value() and -_INT64 <= value < _INT64)


def _as_integer(a: Quantity) -> celtypes.IntType | CELEvalError:
    if not _is_integer(a):
        return CELEvalError("cannot convert value to integer")
    return celtypes.IntType(int(_operand(a)))


def _as_float(a: Quantity) -> celtypes.DoubleType:
    return celtypes.DoubleType(float(_operand(a)))


FUNCTIONS: dict[str, Any] = {
    "quantity": _quantity,
    "isQuantity": _is_quantity,
    "compareTo": _compare,
    "isGreaterThan": _greater,
    "isLessThan": _less,
    "add": _add,
    "sub": _sub,
    "sign": _sign,
    "isInteger": _is_integer,
    "asInteger": _as_integer,
    "asApproximateFloat": _as_float,
}
