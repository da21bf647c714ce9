"""API keys: create, list, revoke, and authenticate a presented key.

A key looks like ``ct_<8 hex: the prefix>_<43 url-safe characters>``. Only the SHA-256 of the
whole key is stored (a random 256-bit secret needs no slow hash: nothing to guess from a
dictionary), and it is compared in constant time. The prefix is visible and indexed: it finds
the row without revealing anything about the secret.

Authenticating must stay cheap on hot reads, so a process keeps what it learnt about a prefix
for ``CACHE_SECONDS``: a revoke made in this process takes effect at once, one made elsewhere
(another worker, the CLI) within that time. ``last_used_at`` is written at most once a minute
per key, off the request's path.

Key administration is not tracked in the revision table (its entity types are the desk's
content); a key row itself keeps when it was created, revoked and last used.
"""

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, Row
from sqlmodel import Session, col, select

from app.auth.actor import Actor, Role
from app.auth.models import ApiKey, KeyRole
from app.core import errors
from app.core.base import utcnow
from app.core.logs import get_logger

log = get_logger("app.auth")

KEY_PREFIX = "ct_"
_KEY = re.compile(r"^ct_([0-9a-f]{8})_([A-Za-z0-9_-]{32,128})$")
CACHE_SECONDS = 10.0
TOUCH_EVERY_SECONDS = 60.0
api_key_table = ApiKey.__table__  # type: ignore[attr-defined]
_BY_PREFIX = sa.select(
    api_key_table.c.id,
    api_key_table.c.name,
    api_key_table.c.role,
    api_key_table.c.secret_hash,
    api_key_table.c.revoked_at,
).where(api_key_table.c.prefix == sa.bindparam("prefix"))


@dataclass(frozen=True, slots=True)
class KnownKey:
    """What a process remembers of a key: enough to authenticate without the database."""

    key_id: int
    name: str
    role: Role
    digest: str
    revoked: bool


# How authenticate reads the database: runs the work on a connection, awaitable.
KeyRead = Callable[[Callable[[Connection], KnownKey | None]], Awaitable[KnownKey | None]]


@dataclass(frozen=True, slots=True)
class Caller:
    key_id: int
    name: str
    role: Role
    prefix: str

    def actor(self, request_id: str | None) -> Actor:
        return Actor(name=self.name, role=self.role, key_id=self.key_id, request_id=request_id)


# --- the secret -------------------------------------------------------------------------------


def digest_of(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def new_secret() -> tuple[str, str]:
    """A fresh key and its prefix."""
    prefix = secrets.token_hex(4)
    return f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def prefix_of(raw_key: str) -> str | None:
    """The prefix of a well-formed key; None for anything else."""
    match = _KEY.match(raw_key)
    return match.group(1) if match else None


# --- the in-process cache ---------------------------------------------------------------------


class KeyCache:
    """prefix -> (when learnt, the key or None for "no such key"), for CACHE_SECONDS."""

    def __init__(self, ttl: float = CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, KnownKey | None]] = {}
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, prefix: str) -> tuple[bool, KnownKey | None]:
        """(found in the cache and fresh, the key or None)."""
        entry = self._entries.get(prefix)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return False, None
        return True, entry[1]

    def put(self, prefix: str, known: KnownKey | None) -> None:
        if len(self._entries) > 10_000:  # unknown prefixes must not grow it without bound
            self._entries.clear()
        self._entries[prefix] = (time.monotonic(), known)

    def forget(self, prefix: str) -> None:
        self._entries.pop(prefix, None)

    def clear(self) -> None:
        self._entries.clear()
        self._touched.clear()

    def due_for_touch(self, prefix: str) -> bool:
        """True at most once per TOUCH_EVERY_SECONDS per key (and marks it touched)."""
        now = time.monotonic()
        with self._lock:
            last = self._touched.get(prefix)
            if last is not None and now - last < TOUCH_EVERY_SECONDS:
                return False
            if len(self._touched) > 10_000:
                self._touched.clear()
            self._touched[prefix] = now
            return True


CACHE = KeyCache()


def load_key(conn: Connection, prefix: str) -> KnownKey | None:
    """One indexed read: the key with this prefix, or None."""
    row = conn.execute(_BY_PREFIX, {"prefix": prefix}).first()
    if row is None:
        return None
    return KnownKey(
        key_id=row.id,
        name=row.name,
        role=Role(row.role),
        digest=row.secret_hash,
        revoked=row.revoked_at is not None,
    )


def check(known: KnownKey | None, prefix: str, raw_key: str) -> Caller | None:
    """The caller, if the key matches its stored digest and is not revoked."""
    if known is None:
        digest_of(raw_key)  # the same work as for a known prefix
        return None
    if not hmac.compare_digest(known.digest, digest_of(raw_key)) or known.revoked:
        return None
    return Caller(key_id=known.key_id, name=known.name, role=known.role, prefix=prefix)


async def authenticate(raw_key: str, read: KeyRead) -> Caller | None:
    """The caller a raw key stands for, or None (malformed, unknown, revoked, wrong secret).

    Uses the cache; only a prefix not seen within CACHE_SECONDS costs a database read, made
    through ``read`` (the server's ``Database`` read: inline on SQLite, in the thread pool on
    PostgreSQL), so a cached key touches neither the database nor the thread pool.
    """
    prefix = prefix_of(raw_key)
    if prefix is None:
        return None
    fresh, known = CACHE.get(prefix)
    if not fresh:
        known = await read(lambda conn: load_key(conn, prefix))
        CACHE.put(prefix, known)
    return check(known, prefix, raw_key)


def touch(engine: Engine, key_id: int, bind: Connection | None = None) -> None:
    """Record that a key was used; errors are logged, never raised (the request goes on)."""
    statement = (
        sa.update(api_key_table).where(api_key_table.c.id == key_id).values(last_used_at=utcnow())
    )
    try:
        if bind is not None:
            bind.execute(statement)
            return
        with engine.begin() as conn:
            conn.execute(statement)
    except Exception:  # a busy database must not fail the request that used the key
        log.warning("key_last_used_not_recorded", key_id=key_id, exc_info=True)


# --- administration ---------------------------------------------------------------------------


def create_key(session: Session, name: str, role: KeyRole | Role | str) -> tuple[ApiKey, str]:
    """A new key; returns it and its secret, which is never stored and cannot be shown again."""
    key_role = KeyRole(str(role)) if str(role) in KeyRole.__members__ else None
    if key_role is None:
        raise errors.RuleViolation(
            f"A key's role is one of {', '.join(KeyRole)}; not {role}.",
            rule="key_role",
            field="role",
        )
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise errors.RuleViolation(
            "A key's name has 1 to 100 characters.", rule="key_name", field="name"
        )
    raw_key, prefix = new_secret()
    key = ApiKey(
        name=name,
        prefix=prefix,
        secret_hash=digest_of(raw_key),
        role=key_role,
        created_at=utcnow(),
    )
    session.add(key)
    session.commit()
    CACHE.forget(prefix)
    log.info("key_created", key_id=key.id, key_name=key.name, key_role=str(key.role), prefix=prefix)
    return key, raw_key


def list_keys(conn: Connection, *, include_revoked: bool = True) -> Sequence[Row[Any]]:
    """Every key's row, oldest first (its digest too: callers show only public fields)."""
    table = ApiKey.__table__  # type: ignore[attr-defined]
    statement = sa.select(table).order_by(table.c.id)
    if not include_revoked:
        statement = statement.where(table.c.revoked_at.is_(None))
    return conn.execute(statement).all()


def get_key(session: Session, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise errors.NotFound(f"No API key with id {key_id}.")
    return key


def revoke_key(session: Session, key_id: int, *, at: datetime | None = None) -> ApiKey:
    """Revoke a key (idempotent: a revoked key keeps its first revoked_at)."""
    key = get_key(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = at or utcnow()
        session.add(key)
        session.commit()
        log.info("key_revoked", key_id=key.id, key_name=key.name, prefix=key.prefix)
    CACHE.forget(key.prefix)
    return key


def has_active_admin(session: Session) -> bool:
    statement = (
        select(ApiKey.id)
        .where(col(ApiKey.role) == KeyRole.admin, col(ApiKey.revoked_at).is_(None))
        .limit(1)
    )
    return session.exec(statement).first() is not None
