"""Shared field checks: causes with Go's value printing, enums, ports, IP addresses, quantities."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from typing import Any

from kubeapi import quantity
from kubeapi.meta import Obj
from localcluster.storage.errors import ApiError, bad_request

PROTOCOLS = ("SCTP", "TCP", "UDP")
PORT_RANGE = "must be between 1 and 65535, inclusive"
IP_MESSAGE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_QUANTITY_TEXT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"


def shown(value: Any) -> str:
    """A bad value as upstream's field errors print it: strings quoted, simple values plain, the rest JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _cause(reason: str, field: str, message: str) -> Obj:
    return {"reason": reason, "message": message, "field": field}


def invalid(field: str, value: Any, detail: str) -> Obj:
    """`Invalid value: <value>: detail`."""
    return _cause("FieldValueInvalid", field, f"Invalid value: {shown(value)}: {detail}")


def required(field: str, detail: str = "") -> Obj:
    """`Required value[: detail]`."""
    return _cause("FieldValueRequired", field, f"Required value: {detail}" if detail else "Required value")


def forbidden(field: str, detail: str) -> Obj:
    """`Forbidden: detail`."""
    return _cause("FieldValueForbidden", field, f"Forbidden: {detail}")


def duplicate(field: str, value: Any) -> Obj:
    """`Duplicate value: <value>`."""
    return _cause("FieldValueDuplicate", field, f"Duplicate value: {shown(value)}")


def not_found(field: str, value: Any) -> Obj:
    """`Not found: <value>`."""
    return _cause("FieldValueNotFound", field, f"Not found: {shown(value)}")


def not_supported(field: str, value: Any, supported: Iterable[str]) -> Obj:
    """`Unsupported value: <value>: supported values: "a", "b"`."""
    listed = ", ".join(json.dumps(v) for v in supported)
    return _cause(
        "FieldValueNotSupported", field, f"Unsupported value: {shown(value)}: supported values: {listed}"
    )


def too_many(field: str, count: int, limit: int) -> Obj:
    """`Too many: <count>: must have at most <limit> items`."""
    return _cause("FieldValueTooMany", field, f"Too many: {count}: must have at most {limit} items")


def too_long(field: str, limit: int) -> Obj:
    """`Too long: must have at most <limit> bytes`."""
    return _cause("FieldValueTooLong", field, f"Too long: must have at most {limit} bytes")


def enum_causes(field: str, value: Any, supported: Iterable[str], *, sort: bool = True) -> list[Obj]:
    """Required when empty, else Unsupported unless one of supported."""
    values = list(supported)
    if value is None or value == "":
        return [required(field)]
    if value not in values:
        return [not_supported(field, value, sorted(values) if sort else values)]
    return []


def port_number_causes(field: str, value: Any) -> list[Obj]:
    """IsValidPortNum: 1..65535."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        return [invalid(field, value, PORT_RANGE)]
    return []


def port_name_messages(name: str) -> list[str]:
    """IsValidPortName (an IANA_SVC_NAME): what is wrong with a named port, in upstream's order."""
    out = []
    if len(name) > 15:
        out.append("must be no more than 15 characters")
    if not re.fullmatch(r"[-a-z0-9]+", name):
        out.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        out.append("must contain at least one letter (a-z)")
    if "--" in name:
        out.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        out.append("must not begin or end with a hyphen")
    return out


def port_num_or_name_causes(field: str, value: Any) -> list[Obj]:
    """ValidatePortNumOrName: an int port 1..65535 or a valid port name."""
    if isinstance(value, str):
        return [invalid(field, value, msg) for msg in port_name_messages(value)]
    return port_number_causes(field, value)


def ip_causes(field: str, value: Any, family: int = 0) -> list[Obj]:
    """An IP address (any family, or 4 / 6 only) in canonical text form."""
    text = value if isinstance(value, str) else ""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        addr = None
    if addr is not None and "%" not in text and family in (0, addr.version):
        return []
    detail = {0: IP_MESSAGE, 4: "must be a valid IPv4 address", 6: "must be a valid IPv6 address"}[family]
    return [invalid(field, value, detail)]


def quantity_value(kind: str, text: Any) -> float:
    """A resource quantity's value; a malformed one is a decoding failure (400), as upstream's."""
    value = quantity.parse(text)
    if value is None:
        raise bad_request(
            f'{kind} in version "v1" cannot be handled as a {kind}: quantities must match the regular '
            f"expression '{_QUANTITY_TEXT}'"
        )
    return float(value)


def undecodable(kind: str, where: str, value: Any, go_type: str) -> ApiError:
    """The 400 a body gets when a field holds the wrong JSON type (upstream fails to decode it)."""
    found = "null"
    for python, json_type in ((bool, "bool"), (int, "number"), (float, "number"), (str, "string")):
        if isinstance(value, python):
            found = json_type
            break
    else:
        found = "array" if isinstance(value, list) else "object" if isinstance(value, dict) else found
    return bad_request(
        f'{kind} in version "v1" cannot be handled as a {kind}: json: cannot unmarshal {found} into Go '
        f"struct field {where} of type {go_type}"
    )


def items(value: Any) -> list[Any]:
    """A list field's items ([] when absent or not a list)."""
    return value if isinstance(value, list) else []


def mapping(value: Any) -> Obj:
    """A map field ({} when absent or not a map)."""
    return value if isinstance(value, dict) else {}
