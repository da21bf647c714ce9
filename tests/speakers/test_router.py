"""The HTTP contract of /speakers: search by name and alias, filters, the tracked routes."""

from typing import Any, ClassVar

import pytest
from starlette.testclient import TestClient

from tests.helpers import created as post
from tests.tracked_routes import TrackedRoutes


class TestSpeakerSearch:
    @pytest.mark.parametrize("q", ["prigozjin", "PRIGOZHIN", "Prigožin", "пригожин", "ozji"])
    def test_q_matches_name_and_aliases_in_any_case_or_accent(
        self, client: TestClient, q: str
    ) -> None:
        wanted = post(
            client,
            "/api/v1/speakers",
            {"name": "Yevgeny Prigozhin", "aliases": ["Prigozjin", "Prigožin", "Пригожин"]},
        )
        post(client, "/api/v1/speakers", {"name": "Volodymyr Zelensky", "aliases": ["Zelenski"]})
        items = client.get("/api/v1/speakers", params={"q": q}).json()["items"]
        assert [item["id"] for item in items] == [wanted["id"]]

    def test_like_wildcards_in_q_are_literal(self, client: TestClient) -> None:
        post(client, "/api/v1/speakers", {"name": "Dmitry Peskov"})
        assert client.get("/api/v1/speakers", params={"q": "%"}).json()["items"] == []
        assert client.get("/api/v1/speakers", params={"q": "_"}).json()["items"] == []

    def test_changed_aliases_are_searchable_and_old_ones_are_not(self, client: TestClient) -> None:
        speaker = post(
            client, "/api/v1/speakers", {"name": "Vladimir Putin", "aliases": ["Poetin"]}
        )
        response = client.patch(
            f"/api/v1/speakers/{speaker['id']}",
            json={"aliases": ["Путин"]},
            headers={"If-Match": '"v1"'},
        )
        assert response.status_code == 200
        assert client.get("/api/v1/speakers", params={"q": "poetin"}).json()["items"] == []
        assert len(client.get("/api/v1/speakers", params={"q": "путин"}).json()["items"]) == 1

    def test_kind_and_country_filters(self, client: TestClient) -> None:
        post(
            client,
            "/api/v1/speakers",
            {"name": "General Staff", "kind": "military", "country": "UA"},
        )
        post(client, "/api/v1/speakers", {"name": "Kremlin", "kind": "government", "country": "RU"})
        items = client.get("/api/v1/speakers", params={"kind": "military", "country": "UA"}).json()[
            "items"
        ]
        assert [item["name"] for item in items] == ["General Staff"]

    def test_bad_country_code_is_422(self, client: TestClient) -> None:
        assert (
            client.post("/api/v1/speakers", json={"name": "x", "country": "Russia"}).status_code
            == 422
        )


class TestTrackedRoutes(TrackedRoutes):
    path = "/api/v1/speakers"
    body: ClassVar[dict[str, Any]] = {"name": "Dmitry Peskov"}
    change: ClassVar[dict[str, Any]] = {"role": "Kremlin spokesman"}
