"""The HTTP contract of /speakers, /outlets and /sources (the shared tracked routes)."""

from datetime import datetime
from typing import Any

import pytest
from starlette.testclient import TestClient


def post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()


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


@pytest.mark.parametrize(
    ("path", "body", "change"),
    [
        ("/api/v1/speakers", {"name": "Dmitry Peskov"}, {"role": "Kremlin spokesman"}),
        ("/api/v1/outlets", {"name": "Reuters", "kind": "wire"}, {"domain": "reuters.com"}),
        ("/api/v1/sources", {"url": "https://t.me/concordgroup/1"}, {"title": "Post"}),
    ],
)
class TestTrackedRoutes:
    def test_create_read_change_with_etags(
        self, client: TestClient, path: str, body: dict[str, Any], change: dict[str, Any]
    ) -> None:
        created = post(client, path, body)
        url = f"{path}/{created['id']}"
        assert client.get(url).headers["etag"] == '"v1"'
        assert client.patch(url, json=change).status_code == 428
        changed = client.patch(url, json=change, headers={"If-Match": '"v1"'})
        assert changed.status_code == 200
        assert changed.headers["etag"] == '"v2"'
        history = client.get(f"{url}/history").json()["items"]
        assert [revision["version"] for revision in history] == [1, 2]
        field = next(iter(change))
        assert history[1]["changes"] == {field: {"from": None, "to": change[field]}}

    def test_delete_restore_and_as_of(
        self, client: TestClient, path: str, body: dict[str, Any], change: dict[str, Any]
    ) -> None:
        created = post(client, path, body)
        url = f"{path}/{created['id']}"
        client.patch(url, json=change, headers={"If-Match": '"v1"'})
        deleted = client.delete(url, params={"reason": "Duplicate"}, headers={"If-Match": '"v2"'})
        assert deleted.status_code == 200
        assert client.get(url).status_code == 410
        old = client.get(url, params={"as_of": "1"})
        assert old.status_code == 200
        assert old.json()["version"] == 1
        assert "etag" not in old.headers
        restored = client.post(
            f"{url}/restore", json={"reason": "Not a duplicate"}, headers={"If-Match": '"v3"'}
        )
        assert restored.status_code == 200
        assert client.get(url).json()["deleted_at"] is None

    def test_412_and_428_name_the_current_etag(
        self, client: TestClient, path: str, body: dict[str, Any], change: dict[str, Any]
    ) -> None:
        url = f"{path}/{post(client, path, body)['id']}"
        required = client.patch(url, json=change).json()
        assert required["detail"] == (
            'This write needs an If-Match header with the ETag you last read (currently "v1").'
        )
        assert required["current_etag"] == '"v1"'
        stale = client.patch(url, json=change, headers={"If-Match": '"v7"'}).json()
        assert stale["detail"] == (
            'The resource is at "v1", not "v7": someone changed it since you read it. '
            "Read it again and re-apply your change."
        )
        assert stale["current_etag"] == '"v1"'
        assert {"current_version", "expected_version"}.isdisjoint(stale)

    def test_404_and_410_say_what_is_missing(
        self, client: TestClient, path: str, body: dict[str, Any], change: dict[str, Any]
    ) -> None:
        noun = path.rsplit("/", 1)[1].removesuffix("s")
        created = post(client, path, body)
        url = f"{path}/{created['id']}"
        assert client.get(f"{path}/987654").json()["detail"] == f"No {noun} with id 987654."
        deleted = client.delete(url, params={"reason": "Dup"}, headers={"If-Match": '"v1"'})
        gone = client.get(url).json()
        assert (
            gone["detail"] == f"{noun} {created['id']} was deleted; its history is still readable."
        )
        assert datetime.fromisoformat(gone["deleted_at"]) == datetime.fromisoformat(
            deleted.json()["deleted_at"]
        )
        refused = client.patch(url, json=change, headers={"If-Match": '"v2"'}).json()
        assert refused["detail"] == f"{noun} {created['id']} was deleted; restore it to change it."

    def test_revert_brings_back_old_values_as_a_new_version(
        self, client: TestClient, path: str, body: dict[str, Any], change: dict[str, Any]
    ) -> None:
        created = post(client, path, body)
        url = f"{path}/{created['id']}"
        client.patch(url, json=change, headers={"If-Match": '"v1"'})
        reverted = client.post(
            f"{url}/revert", json={"to_version": 1, "reason": "Wrong"}, headers={"If-Match": '"v2"'}
        )
        assert reverted.status_code == 200
        assert reverted.json()["version"] == 3
        assert reverted.json()[next(iter(change))] is None
        last = client.get(f"{url}/history/3").json()
        assert last["action"] == "reverted"
        assert last["reverted_to"] == 1

    def test_list_pages_and_unknown_fields(
        self, client: TestClient, path: str, body: dict[str, Any], change: dict[str, Any]
    ) -> None:
        for n in range(5):
            unique = {
                k: (f"{v}{n}" if isinstance(v, str) and k != "kind" else v) for k, v in body.items()
            }
            post(client, path, unique)
        first = client.get(path, params={"limit": 2})
        assert len(first.json()["items"]) == 2
        assert 'rel="next"' in first.headers["link"]
        assert client.post(path, json={**body, "bogus": 1}).status_code == 422


class TestSources:
    def test_a_url_is_unique(self, client: TestClient) -> None:
        post(client, "/api/v1/sources", {"url": "https://www.reuters.com/a"})
        again = client.post("/api/v1/sources", json={"url": "https://www.reuters.com/a"})
        assert again.status_code == 409

    def test_a_url_must_be_http(self, client: TestClient) -> None:
        response = client.post("/api/v1/sources", json={"url": "javascript:alert(1)"})
        assert response.status_code == 422

    def test_filter_by_outlet(self, client: TestClient) -> None:
        outlet = post(client, "/api/v1/outlets", {"name": "Reuters", "kind": "wire"})
        wanted = post(
            client, "/api/v1/sources", {"url": "https://r.com/1", "outlet_id": outlet["id"]}
        )
        post(client, "/api/v1/sources", {"url": "https://r.com/2"})
        items = client.get("/api/v1/sources", params={"outlet_id": outlet["id"]}).json()["items"]
        assert [item["id"] for item in items] == [wanted["id"]]
