"""A claim's single writes, on the tracked-entity kit: create, change, status, delete, restore,
revert, and the change of its parts. Each is one transaction that commits once, its revision
included.

``ClaimService`` adds to ``TrackedService`` only what is the claim's own: its snapshot lists
its evidence and appearances, its topics are kept in an index table, its references must be
live, a change to what a settled verdict rests on reopens the review (settlement.py), and the
status change. The rules themselves are in rules.py; evidence and appearances in parts.py.
"""

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy import ColumnElement, delete, insert
from sqlmodel import Session, col

from app.auth.actor import Actor
from app.claims import rules, settlement
from app.claims.models import (
    Appearance,
    Claim,
    ClaimCreate,
    ClaimRevertable,
    ClaimTopic,
    ClaimUpdate,
    Evidence,
    StatusChange,
)
from app.core.bulk import insert_rows
from app.core.rowjson import json_rows_text
from app.history.models import EntityType, RevisionAction
from app.matching import snapshot as links
from app.matching import texts
from app.tracked.lookup import load_with_for_write
from app.tracked.rows import Row
from app.tracked.service import TrackedService
from app.tracked.values import plain_snapshot
from app.tracked.versions import Expected

# The fields of a claim's evidence and appearances its snapshot holds, in the models' order
# (the order ``model_dump`` gives them, so the stored JSON text is the same as it always was).
EVIDENCE_FIELDS = ("id", "url", "source_id", "title", "stance", "note", "added_by")
APPEARANCE_FIELDS = ("id", "source_id", "role", "quote")
# The fields a verdict is made of: a write that sets any of them meets the verdict rules.
VERDICT_FIELDS = frozenset({"status", "verdict", "review", "reviewed_at"})
claim_table = Claim.__table__  # type: ignore[attr-defined]
topic_table = ClaimTopic.__table__  # type: ignore[attr-defined]
PartT = TypeVar("PartT")


class ClaimService(TrackedService[Claim, ClaimCreate, ClaimUpdate]):
    model = Claim
    entity_type = EntityType.claim
    update_model = ClaimUpdate
    revert_model = ClaimRevertable  # a revert brings back the verdict fields too
    not_null = frozenset({"statement", "language", "topics"})

    # --- hooks ----------------------------------------------------------------------------

    def snapshot(self, session: Session, entity: Claim) -> dict[str, Any]:
        """The claim as history records it: its fields plus its evidence and appearances."""
        if entity.id is None:
            return self.snapshot_after(session, entity, {})
        conn = session.connection()
        statement = _parts_of_one_claim(conn.dialect.name)
        evidence, appearances, linked = conn.execute(statement, {"claim_id": entity.id}).one()
        return _with_parts(entity, evidence, appearances, linked)

    def snapshot_after(
        self, session: Session, entity: Claim, before: dict[str, Any]
    ) -> dict[str, Any]:
        """A change of the claim's fields leaves its evidence, appearances and links as they
        were."""
        after = {
            **plain_snapshot(entity),
            "evidence": before.get("evidence", []),
            "appearances": before.get("appearances", []),
        }
        return links.with_links(after, before.get("links", []))

    def load_for_change(
        self, session: Session, entity_id: int, *, allow_deleted: bool = False
    ) -> tuple[Claim, dict[str, Any]]:
        """The claim and its evidence, appearances and links in one statement."""
        columns = _parts_of_loaded_claim(session.connection().dialect.name)
        claim, parts = load_with_for_write(
            session, Claim, entity_id, *columns, allow_deleted=allow_deleted
        )
        return claim, _with_parts(claim, *parts)

    def normalize(self, values: dict[str, Any], current: Claim | None) -> dict[str, Any]:
        if "topics" in values:
            values["topics"] = list(dict.fromkeys(values["topics"]))  # first order, once each
        return values

    def check_request(self, session: Session, values: dict[str, Any]) -> None:
        """The speaker, outlet and source named must exist and be live."""
        rules.check_references(session, values)

    def check_new(self, session: Session, values: dict[str, Any]) -> int:
        """The references and the new claim's id in one statement."""
        return rules.check_references(session, values, reserve_id_of=claim_table)

    def check_rules(self, session: Session, entity: Claim | None, values: dict[str, Any]) -> None:
        """The verdict rules, for a write that sets verdict fields (a revert: a PATCH cannot,
        and a status change checks them itself in ``set_status``)."""
        if entity is not None and not values.keys().isdisjoint(VERDICT_FIELDS):
            rules.check_status_rules(session, entity, values)

    def after_change(self, session: Session, entity: Claim, before: dict[str, Any] | None) -> None:
        """Keep the topic index in step: delete the topics the claim lost, insert the ones it
        gained (nothing at all when its topics did not change, no DELETE on a create)."""
        assert entity.id is not None
        old = set(before["topics"]) if before is not None else set()
        new = set(entity.topics)
        conn = session.connection()
        if old - new:
            conn.execute(
                delete(topic_table).where(
                    topic_table.c.claim_id == entity.id, topic_table.c.topic.in_(old - new)
                )
            )
        gained = [topic for topic in entity.topics if topic not in old]
        if gained:
            conn.execute(insert(topic_table), [{"claim_id": entity.id, "topic": t} for t in gained])
        # The matching's normalised texts and hashes (app/matching/texts.py).
        fields = {"statement": entity.statement, "original_quote": entity.original_quote}
        if before is None:
            texts.store_new(conn, [{"id": entity.id, **fields}])
        elif texts.changed(before, fields):
            texts.replace(conn, entity.id, before, fields)

    def after_create_many(self, session: Session, rows: Sequence[Row]) -> None:
        """The topic index of claims written as rows: one INSERT for them all."""
        topics = [
            {"claim_id": row["id"], "topic": topic} for row in rows for topic in row["topics"]
        ]
        insert_rows(session.connection(), topic_table, topics)
        texts.store_new(session.connection(), rows)

    # --- the claim's own writes --------------------------------------------------------------

    def set_status(
        self,
        session: Session,
        claim_id: int,
        change: StatusChange,
        *,
        expect: Expected,
        actor: Actor,
    ) -> Claim:
        """A verdict, a review move, or both (DESIGN.md, "Verification status and review").
        Who may make it is checked before the If-Match."""
        claim, before = self.load_for_change(session, claim_id)
        rules.check_status_permission(claim, change, actor)
        expect.check(claim.version)
        values = rules.status_change_values(claim, change)
        rules.check_verdict_rules(claim, values, lambda: len(before["evidence"]))
        if self._change(session, claim, values, before=before, actor=actor, reason=change.reason):
            session.commit()
        return claim

    def change_parts(
        self,
        session: Session,
        claim_id: int,
        mutate: Callable[[Claim], PartT],
        *,
        expect: Expected,
        actor: Actor,
        reason: str | None,
    ) -> tuple[Claim, PartT]:
        """Change the claim's evidence or appearances (``mutate`` does) as one revision of
        the claim; a change of evidence under a settled verdict reopens its review. A change
        that changes nothing records and commits nothing."""
        claim, before = self._load(session, claim_id, expect=expect)
        result = mutate(claim)
        session.flush()
        after = self.snapshot(session, claim)
        if after["evidence"] != before["evidence"]:
            reopen: dict[str, Any] = {}
            reason = settlement.reopen_on_basis_change(claim, reopen, reason, evidence_changed=True)
            if reopen:
                for field, value in reopen.items():
                    setattr(claim, field, value)
                after = self.snapshot_after(session, claim, after)
        if self._record_change(session, claim, before, after=after, actor=actor, reason=reason):
            session.commit()
        return claim, result

    # --- steps ------------------------------------------------------------------------------

    def _change(
        self,
        session: Session,
        entity: Claim,
        values: dict[str, Any],
        *,
        actor: Actor,
        reason: str | None,
        action: RevisionAction = RevisionAction.updated,
        reverted_to: int | None = None,
        before: dict[str, Any] | None = None,
    ) -> bool:
        """Every change of a claim's fields: one that changes what a settled verdict rests on
        (an edit, a revert) reopens the review, and its revision's reason says so."""
        reason = settlement.reopen_on_basis_change(entity, values, reason)
        return super()._change(
            session,
            entity,
            values,
            actor=actor,
            reason=reason,
            action=action,
            reverted_to=reverted_to,
            before=before,
        )


# Built once per dialect: constructing these expressions cost more than running them (profile of
# update_claim, bench/history_cost.py).
@cache
def _parts_of_loaded_claim(dialect: str) -> tuple[ColumnElement[str], ...]:
    return tuple(_parts_columns(dialect, claim_table.c.id))


@cache
def _parts_of_one_claim(dialect: str) -> sa.Select[Any]:
    columns = _parts_columns(dialect, sa.bindparam("claim_id", type_=sa.Integer))
    return sa.select(*columns)  # type: ignore[return-value]


def _parts_columns(dialect: str, claim_id: ColumnElement[Any]) -> list[ColumnElement[str]]:
    """A claim's evidence, its appearances and its links, each as one JSON text (a list of
    rows of EVIDENCE_FIELDS / APPEARANCE_FIELDS / LINK_FIELDS), read in the statement that
    reads the claim."""
    return [
        *(
            _as_json_text(dialect, model, fields, claim_id)
            for model, fields in ((Evidence, EVIDENCE_FIELDS), (Appearance, APPEARANCE_FIELDS))
        ),
        links.links_column(dialect, claim_id),
    ]


def _as_json_text(
    dialect: str,
    model: type[Evidence] | type[Appearance],
    fields: tuple[str, ...],
    claim_id: ColumnElement[Any],
) -> ColumnElement[str]:
    columns = [getattr(model, field) for field in fields]
    rows: ColumnElement[str] = json_rows_text(dialect, columns, col(model.claim_id) == claim_id)
    return rows


def _with_parts(claim: Claim, evidence: str, appearances: str, linked: str) -> dict[str, Any]:
    """The claim's snapshot from its fields and its parts as ``_parts_columns`` read them:
    the values ``model_dump(mode="json")`` of each part gives, oldest first (its links, when it
    has any: app/matching/snapshot.py)."""
    snapshot = {
        **plain_snapshot(claim),
        "evidence": _rows(evidence, EVIDENCE_FIELDS),
        "appearances": _rows(appearances, APPEARANCE_FIELDS),
    }
    return links.with_links(snapshot, _rows(linked, links.LINK_FIELDS))


def _rows(text: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    # Sorted here: neither database promises the order in which an aggregate sees its rows.
    return [dict(zip(fields, row, strict=True)) for row in sorted(orjson.loads(text))]


CLAIMS = ClaimService()
# The names the seed loader and the imports call.
create_claim = CLAIMS.create
update_claim = CLAIMS.update
set_status = CLAIMS.set_status
