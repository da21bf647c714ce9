"""Bulk import: upsert claims by ``external_id`` through the claim services, one batch at a time.

A batch runs inside ONE outer transaction on one connection; the session joins it with
``join_transaction_mode="create_savepoint"``, so each service's single commit only releases a
savepoint and every created or changed claim still gets its revision (tagged with the batch id:
request id and reason "import <batch id>"). At the end the outer transaction commits once, or
rolls back (a dry run, or a refused all-or-nothing batch).

Records whose ``external_id`` is new take the batch path: every rule is checked record by
record first, then the new speakers and the new claims (with their evidence, appearances and
verdict) are written by ``speakers_service.create_speakers`` and ``claims_service.
create_claims``, one creation revision per entity and one INSERT per table. The other records
(updates, repeats) take the record path: each in a savepoint of its own, so a failed record is
undone whole.
"""

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import Connection, Transaction, func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.auth.actor import Actor, Role
from app.claims import batch as claims_batch
from app.claims import parts as claims_parts
from app.claims import queries as claims_queries
from app.claims import service as claims_service
from app.claims.models import (
    MAX_APPEARANCES,
    AppearanceCreate,
    Claim,
    ClaimCreate,
    ClaimStatus,
    ClaimUpdate,
    EvidenceCreate,
    StatusChange,
)
from app.core import errors
from app.core.base import utcnow
from app.core.db import BEGIN_IMMEDIATE, Database, in_chunks
from app.core.text import fold
from app.imports.models import (
    IdempotencyKey,
    ImportRecord,
    ImportSummary,
    OnError,
    OutletRef,
    RecordError,
    SourceRef,
    SpeakerRef,
)
from app.outlets import service as outlets_service
from app.outlets.models import Outlet, OutletCreate
from app.sources import service as sources_service
from app.sources.models import Source, SourceCreate
from app.speakers import service as speakers_service
from app.speakers.models import Speaker, SpeakerCreate
from app.tracked.rows import Row
from app.tracked.versions import NO_PRECONDITION

IDEMPOTENCY_TTL = timedelta(hours=24)
# PostgreSQL: batches run one at a time (SQLite's BEGIN IMMEDIATE already does this), so a
# batch never races another for the same external_id: one left running by a client that went
# away finishes before the client's retry looks for what landed.
IMPORT_LOCK_KEY = 7_311_942_002
# PostgreSQL: a transaction-level lock per (caller, Idempotency-Key), in the two-int key space
# (apart from the bigint locks above), so a retry that reaches ANOTHER worker while the first
# request still runs gets 409 at once instead of queueing behind it.
IDEMPOTENCY_LOCK_SPACE = 731_194
CLAIM_FIELDS = frozenset(
    {
        "statement",
        "language",
        "original_quote",
        "original_language",
        "claimed_at",
        "context",
        "place",
        "topics",
        "external_id",
    }
)
_running: set[tuple[int, str]] = set()
_running_lock = threading.Lock()


# --- one batch --------------------------------------------------------------------------------


@dataclass
class _Batch:
    session: Session
    conn: Connection
    actor: Actor
    reason: str
    speakers: dict[tuple[str, str], int] = field(default_factory=dict)
    outlets: dict[tuple[str, str], int] = field(default_factory=dict)
    sources: dict[tuple[str, str], int] = field(default_factory=dict)
    # Cache entries made by the record in progress: forgotten if it fails.
    added: list[tuple[dict[tuple[str, str], int], tuple[str, str]]] = field(default_factory=list)

    def remember(self, cache: dict[tuple[str, str], int], key: tuple[str, str], value: int) -> int:
        cache[key] = value
        self.added.append((cache, key))
        return value

    def forget_record(self) -> None:
        for cache, key in self.added:
            cache.pop(key, None)
        self.added.clear()


class RecordFailed(Exception):
    def __init__(self, message: str, *, field: str | None, type: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.type = type


def _id_by_external_id(session: Session, model: type[Any], external_id: str | None) -> int | None:
    if not external_id:
        return None
    found: int | None = session.exec(
        select(model.id).where(col(model.external_id) == external_id)
    ).first()
    return found


def _find_or_create(
    batch: _Batch,
    cache: dict[tuple[str, str], int],
    key: tuple[str, str],
    find: Callable[[], int | None],
    create: Callable[[], Any],
) -> int:
    """The id of an inline reference: cached for the batch, else found, else created (through
    its service, so the new entity has its revision)."""
    if key in cache:
        return cache[key]
    found = find()
    if found is None:
        found = create().id
    assert found is not None
    return batch.remember(cache, key, found)


def _speaker_key(ref: SpeakerRef) -> tuple[str, str]:
    return ("x", ref.external_id) if ref.external_id else ("n", fold(ref.name or ""))


def _speaker_create(ref: SpeakerRef) -> SpeakerCreate:
    return SpeakerCreate(
        name=ref.name or str(ref.external_id),
        kind=ref.kind,
        role=ref.role,
        affiliation=ref.affiliation,
        country=ref.country,
        aliases=ref.aliases,
        external_id=ref.external_id,
    )


def _speaker_id(batch: _Batch, ref: SpeakerRef) -> int:
    session = batch.session
    return _find_or_create(
        batch,
        batch.speakers,
        _speaker_key(ref),
        lambda: (
            _id_by_external_id(session, Speaker, ref.external_id)
            or (speakers_service.find_speaker_id(session, name=ref.name) if ref.name else None)
        ),
        lambda: speakers_service.create_speaker(
            session, _speaker_create(ref), actor=batch.actor, reason=batch.reason
        ),
    )


def _outlet_by_name(session: Session, name: str | None) -> int | None:
    if not name:
        return None
    found: int | None = session.exec(
        select(Outlet.id)
        .where(func.lower(Outlet.name) == name.lower(), col(Outlet.deleted_at).is_(None))
        .order_by(col(Outlet.id))
    ).first()
    return found


def _outlet_id(batch: _Batch, ref: OutletRef) -> int:
    session = batch.session
    return _find_or_create(
        batch,
        batch.outlets,
        ("x", ref.external_id) if ref.external_id else ("n", (ref.name or "").casefold()),
        lambda: (
            _id_by_external_id(session, Outlet, ref.external_id)
            or _outlet_by_name(session, ref.name)
        ),
        lambda: outlets_service.create_outlet(
            session,
            OutletCreate(
                name=ref.name or str(ref.external_id),
                kind=ref.kind,
                domain=ref.domain,
                external_id=ref.external_id,
            ),
            actor=batch.actor,
            reason=batch.reason,
        ),
    )


def _source_by_url(session: Session, url: str | None) -> int | None:
    if not url:
        return None
    found: int | None = session.exec(select(Source.id).where(col(Source.url) == url)).first()
    return found


def _source_id(batch: _Batch, ref: SourceRef) -> int:
    session = batch.session
    return _find_or_create(
        batch,
        batch.sources,
        ("x", ref.external_id) if ref.external_id else ("u", ref.url or ""),
        lambda: (
            _id_by_external_id(session, Source, ref.external_id) or _source_by_url(session, ref.url)
        ),
        lambda: sources_service.create_source(
            session,
            SourceCreate(
                url=ref.url,
                external_id=ref.external_id,
                title=ref.title,
                outlet_id=_outlet_id(batch, ref.outlet) if ref.outlet else None,
                published_at=ref.published_at,
            ),
            actor=batch.actor,
            reason=batch.reason,
        ),
    )


def _needs_editor(record: ImportRecord, claim: Claim | None) -> bool:
    if record.status is None:
        return False
    current = claim.status if claim is not None else ClaimStatus.unverified
    # Verdicts are stored stripped: compare them so, or a re-run would re-rate every claim.
    verdict = record.verdict.strip() if record.verdict else None
    return record.status != current or verdict != (claim.verdict if claim is not None else None)


def _verdict_forbidden(actor: Actor) -> RecordFailed:
    return RecordFailed(
        f"Importing a verdict needs the editor role; the key {actor.name!r} has the "
        f"{actor.role} role. Leave out status and verdict to import the claim alone.",
        field="status",
        type="forbidden",
    )


def _claim_values(record: ImportRecord) -> dict[str, Any]:
    """The claim fields a record sets (references are resolved separately)."""
    values = record.model_dump(include=set(CLAIM_FIELDS), exclude_unset=True)
    values["external_id"] = record.external_id
    values["statement"] = record.statement
    return values


def _new_evidence(record: ImportRecord, seen: set[tuple[Any, ...]]) -> Iterator[EvidenceCreate]:
    """The record's evidence items the claim does not have yet (``seen``, which grows)."""
    for item in record.evidence:
        key = (item.title, item.url, item.note)
        if key not in seen:
            seen.add(key)
            yield EvidenceCreate(title=item.title, stance=item.stance, url=item.url, note=item.note)


def _new_appearances(
    sources: list[tuple[int, SourceRef]], seen: set[tuple[int, str]]
) -> Iterator[AppearanceCreate]:
    """The record's appearances the claim does not have yet (``seen``, which grows)."""
    for source_id, ref in sources:
        key = (source_id, str(ref.role))
        if key not in seen:
            seen.add(key)
            yield AppearanceCreate(source_id=source_id, role=ref.role, quote=ref.quote)


def _status_change(record: ImportRecord, reason: str) -> StatusChange:
    assert record.status is not None
    verdict = record.verdict.strip() if record.verdict else None
    return StatusChange(status=record.status, verdict=verdict, reason=reason)


def _apply(batch: _Batch, record: ImportRecord) -> str:
    """Upsert one record; returns created, updated or unchanged."""
    session, actor, reason = batch.session, batch.actor, batch.reason
    existing = session.exec(
        select(Claim).where(col(Claim.external_id) == record.external_id)
    ).first()
    if existing is not None and existing.deleted_at is not None:
        raise RecordFailed(
            f"Claim {existing.id} with this external_id was deleted; restore it first.",
            field="external_id",
            type="deleted",
        )
    if _needs_editor(record, existing) and not actor.role.at_least(Role.editor):
        raise _verdict_forbidden(actor)
    values = _claim_values(record)
    if record.speaker is not None:
        values["speaker_id"] = _speaker_id(batch, record.speaker)
    if record.outlet is not None:
        values["outlet_id"] = _outlet_id(batch, record.outlet)
    source_ids = [(_source_id(batch, ref), ref) for ref in record.sources]

    if existing is None:
        claim = claims_service.create_claim(
            session, ClaimCreate.model_validate(values), actor=actor, reason=reason
        )
        outcome = "created"
        evidence_seen: set[tuple[Any, ...]] = set()
        appearances_seen: set[tuple[int, str]] = set()
    else:
        version = existing.version
        claim = claims_service.update_claim(
            session,
            existing.id or 0,
            ClaimUpdate.model_validate(values),
            expect=NO_PRECONDITION,
            actor=actor,
            reason=reason,
        )
        outcome = "unchanged" if claim.version == version else "updated"
        evidence_seen = {
            (item.title, item.url, item.note)
            for item in claims_queries.list_evidence(session.connection(), claim.id or 0)
        }
        appearances_seen = {
            (item.source_id, str(item.role))
            for item in claims_queries.list_appearances(session.connection(), claim.id or 0)
        }
    claim_id = claim.id
    assert claim_id is not None
    version_before_parts = claim.version
    appearances = list(_new_appearances(source_ids, appearances_seen))
    if len(appearances_seen) > MAX_APPEARANCES:  # the claim's own and the new ones
        raise RecordFailed(
            f"A claim holds at most {MAX_APPEARANCES} appearances; with this record's new "
            f"sources claim {claim_id} would have {len(appearances_seen)}.",
            field="sources",
            type="appearance_limit",
        )
    for appearance in appearances:
        claims_parts.add_appearance(
            session, claim_id, appearance, expect=NO_PRECONDITION, actor=actor, reason=reason
        )
    for evidence in _new_evidence(record, evidence_seen):
        claim, _ = claims_parts.add_evidence(
            session, claim_id, evidence, expect=NO_PRECONDITION, actor=actor, reason=reason
        )
    if _needs_editor(record, claim):
        claim = claims_service.set_status(
            session,
            claim_id,
            _status_change(record, reason),
            expect=NO_PRECONDITION,
            actor=actor,
        )
    if outcome == "unchanged" and claim.version != version_before_parts:
        outcome = "updated"
    return outcome


def _field_of(loc: Any) -> str | None:
    parts = [str(part) for part in loc if part not in ("body",)]
    return ".".join(parts) or None


def import_batch(
    session: Session,
    conn: Connection,
    raw_records: list[Any],
    *,
    actor: Actor,
    batch_id: str,
    on_error: OnError,
) -> ImportSummary:
    """Apply every record on ``conn``; the caller commits or rolls back."""
    summary = ImportSummary(batch_id=batch_id, dry_run=False)
    batch = _Batch(session, conn, replace(actor, request_id=batch_id), f"import {batch_id}")
    outcomes: dict[int, str] = {}
    failures: list[RecordError] = []
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
                    field=_field_of(err["loc"]),
                    message=err["msg"],
                    type=err["type"],
                )
                for err in exc.errors()
            )
    known = _known_external_ids(conn, [record.external_id for _, record in valid])
    new: list[tuple[int, ImportRecord]] = []
    rest: list[tuple[int, ImportRecord]] = []
    for index, record in valid:
        # A repeat within the batch follows its first occurrence, through the record path.
        if record.external_id in known:
            rest.append((index, record))
        else:
            known.add(record.external_id)
            new.append((index, record))
    rest.extend(_create_new(batch, new, outcomes, failures))
    for index, record in sorted(rest, key=lambda pair: pair[0]):
        try:
            outcomes[index] = _apply_in_savepoint(batch, record)
        except _RECORD_ERRORS as exc:
            outcomes[index] = "failed"
            failures.append(_record_error(index, record.external_id, exc))
    for outcome in outcomes.values():
        setattr(summary, outcome, getattr(summary, outcome) + 1)
    summary.errors = sorted(failures, key=lambda error: error.index)
    return summary


_RECORD_ERRORS = (errors.AppError, RecordFailed, ValidationError, IntegrityError)


@contextmanager
def _record_savepoint(batch: _Batch) -> Iterator[None]:
    """One record's writes (or the batch path's): kept whole, or undone whole with the cache
    entries they made."""
    session = batch.session
    if session.in_transaction():
        session.commit()
    savepoint = batch.conn.begin_nested()
    try:
        yield
        if session.in_transaction():
            session.commit()
        savepoint.commit()
    except BaseException:
        if session.in_transaction():
            session.rollback()
        if savepoint.is_active:
            savepoint.rollback()
        session.expunge_all()
        batch.forget_record()
        raise
    batch.added.clear()


def _apply_in_savepoint(batch: _Batch, record: ImportRecord) -> str:
    with _record_savepoint(batch):
        return _apply(batch, record)


def _known_external_ids(conn: Connection, external_ids: list[str]) -> set[str]:
    table = Claim.__table__  # type: ignore[attr-defined]
    known: set[str] = set()
    for chunk in in_chunks(external_ids):
        statement = sa.select(table.c.external_id).where(table.c.external_id.in_(chunk))
        known.update(conn.execute(statement).scalars())
    return known


# --- the batch path for new claims ------------------------------------------------------------


@dataclass
class _NewRecord:
    index: int
    record: ImportRecord
    plan: claims_batch.NewClaim
    speaker: int | Row | None  # an id, or the row of a speaker this batch creates


@dataclass
class _SpeakerPlanner:
    """Resolves speaker references exactly as ``_speaker_id`` would, record after record, but
    with the lookups done for the whole batch up front and the new speakers only planned."""

    batch: _Batch
    by_external_id: dict[str, int]
    by_name: dict[str, int]
    planned: list[Row] = field(default_factory=list)
    planned_by_key: dict[tuple[str, str], Row] = field(default_factory=dict)
    planned_by_name: dict[str, Row] = field(default_factory=dict)

    @classmethod
    def prefetch(cls, batch: _Batch, refs: list[SpeakerRef]) -> "_SpeakerPlanner":
        table = Speaker.__table__  # type: ignore[attr-defined]
        external_ids = sorted({ref.external_id for ref in refs if ref.external_id})
        by_external_id: dict[str, int] = {}
        for chunk in in_chunks(external_ids):
            statement = sa.select(table.c.external_id, table.c.id)
            rows = batch.conn.execute(statement.where(table.c.external_id.in_(chunk)))
            by_external_id.update((row[0], row[1]) for row in rows)
        names = [ref.name for ref in refs if ref.name]
        by_name = speakers_service.find_speaker_ids(batch.session, names=names)
        return cls(batch, by_external_id, by_name)

    def resolve(self, ref: SpeakerRef) -> tuple[int | Row, Callable[[], None]]:
        """The speaker for ``ref``, and how to take the plan back if the record fails later."""
        key = _speaker_key(ref)
        if key in self.batch.speakers:
            return self.batch.speakers[key], _nothing
        if key in self.planned_by_key:
            return self.planned_by_key[key], _nothing
        folded = fold(ref.name) if ref.name else None
        found: int | Row | None = None
        if ref.external_id:
            found = self.by_external_id.get(ref.external_id)
        if found is None and folded is not None:
            found = self.by_name.get(folded) or self.planned_by_name.get(folded)
        if isinstance(found, int):
            self.batch.speakers[key] = found
            return found, _nothing
        if found is not None:
            self.planned_by_key[key] = found
            return found, lambda: self.planned_by_key.__delitem__(key)
        speaker = speakers_service.new_speaker_row(_speaker_create(ref))
        names = [fold(alias) for alias in [speaker["name"], *speaker["aliases"]]]
        names = [name for name in dict.fromkeys(names) if name not in self.planned_by_name]
        self.planned.append(speaker)
        self.planned_by_key[key] = speaker
        self.planned_by_name.update((name, speaker) for name in names)

        def undo() -> None:
            assert self.planned[-1] is speaker  # a record's plan is undone before the next
            self.planned.pop()
            del self.planned_by_key[key]
            for name in names:
                del self.planned_by_name[name]

        return speaker, undo


def _nothing() -> None:
    return None


def _create_new(
    batch: _Batch,
    new: list[tuple[int, ImportRecord]],
    outcomes: dict[int, str],
    failures: list[RecordError],
) -> list[tuple[int, ImportRecord]]:
    """Create the claims of records with new external_ids in one go; returns the records
    that must take the record path instead (all of them if the batch write fails)."""
    if not new:
        return []
    refs = [record.speaker for _, record in new if record.speaker is not None]
    planner = _SpeakerPlanner.prefetch(batch, refs)
    planned: list[_NewRecord] = []
    for index, record in new:
        speaker: int | Row | None = None
        undo = _nothing
        try:
            plan = _plan_new_claim(batch, record)
            if record.speaker is not None:
                speaker, undo = planner.resolve(record.speaker)
            if record.outlet is not None or record.sources:
                with _record_savepoint(batch):
                    _resolve_outlet_and_sources(batch, record, plan)
        except _RECORD_ERRORS as exc:
            undo()
            outcomes[index] = "failed"
            failures.append(_record_error(index, record.external_id, exc))
            continue
        planned.append(_NewRecord(index, record, plan, speaker))
    if not planned:
        return []
    try:
        with _record_savepoint(batch):
            speakers_service.create_speakers(
                batch.session, planner.planned, actor=batch.actor, reason=batch.reason
            )
            for item in planned:
                if item.speaker is not None:
                    speaker = item.speaker
                    speaker_id = speaker if isinstance(speaker, int) else speaker["id"]
                    item.plan.claim = item.plan.claim.model_copy(update={"speaker_id": speaker_id})
            results = claims_batch.create_claims(
                batch.session,
                [item.plan for item in planned],
                actor=batch.actor,
                reason=batch.reason,
            )
    except IntegrityError:
        # Something stored since the lookups clashes; the record path finds which record.
        return [(item.index, item.record) for item in planned]
    for key, speaker in planner.planned_by_key.items():
        batch.speakers[key] = speaker["id"]
    for item, result in zip(planned, results, strict=True):
        if isinstance(result, errors.AppError):
            outcomes[item.index] = "failed"
            failures.append(_record_error(item.index, item.record.external_id, result))
        else:
            outcomes[item.index] = "created"
    return []


def _plan_new_claim(batch: _Batch, record: ImportRecord) -> claims_batch.NewClaim:
    """What ``_apply`` would do to create this record, checked but not yet written."""
    rated = _needs_editor(record, None)
    if rated and not batch.actor.role.at_least(Role.editor):
        raise _verdict_forbidden(batch.actor)
    return claims_batch.NewClaim(
        claim=ClaimCreate.model_validate(_claim_values(record)),
        evidence=list(_new_evidence(record, set())),
        status=_status_change(record, batch.reason) if rated else None,
    )


def _resolve_outlet_and_sources(
    batch: _Batch, record: ImportRecord, plan: claims_batch.NewClaim
) -> None:
    if record.outlet is not None:
        outlet_id = _outlet_id(batch, record.outlet)
        plan.claim = plan.claim.model_copy(update={"outlet_id": outlet_id})
    sources = [(_source_id(batch, ref), ref) for ref in record.sources]
    plan.appearances = list(_new_appearances(sources, set()))


def _record_error(index: int, external_id: str, exc: Exception) -> RecordError:
    if isinstance(exc, RecordFailed):
        return RecordError(
            index=index,
            external_id=external_id,
            field=exc.field,
            message=exc.message,
            type=exc.type,
        )
    if isinstance(exc, errors.AppError):
        field_name = None
        if exc.errors:
            field_name = _field_of(exc.errors[0].get("loc", []))
        return RecordError(
            index=index,
            external_id=external_id,
            field=field_name,
            message=exc.detail or exc.title,
            type=str(exc.extra.get("rule", exc.slug)),
        )
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return RecordError(
            index=index,
            external_id=external_id,
            field=_field_of(err["loc"]),
            message=err["msg"],
            type=err["type"],
        )
    return RecordError(
        index=index,
        external_id=external_id,
        field=None,
        message="The record conflicts with stored data (a unique value is taken).",
        type="conflict",
    )


# --- the whole request: idempotency, one outer transaction ------------------------------------


@contextmanager
def _outer_transaction(database: Database) -> Iterator[tuple[Connection, Transaction]]:
    if database.bind is not None:  # tests: already inside the test's outer transaction
        yield database.bind, database.bind.begin_nested()
        return
    engine = database.engine.execution_options(**{BEGIN_IMMEDIATE: True})
    with engine.connect() as conn:
        yield conn, conn.begin()


@dataclass(frozen=True, slots=True)
class ImportAnswer:
    status_code: int
    body: bytes
    replayed: bool = False


def run_import(
    database: Database,
    raw_records: list[Any],
    *,
    actor: Actor,
    dry_run: bool,
    on_error: OnError,
    idempotency_key: str | None = None,
    body_fingerprint: str = "",
) -> ImportAnswer:
    """One batch in one transaction: replay a stored answer, or import and store the answer."""
    caller = (actor.key_id or 0, idempotency_key or "")
    if idempotency_key:
        with _running_lock:
            if caller in _running:
                raise _still_running()
            _running.add(caller)
    try:
        return _run(
            database,
            raw_records,
            actor=actor,
            dry_run=dry_run,
            on_error=on_error,
            idempotency_key=idempotency_key,
            body_fingerprint=body_fingerprint,
        )
    finally:
        if idempotency_key:
            with _running_lock:
                _running.discard(caller)


def _still_running() -> errors.Conflict:
    return errors.Conflict("A request with this Idempotency-Key is still running; retry later.")


def idempotency_lock(caller_id: int, key: str) -> int:
    """The 32-bit lock key of one caller's Idempotency-Key (a clash only costs a retry)."""
    digest = hashlib.sha256(f"{caller_id}\0{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


def _run(
    database: Database,
    raw_records: list[Any],
    *,
    actor: Actor,
    dry_run: bool,
    on_error: OnError,
    idempotency_key: str | None,
    body_fingerprint: str,
) -> ImportAnswer:
    caller_id = actor.key_id or 0
    with _outer_transaction(database) as (conn, outer):
        try:
            if conn.dialect.name == "postgresql":
                if (
                    idempotency_key
                    and not conn.execute(
                        text("SELECT pg_try_advisory_xact_lock(:space, :key)"),
                        {
                            "space": IDEMPOTENCY_LOCK_SPACE,
                            "key": idempotency_lock(caller_id, idempotency_key),
                        },
                    ).scalar_one()
                ):
                    raise _still_running()
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})
            if idempotency_key:
                stored = _stored_answer(conn, caller_id, idempotency_key, body_fingerprint)
                if stored is not None:
                    outer.rollback()
                    return stored
            batch_id = uuid.uuid4().hex
            with Session(
                bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
            ) as session:
                summary = import_batch(
                    session, conn, raw_records, actor=actor, batch_id=batch_id, on_error=on_error
                )
            summary.dry_run = dry_run
            if summary.failed and on_error is OnError.stop:
                outer.rollback()
                raise errors.ImportRefused(
                    f"{summary.failed} of {len(raw_records)} records failed; nothing was "
                    "imported (send on_error=skip to import the others).",
                    errors=[error.model_dump(mode="json") for error in summary.errors],
                    summary=summary.model_dump(mode="json", exclude={"errors"}),
                )
            body = summary.model_dump_json().encode()
            if dry_run:
                outer.rollback()
                return ImportAnswer(200, body)
            if idempotency_key:
                conn.execute(
                    sa.insert(IdempotencyKey.__table__),  # type: ignore[attr-defined]
                    {
                        "caller_id": caller_id,
                        "key": idempotency_key,
                        "fingerprint": body_fingerprint,
                        "status_code": 200,
                        "response_body": body,
                        "created_at": utcnow(),
                    },
                )
            outer.commit()
            return ImportAnswer(200, body)
        except BaseException:
            if outer.is_active:
                outer.rollback()
            raise


def _stored_answer(
    conn: Connection, caller_id: int, key: str, body_fingerprint: str
) -> ImportAnswer | None:
    table = IdempotencyKey.__table__  # type: ignore[attr-defined]
    cutoff = utcnow() - IDEMPOTENCY_TTL
    row = conn.execute(
        sa.select(table.c.fingerprint, table.c.status_code, table.c.response_body, table.c.id)
        .where(table.c.caller_id == caller_id, table.c.key == key)
        .where(table.c.created_at > cutoff)
    ).first()
    if row is None:
        # This request will store an answer: first purge every expired one, this key's
        # included (not a tracked table: a plain DELETE on the created_at index), so the
        # table holds at most a day of keys. A dry or refused batch rolls the purge back too.
        conn.execute(sa.delete(table).where(table.c.created_at <= cutoff))
        return None
    if row.fingerprint != body_fingerprint:
        raise errors.RuleViolation(
            "This Idempotency-Key was used with another body in the last 24 h; "
            "use a new key for a new batch.",
            rule="idempotency_key_reused",
            field="Idempotency-Key",
        )
    return ImportAnswer(row.status_code, bytes(row.response_body), replayed=True)
