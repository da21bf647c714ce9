"""Webhook endpoints (admins): create with a secret shown once, read, change, delete, rotate the
secret; the deliveries and their attempts; replays of one delivery or of a range of revisions.

Endpoint administration is not tracked in the revision table (its entity types are the desk's
content), like API keys. The deliveries themselves are written by the database's outbox
trigger (``app.webhooks.models``); a replay adds rows the same trigger would have written.
"""

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import Session

from app.core import errors
from app.core.base import utcnow
from app.core.logs import get_logger
from app.history.models import EntityType, Revision, RevisionAction
from app.webhooks.models import (
    ANY,
    AttemptPublic,
    DeliveryPublic,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
    WebhookSubscription,
    webhook_id,
)

log = get_logger("app.webhooks")

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32
endpoint_table = WebhookEndpoint.__table__  # type: ignore[attr-defined]
subscription_table = WebhookSubscription.__table__  # type: ignore[attr-defined]
delivery_table = WebhookDelivery.__table__  # type: ignore[attr-defined]
attempt_table = WebhookAttempt.__table__  # type: ignore[attr-defined]
revision_table = Revision.__table__  # type: ignore[attr-defined]


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes (Standard Webhooks: 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def parse_events(events: Sequence[str]) -> list[tuple[str, str]]:
    """``(entity_type, action)`` pairs of the patterns, ``*`` for any; a 422 names every
    pattern that matches no real entity type or action."""
    types = {str(member) for member in EntityType} | {ANY}
    actions = {str(member) for member in RevisionAction} | {ANY}
    pairs: list[tuple[str, str]] = []
    bad: list[dict[str, object]] = []
    for index, pattern in enumerate(events):
        entity_type, dot, action = pattern.partition(".")
        if pattern == ANY:
            entity_type, dot, action = ANY, ".", ANY
        if not dot or entity_type not in types or action not in actions:
            bad.append(
                {
                    "loc": ["body", "events", index],
                    "msg": f"{pattern!r} is no event: use <entity_type>.<action>, either part "
                    f"'*'; entity types {sorted(types - {ANY})}, actions "
                    f"{sorted(actions - {ANY})}.",
                    "type": "webhook_event",
                }
            )
        elif (entity_type, action) not in pairs:
            pairs.append((entity_type, action))
    if bad:
        refused = errors.RuleViolation(
            "Unknown webhook events.", rule="webhook_event", field="events"
        )
        refused.errors = bad  # every bad pattern, each at its index
        raise refused
    return pairs


def _subscribe(session: Session, endpoint_id: int, events: Sequence[str]) -> None:
    session.connection().execute(
        subscription_table.delete().where(subscription_table.c.endpoint_id == endpoint_id)
    )
    session.connection().execute(
        subscription_table.insert(),
        [
            {"endpoint_id": endpoint_id, "entity_type": entity_type, "action": action}
            for entity_type, action in parse_events(events)
        ],
    )


def create_endpoint(session: Session, body: WebhookEndpointCreate) -> tuple[WebhookEndpoint, str]:
    parse_events(body.events)  # before anything is written
    now = utcnow()
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=str(body.url),
        description=body.description,
        events=list(body.events),
        secret=secret,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    assert endpoint.id is not None
    _subscribe(session, endpoint.id, body.events)
    session.commit()
    log.info("webhook_endpoint_created", endpoint_id=endpoint.id, url=endpoint.url)
    return endpoint, secret


def list_endpoints(conn: Connection) -> list[WebhookEndpoint]:
    rows = conn.execute(sa.select(endpoint_table).order_by(endpoint_table.c.id))
    return [WebhookEndpoint(**row._mapping) for row in rows]


def get_endpoint(conn: Connection, endpoint_id: int) -> WebhookEndpoint:
    row = conn.execute(sa.select(endpoint_table).where(endpoint_table.c.id == endpoint_id)).first()
    if row is None:
        raise errors.NotFound(f"There is no webhook endpoint {endpoint_id}.")
    return WebhookEndpoint(**row._mapping)


def _load(session: Session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
    if endpoint is None:
        raise errors.NotFound(f"There is no webhook endpoint {endpoint_id}.")
    return endpoint


def update_endpoint(
    session: Session, endpoint_id: int, body: WebhookEndpointUpdate
) -> WebhookEndpoint:
    endpoint = _load(session, endpoint_id)
    if body.events is not None:
        _subscribe(session, endpoint_id, body.events)
        endpoint.events = list(body.events)
    if body.url is not None:
        endpoint.url = str(body.url)
    if "description" in body.model_fields_set:
        endpoint.description = body.description
    if body.enabled is not None and body.enabled != endpoint.enabled:
        endpoint.enabled = body.enabled
        if body.enabled:  # a fresh start: the failure clock and the reason go
            endpoint.failing_since = None
            endpoint.disabled_at = None
            endpoint.disabled_reason = None
        else:
            endpoint.disabled_at = utcnow()
            endpoint.disabled_reason = "Disabled by an admin."
    endpoint.updated_at = utcnow()
    session.add(endpoint)
    session.commit()
    log.info("webhook_endpoint_updated", endpoint_id=endpoint_id, enabled=endpoint.enabled)
    return endpoint


def delete_endpoint(session: Session, endpoint_id: int) -> None:
    """The endpoint, its subscriptions, deliveries and attempts (foreign keys cascade)."""
    endpoint = _load(session, endpoint_id)
    session.delete(endpoint)
    session.commit()
    log.info("webhook_endpoint_deleted", endpoint_id=endpoint_id)


def rotate_secret(
    session: Session, endpoint_id: int, grace: timedelta
) -> tuple[WebhookEndpoint, str]:
    """A new secret; the current one keeps signing too for ``grace`` (deliveries then carry
    two signatures, which Standard Webhooks allows)."""
    endpoint = _load(session, endpoint_id)
    now = utcnow()
    secret = new_secret()
    endpoint.previous_secret = endpoint.secret if grace > timedelta(0) else None
    endpoint.previous_secret_expires_at = now + grace if grace > timedelta(0) else None
    endpoint.secret = secret
    endpoint.updated_at = now
    session.add(endpoint)
    session.commit()
    log.info("webhook_secret_rotated", endpoint_id=endpoint_id, grace_seconds=grace.total_seconds())
    return endpoint, secret


# --- deliveries -------------------------------------------------------------------------------


def list_deliveries(
    conn: Connection, endpoint_id: int, *, before: int | None, limit: int
) -> tuple[list[DeliveryPublic], int | None]:
    """Newest first, each with its attempts; the cursor for the next (older) page."""
    get_endpoint(conn, endpoint_id)
    statement = sa.select(delivery_table).where(delivery_table.c.endpoint_id == endpoint_id)
    if before is not None:
        statement = statement.where(delivery_table.c.id < before)
    rows = list(conn.execute(statement.order_by(delivery_table.c.id.desc()).limit(limit)))
    attempts: dict[int, list[AttemptPublic]] = {row.id: [] for row in rows}
    if rows:
        for attempt in conn.execute(
            sa.select(attempt_table)
            .where(attempt_table.c.delivery_id.in_(list(attempts)))
            .order_by(attempt_table.c.id)
        ):
            attempts[attempt.delivery_id].append(AttemptPublic.model_validate(attempt))
    items = [
        DeliveryPublic(
            id=row.id,
            revision_id=row.revision_id,
            event_type=row.event_type,
            webhook_id=webhook_id(row.revision_id),
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=(row.next_attempt_at or row.created_at)
            if row.status == DeliveryStatus.pending
            else None,
            created_at=row.created_at,
            finished_at=row.finished_at,
            last_response_status=row.last_response_status,
            last_error=row.last_error,
            replay_of=row.replay_of,
            attempt_log=attempts[row.id],
        )
        for row in rows
    ]
    return items, (rows[-1].id if len(rows) == limit else None)


def replay_delivery(session: Session, endpoint_id: int, delivery_id: int) -> int:
    """A new delivery of the same revision (same webhook-id), sent at the head of the
    endpoint's queue; returns its id."""
    _load(session, endpoint_id)
    conn = session.connection()
    original = conn.execute(
        sa.select(delivery_table).where(
            delivery_table.c.id == delivery_id, delivery_table.c.endpoint_id == endpoint_id
        )
    ).first()
    if original is None:
        raise errors.NotFound(f"Webhook endpoint {endpoint_id} has no delivery {delivery_id}.")
    replay_id = conn.execute(
        delivery_table.insert().returning(delivery_table.c.id),
        {
            "endpoint_id": endpoint_id,
            "revision_id": original.revision_id,
            "feed_xid": original.feed_xid,
            "event_type": original.event_type,
            "status": DeliveryStatus.pending,
            "attempts": 0,
            "created_at": utcnow(),
            "replay_of": delivery_id,
        },
    ).scalar_one()
    session.commit()
    log.info("webhook_replay", endpoint_id=endpoint_id, delivery_id=delivery_id)
    return int(replay_id)


def replay_from(session: Session, endpoint_id: int, from_revision: int) -> int:
    """Queue every revision from ``from_revision`` on that the endpoint's events match, in the
    feed's order (one INSERT ... SELECT); returns how many."""
    _load(session, endpoint_id)
    revision = revision_table
    subscription = subscription_table
    matches = sa.exists().where(
        subscription.c.endpoint_id == endpoint_id,
        subscription.c.entity_type.in_([revision.c.entity_type, ANY]),
        subscription.c.action.in_([revision.c.action, ANY]),
    )
    source = sa.select(
        sa.literal(endpoint_id),
        revision.c.id,
        revision.c.feed_xid,
        sa.type_coerce(revision.c.entity_type, sa.String)
        + "."
        + sa.type_coerce(revision.c.action, sa.String),
        sa.literal(str(DeliveryStatus.pending)),
        sa.literal(0),
        revision.c.recorded_at,
    ).where(revision.c.id >= from_revision, matches)
    result = session.connection().execute(
        delivery_table.insert()
        .from_select(
            [
                "endpoint_id",
                "revision_id",
                "feed_xid",
                "event_type",
                "status",
                "attempts",
                "created_at",
            ],
            source,
        )
        .returning(delivery_table.c.id)
    )
    queued = len(result.all())
    session.commit()
    log.info(
        "webhook_replay_range",
        endpoint_id=endpoint_id,
        from_revision=from_revision,
        queued=queued,
    )
    return queued


def previous_secret_valid(endpoint: WebhookEndpoint, now: datetime) -> bool:
    return (
        endpoint.previous_secret is not None
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    )
