"""Outlet rules: every write records a revision."""

import operator
from typing import Any

from app.core.db import Database
from app.core.pages import KeysetList, Page, compare, equals, like_any
from app.core.paging import sort_keys
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


_c = outlet_table.c
OUTLET_LIST = KeysetList(
    ROWS,
    SORTS,
    {
        "q": like_any((_c.name, _c.domain), "q"),
        "kind": equals(_c.kind, "kind"),
        "country": equals(_c.country, "country"),
        "updated_since": compare(_c.updated_at, operator.ge, "updated_since"),
    },
)


async def list_outlets(database: Database, query: OutletQuery) -> Page:
    filters: dict[str, Any] = {"q": like_pattern(query.q.lower())} if query.q else {}
    for name in ("kind", "country", "updated_since"):
        if (value := getattr(query, name)) is not None:
            filters[name] = value
    return await OUTLET_LIST.page(database, filters, query.sort, query.cursor, query.limit)
