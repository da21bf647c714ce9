"""Every table, imported once: for migrations, tests and the app."""

from sqlalchemy import Table
from sqlmodel import SQLModel

from app.auth.models import ApiKey
from app.claims.models import Appearance, Claim, ClaimTopic, Evidence
from app.core import base  # noqa: F401  (the naming convention comes first)
from app.history.models import EntityType, Revision
from app.imports.models import IdempotencyKey
from app.matching.models import ClaimMatch, ClaimText
from app.outlets.models import Outlet
from app.sources.models import Source
from app.speakers.models import Speaker, SpeakerAlias
from app.tlog.models import TlogLeaf, TlogNode
from app.tracked.models import Tracked
from app.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSubscription,
)

metadata = SQLModel.metadata

TRACKED_MODELS: dict[EntityType, type[Tracked]] = {
    EntityType.claim: Claim,
    EntityType.speaker: Speaker,
    EntityType.outlet: Outlet,
    EntityType.source: Source,
}
# What the history verifier compares the chains' heads with: entity type -> its rows' table.
TRACKED_TABLES: dict[str, Table] = {
    str(entity_type): model.__table__  # type: ignore[attr-defined]
    for entity_type, model in TRACKED_MODELS.items()
}

__all__ = [
    "TRACKED_MODELS",
    "TRACKED_TABLES",
    "ApiKey",
    "Appearance",
    "Claim",
    "ClaimMatch",
    "ClaimText",
    "ClaimTopic",
    "Evidence",
    "IdempotencyKey",
    "Outlet",
    "Revision",
    "Source",
    "Speaker",
    "SpeakerAlias",
    "TlogLeaf",
    "TlogNode",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookSubscription",
    "metadata",
]
