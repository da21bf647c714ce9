"""Running the similar-claims matcher from a server process (no web framework).

``take_turn`` matches the next new claims the change feed shows (app/matching/suggestions.py):
the searches in a read, then the cursor and the pairs in one short write, so writers wait for
no search. ``Matcher`` runs turns in the server's lifespan as a background chore: every
``similar_match_seconds``, and one turn after another while the process is idle (no request
served, and none served beside another within the last tick: ``RequestCounts.busy``), so a
large import's claims are matched while the desk is quiet, and a busy process gives a turn
only every ``BUSY_TURN_EVERY`` ticks. ``POST /claims`` takes one turn right after its answer
when it is the only request of an otherwise idle process, so a checker's new claim is matched
at once.
Several processes may run turns at once: each page is stored by one of them (the cursor's
compare-and-set).
"""

import threading
from collections.abc import Callable
from weakref import WeakKeyDictionary

from sqlmodel import Session

from app.core.chores import Chore
from app.core.db import Database
from app.core.logs import get_logger
from app.core.settings import Settings
from app.matching import suggestions

log = get_logger("app.matching")
BUSY_TURN_EVERY = 10  # ticks: a process that is never idle still matches, more slowly


# One turn at a time per database in a process: concurrent turns would read and search the
# same page, and all but one would find the cursor moved and throw their work away.
_turn_locks: "WeakKeyDictionary[Database, threading.Lock]" = WeakKeyDictionary()


async def take_turn(database: Database, *, claims: int, threshold: float) -> int | None:
    """One turn: match up to ``claims`` new claims and store their suggestions. Returns how
    many claims it matched (0: the page held none, or another process stored it first); None
    when the feed shows nothing new, or this process is taking a turn already (that one goes
    on while there is work)."""
    lock = _turn_locks.setdefault(database, threading.Lock())
    if not lock.acquire(blocking=False):
        return None
    try:
        return await _take_turn(database, claims=claims, threshold=threshold)
    finally:
        lock.release()


async def _take_turn(database: Database, *, claims: int, threshold: float) -> int | None:
    turn = await read(database, claims=claims, threshold=threshold)
    if turn is None:
        return None
    return turn.claims if await store(database, turn) else 0


async def read(database: Database, *, claims: int, threshold: float) -> suggestions.Turn | None:
    """A turn's first step, in a read: the next feed page and its new claims' searches."""
    return await database.read(
        lambda conn: suggestions.read_turn(conn, claims_at_most=claims, threshold=threshold),
        snapshot=True,
    )


async def store(database: Database, turn: suggestions.Turn) -> bool:
    """A turn's second step, one short write: False if another turn stored the page first."""

    def work(session: Session) -> bool:
        stored = suggestions.store_turn(session.connection(), turn)
        session.commit()
        return stored

    return await database.write(work)


class Matcher(Chore):
    """The lifespan's task: turns until ``stop`` (``busy`` says whether the process is serving
    requests, or served two at once a moment ago)."""

    name = "similar-matcher"
    failed_event = "similar_match_failed"

    def __init__(self, database: Database, settings: Settings, busy: Callable[[], bool]) -> None:
        super().__init__(settings.similar_match_seconds, log)
        self.database = database
        self.claims = settings.similar_match_claims
        self.threshold = settings.similar_suggest_threshold
        self.busy = busy
        self._ticks = 0

    async def tick(self) -> None:
        """Turns while there is work: the first one if the process is idle or has been busy
        for ``BUSY_TURN_EVERY`` ticks, the next ones while it stays idle (and no other turn of
        this process is running)."""
        self._ticks += 1
        if self.busy() and self._ticks < BUSY_TURN_EVERY:
            return
        self._ticks = 0
        while True:
            matched = await take_turn(self.database, claims=self.claims, threshold=self.threshold)
            if matched:
                log.debug("similar_matched", claims=matched)
            if matched is None or self.busy() or self.stopping:
                return
