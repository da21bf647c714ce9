"""What a call that did not succeed raises: ``ClientError`` when the server never answered (or
retries ran out on a transport error), a ``ProblemError`` subclass per status when it answered
with an RFC 9457 problem document."""

from typing import Any

import httpx


class ClientError(Exception):
    """A request that could not be completed (the server never answered, retries ran out)."""


class ProblemError(ClientError):
    """An RFC 9457 problem document the server answered with."""

    def __init__(self, status: int, body: dict[str, Any], response: httpx.Response) -> None:
        self.status = status
        self.type = str(body.get("type", "about:blank"))
        self.title = str(body.get("title", ""))
        self.detail = body.get("detail")
        self.errors: list[dict[str, Any]] = list(body.get("errors") or [])
        self.body = body
        self.response = response
        super().__init__(f"{status} {self.title}: {self.detail or ''}".strip())


class BadRequest(ProblemError):
    pass


class Unauthorized(ProblemError):
    pass


class Forbidden(ProblemError):
    pass


class NotFound(ProblemError):
    pass


class Conflict(ProblemError):
    pass


class Gone(ProblemError):
    pass


class PreconditionFailed(ProblemError):
    pass


class PayloadTooLarge(ProblemError):
    pass


class ValidationProblem(ProblemError):
    pass


class PreconditionRequired(ProblemError):
    pass


class TooManyRequests(ProblemError):
    pass


class ServerError(ProblemError):
    pass


_BY_STATUS: dict[int, type[ProblemError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    422: ValidationProblem,
    428: PreconditionRequired,
    429: TooManyRequests,
}


def problem_from(response: httpx.Response) -> ProblemError:
    """The ``ProblemError`` of a 4xx or 5xx answer (its body read)."""
    try:
        body = response.json()
    except ValueError:
        body = {"title": response.reason_phrase, "detail": response.text[:500]}
    if not isinstance(body, dict):
        body = {"title": response.reason_phrase}
    status = response.status_code
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ProblemError)
    return cls(status, body, response)
