"""``claimtracker restore``: put a backup in place of the SQLite database, after checking it.

The backup is never changed: it is copied beside the database first, and every check and any
migration runs on that private copy. The checks: a SQLite file, ``PRAGMA integrity_check`` ok,
a migration this code knows (an older one is migrated up on the copy; a newer one is refused),
and an intact history. Then the swap, only while nothing has the database open (the server must
be stopped: SQLite's own locks tell, see ``_refuse_if_in_use``): the current file and its -wal
and -shm, if any, are renamed to ``<name>.before-restore-<UTC time>`` together (a log never
meets another file's pages), and the checked copy is renamed into place. The restored database
is then verified once more where it lies.
"""

import os
import shutil
import sqlite3
import stat
import uuid
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.core.logs import get_logger
from app.history.models import VerifyReport
from app.schema.backup import (
    describe,
    integrity_problem,
    is_sqlite_file,
    read_only,
    verify_file,
)
from app.schema.migrate import upgrade
from app.schema.versions import schema_state

log = get_logger("app.backup")

SIDE_FILES = ("-wal", "-shm", "-journal")


class RestoreRefused(RuntimeError):
    """The backup failed a check, or the database cannot be replaced now; one line says why."""


@dataclass(frozen=True, slots=True)
class RestoreResult:
    database: Path
    replaced: Path | None  # where the database that was there went; None if there was none
    migrated_from: str | None  # the backup's migration, when it was older than the code's
    checked: VerifyReport  # the backup's history, checked before the swap
    restored: VerifyReport  # the restored database's history, checked after it


def restore_sqlite(backup: Path, database: Path) -> RestoreResult:
    backup, database = backup.resolve(), database.resolve()
    _refuse_unreadable(backup)
    if backup == database:
        raise RestoreRefused(f"{backup} is the configured database itself")
    if not database.parent.is_dir():
        raise RestoreRefused(f"{database.parent}, the database's directory, does not exist")
    staged = database.with_name(f".{database.name}.restore-{uuid.uuid4().hex[:8]}.partial")
    try:
        os.close(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        shutil.copyfile(backup, staged)
        migrated_from, checked = _check(staged, name=backup.name)
        _refuse_if_in_use(database)
        replaced = _swap(staged, database)
    finally:
        for suffix in ("", *SIDE_FILES):
            Path(f"{staged}{suffix}").unlink(missing_ok=True)
    restored = verify_file(database)
    log.info(
        "database_restored", backup=str(backup), database=str(database), replaced=str(replaced)
    )
    return RestoreResult(database, replaced, migrated_from, checked, restored)


def _refuse_unreadable(backup: Path) -> None:
    if not backup.is_file():
        raise RestoreRefused(f"{backup}: no such file")
    if not is_sqlite_file(backup):
        raise RestoreRefused(f"{backup} is not a SQLite database")
    wal = Path(f"{backup}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise RestoreRefused(
            f"{backup} has a write-ahead log beside it ({wal.name}): it is a live database or "
            "a copy without its log; restore a file `claimtracker backup` wrote"
        )


def _check(staged: Path, *, name: str) -> tuple[str | None, VerifyReport]:
    """Integrity, schema version (migrating an older copy up), history: on the private copy."""
    problem = integrity_problem(staged)
    if problem is not None:
        raise RestoreRefused(f"{name} is corrupt: integrity_check says {problem!r}")
    with read_only(staged) as conn:
        state = schema_state(conn)
    if state.current is None:
        raise RestoreRefused(f"{name} is not a claim tracker database (no migration recorded)")
    if state.ahead:
        raise RestoreRefused(f"{name} is ahead of this code: {state.ahead_message()}")
    migrated_from = None
    if not state.at_head:
        migrated_from = state.current
        upgrade(f"sqlite:///{staged}")
    _one_file(staged)
    report = verify_file(staged)
    if not report.ok:
        raise RestoreRefused(f"{name} failed verification: {describe(report)}")
    return migrated_from, report


def _one_file(path: Path) -> None:
    """Fold the WAL a migration left into the file and go back to a rollback journal, so the
    file moves alone."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")


def _refuse_if_in_use(database: Path) -> None:
    """Refuse while any connection (a server, a command) has the database open: in EXCLUSIVE
    locking mode SQLite's first transaction needs every other connection gone, idle ones
    included (they hold the WAL index's shared lock). A server that starts right after this
    check is the operator's to prevent: stop it first."""
    if not database.exists():
        return
    probe = sqlite3.connect(f"file:{database}?mode=rw", uri=True, isolation_level=None, timeout=0)
    try:
        probe.execute("PRAGMA locking_mode=EXCLUSIVE")
        probe.execute("BEGIN EXCLUSIVE")
        probe.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        raise RestoreRefused(
            f"the database {database} is in use ({exc}); stop the server (and any other "
            "claimtracker command on it), then restore"
        ) from exc
    finally:
        probe.close()  # the last connection: SQLite checkpoints and removes the -wal


def _swap(staged: Path, database: Path) -> Path | None:
    replaced = None
    if database.exists():
        # The server's account must keep its access: the copy takes the replaced file's mode.
        os.chmod(staged, stat.S_IMODE(database.stat().st_mode))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        replaced = database.with_name(f"{database.name}.before-restore-{stamp}")
        os.replace(database, replaced)
        for suffix in SIDE_FILES:  # left by a crash: they belong to the replaced file
            side = Path(f"{database}{suffix}")
            if side.exists():
                os.replace(side, f"{replaced}{suffix}")
    os.replace(staged, database)
    fd = os.open(database.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return replaced
