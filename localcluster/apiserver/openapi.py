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
