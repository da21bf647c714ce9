"""The batch path: the records of a batch whose ``external_id`` is new, created in one go.

Every rule is checked record by record first (permissions, the claim's rules, outlet and source
references, each in the record's own savepoint); then the new speakers and the new claims, with
their evidence, appearances and verdict, are written by ``speakers_service.create_speakers`` and
``claims_batch.create_claims``: one INSERT per table for the whole batch.

The invariant: the batch path writes byte-identical revisions to the record path
(``app.imports.records``). Each new claim gets ONE creation revision whose snapshot equals the
one ``create_claim`` + ``add_appearance`` + ``add_evidence`` + ``set_status`` would leave,
each new speaker the one ``create_speaker`` would record; the same references resolve to the
same speakers, and a record that breaks a rule fails the same way. Tested in
tests/imports/test_batch_path.py. When the batch write clashes with data stored since the
lookups, the whole plan is undone and those records take the record path.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.auth.actor import Role
from app.claims import batch as claims_batch
from app.claims.models import ClaimCreate
from app.core import errors
from app.core.db import in_chunks
from app.core.text import fold
from app.imports import records
from app.imports.records import Batch
from app.speakers import service as speakers_service
from app.speakers.models import Speaker
from app.tracked.rows import Row
from app.vocabulary.records import ImportRecord, RecordError, SpeakerRef


@dataclass
class _NewRecord:
    index: int
    record: ImportRecord
    plan: claims_batch.NewClaim
    speaker: int | Row | None  # an id, or the row of a speaker this batch creates


@dataclass
class _SpeakerPlanner:
    """Resolves speaker references exactly as the record path would, record after record, but
    with the lookups done for the whole batch up front and the new speakers only planned."""

    batch: Batch
    by_external_id: dict[str, int]
    by_name: dict[str, int]
    planned: list[Row] = field(default_factory=list)
    planned_by_key: dict[tuple[str, str], Row] = field(default_factory=dict)
    planned_by_name: dict[str, Row] = field(default_factory=dict)

    @classmethod
    def prefetch(cls, batch: Batch, refs: list[SpeakerRef]) -> "_SpeakerPlanner":
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
        key = records.speaker_key(ref)
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
        speaker = speakers_service.new_speaker_row(records.speaker_create(ref))
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


def create_new(
    batch: Batch,
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
                with records.record_savepoint(batch):
                    _resolve_outlet_and_sources(batch, record, plan)
        except records.RECORD_ERRORS as exc:
            undo()
            outcomes[index] = "failed"
            failures.append(records.record_error(index, record.external_id, exc))
            continue
        planned.append(_NewRecord(index, record, plan, speaker))
    if not planned:
        return []
    try:
        with records.record_savepoint(batch):
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
            failures.append(records.record_error(item.index, item.record.external_id, result))
        else:
            outcomes[item.index] = "created"
    return []


def _plan_new_claim(batch: Batch, record: ImportRecord) -> claims_batch.NewClaim:
    """What the record path would do to create this record, checked but not yet written."""
    rated = records.needs_editor(record, None)
    if rated and not batch.actor.role.at_least(Role.editor):
        raise records.verdict_forbidden(batch.actor)
    return claims_batch.NewClaim(
        claim=ClaimCreate.model_validate(records.claim_values(record)),
        evidence=list(records.new_evidence(record, set())),
        status=records.status_change(record, batch.reason) if rated else None,
    )


def _resolve_outlet_and_sources(
    batch: Batch, record: ImportRecord, plan: claims_batch.NewClaim
) -> None:
    if record.outlet is not None:
        outlet_id = records.outlet_id(batch, record.outlet)
        plan.claim = plan.claim.model_copy(update={"outlet_id": outlet_id})
    sources = [(records.source_id(batch, ref), ref) for ref in record.sources]
    plan.appearances = list(records.new_appearances(sources, set()))
