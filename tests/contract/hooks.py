"""Schemathesis hooks for the contract tests and `make fuzz` (schemathesis.toml names this).

schemathesis.toml lets a schema-valid request be refused with 400 or 422 because some rules
cannot be written in a schema (a desk rule, a cursor this API did not issue). This check makes
sure that allowance never hides a real mismatch: a schema-valid request must never fail the
API's own schema validation or JSON parsing.
"""

import re
from typing import Any

import schemathesis

# Problem types that mean "your request does not match the documented schema".
SCHEMA_REJECTIONS = frozenset(
    {
        "urn:claimtracker:problem:validation-error",
        "urn:claimtracker:problem:malformed-json",
        "urn:claimtracker:problem:nul-character",
        "urn:claimtracker:problem:unsupported-media-type",
    }
)


@schemathesis.check
def schema_valid_requests_pass_validation(
    ctx: Any, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not _headers_match(case):
        return None
    if response.status_code not in (400, 413, 415, 422):
        return None
    try:
        problem = response.json()
    except ValueError:
        return None
    kind = problem.get("type") if isinstance(problem, dict) else None
    if kind in SCHEMA_REJECTIONS:
        raise AssertionError(
            f"A schema-valid request was refused as not matching the schema: "
            f"{response.status_code} {kind}: {problem.get('errors') or problem.get('detail')}"
        )
    return None


def _headers_match(case: schemathesis.Case) -> bool:
    """Whether the headers the case sends match their declared patterns. schemathesis's
    coverage phase (4.32) labels some cases positive whose optional header breaks its pattern
    ("All required properties and optional 'if-match'" sends ``if-match: 0``); such a case is
    not schema-valid, and refusing it is right."""
    sent = {name.lower(): value for name, value in (case.headers or {}).items()}
    for parameter in case.operation.headers:
        pattern = parameter.definition.get("schema", {}).get("pattern")
        value = sent.get(parameter.name.lower())
        if pattern and isinstance(value, str) and not re.search(pattern, value):
            return False
    return True
