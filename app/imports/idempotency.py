"""Idempotency-Key answers (stored, replayed, purged after 24 h) and the import locks.

A batch sent with an Idempotency-Key stores its summary in the same transaction as its writes;
a retry with the same key and body gets that summary back instead of importing again, one with
another body is refused. While the first request still runs, a retry is refused at once (409):
in this process by ``claim``, across workers (PostgreSQL) by ``take_locks``.
"""

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import Connection, text

from app.core import errors
from app.core.base import utcnow
from app.imports.models import IdempotencyKey

IDEMPOTENCY_TTL = timedelta(hours=24)
# PostgreSQL: batches run one at a time (SQLite's BEGIN IMMEDIATE already does this), so a
# batch never races another for the same external_id: one left running by a client that went
# away finishes before the client's retry looks for what landed.
IMPORT_LOCK_KEY = 7_311_942_002
# PostgreSQL: a transaction-level lock per (caller, Idempotency-Key), in the two-int key space
# (apart from the bigint locks above), so a retry that reaches ANOTHER worker while the first
# request still runs gets 409 at once instead of queueing behind it.
IDEMPOTENCY_LOCK_SPACE = 731_194
# Only a batch that was imported and committed stores its answer: the summary, 200 OK.
_STORED_STATUS = 200
_running: set[tuple[int, str]] = set()
_running_lock = threading.Lock()
_table = IdempotencyKey.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ImportAnswer:
    """The summary of a batch as JSON, and whether it is a stored one replayed."""

    body: bytes
    replayed: bool = False


def fingerprint(body: bytes, *parts: str) -> str:
    """What a retry must repeat to be the same request: the body and the options."""
    digest = hashlib.sha256(body)
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


def idempotency_lock(caller_id: int, key: str) -> int:
    """The 32-bit lock key of one caller's Idempotency-Key (a clash only costs a retry)."""
    digest = hashlib.sha256(f"{caller_id}\0{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


def _still_running() -> errors.Conflict:
    return errors.Conflict("A request with this Idempotency-Key is still running; retry later.")


@contextmanager
def claim(caller_id: int, key: str | None) -> Iterator[None]:
    """This process runs one request per (caller, key) at a time; a second one is refused."""
    if not key:
        yield
        return
    caller = (caller_id, key)
    with _running_lock:
        if caller in _running:
            raise _still_running()
        _running.add(caller)
    try:
        yield
    finally:
        with _running_lock:
            _running.discard(caller)


def take_locks(conn: Connection, caller_id: int, key: str | None) -> None:
    """PostgreSQL, in the batch's transaction: refuse a request whose key another worker is
    running, then wait for the import lock (one batch at a time). SQLite: nothing to do, the
    transaction's BEGIN IMMEDIATE already lets one writer in."""
    if conn.dialect.name != "postgresql":
        return
    if (
        key
        and not conn.execute(
            text("SELECT pg_try_advisory_xact_lock(:space, :key)"),
            {"space": IDEMPOTENCY_LOCK_SPACE, "key": idempotency_lock(caller_id, key)},
        ).scalar_one()
    ):
        raise _still_running()
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})


def stored_answer(
    conn: Connection, caller_id: int, key: str, body_fingerprint: str
) -> ImportAnswer | None:
    """The answer stored for this key in the last 24 h, if any (refused if it was another
    body's); when there is none, expired answers are purged first."""
    cutoff = utcnow() - IDEMPOTENCY_TTL
    row = conn.execute(
        sa.select(_table.c.fingerprint, _table.c.response_body, _table.c.id)
        .where(_table.c.caller_id == caller_id, _table.c.key == key)
        .where(_table.c.created_at > cutoff)
    ).first()
    if row is None:
        # This request will store an answer: first purge every expired one, this key's
        # included (not a tracked table: a plain DELETE on the created_at index), so the
        # table holds at most a day of keys. A dry or refused batch rolls the purge back too.
        conn.execute(sa.delete(_table).where(_table.c.created_at <= cutoff))
        return None
    if row.fingerprint != body_fingerprint:
        raise errors.RuleViolation(
            "This Idempotency-Key was used with another body in the last 24 h; "
            "use a new key for a new batch.",
            rule="idempotency_key_reused",
            field="Idempotency-Key",
        )
    return ImportAnswer(bytes(row.response_body), replayed=True)


def store_answer(
    conn: Connection, caller_id: int, key: str, body_fingerprint: str, answer: ImportAnswer
) -> None:
    """Keep ``answer`` for the retries of this key (in the batch's transaction)."""
    conn.execute(
        sa.insert(_table),
        {
            "caller_id": caller_id,
            "key": key,
            "fingerprint": body_fingerprint,
            "status_code": _STORED_STATUS,
            "response_body": answer.body,
            "created_at": utcnow(),
        },
    )
