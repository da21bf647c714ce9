"""Building responses once: JSON from pydantic in one pass, ETag and Link headers."""

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

import orjson
from pydantic import BaseModel, TypeAdapter
from starlette.datastructures import URL
from starlette.responses import Response

from app.core.rowjson import RowJson

JSON_MEDIA_TYPE = "application/json"


def etag(version: int) -> str:
    """The ETag of a tracked entity at ``version``: ``"v7"``."""
    return f'"v{version}"'


@cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def resource_response(
    body: BaseModel,
    *,
    version: int | None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    all_headers = dict(headers or {})
    if version is not None:
        all_headers["ETag"] = etag(version)
    return Response(
        body.model_dump_json().encode(),
        status_code=status_code,
        media_type=JSON_MEDIA_TYPE,
        headers=all_headers,
    )


def next_link(url: URL, **params: Any) -> str:
    """``Link: <next>; rel="next"`` with a relative target (RFC 8288 resolves it against the
    request's URL): the request's Host header is the client's to choose and must not flow
    into what we answer, and a relative target is right behind any proxy."""
    target = url.include_query_params(**params)
    return f'<{target.path}?{target.query}>; rel="next"'


def _link_headers(url: URL, next_cursor: str | None) -> dict[str, str]:
    if next_cursor is None:
        return {}
    return {"Link": next_link(url, cursor=next_cursor)}


def page_response(
    url: URL, model: type[BaseModel], rows: Iterable[Any], next_cursor: str | None
) -> Response:
    """``{"items": [...], "next_cursor": ...}`` plus ``Link: <next>; rel="next"``, for models
    or ORM objects, validated and dumped in one pass by pydantic-core."""
    adapter = _list_adapter(model)
    items = adapter.validate_python(list(rows), from_attributes=True)
    body = b'{"items":' + adapter.dump_json(items) + b',"next_cursor":'
    body += orjson.dumps(next_cursor) + b"}"
    return Response(body, media_type=JSON_MEDIA_TYPE, headers=_link_headers(url, next_cursor))


def row_response(rows: RowJson, item: dict[str, Any]) -> Response:
    """One entity read by ``RowJson.fetch_by_id``, with its ETag."""
    return item_response(rows.as_json_ready(item))


def item_response(item: dict[str, Any]) -> Response:
    """``row_response`` for a row already made JSON-ready (and perhaps added to)."""
    body = orjson.dumps(item, option=orjson.OPT_UTC_Z)
    return Response(body, media_type=JSON_MEDIA_TYPE, headers={"ETag": etag(item["version"])})


def rows_page_response(
    rows: RowJson, url: URL, page: Sequence[Sequence[Any]], next_cursor: str | None
) -> Response:
    """``{"items": [...], "next_cursor": ...}`` plus ``Link: <next>; rel="next"``, for rows
    selected with ``RowJson.select`` (SQLAlchemy rows or the driver's tuples)."""
    return items_page_response(url, rows.as_dicts(page), next_cursor)


def items_page_response(
    url: URL, items: Sequence[dict[str, Any]], next_cursor: str | None
) -> Response:
    """``rows_page_response`` for rows already made JSON-ready (``RowJson.as_dicts``) and
    perhaps added to (expanded references)."""
    body = orjson.dumps({"items": items, "next_cursor": next_cursor}, option=orjson.OPT_UTC_Z)
    return Response(body, media_type=JSON_MEDIA_TYPE, headers=_link_headers(url, next_cursor))
