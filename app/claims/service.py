"""Claim rules: status and review, evidence and appearances; every write records one revision."""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic_core import to_jsonable_python
from sqlalchemy import Connection, delete, func, text
from sqlmodel import Session, SQLModel, col, select

from app.auth.actor import Actor, Role
from app.claims import settlement
from app.claims.models import (
    MAX_APPEARANCES,
    STATUSES_NEEDING_EVIDENCE,
    Appearance,
    AppearanceCreate,
    Claim,
    ClaimCreate,
    ClaimQuery,
    ClaimRevertable,
    ClaimStatus,
    ClaimTopic,
    ClaimUpdate,
    Evidence,
    EvidenceCreate,
    EvidenceUpdate,
    ReviewState,
    StatusChange,
)
from app.core import errors
from app.core.base import utcnow
from app.core.db import in_chunks
from app.core.paging import fetch_page, pick_sort, sort_keys
from app.core.rowjson import RowJson
from app.history import service as history_service
from app.history.models import EntityType, RevisionAction
from app.outlets.models import Outlet
from app.sources.models import Source
from app.speakers.models import Speaker
from app.tracked import rows as batch_rows
from app.tracked.lookup import load_for_write
from app.tracked.rows import Row
from app.tracked.service import TrackedService
from app.tracked.values import changed_fields, plain_snapshot, require_reason, reverted_values
from app.tracked.versions import Expected

ENTITY = EntityType.claim
NOT_NULL = frozenset({"statement", "language", "topics"})
claim_table = Claim.__table__  # type: ignore[attr-defined]
ROWS = RowJson(claim_table)
topic_table = ClaimTopic.__table__  # type: ignore[attr-defined]
evidence_table = Evidence.__table__  # type: ignore[attr-defined]
appearance_table = Appearance.__table__  # type: ignore[attr-defined]
SORTS = sort_keys(
    claim_table.c.id,
    {"claimed_at": claim_table.c.claimed_at, "updated_at": claim_table.c.updated_at},
)
_EVIDENCE_FIELDS = ("id", "title", "stance", "url", "source_id", "note", "added_by")
_APPEARANCE_FIELDS = ("id", "source_id", "role", "quote")


class ClaimState(Protocol):
    """What the status rules read of a claim."""

    @property
    def status(self) -> ClaimStatus: ...
    @property
    def review(self) -> ReviewState: ...
    @property
    def verdict(self) -> str | None: ...


# --- snapshots and rules ----------------------------------------------------------------------


def claim_snapshot(session: Session) -> Callable[[Any], dict[str, Any]]:
    """The claim as history records it: its fields plus its evidence and appearances."""

    def snapshot(claim: Claim) -> dict[str, Any]:
        data = plain_snapshot(claim)
        data["evidence"] = []
        data["appearances"] = []
        if claim.id is None:
            return data
        evidence = session.exec(
            select(Evidence).where(col(Evidence.claim_id) == claim.id).order_by(col(Evidence.id))
        )
        data["evidence"] = [_pick(item, _EVIDENCE_FIELDS) for item in evidence]
        appearances = session.exec(
            select(Appearance)
            .where(col(Appearance.claim_id) == claim.id)
            .order_by(col(Appearance.id))
        )
        data["appearances"] = [_pick(item, _APPEARANCE_FIELDS) for item in appearances]
        return data

    return snapshot


def _pick(item: SQLModel, fields: tuple[str, ...]) -> dict[str, Any]:
    return item.model_dump(mode="json", include=set(fields))


def _require_live(session: Session, model: type[Any], entity_id: int | None, field: str) -> None:
    if entity_id is None:
        return
    found = session.get(model, entity_id)
    if found is None or found.deleted_at is not None:
        raise _reference_missing(field, entity_id, deleted=found is not None)


def _reference_missing(field: str, entity_id: int, *, deleted: bool) -> errors.RuleViolation:
    state = "was deleted" if deleted else "does not exist"
    return errors.RuleViolation(
        f"{field} {entity_id} {state}.", rule="reference_missing", field=field
    )


def _check_references(session: Session, values: dict[str, Any]) -> None:
    if "speaker_id" in values:
        _require_live(session, Speaker, values["speaker_id"], "speaker_id")
    if "outlet_id" in values:
        _require_live(session, Outlet, values["outlet_id"], "outlet_id")
    if "source_id" in values:
        _require_live(session, Source, values["source_id"], "source_id")


def _evidence_count(session: Session, claim_id: int) -> int:
    statement = sa.select(func.count()).where(col(Evidence.claim_id) == claim_id)
    return int(session.connection().execute(statement).scalar_one())


def check_status_rules(
    session: Session, claim: Claim, values: dict[str, Any], *, evidence_removed: int = 0
) -> None:
    """The rules a claim's verdict fields must meet (DESIGN.md), checked on the values it is
    about to get, before anything is written."""
    check_verdict_rules(
        claim, values, lambda: _evidence_count(session, claim.id or 0) - evidence_removed
    )


def check_verdict_rules(
    claim: ClaimState, values: dict[str, Any], evidence_count: Callable[[], int]
) -> None:
    """``check_status_rules`` without the database: ``evidence_count`` is asked only when a
    status needs evidence."""
    status = values.get("status", claim.status)
    verdict = values.get("verdict", claim.verdict)
    review = values.get("review", claim.review)
    if status != ClaimStatus.unverified:
        if not (verdict and verdict.strip()):
            raise errors.RuleViolation(
                f"Status {status} needs a verdict: the rationale, in words.",
                rule="verdict_required",
                field="verdict",
            )
        if status in STATUSES_NEEDING_EVIDENCE and evidence_count() < 1:
            raise errors.RuleViolation(
                f"Status {status} needs at least one evidence item.",
                rule="evidence_required",
                field="status",
            )
        if review == ReviewState.open:
            raise errors.RuleViolation(
                "A claim with a verdict is in review or settled, not open.",
                rule="review_state",
                field="review",
            )
    elif review == ReviewState.settled:
        raise errors.RuleViolation(
            "Only a claim with a verdict can be settled; set a status first.",
            rule="settle_needs_verdict",
            field="review",
        )


def _sync_topics(session: Session, claim: Claim, previous: list[str] | None = None) -> None:
    """Rewrite the claim's rows in the topic index, unless its topics did not change."""
    assert claim.id is not None
    if previous is not None and previous == claim.topics:
        return
    session.exec(delete(topic_table).where(topic_table.c.claim_id == claim.id))
    session.add_all(ClaimTopic(claim_id=claim.id, topic=topic) for topic in claim.topics)
    session.flush()


def _distinct(topics: list[str]) -> list[str]:
    return list(dict.fromkeys(topics))


# --- claim writes -----------------------------------------------------------------------------


class ClaimService(TrackedService[Claim, ClaimCreate, ClaimUpdate]):
    """Claims: references checked, topics distinct and indexed, the settled verdict reopened
    when what it rests on changes."""

    model = Claim
    entity_type = ENTITY
    update_model = ClaimUpdate
    revert_model = ClaimRevertable
    not_null = NOT_NULL

    def snapshot(self, session: Session, entity: Claim) -> dict[str, Any]:
        return claim_snapshot(session)(entity)

    def normalize(self, values: dict[str, Any], current: Claim | None) -> dict[str, Any]:
        if "topics" in values:
            values = {**values, "topics": _distinct(values["topics"])}
        return values

    def check_rules(self, session: Session, entity: Claim | None, values: dict[str, Any]) -> None:
        _check_references(session, values)

    def after_change(self, session: Session, entity: Claim, before: dict[str, Any] | None) -> None:
        _sync_topics(session, entity, None if before is None else before["topics"])

    def update(
        self,
        session: Session,
        entity_id: int,
        data: ClaimUpdate,
        *,
        expect: Expected,
        actor: Actor,
        reason: str | None = None,
    ) -> Claim:
        values = self.normalize(changed_fields(data, not_null=self.not_null), None)
        self.check_rules(session, None, values)
        claim = self._load(session, entity_id, expect=expect)
        reason = settlement.reopen_on_basis_change(claim, values, reason)
        before = self.snapshot(session, claim)
        if self._change(session, claim, values, before=before, actor=actor, reason=reason):
            self.after_change(session, claim, before)
            session.commit()
        return claim

    def revert(
        self,
        session: Session,
        entity_id: int,
        to_version: int,
        *,
        expect: Expected,
        actor: Actor,
        reason: str | None,
    ) -> Claim:
        """Bring back a version's fields and verdict; evidence and appearances stay as they
        are."""
        claim = self._load(session, entity_id, expect=expect)
        reason = require_reason(reason, "revert")
        values = reverted_values(
            session.connection(), ENTITY, entity_id, to_version, model=ClaimRevertable
        )
        _check_references(session, values)
        check_status_rules(session, claim, values)
        # Bringing back an old statement under today's settled verdict reopens it like an edit.
        reason = settlement.reopen_on_basis_change(claim, values, reason)
        before = self.snapshot(session, claim)
        if self._change(
            session,
            claim,
            values,
            before=before,
            actor=actor,
            reason=reason,
            action=RevisionAction.reverted,
            reverted_to=to_version,
        ):
            self.after_change(session, claim, before)
            session.commit()
        return claim


CLAIMS = ClaimService()
create_claim = CLAIMS.create
update_claim = CLAIMS.update
delete_claim = CLAIMS.delete
restore_claim = CLAIMS.restore
revert_claim = CLAIMS.revert


def set_status(
    session: Session,
    claim_id: int,
    change: StatusChange,
    *,
    expect: Expected,
    actor: Actor,
) -> Claim:
    """A verdict, a review move, or both (DESIGN.md, "Verification status and review")."""
    claim = load_for_write(session, Claim, claim_id)
    check_status_permission(claim, change, actor)
    expect.check(claim.version)
    values = status_change_values(claim, change)
    check_status_rules(session, claim, values)
    if CLAIMS._change(session, claim, values, actor=actor, reason=change.reason):
        session.commit()
    return claim


def status_change_values(claim: ClaimState, change: StatusChange) -> dict[str, Any]:
    """The fields a status change sets (its rules are checked separately)."""
    values: dict[str, Any] = {}
    if change.verdict is not None:
        values["verdict"] = change.verdict.strip()
    if change.status is not None:
        values.update(_status_values(claim, change))
    elif change.review is not None:
        values.update(_review_move(claim, change.review))
    return values


def check_status_permission(claim: ClaimState, change: StatusChange, actor: Actor) -> None:
    """A checker may only take a claim into review (open -> in_review); verdicts, settling
    and reopening are an editor's (seeds and local tools, the system role, may do all)."""
    if actor.role.at_least(Role.editor):
        return
    starts_review = (
        change.status is None
        and change.verdict is None
        and change.review == ReviewState.in_review
        and claim.review in (ReviewState.open, ReviewState.in_review)
    )
    if not starts_review:
        raise errors.Forbidden(
            "A checker may only move a claim's review from open to in_review; verdicts, "
            "settling and reopening need the editor role.",
            required_role=str(Role.editor),
        )


def _status_values(claim: ClaimState, change: StatusChange) -> dict[str, Any]:
    if change.status == ClaimStatus.unverified:
        if change.verdict is not None:
            raise errors.RuleViolation(
                "An unverified claim carries no verdict.",
                rule="unverified_has_no_verdict",
                field="verdict",
            )
        review = change.review or (
            ReviewState.open if claim.review == ReviewState.settled else claim.review
        )
        if review == ReviewState.settled:
            raise errors.RuleViolation(
                "Only a claim with a verdict can be settled.",
                rule="settle_needs_verdict",
                field="review",
            )
        return {"status": change.status, "verdict": None, "reviewed_at": None, "review": review}
    if change.review not in (None, ReviewState.settled):
        raise errors.RuleViolation(
            "Giving a verdict settles the review; reopen it afterwards if needed.",
            rule="verdict_settles_review",
            field="review",
        )
    values: dict[str, Any] = {"status": change.status, "review": ReviewState.settled}
    if change.status != claim.status or change.verdict is not None:
        values["reviewed_at"] = utcnow()
    return values


def _review_move(claim: ClaimState, target: ReviewState) -> dict[str, Any]:
    if target == claim.review:
        return {}
    if claim.review == ReviewState.settled and target == ReviewState.open:
        raise errors.RuleViolation(
            "A settled claim is reopened into in_review, not open.",
            rule="reopen_to_in_review",
            field="review",
        )
    values: dict[str, Any] = {"review": target}
    if target == ReviewState.settled:
        values["reviewed_at"] = utcnow()
    return values


# --- evidence and appearances: each change is one revision of the claim ---------------------


def _change_claim_parts(
    session: Session,
    claim_id: int,
    mutate: Callable[[Claim], Any],
    *,
    expect: Expected,
    actor: Actor,
    reason: str | None,
) -> tuple[Claim, Any]:
    claim = load_for_write(session, Claim, claim_id)
    expect.check(claim.version)
    snapshot = claim_snapshot(session)
    before = snapshot(claim)
    result = mutate(claim)
    session.flush()
    after = snapshot(claim)
    if before["evidence"] != after["evidence"]:
        reopen: dict[str, Any] = {}
        reason = settlement.reopen_on_basis_change(claim, reopen, reason, evidence_changed=True)
        if reopen:
            claim.review = reopen["review"]
            after = snapshot(claim)
    revision = history_service.record(
        session,
        claim,
        entity_type=ENTITY,
        action=RevisionAction.updated,
        before=before,
        after=after,
        actor=actor,
        reason=reason,
    )
    if revision is not None:
        session.commit()
    return claim, result


def add_evidence(
    session: Session,
    claim_id: int,
    evidence_in: EvidenceCreate,
    *,
    expect: Expected,
    actor: Actor,
    reason: str | None = None,
) -> tuple[Claim, Evidence]:
    _check_references(session, evidence_in.model_dump(include={"source_id"}))

    def add(claim: Claim) -> Evidence:
        evidence = Evidence(
            claim_id=claim_id,
            added_by=actor.name,
            created_at=utcnow(),
            **evidence_in.model_dump(),
        )
        session.add(evidence)
        return evidence

    return _change_claim_parts(session, claim_id, add, expect=expect, actor=actor, reason=reason)


def _get_part(session: Session, model: type[Any], part_id: int, claim_id: int) -> Any:
    part = session.get(model, part_id)
    if part is None or part.claim_id != claim_id:
        raise errors.NotFound(f"Claim {claim_id} has no {model.__tablename__} {part_id}.")
    return part


def update_evidence(
    session: Session,
    claim_id: int,
    evidence_id: int,
    evidence_in: EvidenceUpdate,
    *,
    expect: Expected,
    actor: Actor,
    reason: str | None = None,
) -> tuple[Claim, Evidence]:
    values = changed_fields(evidence_in, not_null=frozenset({"title", "stance"}))
    _check_references(session, values)

    def change(claim: Claim) -> Evidence:
        evidence: Evidence = _get_part(session, Evidence, evidence_id, claim_id)
        for field, value in values.items():
            setattr(evidence, field, value)
        if evidence.url is None and evidence.source_id is None and not evidence.note:
            raise errors.RuleViolation(
                "Evidence needs a url, a source_id, or a note saying where it is.",
                rule="evidence_target",
                field="url",
            )
        return evidence

    return _change_claim_parts(session, claim_id, change, expect=expect, actor=actor, reason=reason)


def remove_evidence(
    session: Session,
    claim_id: int,
    evidence_id: int,
    *,
    expect: Expected,
    actor: Actor,
    reason: str | None,
) -> Claim:
    reason = require_reason(reason, "remove evidence")

    def remove(claim: Claim) -> None:
        evidence = _get_part(session, Evidence, evidence_id, claim_id)
        check_status_rules(session, claim, {}, evidence_removed=1)
        session.delete(evidence)

    return _change_claim_parts(
        session, claim_id, remove, expect=expect, actor=actor, reason=reason
    )[0]


def add_appearance(
    session: Session,
    claim_id: int,
    appearance_in: AppearanceCreate,
    *,
    expect: Expected,
    actor: Actor,
    reason: str | None = None,
) -> tuple[Claim, Appearance]:
    _check_references(session, appearance_in.model_dump(include={"source_id"}))

    def add(claim: Claim) -> Appearance:
        duplicate = session.exec(
            select(Appearance).where(
                col(Appearance.claim_id) == claim_id,
                col(Appearance.source_id) == appearance_in.source_id,
                col(Appearance.role) == appearance_in.role,
            )
        ).first()
        if duplicate is not None:
            raise errors.Conflict(
                f"Claim {claim_id} already has this appearance (id {duplicate.id}).",
                appearance_id=duplicate.id,
            )
        _check_appearance_count(
            session.exec(select(func.count()).where(col(Appearance.claim_id) == claim_id)).one() + 1
        )
        appearance = Appearance(
            claim_id=claim_id, created_at=utcnow(), **appearance_in.model_dump()
        )
        session.add(appearance)
        return appearance

    return _change_claim_parts(session, claim_id, add, expect=expect, actor=actor, reason=reason)


def _check_appearance_count(count: int) -> None:
    if count > MAX_APPEARANCES:
        raise errors.RuleViolation(
            f"A claim holds at most {MAX_APPEARANCES} appearances; this would make {count}.",
            rule="appearance_limit",
            field="source_id",
            max_appearances=MAX_APPEARANCES,
        )


def remove_appearance(
    session: Session,
    claim_id: int,
    appearance_id: int,
    *,
    expect: Expected,
    actor: Actor,
    reason: str | None,
) -> Claim:
    reason = require_reason(reason, "remove an appearance")

    def remove(claim: Claim) -> None:
        session.delete(_get_part(session, Appearance, appearance_id, claim_id))

    return _change_claim_parts(
        session, claim_id, remove, expect=expect, actor=actor, reason=reason
    )[0]


def list_evidence(session: Session, claim_id: int) -> Sequence[Evidence]:
    statement = select(Evidence).where(col(Evidence.claim_id) == claim_id)
    return session.exec(statement.order_by(col(Evidence.id))).all()


def list_appearances(session: Session, claim_id: int) -> Sequence[Appearance]:
    statement = select(Appearance).where(col(Appearance.claim_id) == claim_id)
    return session.exec(statement.order_by(col(Appearance.id))).all()


# --- many new claims at once (imports) --------------------------------------------------------


@dataclasses.dataclass
class NewClaim:
    """A claim to create together with its appearances, evidence and status change."""

    claim: ClaimCreate
    appearances: list[AppearanceCreate] = dataclasses.field(default_factory=list)
    evidence: list[EvidenceCreate] = dataclasses.field(default_factory=list)
    status: StatusChange | None = None


def create_claims(
    session: Session, new_claims: Sequence[NewClaim], *, actor: Actor, reason: str | None = None
) -> list[int | errors.AppError]:
    """``create_claim`` followed by ``add_appearance``, ``add_evidence`` and ``set_status`` for
    each item, under the same rules, but as ONE creation revision per claim whose snapshot
    already holds its appearances, evidence and verdict, and with one INSERT per table for the
    whole batch. Returns, in order, the new claim's id or the rule the item broke; items that
    broke a rule write nothing. Commits once."""
    conn = session.connection()
    source_ids: set[int | None] = {p.source_id for item in new_claims for p in item.appearances}
    source_ids.update(part.source_id for item in new_claims for part in item.evidence)
    live = {
        "speaker_id": _live_ids(conn, Speaker, {item.claim.speaker_id for item in new_claims}),
        "outlet_id": _live_ids(conn, Outlet, {item.claim.outlet_id for item in new_claims}),
        "source_id": _live_ids(conn, Source, source_ids),
    }
    now = utcnow()
    outcomes: list[_NewRows | errors.AppError] = []
    for item in new_claims:
        try:
            outcomes.append(_new_rows(item, live, actor, now))
        except errors.AppError as exc:
            outcomes.append(exc)
    accepted = [outcome for outcome in outcomes if isinstance(outcome, _NewRows)]
    if accepted:
        _write_new_claims(session, accepted, actor=actor, reason=reason)
        session.commit()
    return [
        outcome if isinstance(outcome, errors.AppError) else outcome.claim["id"]
        for outcome in outcomes
    ]


@dataclasses.dataclass
class _NewRows:
    claim: Row
    evidence: list[Row]
    appearances: list[Row]

    def snapshot(self) -> dict[str, Any]:
        """``claim_snapshot`` of the claim these rows make."""
        data = batch_rows.row_snapshot(self.claim)
        data["evidence"] = [_pick_row(row, _EVIDENCE_FIELDS) for row in self.evidence]
        data["appearances"] = [_pick_row(row, _APPEARANCE_FIELDS) for row in self.appearances]
        return data


@dataclasses.dataclass(frozen=True, slots=True)
class _NewClaimState:
    status: ClaimStatus
    review: ReviewState
    verdict: str | None


def _pick_row(row: Row, fields: tuple[str, ...]) -> dict[str, Any]:
    picked: dict[str, Any] = to_jsonable_python({name: row[name] for name in fields})
    return picked


def _new_rows(item: NewClaim, live: dict[str, dict[int, bool]], actor: Actor, now: Any) -> _NewRows:
    """The rows one item writes, after every rule its four single writes would check."""
    _require_known(live, "speaker_id", item.claim.speaker_id)
    _require_known(live, "outlet_id", item.claim.outlet_id)
    claim = batch_rows.new_row(Claim, item.claim.model_dump())
    claim["topics"] = _distinct(item.claim.topics)
    _check_appearance_count(len(item.appearances))
    appearances: list[Row] = []
    seen: set[tuple[int, str]] = set()  # a set, not a scan of the list: linear in appearances
    for appearance_in in item.appearances:
        _require_known(live, "source_id", appearance_in.source_id)
        key = (appearance_in.source_id, str(appearance_in.role))
        if key in seen:
            raise errors.Conflict("The claim would have this appearance twice.")
        seen.add(key)
        appearances.append({"created_at": now, **appearance_in.model_dump()})
    evidence: list[Row] = []
    for evidence_in in item.evidence:
        _require_known(live, "source_id", evidence_in.source_id)
        evidence.append({"added_by": actor.name, "created_at": now, **evidence_in.model_dump()})
    if item.status is not None:
        state = _NewClaimState(claim["status"], claim["review"], claim["verdict"])
        check_status_permission(state, item.status, actor)
        values = status_change_values(state, item.status)
        check_verdict_rules(state, values, lambda: len(evidence))
        claim.update(values)
    return _NewRows(claim, evidence, appearances)


def _write_new_claims(
    session: Session, accepted: list[_NewRows], *, actor: Actor, reason: str | None
) -> None:
    conn = session.connection()
    all_evidence = [row for new in accepted for row in new.evidence]
    all_appearances = [row for new in accepted for row in new.appearances]
    for table, parts in ((evidence_table, all_evidence), (appearance_table, all_appearances)):
        ids = history_service.reserve_ids(conn, table, len(parts))
        for part, part_id in zip(parts, ids, strict=True):
            part["id"] = part_id
    claims = [new.claim for new in accepted]
    batch_rows.create_many(
        session,
        Claim,
        claims,
        entity_type=ENTITY,
        actor=actor,
        reason=reason,
        snapshots=[new.snapshot() for new in accepted],
    )
    for new in accepted:
        for part in (*new.evidence, *new.appearances):
            part["claim_id"] = new.claim["id"]
    topics = [{"claim_id": row["id"], "topic": topic} for row in claims for topic in row["topics"]]
    for table, rows in (
        (topic_table, topics),
        (evidence_table, all_evidence),
        (appearance_table, all_appearances),
    ):
        if rows:
            conn.execute(sa.insert(table), rows)


def _live_ids(conn: Connection, model: type[Any], ids: set[int | None]) -> dict[int, bool]:
    """{id: still live} for the ids that exist (deleted ones map to False)."""
    table = model.__table__
    found: dict[int, bool] = {}
    for chunk in in_chunks(sorted(i for i in ids if i is not None)):
        rows = conn.execute(sa.select(table.c.id, table.c.deleted_at).where(table.c.id.in_(chunk)))
        found.update((row.id, row.deleted_at is None) for row in rows)
    return found


def _require_known(live: dict[str, dict[int, bool]], field: str, entity_id: int | None) -> None:
    """``_require_live`` against ids looked up for the whole batch."""
    if entity_id is None or live[field].get(entity_id):
        return
    raise _reference_missing(field, entity_id, deleted=entity_id in live[field])


# --- reads ------------------------------------------------------------------------------------


def fts5_query(text: str) -> str:
    """Every word of the user's text as a quoted FTS5 string: no operator gets through."""
    words = [word.replace('"', '""') for word in text.split()]
    return " ".join(f'"{word}"' for word in words if word.strip('"'))


def list_claims(conn: Connection, query: ClaimQuery) -> tuple[Sequence[Any], str | None]:
    sort = pick_sort(SORTS, query.sort)
    c = claim_table.c
    statement = ROWS.select(conn.dialect.name).where(c.deleted_at.is_(None))
    for column, value in (
        (c.status, query.status),
        (c.review, query.review),
        (c.speaker_id, query.speaker_id),
        (c.outlet_id, query.outlet_id),
        (c.language, query.language),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if query.topic is not None:
        # IN, not a correlated EXISTS: SQLite then starts from the (topic, claim_id) index.
        tagged = sa.select(topic_table.c.claim_id).where(
            topic_table.c.topic == query.topic.strip().lower()
        )
        statement = statement.where(c.id.in_(tagged))
    if query.claimed_after is not None:
        statement = statement.where(c.claimed_at >= query.claimed_after)
    if query.claimed_before is not None:
        statement = statement.where(c.claimed_at < query.claimed_before)
    if query.updated_since is not None:
        statement = statement.where(c.updated_at >= query.updated_since)
    if query.q is not None and query.q.strip():
        statement = statement.where(_matches(conn, query.q))
    return fetch_page(conn, statement, sort, query.cursor, query.limit)


def _matches(conn: Connection, q: str) -> Any:
    """Full-text match: FTS5 on SQLite, a tsvector with the 'simple' configuration on PostgreSQL
    (claims come in many languages, so no stemming)."""
    if conn.dialect.name == "sqlite":
        query = fts5_query(q)
        if not query:
            raise errors.BadRequest("q must contain a word.", field="q")
        return text(
            "claim.id IN (SELECT rowid FROM claim_fts WHERE claim_fts MATCH :fts_query)"
        ).bindparams(fts_query=query)
    return text("claim.search_vector @@ plainto_tsquery('simple', :ts_query)").bindparams(
        ts_query=q
    )
