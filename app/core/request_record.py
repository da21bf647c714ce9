"""What one HTTP request did, gathered while it runs, for its log line and its metrics.

The request's middleware (``app.web.request_log``) makes one ``RequestRecord`` per request and
puts it in ``CURRENT``; the code under it adds to that same object: the caller's key
(``app.auth.dependencies``), the time spent in the database (``app.core.db``), the revisions
recorded (``app.history.service``). A holder object, not values in context variables: on SQLite a
write runs in the group writer's thread, which runs the work in a copy of the request's context,
so a variable set there would never come back; appending to the shared object does.

Services write here without knowing about HTTP; outside a request (the CLI, seeds) there is no
record and nothing is kept.
"""

from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    client_request_id: str | None = None
    key_id: int | None = None
    role: str | None = None
    db_seconds: float = 0.0
    # (entity type, action, revision id) of each revision recorded, in order.
    revisions: list[tuple[str, str, int]] = field(default_factory=list)


CURRENT: ContextVar[RequestRecord | None] = ContextVar("claims_request_record", default=None)


def note_revision(entity_type: str, action: str, revision_id: int) -> None:
    record = CURRENT.get()
    if record is not None:
        record.revisions.append((entity_type, action, revision_id))


def revisions_mark() -> int:
    """Where the revisions noted so far end: pass it to ``forget_revisions_since`` when the
    work after it is rolled back (a dry run, a record that failed in its savepoint)."""
    record = CURRENT.get()
    return len(record.revisions) if record is not None else 0


def forget_revisions_since(mark: int) -> None:
    record = CURRENT.get()
    if record is not None:
        del record.revisions[mark:]


def note_caller(key_id: int, role: str) -> None:
    record = CURRENT.get()
    if record is not None:
        record.key_id = key_id
        record.role = role


def add_db_seconds(seconds: float) -> None:
    record = CURRENT.get()
    if record is not None:
        record.db_seconds += seconds
