"""The API error vocabulary of the local control plane: one exception carrying a Kubernetes `Status`."""

from __future__ import annotations

from typing import Any

from kubeapi.decode import MAX_BODY_BYTES, DecodeError
from kubeapi.meta import Obj
from localcluster.storage.resources import Resource


class ApiError(Exception):
    """A failed request, rendered by the HTTP layer as a `Status` object with `code` as the HTTP status."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.metadata = metadata or {}

    def status(self) -> Obj:
        """The `Status` body, as the real API server sends it."""
        out: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": dict(self.metadata),
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            out["details"] = self.details
        return out

    def __repr__(self) -> str:
        return f"ApiError({self.code}, {self.reason!r}, {self.message!r})"

    # the helpers below mirror apimachinery's constructors; module-level aliases follow
    @classmethod
    def not_found(cls, res: Resource, name: str) -> ApiError:
        return not_found(res, name)

    @classmethod
    def already_exists(cls, res: Resource, name: str) -> ApiError:
        return already_exists(res, name)

    @classmethod
    def conflict(cls, res: Resource, name: str, msg: str) -> ApiError:
        return conflict(res, name, msg)

    @classmethod
    def gone(cls, msg: str) -> ApiError:
        return gone(msg)

    @classmethod
    def invalid(cls, res: Resource, name: str, causes: list[Obj]) -> ApiError:
        return invalid(res, name, causes)

    @classmethod
    def bad_request(cls, msg: str) -> ApiError:
        return bad_request(msg)


MODIFIED_MSG = "the object has been modified; please apply your changes to the latest version and try again"


def qualified(res: Resource) -> str:
    """`pods` for the core group, `petsets.petdns.dev` otherwise."""
    return f"{res.plural}.{res.group}" if res.group else res.plural


def _details(res: Resource, name: str, *, kind: str | None = None) -> Obj:
    out: Obj = {"name": name} if name else {}
    if res.group:
        out["group"] = res.group
    out["kind"] = kind or res.plural
    return out


def not_found(res: Resource, name: str) -> ApiError:
    """404 NotFound: `pods "x" not found`."""
    return ApiError(404, "NotFound", f'{qualified(res)} "{name}" not found', _details(res, name))


def already_exists(res: Resource, name: str) -> ApiError:
    """409 AlreadyExists: `pods "x" already exists`."""
    return ApiError(409, "AlreadyExists", f'{qualified(res)} "{name}" already exists', _details(res, name))


def conflict(res: Resource, name: str, msg: str = MODIFIED_MSG) -> ApiError:
    """409 Conflict: `Operation cannot be fulfilled on pods "x": <msg>`."""
    text = f'Operation cannot be fulfilled on {qualified(res)} "{name}": {msg}'
    return ApiError(409, "Conflict", text, _details(res, name))


def gone(msg: str) -> ApiError:
    """410 Expired (a resourceVersion or continue token older than the kept history)."""
    return ApiError(410, "Expired", msg)


def invalid(res: Resource, name: str, causes: list[Obj]) -> ApiError:
    """422 Invalid with `details.causes` of `{"field", "message", "reason"}`."""
    parts = [f"{c['field']}: {c['message']}" if c.get("field") else str(c["message"]) for c in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = _details(res, name, kind=res.kind)
    details["causes"] = causes
    kind = f"{res.kind}.{res.group}" if res.group else res.kind  # schema.GroupKind's text, as upstream
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {joined}', details)


def field_invalid(field: str, value: Any, detail: str) -> Obj:
    """One `FieldValueInvalid` cause."""
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {shown}: {detail}", "field": field}


def field_required(field: str, detail: str = "") -> Obj:
    """One `FieldValueRequired` cause."""
    message = f"Required value: {detail}" if detail else "Required value"
    return {"reason": "FieldValueRequired", "message": message, "field": field}


def field_forbidden(field: str, detail: str) -> Obj:
    """One `FieldValueForbidden` cause."""
    return {"reason": "FieldValueForbidden", "message": f"Forbidden: {detail}", "field": field}


def bad_request(msg: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, "BadRequest", msg)


def too_large(limit: int) -> ApiError:
    """413 RequestEntityTooLarge, as the API server answers a request body over its limit."""
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def undecodable(err: DecodeError, prefix: str) -> ApiError:
    """413 for a body over the limit, else 400 BadRequest `prefix: what is wrong`."""
    if err.kind == "size":
        return too_large(MAX_BODY_BYTES)
    return bad_request(f"{prefix}: {err.detail}")


def forbidden(res: Resource, name: str, msg: str) -> ApiError:
    """403 Forbidden: `pods "x" is forbidden: <msg>`."""
    return ApiError(403, "Forbidden", f'{qualified(res)} "{name}" is forbidden: {msg}', _details(res, name))


def unprocessable(msg: str) -> ApiError:
    """422 Invalid without field causes (what a failed JSON patch gets)."""
    text = "the server rejected our request due to an error in our request"
    return ApiError(422, "Invalid", text, {"causes": [{"message": msg}]})


def unsupported_media_type(accepted: tuple[str, ...]) -> ApiError:
    """415 UnsupportedMediaType for a patch type the resource does not take."""
    text = "the body of the request was in an unknown format - accepted media types include: " + ", ".join(
        accepted
    )
    return ApiError(415, "UnsupportedMediaType", text)


def method_not_allowed(msg: str) -> ApiError:
    """405 MethodNotAllowed."""
    return ApiError(405, "MethodNotAllowed", msg)
