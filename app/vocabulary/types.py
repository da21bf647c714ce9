"""Checked field types every request model uses: ids, timestamps, URLs, language tags, country
codes, domain names, aliases and topics. (SQLModel's Field(regex=...) is silently ignored under
pydantic 2, so the patterns live in the annotation.)"""

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

# Ids and versions live in INTEGER columns, 32-bit on PostgreSQL: a larger number there is a
# database error, not a "not found". Every id and version the API takes is bounded by this, the
# same on SQLite, so both backends answer alike (422) and the OpenAPI document says so.
MAX_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
# revision.id is BIGINT on PostgreSQL (and SQLite's INTEGER is 64-bit): the change feed's cursor.
MAX_REVISION_ID = 2**63 - 1

# What a timestamp column can hold and hand back: Python's datetime range, less a day at each
# end. PostgreSQL returns timestamptz in the session's time zone, and psycopg cannot build a
# datetime for 9999-12-31T23:00Z seen from UTC+14 (nor 0001-01-01T00:00Z from UTC-5): such a
# stored value would make its row unreadable. A day of margin covers every zone.
EARLIEST_DATETIME = datetime(1, 1, 2, tzinfo=UTC)
LATEST_DATETIME = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
DATETIME_RANGE_MESSAGE = (
    "must lie between 0001-01-02T00:00:00Z and 9999-12-30T23:59:59.999999Z once converted to UTC"
)


def checked_utc(value: datetime) -> datetime:
    """``value`` in UTC, if the database can store it; naive values are taken as UTC.

    Compared before converting: converting 0001-01-01T00:00:00+05:00 to UTC overflows.
    """
    if value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST_DATETIME <= value <= LATEST_DATETIME:
        raise ValueError(f"The timestamp {DATETIME_RANGE_MESSAGE}.")
    return value.astimezone(UTC)


# Every timestamp a client sends (bodies, filters): a 422 naming the range instead of an
# OverflowError in the driver.
def refuse_numbers(value: object) -> object:
    """The document says an ISO 8601 string; pydantic alone would also take 0.5 or "0.5"
    (Unix seconds), which no client reading the document would send on purpose."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("A timestamp is an ISO 8601 string, like 2026-01-31T12:00:00Z.")
    return value


_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
UtcDatetime = Annotated[datetime, BeforeValidator(refuse_numbers), AfterValidator(checked_utc)]

# A URL is kept exactly as given: it is also a uniqueness key.
URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*$"
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
DOMAIN_PATTERN = r"^([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
HttpUrl = Annotated[str, StringConstraints(pattern=URL_PATTERN, max_length=2000)]
LanguageTag = Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN, max_length=35)]
DomainName = Annotated[str, StringConstraints(pattern=DOMAIN_PATTERN, max_length=253)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]

# Another spelling of a speaker's name; a topic, kept lowercase.
Alias = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Topic = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=64)
]
