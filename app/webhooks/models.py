"""Webhook endpoints, what each one listens to, and its deliveries with their attempts.

A delivery row is written by the database itself, in the transaction that inserts a revision
(the ``revision_webhook_outbox`` trigger, migration ``2026-11-30_webhook_outbox``): one per
enabled endpoint whose subscriptions match the revision's ``<entity_type>.<action>``. Those
rows are the transactional outbox; ``app.webhooks.dispatcher`` sends them.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, StringConstraints, UrlConstraints
from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.core.base import enum_type
from app.history.models import RevisionPublic

# SQLite hands out ids only for an "INTEGER PRIMARY KEY" column.
DeliveryId = BigInteger().with_variant(Integer(), "sqlite")

ANY = "*"  # in a subscription: any entity type, or any action


class DeliveryStatus(StrEnum):
    pending = "pending"  # waiting for its turn, its next attempt, or a worker
    delivered = "delivered"  # a 2xx answer
    failed = "failed"  # every attempt of the retry schedule failed


class AttemptOutcome(StrEnum):
    delivered = "delivered"
    http_error = "http_error"  # an answer, but not 2xx (3xx included: redirects are not followed)
    timeout = "timeout"
    network_error = "network_error"
    refused = "refused"  # the target resolved to an address webhooks may not reach


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoint"

    id: int | None = SQLField(default=None, primary_key=True)
    url: str = SQLField(max_length=2000)
    description: str | None = SQLField(default=None, max_length=500)
    events: list[str] = SQLField(sa_column=Column(JSON, nullable=False))
    enabled: bool = True
    # The signing secrets (whsec_...): needed in clear to sign, never returned after creation or
    # rotation, never logged. The previous one signs too until previous_secret_expires_at.
    secret: str = SQLField(max_length=100)
    previous_secret: str | None = SQLField(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    failing_since: datetime | None = None  # the first failed attempt since the last success
    disabled_at: datetime | None = None
    disabled_reason: str | None = SQLField(default=None, max_length=2000)


class WebhookSubscription(SQLModel, table=True):
    """One event pattern of an endpoint, split so the outbox trigger can match it in SQL."""

    __tablename__ = "webhook_subscription"

    endpoint_id: int = SQLField(
        sa_column=Column(
            Integer, ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), primary_key=True
        )
    )
    entity_type: str = SQLField(sa_column=Column(String(20), primary_key=True))
    action: str = SQLField(sa_column=Column(String(20), primary_key=True))


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_delivery"
    __table_args__ = (
        # The dispatcher's question: each endpoint's oldest pending delivery, in feed order.
        Index(
            "ix_webhook_delivery_queue", "endpoint_id", "status", "feed_xid", "revision_id", "id"
        ),
    )

    id: int | None = SQLField(default=None, sa_column=Column(DeliveryId, primary_key=True))
    endpoint_id: int = SQLField(
        sa_column=Column(
            Integer, ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), nullable=False
        )
    )
    revision_id: int = SQLField(sa_column=Column(BigInteger, nullable=False, index=True))
    # The revision's place in the change feed (app.history.service.changes_feed): deliveries
    # of one endpoint go out in (feed_xid, revision_id) order, below the feed's watermark.
    feed_xid: int = SQLField(sa_column=Column(BigInteger, nullable=False))
    event_type: str = SQLField(max_length=41)
    status: DeliveryStatus = SQLField(sa_type=enum_type(DeliveryStatus, "delivery_status"))
    attempts: int = 0
    next_attempt_at: datetime | None = None  # None: due now
    # A worker's claim: nobody else sends it before lease_until; the token tells its result
    # from that of a worker whose lease ran out.
    lease_until: datetime | None = None
    lease_token: str | None = SQLField(default=None, max_length=32)
    created_at: datetime
    finished_at: datetime | None = None
    last_response_status: int | None = None
    last_error: str | None = SQLField(default=None, max_length=500)
    replay_of: int | None = SQLField(default=None, sa_column=Column(BigInteger, nullable=True))


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_attempt"

    id: int | None = SQLField(default=None, sa_column=Column(DeliveryId, primary_key=True))
    delivery_id: int = SQLField(
        sa_column=Column(
            BigInteger,
            ForeignKey("webhook_delivery.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    attempted_at: datetime
    outcome: AttemptOutcome = SQLField(sa_type=enum_type(AttemptOutcome, "attempt_outcome"))
    response_status: int | None = None
    duration_ms: float
    error: str | None = SQLField(default=None, max_length=500)


# --- the wire ---------------------------------------------------------------------------------

EventPattern = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=41),
    Field(
        description="`<entity_type>.<action>`, either part `*`: `claim.*`, `speaker.created`, "
        "`*.deleted`, `*` (everything)."
    ),
]
WebhookUrl = Annotated[
    AnyUrl,
    UrlConstraints(max_length=2000, allowed_schemes=["http", "https"]),
    Field(description="Where deliveries are POSTed: http or https."),
]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500), Field(description="For people.")
]


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    events: list[EventPattern] = Field(min_length=1, max_length=50)
    description: Description | None = None


class WebhookEndpointUpdate(BaseModel):
    """Any of the fields; ``enabled: true`` re-enables an endpoint that was disabled."""

    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl | None = None
    events: list[EventPattern] | None = Field(default=None, min_length=1, max_length=50)
    description: Description | None = None
    enabled: bool | None = None


class WebhookEndpointPublic(BaseModel):
    """An endpoint as anyone may see it: never a secret."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    description: str | None
    events: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret before the last rotation still signs (None: none)."
    )
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None


class WebhookEndpointCreated(WebhookEndpointPublic):
    secret: str = Field(description="The signing secret (whsec_...), shown this once.")


class WebhookSecretRotated(WebhookEndpointPublic):
    secret: str = Field(description="The new signing secret (whsec_...), shown this once.")


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: int | None = Field(
        default=None,
        ge=0,
        le=30 * 86400,
        description="How long the old secret keeps signing too (unset: the server's default).",
    )


class AttemptPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempted_at: datetime
    outcome: AttemptOutcome
    response_status: int | None
    duration_ms: float
    error: str | None


class DeliveryPublic(BaseModel):
    id: int
    revision_id: int
    event_type: str
    webhook_id: str = Field(description="The webhook-id header: the same on every attempt.")
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="When pending: the next try.")
    created_at: datetime
    finished_at: datetime | None
    last_response_status: int | None
    last_error: str | None
    replay_of: int | None
    attempt_log: list[AttemptPublic] = Field(description="Every attempt, oldest first.")


class DeliveryPage(BaseModel):
    items: list[DeliveryPublic]
    next_before: int | None = Field(description="Pass as before= for older deliveries.")


class ReplayRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # 2**53 - 1, not the column's 2**63 - 1: a JSON body's number past it is a float to most
    # parsers (the OpenAPI document's maximum too), so the bound could not be stated exactly.
    from_revision: int = Field(
        ge=1,
        le=2**53 - 1,
        description="Every revision from this one on (in the feed's order) that the endpoint's "
        "events match is delivered again.",
    )


class ReplayQueued(BaseModel):
    queued: int = Field(description="How many deliveries were queued.")


def webhook_id(revision_id: int) -> str:
    """The webhook-id of every delivery of a revision: the same on every attempt and replay, so
    receivers can drop what they already processed."""
    return f"msg_rev{revision_id}"


class WebhookEvent(BaseModel):
    """A delivery's body: the event, when it happened, the revision as GET /changes lists it."""

    type: str = Field(description="`<entity_type>.<action>`, like `claim.created`.")
    timestamp: datetime = Field(description="When the revision was recorded.")
    data: RevisionPublic
