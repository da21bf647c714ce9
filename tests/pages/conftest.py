"""Fixtures of the public pages' tests: an app with the pages on, and published fact-checks
built through the services (so their history exists)."""

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.claims import service as claims_service
from app.claims.models import Claim, StatusChange
from app.tracked.versions import NO_PRECONDITION
from tests import factories
from tests.conftest import MakeClient

BASE_URL = "https://checks.example.org"


@pytest.fixture
def pages(make_client: MakeClient) -> TestClient:
    """An anonymous reader's client of an app with the public pages on."""
    return make_client(None, public_pages=True, public_base_url=BASE_URL)


Publish = Callable[..., Claim]


@pytest.fixture
def publish(session: Session) -> Publish:
    """``publish(status="false", verdict=..., **claim fields)``: a claim with one refuting
    evidence item, rated (settled) through the service."""

    def make(
        status: str = "false", verdict: str = "The footage is from 2019.", **fields: Any
    ) -> Claim:
        claim = factories.claim(session, **fields)
        assert claim.id is not None
        factories.evidence(session, claim.id, stance="refutes")
        return factories.rate(session, claim.id, status, verdict)

    return make


def change_verdict(
    session: Session, claim_id: int, status: str, verdict: str, reason: str
) -> Claim:
    change = StatusChange(status=status, verdict=verdict, reason=reason)
    return claims_service.set_status(
        session, claim_id, change, expect=NO_PRECONDITION, actor=factories.ACTOR
    )
