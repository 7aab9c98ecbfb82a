"""Resource quantities (`500m`, `1Gi`, `2`, `1e3`, `1.5G`) read exactly, as Kubernetes' resource.Quantity
parses them: a signed decimal number, then a binary suffix (Ki..Ei), a decimal suffix (n, u, m, k, M, G, T,
P, E) or a decimal exponent (e3, E-2)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

_NUMBER = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)")
_EXPONENT = re.compile(r"[eE]([+-]?[0-9]+)")
SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal(10) ** -9,
    "u": Decimal(10) ** -6,
    "m": Decimal(10) ** -3,
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def parse(value: Any) -> Decimal | None:
    """The exact value of a quantity (a string, or a JSON number); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _NUMBER.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    number, suffix = Decimal(match.group(1)), match.group(2)
    if suffix in SUFFIXES:
        return number * SUFFIXES[suffix]
    exponent = _EXPONENT.fullmatch(suffix)
    if exponent is None or abs(int(exponent.group(1))) > 1000:
        return None
    return number.scaleb(int(exponent.group(1)))


def greater(a: Any, b: Any) -> bool:
    """Whether quantity `a` is larger than quantity `b` (False when either is not a quantity)."""
    left, right = parse(a), parse(b)
    return left is not None and right is not None and left > right
