"""The claims list sends the database's rows as JSON without building models: its body must
be byte for byte what the models would write, for every kind of value a claim holds."""

from typing import Any

import pytest
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.claims.models import Claim, ClaimPublic
from app.core.base import Page

CLAIMS: list[dict[str, Any]] = [
    {  # non-ASCII everywhere, a JSON list of several topics, microseconds
        "statement": "Всё под контролем — «100 %» ✓",
        "language": "ru",
        "original_quote": 'Он сказал: "всё" \\ ничего',
        "original_language": "ru",
        "claimed_at": "2023-03-08T10:00:00.123456Z",
        "context": "Пресс-конференция\nвторая строка",  # noqa: RUF001 (a newline inside)
        "place": "Москва",
        "topics": ["война", "economy", "énergie"],
        "external_id": "ext-ü-1",
    },
    {  # nulls: only the statement, no topics, no timestamp
        "statement": "Plain ASCII, nothing else set",
    },
    {  # a whole-second timestamp and a single topic
        "statement": "Whole seconds 😀",
        "claimed_at": "2024-01-01T00:00:00Z",
        "topics": ["t"],
    },
    {  # a timestamp whose only fraction is in the last digit
        "statement": "One microsecond",
        "claimed_at": "2024-01-01T00:00:00.000001Z",
    },
]


def _model_body(session: Session, ids: list[int], next_cursor: str | None) -> bytes:
    """What the response model would answer for these claims, in this order."""
    stored = {
        claim.id: claim for claim in session.exec(select(Claim).where(col(Claim.id).in_(ids)))
    }
    page = Page[ClaimPublic](
        items=[ClaimPublic.model_validate(stored[claim_id]) for claim_id in ids],
        next_cursor=next_cursor,
    )
    return page.model_dump_json().encode()


@pytest.fixture
def claim_ids(client: TestClient) -> list[int]:
    ids = []
    for body in CLAIMS:
        created = client.post("/api/v1/claims", json=body)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    return ids


class TestClaimsListBody:
    def test_a_page_is_byte_for_byte_the_models_body(
        self, client: TestClient, session: Session, claim_ids: list[int]
    ) -> None:
        listed = client.get("/api/v1/claims", params={"limit": 200})
        assert listed.status_code == 200
        ids = [item["id"] for item in listed.json()["items"]]
        assert set(claim_ids) <= set(ids)
        assert listed.content == _model_body(session, ids, None)

    @pytest.mark.parametrize("sort", ["claimed_at", "-claimed_at", "-id", "updated_at"])
    def test_every_page_of_a_walk_is_the_models_body(
        self, client: TestClient, session: Session, claim_ids: list[int], sort: str
    ) -> None:
        # Pages of one: the walk crosses from claims with a timestamp to those without.
        params: dict[str, Any] = {"limit": 1, "sort": sort}
        seen: list[int] = []
        cursor = None
        while True:
            page = client.get(
                "/api/v1/claims",
                params={k: v for k, v in {**params, "cursor": cursor}.items() if v is not None},
            )
            assert page.status_code == 200, page.text
            body = page.json()
            ids = [item["id"] for item in body["items"]]
            assert page.content == _model_body(session, ids, body["next_cursor"])
            seen.extend(ids)
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert set(claim_ids) <= set(seen)
        assert len(seen) == len(set(seen))

    def test_filters_pick_the_same_claims_the_models_would_show(
        self, client: TestClient, session: Session, claim_ids: list[int]
    ) -> None:
        for params, expected in (
            ({"topic": " Война "}, [claim_ids[0]]),
            ({"language": "ru"}, [claim_ids[0]]),
            ({"claimed_after": "2024-01-01T00:00:00Z", "sort": "claimed_at"}, claim_ids[2:]),
            ({"claimed_before": "2024-01-01T00:00:00.000001Z"}, [claim_ids[2], claim_ids[0]]),
            ({"q": "контролем"}, [claim_ids[0]]),
        ):
            listed = client.get("/api/v1/claims", params=params)
            assert listed.status_code == 200, listed.text
            ids = [item["id"] for item in listed.json()["items"]]
            assert [i for i in ids if i in claim_ids] == expected, params
            assert listed.content == _model_body(session, ids, None)
