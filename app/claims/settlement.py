"""What a verdict rests on, and the claim as its verdict was last settled.

A settled verdict rates one statement, said by one speaker, on some evidence. A change to any of
those under a settled verdict reopens the review (``review`` back to ``in_review``, status and
verdict kept, the reason saying so), and the ClaimReview export rates the claim as it stood when
its verdict was last settled, read from the history (docs/history.md, "Verdict integrity").
"""

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection

from app.core.db import in_chunks
from app.history.models import EntityType, Revision
from app.vocabulary.enums import ClaimStatus, ReviewState

# Appearances are not here: they say where the claim circulated, not what was said or whether
# it is true, so recording one more repost never calls a verdict into question.
CLAIM_BASIS_FIELDS = ("statement", "original_quote", "speaker_id")
VERDICT_BASIS = (*CLAIM_BASIS_FIELDS, "evidence")
# What the ClaimReview export takes from the settling revision (and the speaker as it stood
# then); the rest (language, identifier, appearances) is the claim as it is now.
SETTLED_FIELDS = (*VERDICT_BASIS, "status", "verdict", "reviewed_at", "claimed_at")
REOPENED = "reopened: {fields} changed under a settled verdict"
_REASON_MAX = 2000  # revision.reason's column length
revision_table = Revision.__table__  # type: ignore[attr-defined]


class VerdictState(Protocol):
    @property
    def status(self) -> ClaimStatus: ...
    @property
    def review(self) -> ReviewState: ...


def has_settled_verdict(state: VerdictState) -> bool:
    return state.review == ReviewState.settled and state.status != ClaimStatus.unverified


def reopened_reason(reason: str | None, changed: Iterable[str]) -> str:
    """The caller's reason (if any) followed by the fixed note naming what changed."""
    note = REOPENED.format(fields=", ".join(changed))
    if not reason:
        return note
    room = _REASON_MAX - len(note) - 2
    return f"{reason[:room]}; {note}"


def reopen_on_basis_change(
    claim: VerdictState,
    values: dict[str, Any],
    reason: str | None,
    *,
    evidence_changed: bool = False,
) -> str | None:
    """Apply the rule to a write of ``values`` on ``claim``: when the claim has a settled
    verdict, the write changes what it rests on, and would leave it settled, set ``review`` to
    ``in_review`` in ``values`` and return the reason the revision records; else ``reason``."""
    changed = [
        field
        for field in CLAIM_BASIS_FIELDS
        if field in values and values[field] != getattr(claim, field)
    ]
    if evidence_changed:
        changed.append("evidence")
    stays_settled = (
        values.get("review", claim.review) == ReviewState.settled
        and values.get("status", claim.status) != ClaimStatus.unverified
    )
    if not (changed and has_settled_verdict(claim) and stays_settled):
        return reason
    values["review"] = ReviewState.in_review
    return reopened_reason(reason, changed)


class SettledVersion(NamedTuple):
    revision_id: int  # the settling revision: what the verdict saw is what history held then
    snapshot: dict[str, Any]


def settled_snapshots(conn: Connection, claim_ids: Sequence[int]) -> dict[int, SettledVersion]:
    """{claim id: the latest revision that settled its verdict} for the claims that have one.

    A revision settled a verdict when it left the claim ``settled`` with a status other than
    ``unverified`` and it changed ``review``, ``status`` or ``verdict`` (a creation changes
    every field): an editor's settling, a new verdict on a settled claim, an imported verdict.
    Edits under a settled verdict change none of the three, so a statement changed before this
    rule existed is still not the one rated."""
    r = revision_table.c
    settling = sa.or_(*(r.changes[key].as_string().is_not(None) for key in _SETTLING_KEYS))
    found: dict[int, SettledVersion] = {}
    for chunk in in_chunks(sorted(set(claim_ids))):
        latest = (
            sa.select(r.entity_id, sa.func.max(r.version).label("version"))
            .where(
                r.entity_type == EntityType.claim,
                r.entity_id.in_(chunk),
                r.snapshot["review"].as_string() == ReviewState.settled.value,
                r.snapshot["status"].as_string() != ClaimStatus.unverified.value,
                settling,
            )
            .group_by(r.entity_id)
            .subquery()
        )
        statement = sa.select(r.entity_id, r.id, r.snapshot).join(
            latest,
            sa.and_(
                r.entity_type == EntityType.claim,
                r.entity_id == latest.c.entity_id,
                r.version == latest.c.version,
            ),
        )
        found.update(
            (row.entity_id, SettledVersion(row.id, row.snapshot)) for row in conn.execute(statement)
        )
    return found


def speakers_as_of(
    conn: Connection, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], dict[str, Any]]:
    """{(speaker id, revision id): the speaker's snapshot as it stood at that point of the
    feed}. A checker may rename a speaker, but a settled verdict's author stays who it was."""
    wanted = set(wanted)
    r = revision_table.c
    history: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for chunk in in_chunks(sorted({speaker_id for speaker_id, _ in wanted})):
        rows = conn.execute(
            sa.select(r.entity_id, r.id, r.snapshot)
            .where(r.entity_type == EntityType.speaker, r.entity_id.in_(chunk))
            .order_by(r.id)
        )
        for row in rows:
            history.setdefault(row.entity_id, []).append((row.id, row.snapshot))
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for speaker_id, revision_id in wanted:
        versions = history.get(speaker_id, [])
        at = bisect_right(versions, revision_id, key=lambda version: version[0])
        if at:
            found[(speaker_id, revision_id)] = versions[at - 1][1]
    return found


_SETTLING_KEYS = ("review", "status", "verdict")


def as_settled(claim: dict[str, Any], snapshot: dict[str, Any]) -> dict[str, Any]:
    """``claim`` (a row as a dict) with what its verdict rests on, and the verdict itself, as
    the settling revision recorded them."""
    return {**claim, **{field: snapshot.get(field) for field in SETTLED_FIELDS}}
