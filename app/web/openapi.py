"""The OpenAPI document as the app really behaves: problem+json errors, headers, security.

Routes declare what they can answer with ``problem_responses(...)`` (one place that knows the
problem schema and each status's headers); ``install_openapi`` finishes the document for one
app: FastAPI's default 422 schema becomes the problem schema, ``If-Match`` is required only
when this app's settings require it, and every route behind a role requirement names the
bearer scheme.
"""

import copy
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field

from app.auth.actor import Role
from app.auth.dependencies import RoleRequirement
from app.web.preconditions import get_expect
from app.web.problems import PROBLEM_MEDIA_TYPE

PROBLEM_REF = "#/components/schemas/Problem"
BEARER = "bearer"
IF_MATCH_HEADER = "if-match"
REQUEST_ID_PARAMETER = "RequestId"


class ProblemDetail(BaseModel):
    """One failed field or record; import refusals add ``index`` and ``external_id``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="What kind of failure (a pydantic error type or a rule).")
    loc: list[str | int] | None = Field(
        default=None, description='Where: ["body", "statement"], ["query", "limit"], ...'
    )
    msg: str | None = Field(default=None, description="What is wrong, for people.")


class Problem(BaseModel):
    """An RFC 9457 problem document: every error this API answers."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(
        description="A URI naming the kind of problem: urn:claimtracker:problem:<slug>, "
        "or about:blank when the status says it all."
    )
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(ge=100, le=599, description="The HTTP status code.")
    detail: str | None = Field(default=None, description="What went wrong this time.")
    instance: str | None = Field(default=None, description="The path that was requested.")
    request_id: str | None = Field(default=None, description="The X-Request-ID of the request.")
    errors: list[ProblemDetail] | None = Field(
        default=None, description="Per-field (422) or per-record (import) failures."
    )


_DESCRIPTIONS = {
    400: "Bad request: malformed JSON, a NUL character, a cursor or value the API cannot read.",
    401: "No API key, or one that is malformed, unknown or revoked.",
    403: "The key's role may not do this.",
    404: "No such resource.",
    409: "Conflicts with stored data (a unique value is taken, a referenced row is missing) "
    "or with a request still running.",
    410: "The resource was deleted; its history is still readable.",
    412: "If-Match names a version that is no longer current.",
    413: "The body is larger than this route accepts.",
    415: "The body is not JSON (Content-Type).",
    422: "The request does not match the schema, or breaks a rule of the desk; see errors.",
    428: "This write needs an If-Match header with the ETag last read.",
    429: "Too many requests; retry after Retry-After seconds.",
    503: "The database is busy or unreachable; retry after Retry-After seconds.",
}

_RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer", "minimum": 0},
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The Bearer challenge.",
            "schema": {"type": "string"},
        }
    },
    429: {"Retry-After": _RETRY_AFTER},
    503: {"Retry-After": _RETRY_AFTER},
}

# What one kind of route can answer, combined per route below.
ANY = (400, 503)  # a NUL in the query (every route); the database (every route that reads)
KEYED = (401, 429)  # any key will do (reader routes)
ROLE = (401, 403, 429)  # a role above reader
BODY = (400, 413, 415, 422)
ENTITY = (404, 410)
IF_MATCH = (412, 428)
PARAMS = (422,)


def problem_responses(*groups: Iterable[int] | int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status answered with the problem schema."""
    statuses: set[int] = set()
    for group in groups:
        statuses.update([group] if isinstance(group, int) else group)
    responses: dict[int | str, dict[str, Any]] = {}
    for status in sorted(statuses):
        response: dict[str, Any] = {
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
        }
        if status in _HEADERS:
            response["headers"] = _HEADERS[status]
        responses[status] = response
    return responses


def header(description: str, *, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern:
        schema["pattern"] = pattern
    return {"description": description, "schema": schema}


ETAG = header('The version as a strong ETag, like "v7": send it back in If-Match.')
LOCATION = header("Where the new resource is.")
LINK = header('The next page: <url>; rel="next" (absent on the last page).')


def ok(status: int = 200, /, **headers: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The success status's response headers (FastAPI merges them with its response model)."""
    return {status: {"headers": headers}}


Responses = dict[int | str, dict[str, Any]]


def responses(*groups: Iterable[int] | int, ok: Responses | None = None) -> Responses:
    """Problem statuses plus the success status's headers, for ``responses=``."""
    return {**problem_responses(ANY, *groups), **(ok or {})}


# --- the finished document --------------------------------------------------------------------


def _calls(dependant: Dependant) -> Iterator[Any]:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _requirements(dependant: Dependant) -> Iterator[RoleRequirement]:
    if isinstance(dependant.call, RoleRequirement):
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _requirements(sub)


def _problem_schemas() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return {"Problem": schema, **definitions}


def _is_default_validation_error(response: dict[str, Any]) -> bool:
    content = response.get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def _drop_null(parameter: dict[str, Any]) -> None:
    """A query or header value cannot be JSON null: `str | None` parameters are strings."""
    schema = parameter.get("schema", {})
    options = schema.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        schema.pop("anyOf")
        if len(rest) == 1:
            schema.update(rest[0])
        else:
            schema["anyOf"] = rest


def finish_openapi(document: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    settings = app.state.settings
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(_problem_schemas())
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer ct_...`.",
        }
    }
    components.setdefault("parameters", {})[REQUEST_ID_PARAMETER] = {
        "name": "X-Request-ID",
        "in": "header",
        "required": False,
        "description": "Your own id for this request, for your logs: echoed back in "
        "X-Client-Request-ID when it is 1-128 characters of A-Z a-z 0-9 . _ : - (anything else "
        "is ignored, never refused). The server's id is the X-Request-ID response header.",
        "schema": {"type": "string"},
    }
    problem = problem_responses(422)[422]
    request_id = {
        "description": "The server's id for this request (also in problem documents and the "
        "history).",
        "schema": {"type": "string"},
    }
    client_request_id = {
        "description": "Your X-Request-ID, when it was usable.",
        "schema": {"type": "string"},
    }

    routes = {
        (context.path_format, method.lower()): context.original_route
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.methods or ()
    }
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                if status == "422" and _is_default_validation_error(response):
                    operation["responses"]["422"] = response = copy.deepcopy(problem)
                response_headers = response.setdefault("headers", {})
                response_headers["X-Request-ID"] = request_id
                response_headers["X-Client-Request-ID"] = client_request_id
            route = routes.get((path, method))
            # Writes that take If-Match as a guard only (adding evidence) never answer 428.
            demands_if_match = (
                settings.require_if_match
                and route is not None
                and any(call is get_expect for call in _calls(route.dependant))
            )
            parameters = operation.setdefault("parameters", [])
            for parameter in parameters:
                _drop_null(parameter)
                if parameter.get("in") == "header" and parameter["name"] == IF_MATCH_HEADER:
                    # The route takes a missing If-Match and answers 428 itself (after the
                    # other checks), so the document, not the route, says it is required.
                    parameter["required"] = demands_if_match
            if not demands_if_match:
                operation["responses"].pop("428", None)
            parameters.append({"$ref": f"#/components/parameters/{REQUEST_ID_PARAMETER}"})

            requirements = list(_requirements(route.dependant)) if route else []
            if requirements:
                public = settings.public_read and all(
                    requirement.required_role is Role.reader for requirement in requirements
                )
                # An empty requirement: anonymous callers are let through (public reads).
                operation["security"] = [{}, {BEARER: []}] if public else [{BEARER: []}]
            else:
                operation["security"] = []
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the finished document at /openapi.json for this app (built once, then cached)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish_openapi(build(), app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
