"""Request parameters: list and watch options, delete options, dry run, and request bodies (JSON or YAML)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeapi.decode import MAX_BODY_BYTES, DecodeError, load_json, load_yaml
from kubeapi.meta import Obj
from localcluster.apiserver import protobuf
from localcluster.storage.errors import ApiError, bad_request, undecodable, unsupported_media_type

PROPAGATION = ("Orphan", "Background", "Foreground")
BODY_TYPES = ("application/json", "application/yaml")


@dataclass(frozen=True, slots=True)
class ListOptions:
    """Query parameters of a list or watch."""

    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""
    watch: bool = False
    allow_bookmarks: bool = False
    send_initial_events: bool | None = None
    timeout_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class DeleteOptions:
    """A DeleteOptions body merged with the query parameters."""

    propagation: str | None = None
    grace_seconds: int | None = None
    preconditions: Obj | None = None
    dry_run: bool = False
    orphan_dependents: bool | None = None


def _bool(query: Mapping[str, str], key: str) -> bool | None:
    value = query.get(key)
    if value is None:
        return None
    if value.lower() in ("1", "true", "t", "yes", ""):
        return True
    if value.lower() in ("0", "false", "f", "no"):
        return False
    raise bad_request(f"invalid boolean value for {key}: {value!r}")


def _int(query: Mapping[str, str], key: str) -> int | None:
    value = query.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"invalid integer value for {key}: {value!r}") from None


def list_options(query: Mapping[str, str]) -> ListOptions:
    """The ListOptions of a query string; ApiError 400 on a malformed value."""
    limit = _int(query, "limit") or 0
    if limit < 0:
        raise bad_request("limit must not be negative")
    timeout = _int(query, "timeoutSeconds")
    return ListOptions(
        label_selector=query.get("labelSelector", ""),
        field_selector=query.get("fieldSelector", ""),
        limit=limit,
        continue_token=query.get("continue", ""),
        resource_version=query.get("resourceVersion", ""),
        resource_version_match=query.get("resourceVersionMatch", ""),
        watch=bool(_bool(query, "watch")),
        allow_bookmarks=bool(_bool(query, "allowWatchBookmarks")),
        send_initial_events=_bool(query, "sendInitialEvents"),
        timeout_seconds=float(timeout) if timeout is not None and timeout > 0 else None,
    )


def dry_run(values: list[str]) -> bool:
    """True for `dryRun=All`; ApiError 400 for any other value."""
    for value in values:
        if value != "All":
            raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return bool(values)


def delete_options(body: Obj | None, query: Mapping[str, str], dry_run_values: list[str]) -> DeleteOptions:
    """DeleteOptions from an optional body and the query (the body wins where both say something)."""
    body = body or {}
    propagation = body.get("propagationPolicy") or query.get("propagationPolicy") or None
    if propagation is not None and propagation not in PROPAGATION:
        raise bad_request(f'propagationPolicy: Unsupported value: "{propagation}"')
    orphan = body.get("orphanDependents")
    if orphan is None:
        orphan = _bool(query, "orphanDependents")
    if propagation is None and orphan is not None:
        propagation = "Orphan" if orphan else "Foreground"
    grace = body.get("gracePeriodSeconds")
    if grace is None:
        grace = _int(query, "gracePeriodSeconds")
    preconditions = body.get("preconditions") or None
    body_dry = body.get("dryRun") or []
    return DeleteOptions(
        propagation=propagation,
        grace_seconds=int(grace) if grace is not None else None,
        preconditions=preconditions,
        dry_run=dry_run([*dry_run_values, *body_dry]),
        orphan_dependents=orphan,
    )


def decode_body(raw: bytes, content_type: str) -> Obj:
    """A request body as a JSON object: JSON, or YAML when the content type says so; ApiError 400 if not."""
    if content_type == protobuf.PROTOBUF:
        return protobuf.decode(raw)
    if "protobuf" in content_type or "cbor" in content_type:
        raise unsupported_media_type(BODY_TYPES)
    if not raw.strip():
        raise bad_request("the request body is empty")
    value = decode_value(raw, "yaml" in content_type)
    if not isinstance(value, dict):
        raise bad_request("the body of the request must be an object")
    return value


def decode_value(raw: bytes, yaml: bool) -> Any:
    """A JSON or YAML body, depth- and size-limited: ApiError 400 when it cannot be decoded, 413 too large."""
    try:
        if yaml:
            return load_yaml(raw, "the request body", max_bytes=MAX_BODY_BYTES)
        return load_json(raw, "the request body", max_bytes=MAX_BODY_BYTES)
    except DecodeError as err:
        raise undecodable(err, "the body of the request could not be decoded") from None


def decode_optional_body(raw: bytes, content_type: str) -> Obj | None:
    """A body that may be absent (DELETE): None when empty."""
    return decode_body(raw, content_type) if raw.strip() else None


def check_kind(body: Obj, *, expected: tuple[str, str]) -> None:
    """ApiError 400 when a body names another apiVersion/kind than the resource (when it names one)."""
    api_version, kind = expected
    got_kind = body.get("kind")
    if got_kind and got_kind != kind:
        raise bad_request(f"the kind of the body {got_kind!r} does not match the resource kind {kind!r}")
    got_version = body.get("apiVersion")
    if got_version and got_version != api_version:
        msg = f"the API version in the data ({got_version}) does not match the expected one ({api_version})"
        raise bad_request(msg)


def expect_object(body: Any) -> Obj:
    """The body as an object, or ApiError 400."""
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "expected an object")
    return body
