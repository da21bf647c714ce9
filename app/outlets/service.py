"""Outlet rules: every write records a revision."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func

from app.core.paging import fetch_page, pick_sort, sort_keys
from app.core.rowjson import RowJson
from app.core.text import like_pattern
from app.history.models import EntityType
from app.outlets.models import Outlet, OutletCreate, OutletQuery, OutletUpdate
from app.tracked.service import TrackedService

outlet_table = Outlet.__table__  # type: ignore[attr-defined]
ROWS = RowJson(outlet_table)
SORTS = sort_keys(
    outlet_table.c.id, {"name": outlet_table.c.name, "updated_at": outlet_table.c.updated_at}
)


class OutletService(TrackedService[Outlet, OutletCreate, OutletUpdate]):
    model = Outlet
    entity_type = EntityType.outlet
    update_model = OutletUpdate
    not_null = frozenset({"name", "kind"})


OUTLETS = OutletService()
create_outlet = OUTLETS.create


def list_outlets(conn: Connection, query: OutletQuery) -> tuple[Sequence[Any], str | None]:
    sort = pick_sort(SORTS, query.sort)
    statement = ROWS.select(conn.dialect.name).where(outlet_table.c.deleted_at.is_(None))
    if query.q:
        pattern = like_pattern(query.q.lower())
        statement = statement.where(
            func.lower(outlet_table.c.name).like(pattern, escape="\\")
            | func.lower(outlet_table.c.domain).like(pattern, escape="\\")
        )
    if query.kind is not None:
        statement = statement.where(outlet_table.c.kind == query.kind)
    if query.country is not None:
        statement = statement.where(outlet_table.c.country == query.country)
    if query.updated_since is not None:
        statement = statement.where(outlet_table.c.updated_at >= query.updated_since)
    return fetch_page(conn, statement, sort, query.cursor, query.limit)
