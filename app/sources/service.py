"""Source rules: every write records a revision."""

import operator
from typing import Any

from app.core.db import Database
from app.core.pages import KeysetList, Page, compare, equals, like_any
from app.core.paging import sort_keys
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


_c = source_table.c
SOURCE_LIST = KeysetList(
    ROWS,
    SORTS,
    {
        "q": like_any((_c.title, _c.url), "q"),
        "outlet_id": equals(_c.outlet_id, "outlet_id"),
        "language": equals(_c.language, "language"),
        "updated_since": compare(_c.updated_at, operator.ge, "updated_since"),
    },
)


async def list_sources(database: Database, query: SourceQuery) -> Page:
    filters: dict[str, Any] = {"q": like_pattern(query.q.lower())} if query.q else {}
    for name in ("outlet_id", "language", "updated_since"):
        if (value := getattr(query, name)) is not None:
            filters[name] = value
    return await SOURCE_LIST.page(database, filters, query.sort, query.cursor, query.limit)
