"""The record path: one import record upserted through the claim services, in a savepoint of its
own, its speaker, outlet and sources found or created on the way.

Every record the batch path (``app.imports.batch``) does not take comes here: updates, repeats
within a batch, and new claims whose batch write clashed with data stored meanwhile. A failed
record is undone whole, with the cache entries it made (``record_savepoint``).
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.auth.actor import Actor, Role
from app.claims import parts as claims_parts
from app.claims import queries as claims_queries
from app.claims import service as claims_service
from app.claims.models import (
    AppearanceCreate,
    Claim,
    ClaimCreate,
    ClaimUpdate,
    EvidenceCreate,
    StatusChange,
)
from app.core import errors
from app.core.request_record import forget_revisions_since, revisions_mark
from app.core.text import fold
from app.imports.fields import CLAIM_FIELDS
from app.outlets import service as outlets_service
from app.outlets.models import Outlet, OutletCreate
from app.sources import service as sources_service
from app.sources.models import Source, SourceCreate
from app.speakers import service as speakers_service
from app.speakers.models import Speaker, SpeakerCreate
from app.tracked.versions import NO_PRECONDITION
from app.vocabulary.claim import MAX_APPEARANCES
from app.vocabulary.enums import ClaimStatus
from app.vocabulary.records import ImportRecord, OutletRef, RecordError, SourceRef, SpeakerRef


@dataclass
class Batch:
    """One batch in progress: its session and connection, who imports, and the ids of the
    speakers, outlets and sources its records referred to so far."""

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
    """A record broke an import rule (not a claim rule: those raise ``errors.AppError``)."""

    def __init__(self, message: str, *, field: str | None, type: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.type = type


# What fails one record (and only that record).
RECORD_ERRORS = (errors.AppError, RecordFailed, ValidationError, IntegrityError)


@contextmanager
def record_savepoint(batch: Batch) -> Iterator[None]:
    """One record's writes (or the batch path's): kept whole, or undone whole with the cache
    entries they made."""
    session = batch.session
    if session.in_transaction():
        session.commit()
    savepoint = batch.conn.begin_nested()
    mark = revisions_mark()
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
        forget_revisions_since(mark)  # undone: not in the request's log line
        session.expunge_all()
        batch.forget_record()
        raise
    batch.added.clear()


def apply_in_savepoint(batch: Batch, record: ImportRecord) -> str:
    """Upsert one record, whole or not at all; returns created, updated or unchanged."""
    with record_savepoint(batch):
        return _apply(batch, record)


# --- inline references: found, else created -----------------------------------------------------


def _id_by_external_id(session: Session, model: type[Any], external_id: str | None) -> int | None:
    if not external_id:
        return None
    found: int | None = session.exec(
        select(model.id).where(col(model.external_id) == external_id)
    ).first()
    return found


def _find_or_create(
    batch: Batch,
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


def speaker_key(ref: SpeakerRef) -> tuple[str, str]:
    return ("x", ref.external_id) if ref.external_id else ("n", fold(ref.name or ""))


def speaker_create(ref: SpeakerRef) -> SpeakerCreate:
    return SpeakerCreate(
        name=ref.name or str(ref.external_id),
        kind=ref.kind,
        role=ref.role,
        affiliation=ref.affiliation,
        country=ref.country,
        aliases=ref.aliases,
        external_id=ref.external_id,
    )


def _speaker_id(batch: Batch, ref: SpeakerRef) -> int:
    session = batch.session
    return _find_or_create(
        batch,
        batch.speakers,
        speaker_key(ref),
        lambda: (
            _id_by_external_id(session, Speaker, ref.external_id)
            or (speakers_service.find_speaker_id(session, name=ref.name) if ref.name else None)
        ),
        lambda: speakers_service.create_speaker(
            session, speaker_create(ref), actor=batch.actor, reason=batch.reason
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


def outlet_id(batch: Batch, ref: OutletRef) -> int:
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


def source_id(batch: Batch, ref: SourceRef) -> int:
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
                outlet_id=outlet_id(batch, ref.outlet) if ref.outlet else None,
                published_at=ref.published_at,
            ),
            actor=batch.actor,
            reason=batch.reason,
        ),
    )


# --- what a record asks of its claim ------------------------------------------------------------


def needs_editor(record: ImportRecord, claim: Claim | None) -> bool:
    """Whether the record changes the claim's verdict (which only an editor may)."""
    if record.status is None:
        return False
    current = claim.status if claim is not None else ClaimStatus.unverified
    # Verdicts are stored stripped: compare them so, or a re-run would re-rate every claim.
    verdict = record.verdict.strip() if record.verdict else None
    return record.status != current or verdict != (claim.verdict if claim is not None else None)


def verdict_forbidden(actor: Actor) -> RecordFailed:
    return RecordFailed(
        f"Importing a verdict needs the editor role; the key {actor.name!r} has the "
        f"{actor.role} role. Leave out status and verdict to import the claim alone.",
        field="status",
        type="forbidden",
    )


def claim_values(record: ImportRecord) -> dict[str, Any]:
    """The claim fields a record sets (references are resolved separately)."""
    values = record.model_dump(include=set(CLAIM_FIELDS), exclude_unset=True)
    values["external_id"] = record.external_id
    values["statement"] = record.statement
    return values


def new_evidence(record: ImportRecord, seen: set[tuple[Any, ...]]) -> Iterator[EvidenceCreate]:
    """The record's evidence items the claim does not have yet (``seen``, which grows)."""
    for item in record.evidence:
        key = (item.title, item.url, item.note)
        if key not in seen:
            seen.add(key)
            yield EvidenceCreate(title=item.title, stance=item.stance, url=item.url, note=item.note)


def new_appearances(
    sources: list[tuple[int, SourceRef]], seen: set[tuple[int, str]]
) -> Iterator[AppearanceCreate]:
    """The record's appearances the claim does not have yet (``seen``, which grows)."""
    for found_id, ref in sources:
        key = (found_id, str(ref.role))
        if key not in seen:
            seen.add(key)
            yield AppearanceCreate(source_id=found_id, role=ref.role, quote=ref.quote)


def status_change(record: ImportRecord, reason: str) -> StatusChange:
    assert record.status is not None
    verdict = record.verdict.strip() if record.verdict else None
    return StatusChange(status=record.status, verdict=verdict, reason=reason)


# --- one record ---------------------------------------------------------------------------------


def _apply(batch: Batch, record: ImportRecord) -> str:
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
    if needs_editor(record, existing) and not actor.role.at_least(Role.editor):
        raise verdict_forbidden(actor)
    values = claim_values(record)
    if record.speaker is not None:
        values["speaker_id"] = _speaker_id(batch, record.speaker)
    if record.outlet is not None:
        values["outlet_id"] = outlet_id(batch, record.outlet)
    source_ids = [(source_id(batch, ref), ref) for ref in record.sources]

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
    appearances = list(new_appearances(source_ids, appearances_seen))
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
    for evidence in new_evidence(record, evidence_seen):
        claim, _ = claims_parts.add_evidence(
            session, claim_id, evidence, expect=NO_PRECONDITION, actor=actor, reason=reason
        )
    if needs_editor(record, claim):
        claim = claims_service.set_status(
            session,
            claim_id,
            status_change(record, reason),
            expect=NO_PRECONDITION,
            actor=actor,
        )
    if outcome == "unchanged" and claim.version != version_before_parts:
        outcome = "updated"
    return outcome


# --- how a failure is reported ------------------------------------------------------------------


def field_of(loc: Any) -> str | None:
    parts = [str(part) for part in loc if part not in ("body",)]
    return ".".join(parts) or None


def record_error(index: int, external_id: str, exc: Exception) -> RecordError:
    """The summary's entry for a record that failed with ``exc`` (one of ``RECORD_ERRORS``)."""
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
            field_name = field_of(exc.errors[0].get("loc", []))
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
            field=field_of(err["loc"]),
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
