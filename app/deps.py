"""Cross-domain request dependencies: If-Match. (The acting caller: app/auth/dependencies.py.)"""

import re
from typing import Annotated

from fastapi import Depends, Header

from app import errors
from app.history.writes import Expect
from app.settings import get_settings

_ETAG = re.compile(r'^"v(\d{1,18})"$')


def parse_if_match(value: str | None, *, required: bool) -> Expect:
    if value is None:
        return Expect(None, required=required)
    value = value.strip()
    match = _ETAG.match(value)
    if match is None:
        raise errors.PreconditionFailed(
            'If-Match must be one strong ETag as this API sends it, like "v7".'
        )
    return Expect(int(match.group(1)), required=required)


def get_expect(
    if_match: Annotated[
        str | None,
        Header(description='The ETag you last read, like "v7". Required for writes.'),
    ] = None,
) -> Expect:
    return parse_if_match(if_match, required=get_settings().require_if_match)


def get_optional_expect(
    if_match: Annotated[
        str | None, Header(description='Optional: the claim ETag you last read, like "v7".')
    ] = None,
) -> Expect:
    return parse_if_match(if_match, required=False)


ExpectDep = Annotated[Expect, Depends(get_expect)]
OptionalExpectDep = Annotated[Expect, Depends(get_optional_expect)]
