"""If-Match on the HTTP side: the header parsed into the version a service expects.

If-Match is a declared, pattern-checked header: FastAPI validates it together with every other
parameter (422), and the version check itself (``Expected.check`` raising a 412, or a 428 when
it is missing and this app requires it) runs in the service, after validation, in the order
the OpenAPI document implies; app/web/problems.py renders those two as problems naming ETags.
"""

import re
from typing import Annotated

from fastapi import Depends, Header, Request

from app.tracked.versions import Expected

# [0-9], not \d: only ASCII digits, as the document's (ECMA) regex reads it.
IF_MATCH_PATTERN = r'^"v[0-9]{1,18}"$'
_ETAG = re.compile(r'^"v([0-9]{1,18})"$')


def parse_if_match(value: str | None, *, required: bool) -> Expected:
    """The version an If-Match value names (the value has passed IF_MATCH_PATTERN)."""
    if value is None:
        return Expected(None, required=required)
    match = _ETAG.match(value.strip())
    if match is None:  # unreachable behind the Header pattern; kept for direct callers
        raise ValueError(f"not an ETag this API sends: {value!r}")
    return Expected(int(match.group(1)), required=required)


def get_expect(
    request: Request,
    if_match: Annotated[
        str | None,
        Header(
            pattern=IF_MATCH_PATTERN,
            description='The ETag you last read, like "v7". Required unless the server '
            "is configured for trusted scripts (CLAIMS_REQUIRE_IF_MATCH=false).",
        ),
    ] = None,
) -> Expected:
    # This app's settings, not the process's: tests and embedders build apps with their own.
    return parse_if_match(if_match, required=request.app.state.settings.require_if_match)


def get_optional_expect(
    if_match: Annotated[
        str | None,
        Header(
            pattern=IF_MATCH_PATTERN,
            description='Optional: the claim ETag you last read, like "v7".',
        ),
    ] = None,
) -> Expected:
    return parse_if_match(if_match, required=False)


ExpectDep = Annotated[Expected, Depends(get_expect)]
OptionalExpectDep = Annotated[Expected, Depends(get_optional_expect)]
