"""ClaimReview out: URLs never built from the request's Host header, JSON-LD that is safe to
embed in an HTML script element, and the feed rating what the verdict was settled on."""

from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from app.auth.actor import Role
from app.core.settings import Settings
from tests.conftest import MakeClient

HOSTILE = {"Host": "evil.example"}
SCRIPT = "</script><script>alert(1)</script> & <!-- \u2028\u2029"


def rated_claim(client: TestClient, statement: str = "The dam was blown up.") -> dict[str, Any]:
    claim = client.post("/api/v1/claims", json={"statement": statement}).json()
    client.post(
        f"/api/v1/claims/{claim['id']}/evidence",
        json={"title": "Seismic data", "stance": "refutes", "url": "https://x.example/seismic"},
    )
    rated = client.post(
        f"/api/v1/claims/{claim['id']}/status",
        json={"status": "false", "verdict": "It <was> & was not.", "reason": "Checked"},
        headers={"If-Match": '"v2"'},
    )
    assert rated.status_code == 200, rated.text
    return dict(rated.json())


def feed(client: TestClient, **headers: str) -> bytes:
    response = client.get("/api/v1/exports", params={"format": "claimreview"}, headers=headers)
    assert response.status_code == 200, response.text
    return response.content


class TestNoHostHeaderInUrls:
    def test_the_claimreview_url_ignores_a_hostile_host(self, client: TestClient) -> None:
        claim = rated_claim(client)
        response = client.get(f"/api/v1/claims/{claim['id']}/claimreview", headers=HOSTILE)
        assert b"evil" not in response.content
        # Unset public_base_url: built on the configured organization_url.
        assert response.json()["url"] == f"https://example.org/api/v1/claims/{claim['id']}"

    def test_the_configured_public_base_url_is_used(self, make_client: MakeClient) -> None:
        client = make_client(Role.editor, public_base_url="https://claims.example.org/desk")
        claim = rated_claim(client)
        review = client.get(f"/api/v1/claims/{claim['id']}/claimreview", headers=HOSTILE).json()
        assert review["url"] == f"https://claims.example.org/desk/api/v1/claims/{claim['id']}"

    def test_the_datafeed_ignores_a_hostile_host(self, client: TestClient) -> None:
        rated_claim(client)
        body = feed(client, **HOSTILE)
        assert b"evil" not in body
        assert orjson.loads(body)["dataFeedElement"][0]["url"].startswith("https://example.org/")

    def test_link_headers_are_relative(self, client: TestClient) -> None:
        for statement in ("One.", "Two."):
            client.post("/api/v1/claims", json={"statement": statement})
        link = client.get("/api/v1/claims", params={"limit": 1}, headers=HOSTILE).headers["link"]
        assert link.startswith("</api/v1/claims?")
        assert "evil" not in link
        assert client.get(link[1 : link.index(">")]).json()["items"][0]["statement"] == "One."

    def test_the_change_feed_link_is_relative(self, client: TestClient) -> None:
        client.post("/api/v1/claims", json={"statement": "One."})
        response = client.get("/api/v1/changes", params={"limit": 1}, headers=HOSTILE)
        assert response.headers["link"].startswith("</api/v1/changes?")
        assert "evil" not in response.headers["link"]

    def test_a_trailing_slash_is_not_redirected_to_the_host(self, client: TestClient) -> None:
        response = client.get("/api/v1/claims/", headers=HOSTILE, follow_redirects=False)
        assert "evil" not in response.headers.get("location", "")
        assert response.status_code == 404


class TestPublicBaseUrlSetting:
    @pytest.mark.parametrize(
        "value",
        [
            "ftp://claims.example.org",
            "https://claims.example.org/?x=1",
            "https://claims.example.org/#top",
            "https://user:secret@claims.example.org",
            "https://claims.example.org:99999",
            "https://claims example.org",
            "javascript:alert(1)",
            "//claims.example.org",
            "claims.example.org",
        ],
    )
    def test_anything_but_a_plain_http_url_is_refused(self, value: str) -> None:
        with pytest.raises(ValidationError, match="CLAIMS_PUBLIC_BASE_URL"):
            Settings(public_base_url=value)

    def test_a_trailing_slash_is_dropped_and_blank_is_unset(self) -> None:
        assert Settings(public_base_url="http://a.example:8080/x/").public_base_url == (
            "http://a.example:8080/x"
        )
        assert Settings(public_base_url=" ").public_base_url is None


class TestEmbeddableJsonLd:
    def test_a_statement_cannot_close_the_script_element(self, client: TestClient) -> None:
        claim = rated_claim(client, statement=SCRIPT)
        response = client.get(f"/api/v1/claims/{claim['id']}/claimreview")
        assert response.headers["content-type"] == "application/ld+json"
        for unsafe in (b"<", b">", b"&", "\u2028".encode(), "\u2029".encode()):
            assert unsafe not in response.content
        assert b"\\u003c/script\\u003e" in response.content
        review = orjson.loads(response.content)
        assert review["claimReviewed"] == SCRIPT
        assert review["reviewBody"] == "It <was> & was not."

    def test_the_datafeed_is_escaped_too(self, client: TestClient) -> None:
        rated_claim(client, statement=SCRIPT)
        body = feed(client)
        assert b"</script" not in body
        assert orjson.loads(body)["dataFeedElement"][0]["claimReviewed"] == SCRIPT


class TestTheFeedRatesTheSettledStatement:
    def test_a_reopened_claim_keeps_its_settled_statement_in_the_feed(
        self, make_client: MakeClient
    ) -> None:
        editor, checker = make_client(Role.editor), make_client(Role.checker)
        claim = rated_claim(editor)
        edited = checker.patch(
            f"/api/v1/claims/{claim['id']}",
            json={"statement": "Nothing happened to the dam."},
            headers={"If-Match": f'"v{claim["version"]}"'},
        )
        assert edited.json()["review"] == "in_review"
        elements = orjson.loads(feed(checker))["dataFeedElement"]
        assert [element["claimReviewed"] for element in elements] == ["The dam was blown up."]

    def test_unverified_claims_are_left_out(self, client: TestClient) -> None:
        client.post("/api/v1/claims", json={"statement": "Not checked yet."})
        assert orjson.loads(feed(client))["dataFeedElement"] == []
