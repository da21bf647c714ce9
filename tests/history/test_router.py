"""History over HTTP: the Bakhmut story end to end, the change feed, the verifier."""

import time
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from starlette.testclient import TestClient

API = "/api/v1"


def write(client: TestClient, method: str, url: str, etag: str | None = None, **kw: Any) -> Any:
    headers = {"If-Match": etag} if etag else {}
    response = client.request(method, f"{API}{url}", headers=headers, **kw)
    assert response.status_code in (200, 201, 204), response.text
    return response


class TestBakhmutStory:
    def test_from_unverified_to_rated_reverted_and_deleted_with_verifiable_history(
        self, client: TestClient
    ) -> None:
        prigozhin = write(
            client,
            "POST",
            "/speakers",
            json={
                "name": "Yevgeny Prigozhin",
                "aliases": ["Prigozjin"],
                "country": "RU",
            },
        ).json()
        telegram = write(client, "POST", "/outlets", json={"name": "Telegram", "kind": "messaging"})
        created = write(
            client,
            "POST",
            "/claims",
            json={
                "statement": "Everything east of the Bakhmutka river is under Wagner's control.",
                "original_quote": "Alles ten oosten van de Bachmoetka is in handen van Wagner.",
                "original_language": "nl",
                "speaker_id": prigozhin["id"],
                "outlet_id": telegram.json()["id"],
                "context": "a Telegram post",
                "claimed_at": "2023-03-08T00:00:00Z",
                "topics": ["bakhmut", "wagner"],
            },
        )
        claim = created.json()
        url = f"/claims/{claim['id']}"
        assert claim["status"] == "unverified"

        reviewed = write(
            client,
            "POST",
            f"{url}/status",
            '"v1"',
            json={"review": "in_review", "reason": "Picked up by the desk"},
        )
        write(
            client,
            "POST",
            f"{url}/evidence",
            json={
                "title": "Reuters could not verify the claim",
                "stance": "context",
                "url": "https://www.reuters.com/world/europe/",
            },
        )
        write(
            client,
            "POST",
            f"{url}/evidence",
            json={
                "title": "Ukrainian military later confirmed withdrawal from eastern districts",
                "stance": "supports",
                "note": "General Staff statement, March 2023",
            },
        )
        assert reviewed.json()["review"] == "in_review"
        time.sleep(0.01)
        before_verdict = datetime.now(UTC).isoformat()
        time.sleep(0.01)
        rated = write(
            client,
            "POST",
            f"{url}/status",
            '"v4"',
            json={
                "status": "mostly_true",
                "verdict": "Wagner held the eastern districts; 'everything' was overstated.",
                "reason": "Evidence reviewed",
            },
        )
        assert rated.json()["status"] == "mostly_true"
        assert rated.headers["etag"] == '"v5"'

        then = client.get(f"{API}{url}", params={"as_of": before_verdict}).json()
        assert then["status"] == "unverified"
        assert then["version"] == 4
        assert len(then["evidence"]) == 2

        diff = client.get(f"{API}{url}/diff", params={"from": 4, "to": 5}).json()["changes"]
        assert diff["status"] == {"from": "unverified", "to": "mostly_true"}

        write(
            client,
            "POST",
            f"{url}/revert",
            '"v5"',
            json={"to_version": 4, "reason": "Verdict premature"},
        )
        assert client.get(f"{API}{url}").json()["status"] == "unverified"
        write(client, "DELETE", url, '"v6"', params={"reason": "Merged into another claim"})
        assert client.get(f"{API}{url}").status_code == 410

        history = client.get(f"{API}{url}/history").json()["items"]
        assert [r["action"] for r in history] == [
            "created",
            "updated",
            "updated",
            "updated",
            "updated",
            "reverted",
            "deleted",
        ]
        assert [r["version"] for r in history] == list(range(1, 8))
        assert all(r["prev_hash"] == p["hash"] for p, r in pairwise(history))
        assert all(r["actor"]["name"] for r in history)
        assert history[4]["reason"] == "Evidence reviewed"
        assert client.get(f"{API}/history/verify").json()["ok"] is True


class TestHistoryRoutes:
    def test_history_pages_by_version(self, client: TestClient) -> None:
        claim = write(client, "POST", "/claims", json={"statement": "x"}).json()
        for version in range(1, 6):
            write(
                client,
                "PATCH",
                f"/claims/{claim['id']}",
                f'"v{version}"',
                json={"place": f"place {version}"},
            )
        first = client.get(f"{API}/claims/{claim['id']}/history", params={"limit": 4}).json()
        assert [r["version"] for r in first["items"]] == [1, 2, 3, 4]
        rest = client.get(
            f"{API}/claims/{claim['id']}/history", params={"cursor": first["next_cursor"]}
        ).json()
        assert [r["version"] for r in rest["items"]] == [5, 6]
        assert rest["next_cursor"] is None

    def test_history_of_an_unknown_entity_is_404(self, client: TestClient) -> None:
        assert client.get(f"{API}/claims/424242/history").status_code == 404
        assert client.get(f"{API}/claims/424242/history/1").status_code == 404

    def test_as_of_before_creation_is_404(self, client: TestClient) -> None:
        claim = write(client, "POST", "/claims", json={"statement": "x"}).json()
        response = client.get(
            f"{API}/claims/{claim['id']}", params={"as_of": "2001-01-01T00:00:00Z"}
        )
        assert response.status_code == 404

    def test_as_of_garbage_is_400(self, client: TestClient) -> None:
        claim = write(client, "POST", "/claims", json={"statement": "x"}).json()
        assert (
            client.get(f"{API}/claims/{claim['id']}", params={"as_of": "soon"}).status_code == 400
        )


class TestChangeFeed:
    def test_feed_lists_every_change_in_order_and_resumes_after(self, client: TestClient) -> None:
        start = client.get(f"{API}/changes", params={"after": 0, "limit": 200}).json()["next_after"]
        speaker = write(client, "POST", "/speakers", json={"name": "Kremlin"}).json()
        claim = write(client, "POST", "/claims", json={"statement": "x"}).json()
        write(client, "PATCH", f"/claims/{claim['id']}", '"v1"', json={"place": "Moscow"})
        feed = client.get(f"{API}/changes", params={"after": start}).json()
        seen = [(r["entity_type"], r["entity_id"], r["version"]) for r in feed["items"]]
        assert seen == [
            ("speaker", speaker["id"], 1),
            ("claim", claim["id"], 1),
            ("claim", claim["id"], 2),
        ]
        ids = [r["id"] for r in feed["items"]]
        assert ids == sorted(ids)
        assert feed["next_after"] == ids[-1]
        again = client.get(f"{API}/changes", params={"after": feed["next_after"]}).json()
        assert again["items"] == []
        assert again["next_after"] == feed["next_after"]

    def test_feed_filters_by_entity_type(self, client: TestClient) -> None:
        write(client, "POST", "/speakers", json={"name": "Kremlin"})
        write(client, "POST", "/claims", json={"statement": "x"})
        items = client.get(f"{API}/changes", params={"entity_type": "speaker"}).json()["items"]
        assert {r["entity_type"] for r in items} == {"speaker"}

    def test_a_full_page_links_to_the_next(self, client: TestClient) -> None:
        for n in range(3):
            write(client, "POST", "/claims", json={"statement": f"claim {n}"})
        response = client.get(f"{API}/changes", params={"limit": 2})
        assert 'rel="next"' in response.headers["link"]
