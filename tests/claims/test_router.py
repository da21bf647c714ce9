"""The HTTP contract of /claims: status codes, problems, ETags, pagination, filters, search."""

from typing import Any

import pytest
from starlette.testclient import TestClient

from app.auth.actor import Role
from tests.conftest import MakeClient

PROBLEM = "application/problem+json"


def create_claim(client: TestClient, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "statement": "Everything east of the Bakhmutka river is under Wagner's control."
    }
    body.update(overrides)
    response = client.post("/api/v1/claims", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def create_speaker(client: TestClient, name: str) -> int:
    response = client.post("/api/v1/speakers", json={"name": name})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def add_evidence(client: TestClient, claim_id: int) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/claims/{claim_id}/evidence",
        json={"title": "Kremlin statement", "stance": "supports", "url": "https://kremlin.ru/x"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def all_pages(client: TestClient, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    for _ in range(500):  # bounded: a cursor that does not advance must fail, not hang
        if next_url is None:
            return items
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        link = response.headers.get("link")
        assert (link is None) == (page["next_cursor"] is None)
        next_url = link[1 : link.index(">")] if link else None
    raise AssertionError("pagination did not end within 500 pages")


class TestCreateClaim:
    def test_returns_201_with_etag_location_and_head_hash(self, client: TestClient) -> None:
        response = client.post("/api/v1/claims", json={"statement": "Russia annexed 20%."})
        assert response.status_code == 201
        body = response.json()
        assert response.headers["etag"] == '"v1"'
        assert response.headers["location"] == f"/api/v1/claims/{body['id']}"
        assert body["status"] == "unverified"
        assert body["review"] == "open"
        assert len(body["head_hash"]) == 64

    def test_unknown_field_is_refused_as_problem(self, client: TestClient) -> None:
        response = client.post("/api/v1/claims", json={"statement": "x", "colour": "red"})
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"][0]["loc"] == ["body", "colour"]

    def test_overlong_statement_is_refused(self, client: TestClient) -> None:
        response = client.post("/api/v1/claims", json={"statement": "x" * 5001})
        assert response.status_code == 422

    def test_too_many_topics_are_refused(self, client: TestClient) -> None:
        topics = [f"t{i}" for i in range(21)]
        response = client.post("/api/v1/claims", json={"statement": "x", "topics": topics})
        assert response.status_code == 422

    def test_unknown_speaker_is_a_422_rule_problem(self, client: TestClient) -> None:
        response = client.post("/api/v1/claims", json={"statement": "x", "speaker_id": 424242})
        assert response.status_code == 422
        assert response.json()["rule"] == "reference_missing"

    def test_duplicate_external_id_is_a_409(self, client: TestClient) -> None:
        create_claim(client, external_id="liar:1")
        response = client.post("/api/v1/claims", json={"statement": "y", "external_id": "liar:1"})
        assert response.status_code == 409
        assert response.headers["content-type"] == PROBLEM

    def test_cyrillic_and_dutch_diacritics_round_trip(self, client: TestClient) -> None:
        quote = "Всё к востоку от Бахмутки — под контролем; Oekraïne, Zelenski’s ‘überzeugt’"  # noqa: RUF001
        claim = create_claim(client, original_quote=quote, original_language="ru")
        assert client.get(f"/api/v1/claims/{claim['id']}").json()["original_quote"] == quote


class TestReadClaim:
    def test_returns_the_claim_with_its_etag(self, client: TestClient) -> None:
        claim = create_claim(client)
        response = client.get(f"/api/v1/claims/{claim['id']}")
        assert response.status_code == 200
        assert response.headers["etag"] == '"v1"'
        assert response.json() == claim

    def test_unknown_id_is_404_problem(self, client: TestClient) -> None:
        response = client.get("/api/v1/claims/987654")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM

    @pytest.mark.parametrize("bad", ["0", "-1", "abc", str(2**70)])
    def test_out_of_range_id_is_422_not_500(self, client: TestClient, bad: str) -> None:
        assert client.get(f"/api/v1/claims/{bad}").status_code == 422


class TestConditionalWrites:
    def test_patch_without_if_match_is_428(self, client: TestClient) -> None:
        claim = create_claim(client)
        response = client.patch(f"/api/v1/claims/{claim['id']}", json={"place": "Bakhmut"})
        assert response.status_code == 428
        assert response.json()["current_etag"] == '"v1"'

    def test_patch_with_stale_if_match_is_412(self, client: TestClient) -> None:
        claim = create_claim(client)
        url = f"/api/v1/claims/{claim['id']}"
        assert client.patch(url, json={"place": "A"}, headers={"If-Match": '"v1"'}).is_success
        stale = client.patch(url, json={"place": "B"}, headers={"If-Match": '"v1"'})
        assert stale.status_code == 412
        assert client.get(url).json()["place"] == "A"

    def test_patch_with_current_if_match_bumps_the_etag(self, client: TestClient) -> None:
        claim = create_claim(client)
        response = client.patch(
            f"/api/v1/claims/{claim['id']}", json={"place": "Soledar"}, headers={"If-Match": '"v1"'}
        )
        assert response.status_code == 200
        assert response.headers["etag"] == '"v2"'
        assert response.json()["head_hash"] != claim["head_hash"]

    def test_malformed_if_match_is_422(self, client: TestClient) -> None:
        claim = create_claim(client)
        response = client.patch(
            f"/api/v1/claims/{claim['id']}", json={"place": "x"}, headers={"If-Match": "*"}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["header", "if-match"]

    def test_delete_needs_a_reason_then_answers_410(self, client: TestClient) -> None:
        claim = create_claim(client)
        url = f"/api/v1/claims/{claim['id']}"
        assert client.delete(url, headers={"If-Match": '"v1"'}).status_code == 422
        deleted = client.delete(url, params={"reason": "Duplicate"}, headers={"If-Match": '"v1"'})
        assert deleted.status_code == 200
        gone = client.get(url)
        assert gone.status_code == 410
        assert gone.headers["content-type"] == PROBLEM
        assert client.get(f"{url}/history").json()["items"][-1]["action"] == "deleted"

    def test_restore_brings_a_deleted_claim_back(self, client: TestClient) -> None:
        claim = create_claim(client)
        url = f"/api/v1/claims/{claim['id']}"
        client.delete(url, params={"reason": "Duplicate"}, headers={"If-Match": '"v1"'})
        restored = client.post(
            f"{url}/restore", json={"reason": "Not a duplicate"}, headers={"If-Match": '"v2"'}
        )
        assert restored.status_code == 200
        assert client.get(url).status_code == 200


class TestStatus:
    def test_confirmed_without_evidence_is_a_422_naming_the_rule(self, client: TestClient) -> None:
        claim = create_claim(client)
        response = client.post(
            f"/api/v1/claims/{claim['id']}/status",
            json={"status": "confirmed", "verdict": "Confirmed.", "reason": "Checked"},
            headers={"If-Match": '"v1"'},
        )
        assert response.status_code == 422
        assert response.json()["rule"] == "evidence_required"

    def test_status_without_reason_is_422(self, client: TestClient) -> None:
        claim = create_claim(client)
        response = client.post(
            f"/api/v1/claims/{claim['id']}/status",
            json={"status": "unproven", "verdict": "x"},
            headers={"If-Match": '"v1"'},
        )
        assert response.status_code == 422

    def test_rating_with_evidence_settles_the_claim(self, client: TestClient) -> None:
        claim = create_claim(client)
        add_evidence(client, claim["id"])
        response = client.post(
            f"/api/v1/claims/{claim['id']}/status",
            json={"status": "confirmed", "verdict": "The Kremlin said so.", "reason": "Checked"},
            headers={"If-Match": '"v2"'},
        )
        assert response.status_code == 200, response.text
        assert response.json()["review"] == "settled"
        assert response.headers["etag"] == '"v3"'


class TestVerdictIntegrity:
    """The reported attack over HTTP: a checker rewrote a claim an editor had settled as false
    and flipped its evidence; the published ClaimReview then rated the checker's statement."""

    def test_a_checkers_edit_reopens_and_the_claimreview_keeps_the_settled_statement(
        self, make_client: MakeClient
    ) -> None:
        editor, checker = make_client(Role.editor), make_client(Role.checker)
        claim = create_claim(editor, statement="The bridge was destroyed on 3 May.")
        evidence = editor.post(
            f"/api/v1/claims/{claim['id']}/evidence",
            json={"title": "Satellite image", "stance": "refutes", "url": "https://x.example/s"},
        ).json()
        rated = editor.post(
            f"/api/v1/claims/{claim['id']}/status",
            json={"status": "false", "verdict": "It stands.", "reason": "Imagery"},
            headers={"If-Match": '"v2"'},
        )
        assert rated.json()["review"] == "settled"

        url = f"/api/v1/claims/{claim['id']}"
        edited = checker.patch(
            url, json={"statement": "The bridge stands."}, headers={"If-Match": '"v3"'}
        )
        assert edited.status_code == 200, edited.text
        flipped = checker.patch(
            f"{url}/evidence/{evidence['id']}",
            json={"stance": "supports"},
            headers={"If-Match": '"v4"'},
        )
        assert flipped.status_code == 200, flipped.text

        now = checker.get(url).json()
        assert (now["review"], now["status"]) == ("in_review", "false")
        assert now["verdict"] == "It stands."
        history = checker.get(f"{url}/history").json()["items"]
        assert history[3]["reason"] == "reopened: statement changed under a settled verdict"
        assert history[3]["changes"]["review"] == {"from": "settled", "to": "in_review"}
        review = checker.get(f"{url}/claimreview").json()
        assert review["claimReviewed"] == "The bridge was destroyed on 3 May."
        assert review["reviewRating"]["alternateName"] == "False"

    def test_an_appearance_does_not_reopen(self, client: TestClient) -> None:
        claim = create_claim(client)
        add_evidence(client, claim["id"])
        client.post(
            f"/api/v1/claims/{claim['id']}/status",
            json={"status": "confirmed", "verdict": "Said so.", "reason": "Checked"},
            headers={"If-Match": '"v2"'},
        )
        source = client.post("/api/v1/sources", json={"url": "https://t.me/s/x/2"}).json()
        added = client.post(
            f"/api/v1/claims/{claim['id']}/appearances",
            json={"source_id": source["id"], "role": "repost"},
        )
        assert added.status_code == 201
        assert client.get(f"/api/v1/claims/{claim['id']}").json()["review"] == "settled"


class TestEvidenceAndAppearances:
    def test_evidence_is_listed_and_bumps_the_claim_version(self, client: TestClient) -> None:
        claim = create_claim(client)
        evidence = add_evidence(client, claim["id"])
        listed = client.get(f"/api/v1/claims/{claim['id']}/evidence").json()["items"]
        assert [item["id"] for item in listed] == [evidence["id"]]
        assert client.get(f"/api/v1/claims/{claim['id']}").headers["etag"] == '"v2"'

    def test_evidence_needs_somewhere_to_point(self, client: TestClient) -> None:
        claim = create_claim(client)
        response = client.post(
            f"/api/v1/claims/{claim['id']}/evidence", json={"title": "x", "stance": "refutes"}
        )
        assert response.status_code == 422

    def test_evidence_can_be_changed_and_removed_with_the_claim_etag(
        self, client: TestClient
    ) -> None:
        claim = create_claim(client)
        evidence = add_evidence(client, claim["id"])
        url = f"/api/v1/claims/{claim['id']}/evidence/{evidence['id']}"
        changed = client.patch(url, json={"stance": "refutes"}, headers={"If-Match": '"v2"'})
        assert changed.status_code == 200
        assert changed.json()["stance"] == "refutes"
        removed = client.delete(url, params={"reason": "Wrong"}, headers={"If-Match": '"v3"'})
        assert removed.status_code == 204
        assert removed.headers["etag"] == '"v4"'

    def test_evidence_of_another_claim_is_404(self, client: TestClient) -> None:
        first = create_claim(client)
        second = create_claim(client)
        evidence = add_evidence(client, first["id"])
        response = client.patch(
            f"/api/v1/claims/{second['id']}/evidence/{evidence['id']}",
            json={"stance": "refutes"},
            headers={"If-Match": '"v1"'},
        )
        assert response.status_code == 404

    def test_appearance_is_recorded_once(self, client: TestClient) -> None:
        claim = create_claim(client)
        source = client.post("/api/v1/sources", json={"url": "https://t.me/s/concordgroup/1"})
        body = {"source_id": source.json()["id"], "role": "origin"}
        url = f"/api/v1/claims/{claim['id']}/appearances"
        assert client.post(url, json=body).status_code == 201
        assert client.post(url, json=body).status_code == 409
        assert len(client.get(url).json()["items"]) == 1

    @pytest.mark.parametrize("part", ["evidence", "appearances"])
    def test_the_parts_of_a_missing_claim_are_404(self, client: TestClient, part: str) -> None:
        response = client.get(f"/api/v1/claims/987654/{part}")
        assert response.status_code == 404
        assert response.json()["detail"] == "No claim with id 987654."

    @pytest.mark.parametrize("part", ["evidence", "appearances"])
    def test_the_parts_of_a_deleted_claim_are_410(self, client: TestClient, part: str) -> None:
        claim = create_claim(client)
        url = f"/api/v1/claims/{claim['id']}"
        client.delete(url, params={"reason": "Duplicate"}, headers={"If-Match": '"v1"'})
        response = client.get(f"{url}/{part}")
        assert response.status_code == 410
        body = response.json()
        assert body["detail"] == f"claim {claim['id']} was deleted; its history is still readable."
        assert body["deleted_at"] == client.get(f"{url}/history").json()["items"][-1]["snapshot"][
            "deleted_at"
        ].replace("Z", "+00:00")


class TestOrderOfChecks:
    def test_a_bad_reference_is_422_before_the_claim_is_looked_up(self, client: TestClient) -> None:
        response = client.patch(
            "/api/v1/claims/987654", json={"speaker_id": 987653}, headers={"If-Match": '"v1"'}
        )
        assert response.status_code == 422
        assert response.json()["rule"] == "reference_missing"

    def test_a_checkers_verdict_is_403_before_its_if_match_is_compared(
        self, make_client: MakeClient
    ) -> None:
        claim = create_claim(make_client(Role.editor))
        response = make_client(Role.checker).post(
            f"/api/v1/claims/{claim['id']}/status",
            json={"status": "unproven", "verdict": "No way to know.", "reason": "Desk"},
            headers={"If-Match": '"v7"'},
        )
        assert response.status_code == 403


class TestListClaims:
    def test_pagination_visits_every_claim_exactly_once(self, client: TestClient) -> None:
        ids = {create_claim(client, statement=f"Claim number {i}")["id"] for i in range(23)}
        seen = [item["id"] for item in all_pages(client, "/api/v1/claims?limit=5")]
        assert len(seen) == len(set(seen)) == 23
        assert set(seen) == ids
        assert seen == sorted(seen, reverse=True)

    @pytest.mark.parametrize("sort", ["claimed_at", "-claimed_at", "updated_at", "id"])
    def test_every_sort_pages_without_gaps_or_repeats(self, client: TestClient, sort: str) -> None:
        for i in range(9):
            claimed = None if i % 3 == 0 else f"2023-03-0{1 + i % 4}T12:00:00Z"
            create_claim(client, statement=f"Claim {i}", claimed_at=claimed)
        seen = [item["id"] for item in all_pages(client, f"/api/v1/claims?limit=2&sort={sort}")]
        assert len(seen) == len(set(seen)) == 9

    def test_filters_combine(self, client: TestClient) -> None:
        speaker = create_speaker(client, "Dmitry Peskov")
        wanted = create_claim(client, speaker_id=speaker, topics=["troops"], language="en")
        create_claim(client, speaker_id=speaker, topics=["sanctions"])
        create_claim(client, topics=["troops"])
        items = client.get(
            "/api/v1/claims", params={"speaker_id": speaker, "topic": "Troops", "language": "en"}
        ).json()["items"]
        assert [item["id"] for item in items] == [wanted["id"]]

    def test_status_and_date_filters(self, client: TestClient) -> None:
        early = create_claim(client, claimed_at="2021-12-03T00:00:00Z")
        create_claim(client, claimed_at="2023-03-08T00:00:00Z")
        items = client.get(
            "/api/v1/claims",
            params={"status": "unverified", "claimed_before": "2022-01-01T00:00:00Z"},
        ).json()["items"]
        assert [item["id"] for item in items] == [early["id"]]

    def test_q_finds_words_in_the_statement(self, client: TestClient) -> None:
        wanted = create_claim(client, statement="Wagner controls the east of Bakhmut")
        create_claim(client, statement="Kherson depots destroyed")
        items = client.get("/api/v1/claims", params={"q": "bakhmut wagner"}).json()["items"]
        assert [item["id"] for item in items] == [wanted["id"]]

    def test_q_finds_words_in_the_original_quote(self, client: TestClient) -> None:
        wanted = create_claim(
            client, statement="x", original_quote="Alles ten oosten van de Bachmoetka"
        )
        items = client.get("/api/v1/claims", params={"q": "Bachmoetka"}).json()["items"]
        assert [item["id"] for item in items] == [wanted["id"]]

    @pytest.mark.parametrize(
        "q", ['"', "NEAR(a b)", "a OR b AND", "*", "'; DROP TABLE claim; --", "statement:x"]
    )
    def test_q_with_search_syntax_is_never_a_500(self, client: TestClient, q: str) -> None:
        create_claim(client)
        response = client.get("/api/v1/claims", params={"q": q})
        assert response.status_code in (200, 400)

    def test_deleted_claims_are_not_listed(self, client: TestClient) -> None:
        claim = create_claim(client)
        client.delete(
            f"/api/v1/claims/{claim['id']}", params={"reason": "x"}, headers={"If-Match": '"v1"'}
        )
        assert client.get("/api/v1/claims").json()["items"] == []

    @pytest.mark.parametrize("limit", ["0", "201", "-5", "x"])
    def test_limit_out_of_range_is_422(self, client: TestClient, limit: str) -> None:
        assert client.get(f"/api/v1/claims?limit={limit}").status_code == 422

    @pytest.mark.parametrize(
        "cursor",
        ["garbage", "eyJzIjoiLWlkIn0", "eyJzIjoiaWQiLCJ2IjpudWxsLCJpIjoxfQ", "e" * 600, "%%%"],
    )
    def test_forged_cursor_is_a_problem_not_a_500(self, client: TestClient, cursor: str) -> None:
        response = client.get("/api/v1/claims", params={"cursor": cursor})
        assert response.status_code in (400, 422)
        assert response.headers["content-type"] == PROBLEM

    def test_unknown_sort_is_400(self, client: TestClient) -> None:
        assert client.get("/api/v1/claims?sort=statement").status_code == 400
