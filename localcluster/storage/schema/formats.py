"""The string formats custom resource schemas use, checked as the OpenAPI validator checks them."""

from __future__ import annotations

import ipaddress
import re
import uuid

_DATE = r"\d{4}-\d{2}-\d{2}"
_DATE_TIME = re.compile(_DATE + r"[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z")
_DATE_ONLY = re.compile(_DATE + r"\Z")
_HOSTNAME = re.compile(
    r"[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*\Z"
)
_BYTE = re.compile(r"([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")


def format_ok(name: str, value: str) -> bool:
    """Whether value has the format; formats not known here (int32, int64, double, ...) accept anything."""
    if name == "date-time":
        return bool(_DATE_TIME.match(value))
    if name == "date":
        return bool(_DATE_ONLY.match(value))
    if name == "byte":
        return bool(_BYTE.match(value))
    if name == "hostname":
        return len(value) <= 255 and bool(_HOSTNAME.match(value))
    if name in ("ipv4", "ipv6"):
        return _ip(value, 4 if name == "ipv4" else 6)
    if name == "uuid":
        try:
            uuid.UUID(value)
        except ValueError:
            return False
        return len(value) == 36
    return True


def _ip(value: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(value).version == version
    except ValueError:
        return False
