"""The change feed followed live, for the change stream (``GET /changes/stream``): one per process.

Every stream reads through ``changes_feed``, the same query as ``/changes``, so it keeps the
feed's promise (every committed revision once, in one order, across processes). What this adds
is when to read, and reading once for many streams:

- **Wake-ups.** PostgreSQL: one connection per process LISTENs on ``claims_revisions``, which a
  statement-level trigger on ``revision`` notifies at commit (migration
  ``2026-11-30_revision_notify``), plus a re-read every ``stream_recheck_seconds`` for a feed
  held back by a transaction that wrote no revision. SQLite (and PostgreSQL behind a
  transaction pooler, where LISTEN cannot work): a re-read every ``stream_poll_seconds``, and
  at once after this process's own writes commit (``Database.on_write``).
- **One read per wake-up per process.** The tail keeps the newest stretch of the feed in
  memory (``CAPACITY`` revisions, each serialised once). A stream whose cursor is in it takes
  the revisions after its cursor from there; only a stream catching up from an older cursor
  reads its own pages, and joins the tail once it reaches it. Those pages are the whole feed,
  filtered here, not by the query: a stream filtered to a rare entity type still advances its
  cursor to the end, where the tail serves it. The stretch is contiguous in the
  feed's order (the tail reads on from its own last position), so taking "what follows my
  cursor" from it is exactly what the query would answer.
- The tail starts at a position a stream was handed by the feed itself (or 0), never at a
  caller's ``after``, which may name no revision.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psycopg

from app.core.budget import libpq_url
from app.core.db import Database
from app.core.logs import get_logger
from app.core.metrics import STREAM_FEED_READS
from app.core.settings import Settings
from app.history.models import EntityType, Revision, RevisionPublic
from app.history.service import changes_feed

log = get_logger("app.stream")

CHANNEL = "claims_revisions"  # the trigger's (migration 2026-11-30_revision_notify)
CAPACITY = 2_000  # revisions kept in memory; a stream further behind reads its own pages
PAGE = 200  # revisions per read
LISTEN_RETRY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One revision as the stream sends it: ``data`` is the JSON of a /changes item."""

    id: int
    entity_type: str
    event: str  # <entity_type>.<action>
    data: str

    @classmethod
    def of(cls, revision: Revision) -> "FeedEvent":
        public = RevisionPublic.of(revision)
        return cls(
            id=public.id,
            entity_type=str(public.entity_type),
            event=f"{public.entity_type}.{public.action}",
            data=public.model_dump_json(),
        )


class FeedTail:
    """The newest stretch of the change feed in this process, and the streams following it."""

    def __init__(
        self,
        database: Database,
        *,
        interval_seconds: float,
        listen_url: str | None = None,
    ) -> None:
        self._database = database
        self._interval = interval_seconds
        self._listen_url = listen_url
        # The stretch: _events[i] has sequence number _first_seq + i; _seq maps a revision id
        # (and the position before the first event, _base) to its sequence number.
        self._events: list[FeedEvent] = []
        self._first_seq = 0
        self._seq: dict[int, int] = {}
        self._base: int | None = None  # None: not started (no stream has reached the end)
        self._wake = asyncio.Event()
        self._advanced = asyncio.Event()
        self._closing = asyncio.Event()
        self._followers = 0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def wake(self) -> None:
        """Something may have been committed: read the feed (soon, once)."""
        self._wake.set()

    def end_streams(self) -> None:
        """The server is shutting down: every stream ends after what it is sending now."""
        self._closing.set()
        self._notify()

    async def close(self) -> None:
        self.end_streams()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def follow(self, after: int, entity_type: EntityType | None) -> AsyncIterator[FeedEvent]:
        """The revisions after ``after`` (of ``entity_type``), as they are committed, until the
        server shuts down or the caller stops iterating."""
        self._start()
        self._followers += 1
        try:
            async for event in self._follow(after, entity_type):
                yield event
        finally:
            self._followers -= 1
            if self._followers == 0:  # nobody at the end: a later stream starts afresh
                self._reset()

    async def _follow(self, after: int, entity_type: EntityType | None) -> AsyncIterator[FeedEvent]:
        position = after
        # Only a position the feed handed out (or the start) may become the tail's start.
        from_feed = after == 0
        while not self.closing:
            advanced = self._advanced  # taken before looking, so no wake-up is missed
            events = self._after(position)
            if events is None:  # not in the stretch: behind it (or not started)
                events = await self._read(position, kind="own")
                if not events:
                    if self._base is None and from_feed:
                        self._begin_at(position)
                    else:
                        await advanced.wait()
                    continue
                from_feed = True
            elif not events:  # at the end of the stretch
                await advanced.wait()
                continue
            for event in events:
                if entity_type is None or event.entity_type == entity_type:
                    yield event
                position = event.id

    def _after(self, position: int) -> list[FeedEvent] | None:
        """The events after ``position`` in the stretch; None when it is not in the stretch."""
        seq = self._seq.get(position)
        if seq is None:
            return None
        return self._events[seq + 1 - self._first_seq :]

    async def _read(self, position: int, *, kind: str) -> list[FeedEvent]:
        revisions = await self._database.read(
            lambda conn: changes_feed(conn, after=position, limit=PAGE)
        )
        STREAM_FEED_READS.labels(kind).inc()
        return [FeedEvent.of(revision) for revision in revisions]

    def _begin_at(self, position: int) -> None:
        self._base = position
        self._events.clear()
        self._first_seq = 1
        self._seq = {position: 0}
        self.wake()  # a commit may have slipped in since the stream's last read

    def _reset(self) -> None:
        self._base = None
        self._events.clear()
        self._seq.clear()

    def _append(self, events: list[FeedEvent]) -> None:
        for event in events:
            self._seq[event.id] = self._first_seq + len(self._events)
            self._events.append(event)
        excess = len(self._events) - CAPACITY
        if excess > CAPACITY // 4:  # trim in batches, not on every append
            self._base = self._events[excess - 1].id  # the position before the first kept
            del self._events[:excess]
            self._first_seq += excess
            self._seq = {key: seq for key, seq in self._seq.items() if seq >= self._first_seq - 1}

    def _notify(self) -> None:
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()

    # --- the process's one reader and its wake-ups --------------------------------------------

    def _start(self) -> None:
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._run(), name="feed-tail"))
        if self._listen_url is not None:
            self._tasks.append(asyncio.create_task(self._listen(), name="feed-tail-listen"))

    async def _run(self) -> None:
        while not self.closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            if self._followers == 0:
                continue
            try:
                await self._read_to_end()
            except (
                Exception
            ) as exc:  # the database is away: the streams wait, the next wake retries
                log.warning("stream_feed_read_failed", error=str(exc).splitlines()[0])
            self._notify()

    async def _read_to_end(self) -> None:
        while (position := self._last_position()) is not None:
            page = await self._read(position, kind="shared")
            if self._last_position() != position:
                return  # the last stream left meanwhile (a reset): the page is stale
            self._append(page)
            if len(page) < PAGE:
                return

    def _last_position(self) -> int | None:
        return self._events[-1].id if self._events else self._base

    async def _listen(self) -> None:
        """LISTEN on one connection of its own (counted in the connection budget); a lost
        connection is replaced, and every (re)connection wakes the reader, since a
        notification may have been missed meanwhile."""
        assert self._listen_url is not None
        while not self.closing:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._listen_url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.wake()
                    async for _ in conn.notifies():
                        self.wake()
            except psycopg.Error as exc:
                log.warning("stream_listen_lost", error=str(exc).splitlines()[0])
            await asyncio.sleep(LISTEN_RETRY_SECONDS)


def feed_tail_for(database: Database, settings: Settings) -> FeedTail:
    """This process's tail, waking the way its backend allows (the module's docstring)."""
    if database.is_sqlite or settings.db_pooler:
        tail = FeedTail(database, interval_seconds=settings.stream_poll_seconds)
    else:
        url = libpq_url(database.engine.url.render_as_string(hide_password=False))
        tail = FeedTail(database, interval_seconds=settings.stream_recheck_seconds, listen_url=url)
    database.on_write(tail.wake)
    return tail
