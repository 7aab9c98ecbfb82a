"""The API error vocabulary: one exception per Status reason, each keeping the server's Status body."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer of the API server; `status` is its `kind: Status` body when it sent one."""

    code = 0

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.status = status or {}
        self.retry_after = retry_after

    @property
    def reason(self) -> str:
        """The Status reason (`NotFound`, `Conflict`, `Expired`...), if the server gave one."""
        return str(self.status.get("reason", ""))


class BadRequest(ApiError):
    """400."""

    code = 400


class Unauthorized(ApiError):
    """401."""

    code = 401


class Forbidden(ApiError):
    """403."""

    code = 403


class NotFound(ApiError):
    """404."""

    code = 404


class Conflict(ApiError):
    """409 with reason Conflict: a stale resourceVersion."""

    code = 409


class AlreadyExists(Conflict):
    """409 with reason AlreadyExists."""


class Gone(ApiError):
    """410: the resourceVersion is too old for a watch or a continue token (reason Expired)."""

    code = 410


class Invalid(ApiError):
    """422."""

    code = 422


class TooManyRequests(ApiError):
    """429: retry after `retry_after` seconds."""

    code = 429


class ServerError(ApiError):
    """5xx."""

    code = 500


class Unreachable(ApiError):
    """No HTTP answer at all: connection refused, reset, timed out."""


_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def from_status(code: int, body: Any, *, retry_after: float | None = None) -> ApiError:
    """The exception for an HTTP error code and its (parsed, possibly absent) Status body."""
    status = body if isinstance(body, dict) and body.get("kind") == "Status" else {}
    message = str(status.get("message") or f"HTTP {code}")
    cls = _BY_CODE.get(code, ServerError if code >= 500 else ApiError)
    if cls is Conflict and status.get("reason") == "AlreadyExists":
        cls = AlreadyExists
    return cls(message, code=code, status=status, retry_after=retry_after)


def is_retryable(err: ApiError) -> bool:
    """Errors that a retry may cure: throttling, server errors, an unreachable server."""
    return isinstance(err, TooManyRequests | ServerError | Unreachable)
