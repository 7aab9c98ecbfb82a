"""ConfigMap checks (upstream's ValidateConfigMap): keys of data and binaryData, and their total size."""

from __future__ import annotations

import base64
import binascii
import re

from kubeapi.meta import Obj
from localcluster.storage.checks.fields import invalid, mapping, too_long

MAX_SIZE = 1024 * 1024
_KEY = r"[-._a-zA-Z0-9]+"
_KEY_MESSAGE = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
    f"'KEY_NAME',  or 'key-name', regex used for validation is '{_KEY}')"
)


def key_messages(key: str) -> list[str]:
    """IsConfigMapKey: what is wrong with a ConfigMap or Secret key."""
    out = []
    if len(key) > 253:
        out.append("must be no more than 253 characters")
    if not re.fullmatch(_KEY, key):
        out.append(_KEY_MESSAGE)
    if key == ".":
        out.append("must not be '.'")
    elif key == "..":
        out.append("must not be '..'")
    elif key.startswith(".."):
        out.append("must not start with '..'")
    return out


def configmap_causes(obj: Obj) -> list[Obj]:
    """Causes against a ConfigMap's keys and size; empty when valid."""
    data, binary = mapping(obj.get("data")), mapping(obj.get("binaryData"))
    causes: list[Obj] = []
    total = 0
    for key, value in data.items():
        causes += [invalid(f"data[{key}]", key, msg) for msg in key_messages(key)]
        if key in binary:
            causes.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        total += len(value.encode()) if isinstance(value, str) else 0
    for key, value in binary.items():
        causes += [invalid(f"binaryData[{key}]", key, msg) for msg in key_messages(key)]
        total += _decoded_size(value)
    if total > MAX_SIZE:
        causes.append(too_long("[]", MAX_SIZE))
    return causes


def _decoded_size(value: object) -> int:
    if not isinstance(value, str):
        return 0
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return len(value)
