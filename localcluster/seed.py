"""Objects from manifest files created through the API at start; existing objects are left as they are."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kubeapi.client import Client
from kubeapi.errors import AlreadyExists, ApiError
from kubeapi.manifests import ManifestError, describe, documents
from kubeapi.paths import ResourceRef
from localcluster.storage.resources import GROUP_VERSIONS, RESOURCES, by_kind

log = logging.getLogger(__name__)

Planned = tuple[str, ResourceRef, str | None, dict[str, Any]]  # where, resource, namespace, object


class NotServed(Exception):
    """An object of a kind this cluster does not serve (collected: every one is reported at once)."""


def plan_files(paths: list[str], *, namespace: str = "default") -> list[Planned]:
    """Every object in the files with the resource it is created in; ManifestError names the file,
    the document and the field of the first object that cannot be created here, or every object of a
    kind not served here (file, document, kind) followed by the kinds that are."""
    planned, unserved = [], []
    for path in paths:
        for where, raw in documents(path):
            try:
                planned.append(_plan(where, raw, namespace))
            except NotServed as err:
                unserved.append(str(err))
    if unserved:
        raise ManifestError("\n".join([*unserved, served_kinds()]))
    return planned


def served_kinds() -> str:
    """`served here: v1 ConfigMap, Pod, ...; apps/v1 Deployment, ...` (every group/version's kinds)."""
    groups = []
    for group, versions in GROUP_VERSIONS.items():
        for version in versions:
            api_version = f"{group}/{version}" if group else version
            kinds = sorted({r.kind for r in RESOURCES if r.api_version == api_version})
            groups.append(f"{api_version} {', '.join(kinds)}")
    return f"served here: {'; '.join(groups)}"


def _plan(where: str, raw: Mapping[str, Any], namespace: str) -> Planned:
    api_version, kind = raw.get("apiVersion"), raw.get("kind")
    for field, value in (("apiVersion", api_version), ("kind", kind)):
        if not isinstance(value, str) or not value:
            raise ManifestError(f"{where}: {describe(raw)}field {field}: required")
    res = by_kind(str(api_version), str(kind))
    if res is None:
        raise NotServed(f"{where}: {describe(raw)}field kind: {kind} in {api_version} is not served here")
    meta = raw.get("metadata")
    if not isinstance(meta, Mapping) or not (meta.get("name") or meta.get("generateName")):
        raise ManifestError(f"{where}: {describe(raw)}field metadata.name: required")
    ref = ResourceRef(res.group, res.version, res.plural, namespaced=res.namespaced)
    ns = str(meta.get("namespace") or namespace) if res.namespaced else None
    return where, ref, ns, dict(raw)


async def create_planned(client: Client, planned: list[Planned]) -> list[str]:
    """Create each object in order; one line per object (`service/nginx created`, `... unchanged`)."""
    lines = []
    for where, ref, namespace, raw in planned:
        name = str(raw["metadata"].get("name") or raw["metadata"].get("generateName"))
        label = f"{ref.plural}/{name}" if not ref.group else f"{ref.plural}.{ref.group}/{name}"
        try:
            await client.create(ref, namespace, raw)
        except AlreadyExists:
            lines.append(f"{label} unchanged (exists)")
            continue
        except ApiError as err:
            raise ManifestError(f"{where}: {describe(raw)}{err}") from None
        lines.append(f"{label} created")
    return lines
