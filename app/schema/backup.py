"""``claimtracker backup``: a consistent copy of the SQLite database while the server runs.

The copy is made with SQLite's online backup API from one read transaction: in WAL mode (the
server opens every connection in WAL) that transaction is a snapshot, and it never blocks the
server's writers, so the copy is the database at one moment however long it takes. It goes in
steps with a short pause between them, so a small machine's disk and CPU still serve requests;
while it runs the server's WAL cannot be checkpointed past the snapshot and grows a little.
The copy is written under a temporary name beside FILE, synced, switched to a rollback journal
(one self-contained file, no -wal beside it), and renamed into place only when complete.

PostgreSQL databases are backed up with pg_dump (docs/operations.md); these functions refuse
them with ``NotSqlite``.
"""

import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import make_url

from app.core.logs import get_logger
from app.history.models import VerifyReport
from app.history.verify import verify_history
from app.tables import TRACKED_TABLES

log = get_logger("app.backup")

# 1024 pages (4 MiB at SQLite's default page size) per step, then a pause: the copy's reads
# come in bursts the server's requests can slot between.
PAGES_PER_STEP = 1024
PAUSE_BETWEEN_STEPS_S = 0.002
SQLITE_HEADER = b"SQLite format 3\x00"

POSTGRES_HINT = (
    "back up PostgreSQL with `pg_dump -Fc` and restore with `pg_restore`, then run "
    "`claimtracker verify-history` on the restored database (docs/operations.md, Backups)"
)


class NotSqlite(ValueError):
    """The configured database is not a SQLite file (PostgreSQL: use pg_dump)."""


class BackupRefused(RuntimeError):
    """The backup cannot be made as asked; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    size_bytes: int
    seconds: float


def sqlite_path(database_url: str) -> Path:
    """The file of a SQLite URL; ``NotSqlite`` for PostgreSQL or an in-memory database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise NotSqlite(
            f"the database is {url.get_backend_name()}, not a SQLite file: {POSTGRES_HINT}"
        )
    if url.database in (None, "", ":memory:"):
        raise NotSqlite("the database is an in-memory SQLite database: there is no file to copy")
    return Path(url.database).resolve()


def backup_sqlite(source: Path, target: Path, *, force: bool = False) -> BackupResult:
    """Copy the database at ``source`` into ``target`` (see the module's docstring)."""
    target = target.resolve()
    if target == source:
        raise BackupRefused(f"{target} is the database itself; name another file")
    if target.exists() and not force:
        raise BackupRefused(f"{target} exists; pass --force to replace it")
    if not target.parent.is_dir():
        raise BackupRefused(f"{target.parent} is not a directory")
    if not source.is_file():
        raise BackupRefused(f"the database {source} does not exist")
    started = time.perf_counter()
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        _copy(source, partial)
        _fsync(partial)
        os.replace(partial, target)
        _fsync(target.parent)
    finally:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{partial}{suffix}").unlink(missing_ok=True)
    result = BackupResult(target, target.stat().st_size, time.perf_counter() - started)
    log.info("backup_written", path=str(target), bytes=result.size_bytes, seconds=result.seconds)
    return result


def _copy(source: Path, partial: Path) -> None:
    # Created empty and private first: the copy holds the API keys' hashes.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    # mode=rw: a mistyped path fails instead of creating an empty database to copy.
    with (
        closing(sqlite3.connect(f"file:{source}?mode=rw", uri=True, isolation_level=None)) as src,
        closing(sqlite3.connect(partial, isolation_level=None)) as dst,
    ):
        try:
            src.execute("BEGIN")
            src.execute("SELECT count(*) FROM sqlite_schema").fetchone()  # the snapshot starts
            src.backup(dst, pages=PAGES_PER_STEP, progress=_pause)
            src.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise BackupRefused(f"cannot copy {source}: {exc}") from exc
        # The page copy keeps the source's WAL flag; a backup is one file, like any other.
        dst.execute("PRAGMA journal_mode=DELETE")


def _pause(_status: int, _remaining: int, _total: int) -> None:
    time.sleep(PAUSE_BETWEEN_STEPS_S)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- checking a copy -----------------------------------------------------------------------------


def is_sqlite_file(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def integrity_problem(path: Path) -> str | None:
    """None if ``PRAGMA integrity_check`` says ok, else its first complaint."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            first = conn.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if first is not None and first[0] == "ok" else str(first and first[0])


@contextmanager
def read_only(path: Path) -> Iterator[Connection]:
    """A connection to the file that cannot change it (nor turn it to WAL, as the app's engine
    would)."""
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def verify_file(path: Path) -> VerifyReport:
    """``verify-history`` on the SQLite file at ``path``."""
    with read_only(path) as conn:
        return verify_history(conn, TRACKED_TABLES)


def describe(report: VerifyReport) -> str:
    """One line for a verify report, the words ``claimtracker verify-history`` prints."""
    if report.ok:
        return (
            f"history intact: {report.entities_checked} entities, "
            f"{report.revisions_checked} revisions"
        )
    broken = report.first_broken
    assert broken is not None
    return (
        f"history BROKEN at {broken.entity_type} {broken.entity_id} version {broken.version} "
        f"(revision id {broken.revision_id}): {broken.problem}"
    )
