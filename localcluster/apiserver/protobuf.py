"""Protobuf request bodies: the few kinds kubectl's typed commands send that way, decoded to JSON objects.

`kubectl create namespace|configmap|serviceaccount` post `application/vnd.kubernetes.protobuf`: a `k8s\\0`
magic, then a runtime.Unknown envelope (TypeMeta and the raw message). Other kinds answer 415.
"""

from __future__ import annotations

import base64
from typing import Any

from kubeapi.meta import Obj
from localcluster.storage.errors import ApiError

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"

# message -> field number -> (JSON name, type); a type is a scalar, "map", "map-bytes", "strings",
# "skip" (server-owned, dropped), a message name, or "[]" + a message name (repeated)
_META = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    4: ("selfLink", "skip"),
    5: ("uid", "string"),
    6: ("resourceVersion", "string"),
    7: ("generation", "skip"),
    8: ("creationTimestamp", "skip"),
    9: ("deletionTimestamp", "skip"),
    10: ("deletionGracePeriodSeconds", "skip"),
    11: ("labels", "map"),
    12: ("annotations", "map"),
    13: ("ownerReferences", "[]OwnerReference"),
    14: ("finalizers", "strings"),
    17: ("managedFields", "skip"),
}
SCHEMAS: dict[str, dict[int, tuple[str, str]]] = {
    "Unknown": {
        1: ("typeMeta", "TypeMeta"),
        2: ("raw", "bytes"),
        3: ("contentEncoding", "string"),
        4: ("contentType", "string"),
    },
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": _META,
    "OwnerReference": {
        1: ("kind", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
        6: ("controller", "bool"),
        7: ("blockOwnerDeletion", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map"),
        3: ("binaryData", "map-bytes"),
        4: ("immutable", "bool"),
    },
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec"), 3: ("status", "skip")},
    "NamespaceSpec": {1: ("finalizers", "strings")},
    "ServiceAccount": {
        1: ("metadata", "ObjectMeta"),
        2: ("secrets", "[]ObjectReference"),
        3: ("imagePullSecrets", "[]LocalObjectReference"),
        4: ("automountServiceAccountToken", "bool"),
    },
    "ObjectReference": {
        1: ("kind", "string"),
        2: ("namespace", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
        6: ("resourceVersion", "string"),
        7: ("fieldPath", "string"),
    },
    "LocalObjectReference": {1: ("name", "string")},
}
TOP_LEVEL = {("v1", "ConfigMap"), ("v1", "Namespace"), ("v1", "ServiceAccount")}


def _unsupported(why: str) -> ApiError:
    text = f"protobuf bodies are read for ConfigMap, Namespace and ServiceAccount only ({why}): send JSON"
    return ApiError(415, "UnsupportedMediaType", text)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _unsupported("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, varint value or length-delimited bytes) in order; other wire types are refused."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise _unsupported("truncated field")
            out.append((number, data[pos : pos + size]))
            pos += size
        else:
            raise _unsupported(f"wire type {wire}")
    return out


def _entry(raw: bytes) -> tuple[str, bytes]:
    parts = dict(_fields(raw))
    key, value = parts.get(1, b""), parts.get(2, b"")
    if not isinstance(key, bytes) or not isinstance(value, bytes):
        raise _unsupported("malformed map entry")
    return key.decode(), value


def _value(kind: str, raw: int | bytes) -> Any:
    if kind in ("int", "bool"):
        if not isinstance(raw, int):
            raise _unsupported("a number field is not a varint")
        return bool(raw) if kind == "bool" else raw
    if not isinstance(raw, bytes):
        raise _unsupported("a string or message field is a varint")
    if kind == "string":
        return raw.decode()
    if kind == "bytes":
        return raw
    return message(kind.removeprefix("[]"), raw)


def message(name: str, data: bytes) -> Obj:
    """One message as a JSON object; zero values left out (as Go's omitempty would)."""
    schema = SCHEMAS[name]
    out: Obj = {}
    for number, raw in _fields(data):
        if number not in schema:
            raise _unsupported(f"field {number} of {name}")
        key, kind = schema[number]
        if kind == "skip":
            continue
        if kind in ("map", "map-bytes"):
            k, v = _entry(_value("bytes", raw))
            out.setdefault(key, {})[k] = base64.b64encode(v).decode() if kind == "map-bytes" else v.decode()
        elif kind == "strings":
            out.setdefault(key, []).append(_value("string", raw))
        elif kind.startswith("[]"):
            out.setdefault(key, []).append(_value(kind, raw))
        else:
            out[key] = _value(kind, raw)
    return {k: v for k, v in out.items() if v not in ("", 0, False, {}, [])}


def decode(body: bytes) -> Obj:
    """The JSON object of a protobuf body; ApiError 415 for kinds or fields this decoder does not know."""
    if not body.startswith(MAGIC):
        raise _unsupported("no k8s protobuf magic")
    envelope = message("Unknown", body[len(MAGIC) :])
    type_meta = envelope.get("typeMeta") or {}
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    if (api_version, kind) not in TOP_LEVEL or envelope.get("contentEncoding"):
        raise _unsupported(f"{api_version} {kind}")
    return {"apiVersion": api_version, "kind": kind, **message(kind, envelope.get("raw", b""))}
