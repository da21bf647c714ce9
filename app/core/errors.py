"""The application's errors: plain exceptions, with no web import.

Services raise ``AppError`` subclasses (never ``HTTPException``); each carries the HTTP status
and problem type it answers with, which ``app/web/problems.py`` renders as RFC 9457
problem+json beside the app factory.
"""

from collections.abc import Sequence
from typing import Any


class AppError(Exception):
    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad Request"


class Unauthorized(AppError):
    """No key, or one that is malformed, unknown or revoked (401, with a Bearer challenge)."""

    status, slug, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(
            detail, headers={"WWW-Authenticate": 'Bearer realm="claimtracker"'}, **extra
        )


class Forbidden(AppError):
    """A known caller whose role may not do this (403)."""

    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not Found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class Gone(AppError):
    status, slug, title = 410, "gone", "Gone"


class PreconditionFailed(AppError):
    status, slug, title = 412, "precondition-failed", "Precondition Failed"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Content Too Large"


class RuleViolation(AppError):
    """A request that is well-formed but breaks a rule of the desk (422)."""

    status, slug, title = 422, "rule-violation", "Unprocessable Content"

    def __init__(self, detail: str, *, rule: str, field: str | None = None, **extra: Any) -> None:
        errors = [{"loc": ["body", field] if field else ["body"], "msg": detail, "type": rule}]
        super().__init__(detail, errors=errors, rule=rule, **extra)


class ConflictingParameters(AppError):
    """Query parameters that are each valid but cannot be used together (422)."""

    status, slug, title = 422, "conflicting-parameters", "Unprocessable Content"

    def __init__(self, detail: str, *, names: Sequence[str]) -> None:
        errors = [{"loc": ["query", name], "msg": detail, "type": self.slug} for name in names]
        super().__init__(detail, errors=errors)


class ImportRefused(AppError):
    """An all-or-nothing import batch with failed records (422): ``errors`` has every one."""

    status, slug, title = 422, "import-refused", "Unprocessable Content"


class PreconditionRequired(AppError):
    status, slug, title = 428, "precondition-required", "Precondition Required"


class VersionMismatch(PreconditionFailed):
    """The caller's expected version is not the current one (412): someone changed the
    entity since the caller read it. The web renders the versions as ETags."""

    def __init__(self, *, current_version: int, expected_version: int) -> None:
        super().__init__(
            f"The entity is at version {current_version}, not {expected_version}: "
            "someone changed it since it was read."
        )
        self.current_version = current_version
        self.expected_version = expected_version


class VersionRequired(PreconditionRequired):
    """The write needs an expected version and the caller gave none (428)."""

    def __init__(self, *, current_version: int) -> None:
        super().__init__(f"This write needs the version last read (now {current_version}).")
        self.current_version = current_version


class TooManyRequests(AppError):
    status, slug, title = 429, "too-many-requests", "Too Many Requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


class Unavailable(AppError):
    """The service cannot take this request now (503), for a reason other than the database
    (whose errors ``app/web/problems.py`` answers itself)."""

    status, slug, title = 503, "unavailable", "Service Unavailable"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)
