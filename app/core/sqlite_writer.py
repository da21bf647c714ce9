"""One SQLite writer at a time inside a process.

SQLite lets one transaction write at a time. Without a queue of our own, every writing thread
sends ``BEGIN IMMEDIATE`` and the losers sleep in SQLite's busy handler, whose back-off grows
to 100 ms a try: under 32 concurrent writers that was a p99 of 1.6 s and client timeouts
(PERFORMANCE.md). Here a writer waits on a process-wide lock instead, taken just before
``BEGIN IMMEDIATE`` and released right after the transaction's COMMIT or ROLLBACK returns, so
the next writer starts the moment the database lock is free. Other processes on the same file
still meet at SQLite's own lock (``busy_timeout``).
"""

import asyncio
import contextvars
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlmodel import Session

from app.core.logs import get_logger


class WriterQueueTimeout(sqlite3.OperationalError):
    """No turn to write within the busy timeout: answered like a busy database (503)."""


class WriterLock:
    """The process's writer turn for one database file (one per engine)."""

    def __init__(self, timeout_s: float) -> None:
        self._lock = threading.Lock()
        self._timeout_s = timeout_s

    def acquire(self) -> None:
        if not self._lock.acquire(timeout=self._timeout_s):
            raise WriterQueueTimeout(
                f"database is locked: no turn to write within {self._timeout_s:g} s"
            )

    def release(self) -> None:
        self._lock.release()


class WriterAwareConnection(sqlite3.Connection):
    """A sqlite3 connection that gives the writer turn back when its transaction ends (the
    ``factory`` of ``sqlite3.connect``). Pool resets roll back, so a connection returned
    without a commit releases the turn too."""

    writer_lock: WriterLock | None = None

    def take_turn(self, lock: WriterLock) -> None:
        """Wait for this process's writer turn (before ``BEGIN IMMEDIATE``); kept until the
        transaction ends."""
        if self.writer_lock is None:
            lock.acquire()
            self.writer_lock = lock

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.give_turn_back()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.give_turn_back()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.give_turn_back()

    def give_turn_back(self) -> None:
        lock, self.writer_lock = self.writer_lock, None
        if lock is not None:
            lock.release()


def connect_args() -> dict[str, Any]:
    """What ``create_engine`` passes to ``sqlite3.connect`` for writer-aware connections."""
    return {"check_same_thread": False, "factory": WriterAwareConnection}


# --- group commit ------------------------------------------------------------------------------
#
# With synchronous=FULL every COMMIT waits for an fsync (about 4 ms on these machines), so one
# transaction per request caps SQLite at a few hundred writes a second however short the work.
# The writer thread runs each queued request's work in a SAVEPOINT of one transaction and
# commits the group once: one fsync for all of them, the same durability for each. A request
# is answered only after the COMMIT of its group returned.

MAX_GROUP = 64

log = get_logger("app.db")

T = TypeVar("T")


@dataclass
class _Job:
    work: Callable[[Session], Any]
    future: "Future[Any]"
    # The caller's context variables (request id, log bindings) travel with its work.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    queued_at: float = field(default_factory=time.monotonic)


class GroupAborted(sqlite3.OperationalError):
    """SQLite ended the group's transaction on its own (disk full, I/O error): the work done
    so far in the group was rolled back, so none of it may be acknowledged."""


class GroupCommitWriter:
    """The thread that performs every request's write on one SQLite database."""

    def __init__(
        self,
        connect: Callable[[], Connection],
        session_on: Callable[[Connection], Session],
        *,
        queue_timeout_s: float,
    ) -> None:
        self._connect = connect
        self._session_on = session_on
        self._queue_timeout_s = queue_timeout_s
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    async def write(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` in the writer thread, answered once its group is committed."""
        future: Future[T] = Future()
        self._ensure_started()
        self._jobs.put(_Job(work, future))
        return await asyncio.wrap_future(future)

    def stop(self) -> None:
        """Finish the queued work, then end the thread."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join()

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sqlite-group-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._run_group(job)
            except Exception:  # a bug here must not leave every later write waiting forever
                log.exception("sqlite_writer_group_failed")

    def _next(self) -> _Job | None:
        """The next queued job that has not waited too long, or None when the queue is empty
        (the sentinel goes back for ``_run``)."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return None
            if job is None:
                self._jobs.put(None)
                return None
            if self._still_wanted(job):
                return job

    def _still_wanted(self, job: _Job) -> bool:
        """Start ``job`` unless its caller gave up (cancelled) or it waited past the timeout."""
        if not job.future.set_running_or_notify_cancel():
            return False
        waited = time.monotonic() - job.queued_at
        if waited > self._queue_timeout_s:
            job.future.set_exception(
                WriterQueueTimeout(f"database is locked: no turn to write within {waited:.1f} s")
            )
            return False
        return True

    def _run_group(self, first: _Job) -> None:
        """One transaction: ``first`` and what queues meanwhile, up to MAX_GROUP; then COMMIT
        and answer each (a job that failed gets its own error; its savepoint is undone)."""
        if not self._still_wanted(first):
            return
        done: list[tuple[_Job, Any]] = []
        failed: list[tuple[_Job, BaseException]] = []
        try:
            with self._connect() as conn:
                transaction = conn.begin()
                job: _Job | None = first
                while job is not None:
                    outcome = self._run_job(conn, job)
                    if isinstance(outcome, _Failure):
                        failed.append((job, outcome.exc))
                    else:
                        done.append((job, outcome))
                    if not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
                        raise GroupAborted("the database ended the transaction of a write group")
                    job = self._next() if len(done) + len(failed) < MAX_GROUP else None
                transaction.commit()
        except BaseException as exc:  # nothing of the group is durable: no one is acknowledged
            for job, _ in done:
                job.future.set_exception(exc)
            done = []
            if not first.future.done() and first not in (job for job, _ in failed):
                first.future.set_exception(exc)
        for job, result in done:
            job.future.set_result(result)
        for job, error in failed:
            job.future.set_exception(error)

    def _run_job(self, conn: Connection, job: _Job) -> Any:
        session = self._session_on(conn)
        try:
            result = job.context.run(job.work, session)
        except BaseException as exc:
            return _Failure(exc)
        finally:
            session.close()  # rolls back its savepoint unless the work committed it
        return result


@dataclass
class _Failure:
    exc: BaseException
