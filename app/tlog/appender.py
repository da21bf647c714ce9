"""Keeping the transparency log current from a server process (no web framework).

``catch_up`` appends what the change feed shows beyond the last leaf, one batch per write
transaction (on SQLite each batch takes one turn of the group writer, so requests' writes go
in between); the checkpoint and proof routes await it before they answer. ``Appender`` runs
it every ``tlog_append_seconds`` in the server's lifespan. Several processes may run it at
once: the appender's lock makes them take turns, and a turn that finds nothing new is a read.
"""

from collections.abc import Callable

from app.core.chores import Chore
from app.core.db import Database
from app.core.logs import get_logger
from app.core.settings import Settings
from app.tlog import service

log = get_logger("app.tlog")


async def catch_up(database: Database, stopping: Callable[[], bool] = lambda: False) -> int:
    """Append every revision the feed shows that the log lacks (or stop between two batches
    once ``stopping()``); returns how many."""
    total = 0
    while not stopping() and await database.read(service.is_behind):
        appended = await database.write(service.append_batch)
        total += appended
        if appended < service.BATCH:
            break
    return total


class Appender(Chore):
    """The lifespan's task: ``catch_up`` every few seconds until ``stop``."""

    name = "tlog-appender"
    failed_event = "tlog_append_failed"

    def __init__(self, database: Database, settings: Settings) -> None:
        super().__init__(settings.tlog_append_seconds, log)
        self.database = database

    async def tick(self) -> None:
        appended = await catch_up(self.database, lambda: self.stopping)
        if appended:
            log.debug("tlog_appended", leaves=appended)
