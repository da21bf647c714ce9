"""The dispatcher's side of the database: claim due deliveries with a lease, record results.

Order. Each endpoint's deliveries go out one after the other in the change feed's order,
``(feed_xid, revision_id, id)`` (``app.history.service.changes_feed``). On PostgreSQL a
delivery is only claimed below the feed's watermark, ``pg_snapshot_xmin``: every transaction
below it has ended, so no delivery still to commit can sort before one that is sent (a revision
committed late never lets a later one overtake it). SQLite has one writer at a time: id order
is commit order.

Head of line. Only an endpoint's oldest pending delivery (its head) and the ones right behind
it are claimed, so while the head waits for a retry, the endpoint's later deliveries wait too:
strict order, never a gap. The queue moves on when the head is delivered, when its last retry
has failed (status ``failed``; replay it later), or never while the endpoint is disabled.

Leases. A claim writes ``lease_until`` and a token on the rows, in one short transaction
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two workers never wait for, nor take, the same
rows); nobody else claims them before the lease runs out. A worker that dies holding a lease
is replaced when it runs out: delivery is at least once, the webhook-id lets receivers drop a
repeat. Results are written only by the lease's holder (the token).
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import Session

from app.core.logs import get_logger
from app.history.models import Revision, RevisionPublic
from app.webhooks.models import (
    AttemptOutcome,
    DeliveryStatus,
    WebhookEndpoint,
    WebhookEvent,
)
from app.webhooks.service import (
    attempt_table,
    delivery_table,
    endpoint_table,
    previous_secret_valid,
    revision_table,
)

log = get_logger("app.webhooks")

_WATERMARK = sa.literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint", sa.BigInteger
)
_ORDER = (delivery_table.c.feed_xid, delivery_table.c.revision_id, delivery_table.c.id)
ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: int
    revision_id: int
    event_type: str
    attempts: int  # before this one
    body: str


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive deliveries of one endpoint, to be sent in this order."""

    endpoint_id: int
    url: str
    secrets: tuple[str, ...]  # the current one first; the previous one during its grace
    token: str
    deliveries: tuple[Claimed, ...]


@dataclass(frozen=True, slots=True)
class Result:
    delivery_id: int
    attempted_at: datetime
    outcome: AttemptOutcome
    response_status: int | None
    duration_ms: float
    error: str | None


@dataclass(frozen=True, slots=True)
class Policy:
    retry_schedule: Sequence[float]
    disable_after: timedelta


_HEAD = delivery_table.alias("head")


def _heads(conn: Connection, now: datetime, limit: int, *, held: bool = False) -> sa.Select[Any]:
    """Each enabled endpoint's head, when it is due, free and (PostgreSQL) below the
    watermark (``held``: at or above it, still held back)."""
    head = _HEAD
    queue = delivery_table.alias("queue")
    first = (
        sa.select(queue.c.id)
        .where(queue.c.endpoint_id == endpoint_table.c.id, queue.c.status == DeliveryStatus.pending)
        .order_by(queue.c.feed_xid, queue.c.revision_id, queue.c.id)
        .limit(1)
        .scalar_subquery()
    )
    statement = (
        sa.select(head.c.id, head.c.endpoint_id, head.c.feed_xid, head.c.revision_id)
        .select_from(endpoint_table.join(head, head.c.id == first))
        .where(
            endpoint_table.c.enabled,
            sa.or_(head.c.next_attempt_at.is_(None), head.c.next_attempt_at <= now),
            sa.or_(head.c.lease_until.is_(None), head.c.lease_until < now),
        )
        .order_by(head.c.endpoint_id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        statement = statement.where(
            head.c.feed_xid >= _WATERMARK if held else head.c.feed_xid < _WATERMARK
        )
    return statement


def any_due(conn: Connection, now: datetime) -> bool:
    """A read (no lock): is any endpoint's head due? Idle workers ask this, not for a claim."""
    return conn.execute(_heads(conn, now, 1)).first() is not None


def queue_depth(conn: Connection) -> int:
    """Pending deliveries of enabled endpoints."""
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(delivery_table.join(endpoint_table))
            .where(endpoint_table.c.enabled, delivery_table.c.status == DeliveryStatus.pending)
        ).scalar_one()
    )


def claim_runs(
    session: Session, now: datetime, *, lease: timedelta, per_endpoint: int, endpoints: int
) -> list[Run]:
    """Lease up to ``per_endpoint`` consecutive deliveries of up to ``endpoints`` endpoints."""
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    heads_statement = _heads(conn, now, endpoints)
    if postgres:
        heads_statement = heads_statement.with_for_update(of=_HEAD, skip_locked=True)
    heads = list(conn.execute(heads_statement))
    runs: list[Run] = []
    lease_until = now + lease
    for head in heads:
        token = secrets.token_hex(16)
        rows = _run_behind(conn, head, now, per_endpoint, postgres)
        if not rows:
            continue
        ids = [row.id for row in rows]
        conn.execute(
            delivery_table.update()
            .where(delivery_table.c.id.in_(ids))
            .values(lease_until=lease_until, lease_token=token)
        )
        endpoint = WebhookEndpoint(
            **conn.execute(sa.select(endpoint_table).where(endpoint_table.c.id == head.endpoint_id))
            .one()
            ._mapping
        )
        bodies = _bodies(conn, [row.revision_id for row in rows])
        signing = [endpoint.secret]
        if previous_secret_valid(endpoint, now) and endpoint.previous_secret:
            signing.append(endpoint.previous_secret)
        runs.append(
            Run(
                endpoint_id=head.endpoint_id,
                url=endpoint.url,
                secrets=tuple(signing),
                token=token,
                deliveries=tuple(
                    Claimed(
                        row.id,
                        row.revision_id,
                        row.event_type,
                        row.attempts,
                        bodies[row.revision_id],
                    )
                    for row in rows
                ),
            )
        )
    session.commit()
    return runs


def _run_behind(
    conn: Connection, head: Any, now: datetime, limit: int, postgres: bool
) -> list[Any]:
    """The head and the pending deliveries right behind it, cut before the first one that is
    not due or is leased (a run never leaves a gap)."""
    statement = (
        sa.select(
            delivery_table.c.id,
            delivery_table.c.revision_id,
            delivery_table.c.event_type,
            delivery_table.c.attempts,
            delivery_table.c.next_attempt_at,
            delivery_table.c.lease_until,
        )
        .where(
            delivery_table.c.endpoint_id == head.endpoint_id,
            delivery_table.c.status == DeliveryStatus.pending,
            sa.tuple_(*_ORDER)
            >= sa.tuple_(
                sa.literal(head.feed_xid), sa.literal(head.revision_id), sa.literal(head.id)
            ),
        )
        .order_by(*_ORDER)
        .limit(limit)
    )
    if postgres:
        statement = statement.where(delivery_table.c.feed_xid < _WATERMARK).with_for_update(
            skip_locked=True
        )
    run: list[Any] = []
    for row in conn.execute(statement):
        due = row.next_attempt_at is None or row.next_attempt_at <= now
        free = row.lease_until is None or row.lease_until < now
        if not (due and free) or (not run and row.id != head.id):
            break
        run.append(row)
    return run


def _bodies(conn: Connection, revision_ids: list[int]) -> dict[int, str]:
    """Each revision's delivery body: the event and the revision as GET /changes lists it."""
    rows = conn.execute(sa.select(revision_table).where(revision_table.c.id.in_(revision_ids)))
    bodies = {}
    for row in rows:
        revision = Revision(**row._mapping)
        event = WebhookEvent(
            type=f"{revision.entity_type}.{revision.action}",
            timestamp=revision.recorded_at,
            data=RevisionPublic.of(revision),
        )
        bodies[row.id] = event.model_dump_json()
    return bodies


def record_run(
    session: Session, run: Run, results: Sequence[Result], policy: Policy
) -> list[dict[str, Any]]:
    """Write what happened to a run: each attempt, each delivery's new state, the endpoint's
    health; the deliveries not attempted (behind a failure) lose their lease. Returns the log
    events to write (after the commit)."""
    conn = session.connection()
    events: list[dict[str, Any]] = []
    attempted = {result.delivery_id for result in results}
    claimed = {claimed.delivery_id: claimed for claimed in run.deliveries}
    for result in results:
        attempts = claimed[result.delivery_id].attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "lease_until": None,
            "lease_token": None,
            "last_response_status": result.response_status,
            "last_error": result.error[:ERROR_CHARS] if result.error else None,
        }
        if result.outcome is AttemptOutcome.delivered:
            values |= {"status": DeliveryStatus.delivered, "finished_at": result.attempted_at}
        elif attempts > len(policy.retry_schedule):
            values |= {"status": DeliveryStatus.failed, "finished_at": result.attempted_at}
        else:
            wait = timedelta(seconds=policy.retry_schedule[attempts - 1])
            values["next_attempt_at"] = result.attempted_at + wait
        written = conn.execute(
            delivery_table.update()
            .where(
                delivery_table.c.id == result.delivery_id,
                delivery_table.c.lease_token == run.token,
            )
            .values(**values)
        ).rowcount
        conn.execute(
            attempt_table.insert(),
            {
                "delivery_id": result.delivery_id,
                "attempted_at": result.attempted_at,
                "outcome": result.outcome,
                "response_status": result.response_status,
                "duration_ms": result.duration_ms,
                "error": values["last_error"],
            },
        )
        events.append(
            {
                "event": "webhook_attempt",
                "endpoint_id": run.endpoint_id,
                "delivery_id": result.delivery_id,
                "revision_id": claimed[result.delivery_id].revision_id,
                "event_type": claimed[result.delivery_id].event_type,
                "attempt": attempts,
                "outcome": str(result.outcome),
                "response_status": result.response_status,
                "duration_ms": round(result.duration_ms, 1),
                "status": str(values.get("status", DeliveryStatus.pending)),
                "next_attempt_at": values.get("next_attempt_at"),
                "lease_lost": written == 0,
            }
        )
    unsent = [delivery_id for delivery_id in claimed if delivery_id not in attempted]
    if unsent:
        conn.execute(
            delivery_table.update()
            .where(delivery_table.c.id.in_(unsent), delivery_table.c.lease_token == run.token)
            .values(lease_until=None, lease_token=None)
        )
    if results:
        events += _endpoint_health(conn, run.endpoint_id, results[-1], policy)
    session.commit()
    return events


def _endpoint_health(
    conn: Connection, endpoint_id: int, last: Result, policy: Policy
) -> list[dict[str, Any]]:
    """A success clears the failure clock; a failure starts it, or disables the endpoint once
    it has run for ``disable_after``."""
    endpoint = conn.execute(
        sa.select(endpoint_table.c.failing_since, endpoint_table.c.enabled).where(
            endpoint_table.c.id == endpoint_id
        )
    ).first()
    if endpoint is None:  # deleted meanwhile
        return []
    table = endpoint_table
    if last.outcome is AttemptOutcome.delivered:
        if endpoint.failing_since is not None:
            conn.execute(table.update().where(table.c.id == endpoint_id).values(failing_since=None))
        return []
    if endpoint.failing_since is None:
        conn.execute(
            table.update().where(table.c.id == endpoint_id).values(failing_since=last.attempted_at)
        )
        return []
    if not endpoint.enabled or last.attempted_at - endpoint.failing_since < policy.disable_after:
        return []
    reason = (
        f"Every delivery failed since {endpoint.failing_since.isoformat()}; the last attempt: "
        f"{last.outcome}"
        + (f" {last.response_status}" if last.response_status else "")
        + (f" ({last.error})" if last.error else "")
    )[:2000]
    conn.execute(
        table.update()
        .where(table.c.id == endpoint_id)
        .values(enabled=False, disabled_at=last.attempted_at, disabled_reason=reason)
    )
    return [
        {
            "event": "webhook_endpoint_disabled",
            "endpoint_id": endpoint_id,
            "failing_since": endpoint.failing_since,
            "reason": reason,
        }
    ]
