"""Keyset (cursor) pagination: every page costs what the first costs.

A cursor is opaque to clients: base64url of a small JSON document naming the sort and the last
row's sort value and id. Anything that does not decode to exactly that answers 400.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, Field
from sqlalchemy.sql.elements import UnaryExpression

from app.core import errors
from app.vocabulary.types import MAX_ID, checked_utc

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class PageQuery(BaseModel):
    """Query parameters every collection takes. Subclasses add their filters and set ``sort``'s
    default. Read as one model, which FastAPI parses far faster than many separate ones."""

    sort: str = Field(default="-id", max_length=20, description="A field; - for descending.")
    cursor: str | None = Field(default=None, max_length=512, description="next_cursor of a page.")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


@dataclass(frozen=True, slots=True)
class SortKey:
    """A sort the API offers: a column (or the id itself) and its direction."""

    name: str
    column: Any
    id_column: Any
    descending: bool
    nullable: bool
    is_datetime: bool = True

    @property
    def by_id(self) -> bool:
        return self.column is self.id_column

    def order_by(self) -> list[UnaryExpression[Any]]:
        if self.by_id:
            return [self.id_column.desc() if self.descending else self.id_column.asc()]
        if self.descending:
            return [self.column.desc(), self.id_column.desc()]
        return [self.column.asc(), self.id_column.asc()]


def sort_keys(id_column: Any, columns: dict[str, Any]) -> dict[str, SortKey]:
    """The sorts a collection offers: ``id`` and each named column, ascending and descending."""
    keys: dict[str, SortKey] = {}
    for name, column in {"id": id_column, **columns}.items():
        nullable = bool(column.nullable) and column is not id_column
        # A TypeDecorator (SQLModel's UTCDateTime) reports its python_type through .impl.
        column_type = getattr(column.type, "impl", column.type)
        is_datetime = column is not id_column and column_type.python_type is datetime
        for descending in (False, True):
            key_name = f"-{name}" if descending else name
            keys[key_name] = SortKey(
                key_name, column, id_column, descending, nullable, is_datetime=is_datetime
            )
    return keys


def pick_sort(keys: dict[str, SortKey], name: str) -> SortKey:
    try:
        return keys[name]
    except KeyError:
        raise errors.BadRequest(
            f"Unknown sort {name!r}; use one of: {', '.join(keys)}.", field="sort"
        ) from None


def encode_cursor(sort: SortKey, value: Any, last_id: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = orjson.dumps({"s": sort.name, "v": None if sort.by_id else value, "i": last_id})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(token: str, sort: SortKey) -> tuple[Any, int]:
    bad = errors.BadRequest(
        "The cursor is not one this API issued for this sort; start again from the first page.",
        field="cursor",
    )
    if len(token) > 512:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise bad from None
    if not isinstance(data, dict) or set(data) != {"s", "v", "i"} or data["s"] != sort.name:
        raise bad
    last_id = data["i"]
    # Ids and versions are INTEGER columns: a larger one is a database error on PostgreSQL.
    if not isinstance(last_id, int) or isinstance(last_id, bool) or not 0 <= last_id <= MAX_ID:
        raise bad
    value = data["v"]
    if sort.by_id:
        return None, last_id
    if value is None:
        if not sort.nullable:
            raise bad
        return None, last_id
    # PostgreSQL text cannot hold NUL; the middleware's check never sees inside a cursor.
    if not isinstance(value, str) or len(value) > 1000 or "\x00" in value:
        raise bad
    if not sort.is_datetime:
        return value, last_id
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad from None
    if parsed.utcoffset() is None:
        raise bad
    try:
        # The API only issues stored values; one outside their range was made up.
        return checked_utc(parsed), last_id
    except ValueError:
        raise bad from None
