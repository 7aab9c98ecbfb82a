"""Resource URL paths: `/api/v1/namespaces/ns/pods/name/status` to a resource, scope, name and subresource."""

from __future__ import annotations

from dataclasses import dataclass

from localcluster.storage.errors import ApiError
from localcluster.storage.resources import GROUP_VERSIONS, Resource, find


@dataclass(frozen=True, slots=True)
class Target:
    """What a resource request addresses.

    `namespace` is None for a cluster-scoped resource and for a list or watch across all namespaces.
    """

    res: Resource
    namespace: str | None
    name: str = ""
    subresource: str = ""
    watch_path: bool = False  # the legacy /watch/ prefix


def not_found_path() -> ApiError:
    """The 404 a path that names nothing gets."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def split_path(path: str) -> list[str]:
    """The non-empty segments of a URL path."""
    return [part for part in path.split("/") if part]


def group_version_of(parts: list[str]) -> tuple[str, str, list[str]] | None:
    """(group, version, remaining segments) of a served group/version path, else None."""
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if version not in GROUP_VERSIONS.get(group, ()):
        return None
    return group, version, rest


def parse_target(group: str, version: str, rest: list[str]) -> Target:
    """The Target of the segments after `/api/v1` or `/apis/<g>/<v>`; ApiError 404 if none."""
    watch_path = bool(rest) and rest[0] == "watch"
    if watch_path:
        rest = rest[1:]
    if not rest:
        raise not_found_path()
    if rest[0] == "namespaces" and len(rest) >= 3:
        res = find(group, version, rest[2])
        if res is not None and res.namespaced:
            return _finish(res, rest[1], rest[3:], watch_path=watch_path)
    res = find(group, version, rest[0])
    if res is None:
        raise not_found_path()
    if res.namespaced and len(rest) > 1:
        raise not_found_path()
    return _finish(res, None, rest[1:], watch_path=watch_path)


def _finish(res: Resource, namespace: str | None, rest: list[str], *, watch_path: bool) -> Target:
    if len(rest) > 2:
        raise not_found_path()
    name = rest[0] if rest else ""
    sub = rest[1] if len(rest) == 2 else ""
    if sub and sub not in res.subresources:
        raise not_found_path()
    return Target(res, namespace, name, sub, watch_path)
