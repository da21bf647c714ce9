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

import asyncio
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
    turn = await database.read(
        lambda conn: suggestions.read_turn(conn, claims_at_most=claims, threshold=threshold),
        snapshot=True,
    )
    if turn is None:
        return None

    def store(session: Session) -> bool:
        stored = suggestions.store_turn(session.connection(), turn)
        session.commit()
        return stored

    return turn.claims if await database.write(store) else 0


class Matcher(Chore):
    """The lifespan's task: turns until ``stop`` (``busy`` says whether the process is serving
    requests, or served two at once a moment ago)."""

    name = "similar-matcher"

    def __init__(self, database: Database, settings: Settings, busy: Callable[[], bool]) -> None:
        super().__init__()
        self.database = database
        self.interval = settings.similar_match_seconds
        self.claims = settings.similar_match_claims
        self.threshold = settings.similar_suggest_threshold
        self.busy = busy

    async def _run(self) -> None:
        ticks = 0
        while True:
            ticks += 1
            if not self.busy() or ticks >= BUSY_TURN_EVERY:
                ticks = 0
                await self._turns()
            await asyncio.sleep(self.interval)

    async def _turns(self) -> None:
        """Turns while there is work, the first one always, the next ones while idle (and no
        other turn of this process is running)."""
        try:
            while True:
                matched = await take_turn(
                    self.database, claims=self.claims, threshold=self.threshold
                )
                if matched is None or self.busy():
                    return
                if matched:
                    log.debug("similar_matched", claims=matched)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database may be down: try again next tick
            log.warning("similar_match_failed", error=type(exc).__name__, detail=str(exc))
