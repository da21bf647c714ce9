"""The public pages' per-process cache: rendered bodies reused while nothing new was committed,
and the transparency log's checkpoint signed once per tree size. No web framework.

**When a body is still right.** Every change a page can show is a revision (every write
records one, ``app.history``), and the checkpoint a page shows follows the log's size. So one
statement per request reads a ``Marker``: the change feed's head (``feed_head``: SQLite's
greatest revision id, where one writer at a time makes id order commit order; PostgreSQL's
greatest ``(feed_xid, id)`` below the feed's watermark, since there ids are handed out at
insert and become visible at commit in another order) and the log's size. A body rendered
after reading marker M shows at least everything up to M; when a revision enters the feed the
marker moves and the whole cache is dropped. On PostgreSQL a revision enters the feed once
every transaction older than it has ended, as the change feed promises: a write transaction
left open holds the pages (like the feed) at the moment before it, for as long as it stays
open.

**Size.** The bodies are kept least recently used first out, up to ``pages_cache_mb`` of
bodies; a body larger than an eighth of that is not kept; 0 keeps nothing.
"""

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa

from app.core import errors
from app.core.db import Database
from app.core.logs import get_logger
from app.core.metrics import PAGES_CACHE
from app.core.settings import Settings
from app.history.service import feed_head
from app.tlog.models import CurrentCheckpoint, TlogLeaf
from app.tlog.signing import checkpoint_at

log = get_logger("app.pages")

_leaf_index = TlogLeaf.__table__.c.leaf_index  # type: ignore[attr-defined]


class Marker(NamedTuple):
    """What the database holds now, as far as the pages can tell: the feed's head and the
    transparency log's size."""

    feed_xid: int
    revision_id: int
    tree_size: int


EMPTY = Marker(0, 0, 0)


def _marker_sql(dialect: sa.Dialect) -> str:
    head = feed_head(dialect.name).subquery("head")
    tree_size = sa.select(sa.func.coalesce(sa.func.max(_leaf_index) + 1, 0)).scalar_subquery()
    statement = sa.select(head.c.feed_xid, head.c.id, tree_size.label("tree_size"))
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


_MARKER_SQL: dict[str, str] = {}


async def read_marker(database: Database) -> Marker:
    """One statement of driver SQL (the async pool on PostgreSQL, inline on SQLite)."""
    dialect = database.engine.dialect
    sql = _MARKER_SQL.get(dialect.name)
    if sql is None:
        sql = _MARKER_SQL[dialect.name] = _marker_sql(dialect)
    row = await database.fetch_one(sql, ())
    # No revision in the feed: the log, built from the feed, is empty too.
    return EMPTY if row is None else Marker(row["feed_xid"], row["id"], row["tree_size"])


@dataclass(frozen=True, slots=True)
class Body:
    """A rendered answer and its ETag."""

    content: bytes
    etag: str


class PageCache:
    """Bodies by key (route and query), valid for one marker."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._marker: Marker | None = None
        self._bodies: OrderedDict[Hashable, Body] = OrderedDict()
        self._bytes = 0

    def get(self, marker: Marker, key: Hashable) -> Body | None:
        """The body kept for ``key`` if nothing was committed since it was rendered. A new
        marker drops every body."""
        if marker != self._marker:
            self._marker = marker
            self._bodies.clear()
            self._bytes = 0
        body = self._bodies.get(key)
        if body is None:
            PAGES_CACHE.labels("miss").inc()
            return None
        self._bodies.move_to_end(key)
        PAGES_CACHE.labels("hit").inc()
        return body

    def put(self, marker: Marker, key: Hashable, body: Body) -> None:
        """Keep ``body``, rendered after reading ``marker``, unless the cache has moved on to
        another marker meanwhile."""
        size = len(body.content)
        if marker != self._marker or size > self._max_bytes // 8:
            return
        previous = self._bodies.pop(key, None)
        if previous is not None:
            self._bytes -= len(previous.content)
        self._bodies[key] = body
        self._bytes += size
        while self._bytes > self._max_bytes:
            _, dropped = self._bodies.popitem(last=False)
            self._bytes -= len(dropped.content)

    def __len__(self) -> int:
        return len(self._bodies)


class CheckpointCache:
    """The signed checkpoint of the last tree size asked for: the root is read and the note
    signed once per size, not per request. None when the server has no signing key (the
    pages then show no checkpoint)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._size: int | None = None
        self._checkpoint: CurrentCheckpoint | None = None
        self._warned = False

    async def at(self, database: Database, size: int) -> CurrentCheckpoint | None:
        if size == self._size:
            return self._checkpoint
        settings = self._settings
        try:
            checkpoint: CurrentCheckpoint | None = await database.read(
                lambda conn: checkpoint_at(conn, settings, size), snapshot=True
            )
        except errors.Unavailable as exc:  # no key file (or a misnamed key): show none
            if not self._warned:
                log.warning("pages_without_checkpoint", detail=exc.detail)
                self._warned = True
            checkpoint = None
        self._size, self._checkpoint = size, checkpoint
        return checkpoint


class PagesState:
    """One per app: the page cache and the checkpoint cache."""

    def __init__(self, settings: Settings) -> None:
        self.pages = PageCache(int(settings.pages_cache_mb * 1024 * 1024))
        self.checkpoints = CheckpointCache(settings)
