"""Test data built through the services, so every row has its revisions."""

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from app.auth.actor import Actor, Role
from app.claims import parts as claims_parts
from app.claims import service as claims_service
from app.claims.models import Claim, ClaimCreate, EvidenceCreate, StatusChange
from app.outlets import service as outlets_service
from app.outlets.models import Outlet, OutletCreate
from app.sources import service as sources_service
from app.sources.models import Source, SourceCreate
from app.speakers import service as speakers_service
from app.speakers.models import Speaker, SpeakerCreate
from app.tracked.versions import NO_PRECONDITION

ACTOR = Actor(name="tester", role=Role.editor, request_id="test-request")


def speaker(session: Session, **overrides: Any) -> Speaker:
    values: dict[str, Any] = {
        "name": "Yevgeny Prigozhin",
        "kind": "person",
        "role": "Founder of the Wagner Group",
        "country": "RU",
        "aliases": ["Prigozjin", "Пригожин"],
    }
    values.update(overrides)
    return speakers_service.create_speaker(session, SpeakerCreate(**values), actor=ACTOR)


def outlet(session: Session, **overrides: Any) -> Outlet:
    values: dict[str, Any] = {"name": "Telegram", "kind": "messaging", "domain": "telegram.org"}
    values.update(overrides)
    return outlets_service.create_outlet(session, OutletCreate(**values), actor=ACTOR)


def source(session: Session, **overrides: Any) -> Source:
    values: dict[str, Any] = {
        "url": "https://www.reuters.com/world/europe/bakhmut-2023-03-08/",
        "title": "Wagner says it controls eastern Bakhmut",
        "language": "en",
        "published_at": datetime(2023, 3, 8, tzinfo=UTC),
    }
    values.update(overrides)
    return sources_service.create_source(session, SourceCreate(**values), actor=ACTOR)


def claim(session: Session, **overrides: Any) -> Claim:
    values: dict[str, Any] = {
        "statement": "Everything east of the Bakhmutka river is under Wagner's control.",
        "language": "en",
        "original_quote": "Alles ten oosten van de rivier de Bachmoetka is in handen van Wagner.",
        "original_language": "nl",
        "claimed_at": datetime(2023, 3, 8, tzinfo=UTC),
        "context": "a Telegram post",
        "place": "Bakhmut, Ukraine",
        "topics": ["bakhmut", "wagner"],
    }
    values.update(overrides)
    return claims_service.create_claim(session, ClaimCreate(**values), actor=ACTOR)


def evidence(session: Session, claim_id: int, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "title": "Reuters could not verify the claim",
        "stance": "context",
        "url": "https://www.reuters.com/world/europe/bakhmut-2023-03-08/",
    }
    values.update(overrides)
    return claims_parts.add_evidence(
        session, claim_id, EvidenceCreate(**values), expect=NO_PRECONDITION, actor=ACTOR
    )[1]


def rate(session: Session, claim_id: int, status: str, verdict: str = "Checked.") -> Claim:
    change = StatusChange(status=status, verdict=verdict, reason="Evidence reviewed")
    return claims_service.set_status(session, claim_id, change, expect=NO_PRECONDITION, actor=ACTOR)
