"""The hot read path writes table rows straight to JSON; it must match the Public models."""

import pytest
from starlette.testclient import TestClient

from app.claims.models import (
    Appearance,
    AppearancePublic,
    Claim,
    ClaimPublic,
    Evidence,
    EvidencePublic,
)
from app.outlets.models import Outlet, OutletPublic
from app.sources.models import Source, SourcePublic
from app.speakers.models import Speaker, SpeakerPublic


@pytest.mark.parametrize(
    ("table_model", "public_model"),
    [
        (Claim, ClaimPublic),
        (Speaker, SpeakerPublic),
        (Outlet, OutletPublic),
        (Source, SourcePublic),
        (Evidence, EvidencePublic),  # embedded straight from rows by expand
        (Appearance, AppearancePublic),
    ],
)
def test_table_columns_are_exactly_the_public_fields(table_model: type, public_model: type) -> None:
    columns = {column.name for column in table_model.__table__.columns}
    assert columns == set(public_model.model_fields)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/api/v1/claims",
            {
                "statement": "Всё под контролем",
                "claimed_at": "2023-03-08T10:00:00Z",
                "topics": ["bakhmut"],
            },
        ),
        ("/api/v1/speakers", {"name": "Пригожин", "aliases": ["Prigozjin"], "kind": "person"}),
        ("/api/v1/outlets", {"name": "Telegram", "kind": "messaging"}),
        ("/api/v1/sources", {"url": "https://t.me/x/1", "published_at": "2023-03-08T10:00:00.5Z"}),
    ],
)
def test_list_items_serialise_like_the_model_does(
    client: TestClient, path: str, body: dict
) -> None:
    created = client.post(path, json=body)
    assert created.status_code == 201, created.text
    listed = client.get(path).json()["items"]
    assert listed == [created.json()]
    assert client.get(created.headers["location"]).json() == created.json()
