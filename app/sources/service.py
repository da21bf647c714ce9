"""Source rules: every write records a revision."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func

from app.core.paging import fetch_page, pick_sort, sort_keys
from app.core.rowjson import RowJson
from app.core.text import like_pattern
from app.history.models import EntityType
from app.sources.models import Source, SourceCreate, SourceQuery, SourceUpdate
from app.tracked.service import TrackedService

source_table = Source.__table__  # type: ignore[attr-defined]
ROWS = RowJson(source_table)
SORTS = sort_keys(
    source_table.c.id,
    {"published_at": source_table.c.published_at, "updated_at": source_table.c.updated_at},
)


class SourceService(TrackedService[Source, SourceCreate, SourceUpdate]):
    model = Source
    entity_type = EntityType.source
    update_model = SourceUpdate


SOURCES = SourceService()
create_source = SOURCES.create


def list_sources(conn: Connection, query: SourceQuery) -> tuple[Sequence[Any], str | None]:
    sort = pick_sort(SORTS, query.sort)
    statement = ROWS.select(conn.dialect.name).where(source_table.c.deleted_at.is_(None))
    if query.q:
        pattern = like_pattern(query.q.lower())
        statement = statement.where(
            func.lower(source_table.c.title).like(pattern, escape="\\")
            | func.lower(source_table.c.url).like(pattern, escape="\\")
        )
    if query.outlet_id is not None:
        statement = statement.where(source_table.c.outlet_id == query.outlet_id)
    if query.language is not None:
        statement = statement.where(source_table.c.language == query.language)
    if query.updated_since is not None:
        statement = statement.where(source_table.c.updated_at >= query.updated_since)
    return fetch_page(conn, statement, sort, query.cursor, query.limit)
