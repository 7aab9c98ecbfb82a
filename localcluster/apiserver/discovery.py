"""Discovery documents: /version, legacy /api and /apis lists, aggregated v2 discovery."""

from __future__ import annotations

import platform

from kubeapi.meta import Obj
from localcluster.storage.resources import GROUP_VERSIONS, Resource, in_group_version

SERVER_VERSION = (1, 31, 0)
AGGREGATED_GROUP = "apidiscovery.k8s.io"
AGGREGATED_VERSIONS = ("v2", "v2beta1")
SUBRESOURCE_VERBS = ("get", "patch", "update")


def version_info() -> Obj:
    """The body of /version."""
    major, minor, patch = SERVER_VERSION
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.{patch}-petdns",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-08-13T00:00:00Z",
        "goVersion": "go1.22.5",
        "compiler": "gc",
        "platform": f"linux/{machine}",
    }


def api_versions(server_address: str) -> Obj:
    """The body of /api (APIVersions)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_versions(group: str) -> list[Obj]:
    return [{"groupVersion": f"{group}/{v}", "version": v} for v in GROUP_VERSIONS[group]]


def api_group(group: str) -> Obj | None:
    """The body of /apis/<group> (APIGroup), None for an unknown group."""
    if not group or group not in GROUP_VERSIONS:
        return None
    versions = _group_versions(group)
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": versions,
        "preferredVersion": versions[0],
    }


def api_group_list() -> Obj:
    """The body of /apis (APIGroupList): every named group."""
    groups = []
    for group in GROUP_VERSIONS:
        body = api_group(group)
        if body is not None:
            del body["kind"], body["apiVersion"]
            groups.append(body)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _subresource_kind(res: Resource, sub: str) -> tuple[str, str, str]:
    """(group, version, kind) a subresource answers with."""
    if sub == "scale":
        return ("autoscaling", "v1", "Scale")
    if sub == "eviction":
        return ("policy", "v1", "Eviction")
    return (res.group, res.version, res.kind)


def _legacy_entries(res: Resource) -> list[Obj]:
    entry: Obj = {
        "name": res.plural,
        "singularName": res.singular,
        "namespaced": res.namespaced,
        "kind": res.kind,
        "verbs": list(res.verbs),
    }
    if res.short_names:
        entry["shortNames"] = list(res.short_names)
    if res.categories:
        entry["categories"] = list(res.categories)
    entries = [entry]
    for sub in res.subresources:
        group, version, kind = _subresource_kind(res, sub)
        sub_entry: Obj = {"name": f"{res.plural}/{sub}", "singularName": "", "namespaced": res.namespaced}
        if (group, version) != (res.group, res.version):
            sub_entry.update(group=group, version=version)
        sub_entry.update(kind=kind, verbs=["create"] if sub == "eviction" else list(SUBRESOURCE_VERBS))
        entries.append(sub_entry)
    return entries


def api_resource_list(group: str, version: str) -> Obj | None:
    """The body of /api/v1 or /apis/<group>/<version> (APIResourceList), None if not served."""
    if version not in GROUP_VERSIONS.get(group, ()):
        return None
    resources = [entry for res in in_group_version(group, version) for entry in _legacy_entries(res)]
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _aggregated_resource(res: Resource) -> Obj:
    body: Obj = {
        "resource": res.plural,
        "responseKind": {"group": res.group, "version": res.version, "kind": res.kind},
        "scope": "Namespaced" if res.namespaced else "Cluster",
        "singularResource": res.singular,
        "verbs": list(res.verbs),
    }
    if res.short_names:
        body["shortNames"] = list(res.short_names)
    if res.categories:
        body["categories"] = list(res.categories)
    subs = []
    for sub in res.subresources:
        group, version, kind = _subresource_kind(res, sub)
        subs.append(
            {
                "subresource": sub,
                "responseKind": {"group": group, "version": version, "kind": kind},
                "verbs": ["create"] if sub == "eviction" else list(SUBRESOURCE_VERBS),
            }
        )
    if subs:
        body["subresources"] = subs
    return body


def _aggregated_group(group: str) -> Obj:
    versions = [
        {
            "version": version,
            "resources": [_aggregated_resource(r) for r in in_group_version(group, version)],
            "freshness": "Current",
        }
        for version in GROUP_VERSIONS[group]
    ]
    return {"metadata": {"name": group} if group else {}, "versions": versions}


def aggregated_list(*, legacy: bool, version: str = "v2") -> Obj:
    """APIGroupDiscoveryList for /api (legacy=True: the core group) or /apis (every named group)."""
    groups = [g for g in GROUP_VERSIONS if (g == "") == legacy]
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"{AGGREGATED_GROUP}/{version}",
        "metadata": {},
        "items": [_aggregated_group(g) for g in groups],
    }


def aggregated_version(accept: str) -> str | None:
    """The aggregated discovery version the Accept header asks for first, if any."""
    for media in accept.split(","):
        params = _media_params(media)
        if params.get("g") == AGGREGATED_GROUP and params.get("as") == "APIGroupDiscoveryList":
            version = params.get("v", "")
            if version in AGGREGATED_VERSIONS:
                return version
        elif "as" not in params and media.split(";")[0].strip() in (
            "application/json",
            "*/*",
            "application/*",
        ):
            return None
    return None


def aggregated_content_type(version: str) -> str:
    """The Content-Type of an aggregated discovery answer."""
    return f"application/json;g={AGGREGATED_GROUP};v={version};as=APIGroupDiscoveryList"


def _media_params(media: str) -> dict[str, str]:
    parts = media.split(";")
    params = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        params[key.strip()] = value.strip()
    return params


def served_group_versions() -> list[tuple[str, str]]:
    """Every (group, version) served, core first."""
    return [(g, v) for g, versions in GROUP_VERSIONS.items() for v in versions]
