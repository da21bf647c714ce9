"""Loading the seed data in seeds/ through the same service functions as the API.

Idempotent: records are matched by ``external_id``; an existing one is updated only where the
seed differs (so a second run records nothing), and its status, evidence and appearances are
left to the desk.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.auth.actor import SEED_ACTOR, Actor
from app.claims import parts as claims_parts
from app.claims import service as claims_service
from app.claims.models import (
    AppearanceCreate,
    Claim,
    ClaimCreate,
    ClaimUpdate,
    EvidenceCreate,
    StatusChange,
)
from app.outlets import service as outlets_service
from app.outlets.models import OutletCreate
from app.schema.migrate import project_root
from app.sources import service as sources_service
from app.sources.models import SourceCreate
from app.speakers import service as speakers_service
from app.speakers.models import SpeakerCreate
from app.tracked.service import TrackedService
from app.tracked.versions import NO_PRECONDITION


def default_seed_dir() -> Path:
    return project_root() / "seeds"


CLAIM_FIELDS = set(ClaimCreate.model_fields)


class SeedError(Exception):
    """A seed record that does not validate: names the file, the record and the problem."""


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, entity_type: str) -> None:
        bucket = self.created if kind == "created" else self.updated
        bucket[entity_type] = bucket.get(entity_type, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


@dataclass
class SeedData:
    speakers: list[SpeakerCreate]
    outlets: list[OutletCreate]
    sources: list[tuple[SourceCreate, str | None]]
    claims: list[dict[str, Any]]


def _as_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def _read(directory: Path, name: str) -> list[dict[str, Any]]:
    path = directory / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise SeedError(f"{path}: expected a list of records")
    return data


def _validate(model: type[Any], record: dict[str, Any], where: str) -> Any:
    if "external_id" in model.model_fields and not record.get("external_id"):
        raise SeedError(f"{where}: every seed record needs an external_id")
    try:
        return model.model_validate(record)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in exc.errors()
        )
        raise SeedError(f"{where}: {problems}") from exc


def read_seed_data(directory: Path | None = None) -> SeedData:
    """Parse and validate every seed file against the API's Create models."""
    directory = directory or default_seed_dir()
    speakers = [
        _validate(SpeakerCreate, record, f"speakers.yaml record {index}")
        for index, record in enumerate(_read(directory, "speakers.yaml"))
    ]
    outlets = [
        _validate(OutletCreate, record, f"outlets.yaml record {index}")
        for index, record in enumerate(_read(directory, "outlets.yaml"))
    ]
    sources = []
    for index, record in enumerate(_read(directory, "sources.yaml")):
        values = {k: _as_datetime(v) for k, v in record.items() if k != "outlet"}
        source_in = _validate(SourceCreate, values, f"sources.yaml record {index}")
        sources.append((source_in, record.get("outlet")))
    # References are checked by name here; ids exist only once the records are loaded.
    known = {
        "speaker": {_key(s) for s in speakers},
        "outlet": {_key(o) for o in outlets},
        "source": {_key(s) for s, _ in sources},
    }
    placeholder_ids = dict.fromkeys(known["source"], 1)
    claims = _read(directory, "claims.yaml")
    for index, record in enumerate(claims):
        where = f"claims.yaml record {index} ({record.get('external_id')})"
        for ref in ("speaker", "outlet", "source"):
            if record.get(ref) not in known[ref]:
                raise SeedError(f"{where}: {ref} {record.get(ref)!r} is not in {ref}s.yaml")
        fields = {k: _as_datetime(v) for k, v in record.items() if k in CLAIM_FIELDS}
        _validate(ClaimCreate, fields, where)
        for step in _status_steps(record):
            for item in step.get("evidence") or []:
                if item.get("source") and item["source"] not in known["source"]:
                    raise SeedError(f"{where}: evidence source {item['source']!r} is unknown")
                _validate(EvidenceCreate, _evidence_values(item, placeholder_ids), where)
            if step["status"] != "unverified":
                _validate(StatusChange, _status_values(step), where)
    return SeedData(speakers, outlets, sources, claims)


def _status_steps(record: dict[str, Any]) -> list[dict[str, Any]]:
    first = {key: record.get(key) for key in ("status", "verdict", "reason", "evidence")}
    return [first, *(record.get("later") or [])]


def _status_values(step: dict[str, Any]) -> dict[str, Any]:
    return {"status": step["status"], "verdict": step.get("verdict"), "reason": step["reason"]}


def _evidence_values(item: dict[str, Any], source_ids: dict[str, int]) -> dict[str, Any]:
    values = {key: item.get(key) for key in ("title", "stance", "url", "note")}
    if item.get("source"):
        values["source_id"] = source_ids[item["source"]]
    return values


def _existing(session: Session, model: type[Any], external_id: str | None) -> Any:
    if external_id is None:
        return None
    return session.exec(select(model).where(col(model.external_id) == external_id)).first()


def _key(record: Any) -> str:
    assert record.external_id, "checked by read_seed_data"
    return str(record.external_id)


def _upsert(
    session: Session,
    report: SeedReport,
    *,
    model: type[Any],
    entity_type: str,
    create_in: Any,
    update_model: type[Any],
    create: Any,
    update: Any,
    actor: Actor,
) -> Any:
    existing = _existing(session, model, create_in.external_id)
    if existing is None:
        report.count("created", entity_type)
        return create(session, create_in, actor=actor, reason="Seed data")
    if existing.deleted_at is not None:
        return existing  # the desk deleted it: leave it deleted
    version = existing.version
    changes = update_model.model_validate(create_in.model_dump())
    updated = update(
        session, existing.id, changes, expect=NO_PRECONDITION, actor=actor, reason="Seed data"
    )
    if updated.version != version:
        report.count("updated", entity_type)
    return updated


def _upsert_all(
    session: Session,
    report: SeedReport,
    service: TrackedService[Any, Any, Any],
    records: list[Any],
    actor: Actor,
) -> dict[str, int]:
    """Upsert plain tracked records; their ids by external_id."""
    ids: dict[str, int] = {}
    for record in records:
        entity = _upsert(
            session,
            report,
            model=service.model,
            entity_type=service.entity_type.value,
            create_in=record,
            update_model=service.update_model,
            create=service.create,
            update=service.update,
            actor=actor,
        )
        ids[_key(record)] = entity.id
    return ids


def load_seeds(
    session: Session, directory: Path | None = None, *, actor: Actor = SEED_ACTOR
) -> SeedReport:
    data = read_seed_data(directory)
    report = SeedReport()
    speaker_ids = _upsert_all(session, report, speakers_service.SPEAKERS, data.speakers, actor)
    outlet_ids = _upsert_all(session, report, outlets_service.OUTLETS, data.outlets, actor)
    sources = [
        source_in.model_copy(update={"outlet_id": outlet_ids[outlet_ref]})
        if outlet_ref
        else source_in
        for source_in, outlet_ref in data.sources
    ]
    source_ids = _upsert_all(session, report, sources_service.SOURCES, sources, actor)
    for record in data.claims:
        _load_claim(session, report, record, speaker_ids, outlet_ids, source_ids, actor)
    return report


def _load_claim(
    session: Session,
    report: SeedReport,
    record: dict[str, Any],
    speaker_ids: dict[str, int],
    outlet_ids: dict[str, int],
    source_ids: dict[str, int],
    actor: Actor,
) -> None:
    fields = {k: _as_datetime(v) for k, v in record.items() if k in CLAIM_FIELDS}
    fields["speaker_id"] = speaker_ids[record["speaker"]]
    fields["outlet_id"] = outlet_ids[record["outlet"]]
    claim_in = ClaimCreate.model_validate(fields)
    existing = _existing(session, Claim, claim_in.external_id)
    if existing is not None:
        _upsert(
            session,
            report,
            model=Claim,
            entity_type="claim",
            create_in=claim_in,
            update_model=ClaimUpdate,
            create=claims_service.create_claim,
            update=claims_service.update_claim,
            actor=actor,
        )
        return
    article = record["source"]
    claim = claims_service.create_claim(
        session, claim_in, actor=actor, reason=f"Seeded from {article}"
    )
    report.count("created", "claim")
    assert claim.id is not None
    claims_parts.add_appearance(
        session,
        claim.id,
        AppearanceCreate(
            source_id=source_ids[article],
            role=record.get("appearance_role", "report"),
            quote=record.get("original_quote"),
        ),
        expect=NO_PRECONDITION,
        actor=actor,
        reason="Where the seed article reports it",
    )
    for step in _status_steps(record):
        for item in step.get("evidence") or []:
            claims_parts.add_evidence(
                session,
                claim.id,
                EvidenceCreate.model_validate(_evidence_values(item, source_ids)),
                expect=NO_PRECONDITION,
                actor=actor,
            )
        if step["status"] != "unverified":
            claims_service.set_status(
                session,
                claim.id,
                StatusChange.model_validate(_status_values(step)),
                expect=NO_PRECONDITION,
                actor=actor,
            )


def database_is_empty(session: Session) -> bool:
    count = session.exec(select(func.count()).select_from(Claim)).one()
    return int(count) == 0
