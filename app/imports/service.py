"""Bulk import: upsert claims by ``external_id`` through the claim services, one batch at a time.

A batch runs inside ONE outer transaction on one connection; the session joins it with
``join_transaction_mode="create_savepoint"``, so each service's single commit only releases a
savepoint and every created or changed claim still gets its revision (tagged with the batch id:
request id and reason "import <batch id>"). At the end the outer transaction commits once, or
rolls back (a dry run, or a refused all-or-nothing batch).

The package along its seams:
- ``router`` and ``bodies``: the HTTP side (the body by its media type, the response);
- ``intake``: raw values to records (the ClaimReview mapping), then ``run_import``;
- ``service`` (here): the batch in its transaction, records validated and routed;
- ``batch``: the batch path, records whose ``external_id`` is new, created in one go;
- ``records``: the record path, every other record in a savepoint of its own;
- ``idempotency``: Idempotency-Key answers and the import locks.
"""

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import Connection, Transaction
from sqlmodel import Session

from app.auth.actor import Actor
from app.claims.models import Claim
from app.core import errors
from app.core.db import BEGIN_IMMEDIATE, Database, in_chunks
from app.core.logs import get_logger
from app.core.metrics import IMPORT_ROWS
from app.core.request_record import forget_revisions_since, revisions_mark
from app.imports import batch as batch_path
from app.imports import duplicates, idempotency, records, unchanged
from app.imports.duplicates import DuplicatePolicy
from app.imports.idempotency import ImportAnswer
from app.vocabulary.enums import OnDuplicate, OnError
from app.vocabulary.records import ImportRecord, ImportSummary, RecordDuplicates, RecordError

log = get_logger("app.imports")
OUTCOMES = ("created", "updated", "unchanged", "failed", "skipped")


def run_import(
    database: Database,
    raw_records: list[Any],
    *,
    actor: Actor,
    dry_run: bool,
    on_error: OnError,
    idempotency_key: str | None = None,
    body_fingerprint: str = "",
    policy: DuplicatePolicy = DuplicatePolicy(),
) -> ImportAnswer:
    """One batch in one transaction: replay a stored answer, or import and store the answer."""
    caller_id = actor.key_id or 0
    mark = revisions_mark()
    committed = False
    with (
        idempotency.claim(caller_id, idempotency_key),
        _outer_transaction(database) as (conn, outer),
    ):
        try:
            idempotency.take_locks(conn, caller_id, idempotency_key)
            if idempotency_key:
                stored = idempotency.stored_answer(
                    conn, caller_id, idempotency_key, body_fingerprint
                )
                if stored is not None:
                    outer.rollback()
                    return stored
            batch_id = uuid.uuid4().hex
            with database.session_on(conn) as session:
                summary = import_batch(
                    session, conn, raw_records, actor=actor, batch_id=batch_id, policy=policy
                )
            summary.dry_run = dry_run
            if summary.failed and on_error is OnError.stop:
                outer.rollback()
                _log_batch(summary, records=len(raw_records), result="refused")
                raise errors.ImportRefused(
                    f"{summary.failed} of {len(raw_records)} records failed; nothing was "
                    "imported (send on_error=skip to import the others).",
                    errors=[error.model_dump(mode="json") for error in summary.errors],
                    summary=summary.model_dump(mode="json", exclude={"errors"}),
                )
            answer = ImportAnswer(summary.model_dump_json().encode())
            if dry_run:
                outer.rollback()
                _log_batch(summary, records=len(raw_records), result="dry_run")
                return answer
            if idempotency_key:
                idempotency.store_answer(conn, caller_id, idempotency_key, body_fingerprint, answer)
            outer.commit()
            committed = True
            _log_batch(summary, records=len(raw_records), result="committed")
            for outcome in OUTCOMES:
                IMPORT_ROWS.labels(outcome).inc(getattr(summary, outcome))
            return answer
        except BaseException:
            if outer.is_active:
                outer.rollback()
            raise
        finally:
            if not committed:  # rolled back: its revisions are not in the history
                forget_revisions_since(mark)


def _log_batch(summary: ImportSummary, *, records: int, result: str) -> None:
    """The batch's event: ``result`` is committed, dry_run (rolled back on purpose) or refused
    (a record failed under on_error=stop: nothing written)."""
    log.info(
        "import_batch",
        batch_id=summary.batch_id,
        records=records,
        created=summary.created,
        updated=summary.updated,
        unchanged=summary.unchanged,
        failed=summary.failed,
        result=result,
    )


@contextmanager
def _outer_transaction(database: Database) -> Iterator[tuple[Connection, Transaction]]:
    if database.bind is not None:  # tests: already inside the test's outer transaction
        yield database.bind, database.bind.begin_nested()
        return
    engine = database.engine.execution_options(**{BEGIN_IMMEDIATE: True})
    with engine.connect() as conn:
        yield conn, conn.begin()


def import_batch(
    session: Session,
    conn: Connection,
    raw_records: list[Any],
    *,
    actor: Actor,
    batch_id: str,
    policy: DuplicatePolicy = DuplicatePolicy(),
) -> ImportSummary:
    """Apply every record on ``conn``: new external_ids by the batch path, the others (and
    the repeats within the batch) by the record path, in order; then the new claims' likely
    duplicates (duplicates.py). The caller commits or rolls back."""
    summary = ImportSummary(batch_id=batch_id, dry_run=False)
    batch = records.Batch(session, conn, replace(actor, request_id=batch_id), f"import {batch_id}")
    outcomes: dict[int, str] = {}
    failures: list[RecordError] = []
    valid = _validated(raw_records, outcomes, failures)
    stored = _known_external_ids(conn, [record.external_id for _, record in valid])
    known = set(stored)
    new: list[tuple[int, ImportRecord]] = []
    rest: list[tuple[int, ImportRecord]] = []
    for index, record in valid:
        # A repeat within the batch follows its first occurrence, through the record path.
        if record.external_id in known:
            rest.append((index, record))
        else:
            known.add(record.external_id)
            new.append((index, record))
    reports: list[RecordDuplicates] = []
    if policy.on_duplicate is OnDuplicate.skip:
        new, reports = duplicates.skip_duplicates(batch, new, outcomes, policy)
    rest.extend(batch_path.create_new(batch, new, outcomes, failures))
    # Stored claims the batch names once are compared in bulk; the equal ones are answered
    # unchanged without a write, the others take the record path.
    repeats = Counter(record.external_id for _, record in valid)
    candidates = [
        (index, record)
        for index, record in rest
        if record.external_id in stored and repeats[record.external_id] == 1
    ]
    equal = unchanged.find_unchanged(batch, candidates)
    for index in equal:
        outcomes[index] = "unchanged"
    rest = [(index, record) for index, record in rest if index not in equal]
    for index, record in sorted(rest, key=lambda pair: pair[0]):
        try:
            outcomes[index] = records.apply_in_savepoint(batch, record)
        except records.RECORD_ERRORS as exc:
            outcomes[index] = "failed"
            failures.append(records.record_error(index, record.external_id, exc))
    reports.extend(duplicates.match_created(batch, new, outcomes, policy))
    for outcome in outcomes.values():
        setattr(summary, outcome, getattr(summary, outcome) + 1)
    summary.errors = sorted(failures, key=lambda error: error.index)
    summary.duplicates = sorted(reports, key=lambda report: report.index)
    return summary


def _validated(
    raw_records: list[Any], outcomes: dict[int, str], failures: list[RecordError]
) -> list[tuple[int, ImportRecord]]:
    """The records that are valid import records; the others are failed, each error named."""
    valid: list[tuple[int, ImportRecord]] = []
    for index, raw in enumerate(raw_records):
        external_id = raw.get("external_id") if isinstance(raw, dict) else None
        try:
            valid.append((index, ImportRecord.model_validate(raw)))
        except ValidationError as exc:
            outcomes[index] = "failed"
            failures.extend(
                RecordError(
                    index=index,
                    external_id=external_id if isinstance(external_id, str) else None,
                    field=records.field_of(err["loc"]),
                    message=err["msg"],
                    type=err["type"],
                )
                for err in exc.errors()
            )
    return valid


def _known_external_ids(conn: Connection, external_ids: list[str]) -> set[str]:
    table = Claim.__table__  # type: ignore[attr-defined]
    known: set[str] = set()
    for chunk in in_chunks(external_ids):
        statement = sa.select(table.c.external_id).where(table.c.external_id.in_(chunk))
        known.update(conn.execute(statement).scalars())
    return known
