"""A minimal OpenAPI v3 index: per group/version, the PATCH operations and their `fieldValidation` parameter.

kubectl reads it to learn that the server validates fields itself, so it needs no schemas of its own.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache

from kubeapi.meta import Obj
from localcluster.apiserver.discovery import SERVER_VERSION, served_group_versions
from localcluster.storage.resources import Resource, in_group_version


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _item_path(res: Resource) -> str:
    scope = "/namespaces/{namespace}" if res.namespaced else ""
    return f"/{_gv_path(res.group, res.version)}{scope}/{res.plural}/{{name}}"


def _patch_operation(res: Resource) -> Obj:
    return {
        "operationId": f"patch{res.kind}",
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {"group": res.group, "version": res.version, "kind": res.kind},
        "parameters": [
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
            {"name": "force", "in": "query", "schema": {"type": "boolean"}},
        ],
        "responses": {"200": {"description": "OK"}},
    }


@cache
def group_version_document(group: str, version: str) -> bytes | None:
    """The OpenAPI v3 document of one group/version (JSON bytes), None if not served."""
    if (group, version) not in served_group_versions():
        return None
    paths = {_item_path(res): {"patch": _patch_operation(res)} for res in in_group_version(group, version)}
    major, minor, patch = SERVER_VERSION
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "petdns local cluster", "version": f"v{major}.{minor}.{patch}"},
        "paths": paths,
        "components": {"schemas": {}},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


@cache
def root_document() -> bytes:
    """The body of /openapi/v3: where each group/version's document lives."""
    paths = {}
    for group, version in served_group_versions():
        doc = group_version_document(group, version)
        assert doc is not None
        digest = hashlib.sha256(doc).hexdigest()[:32].upper()
        path = _gv_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return json.dumps({"paths": paths}, separators=(",", ":")).encode()


# -- OpenAPI v2 ------------------------------------------------------------------------------------------
# kubectl falls back to /openapi/v2 (as gnostic's protobuf Document) for a kind the v3 documents do not
# list; a document without definitions makes it skip client-side validation, so an object of a kind not
# served here gets kubectl's own "no matches for kind" error, as from a real server
OPENAPI_V2_MEDIA = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


@cache
def v2_document() -> bytes:
    """The body of /openapi/v2: Document{swagger: "2.0", info: {title, version}}, protobuf-encoded."""
    major, minor, patch = SERVER_VERSION
    info = _field(1, b"petdns local cluster") + _field(2, f"v{major}.{minor}.{patch}".encode())
    return _field(1, b"2.0") + _field(2, info)
