"""Similar claims over HTTP, on both backends: the searches, the Link of a new claim, the
stored suggestions, confirm and reject in both histories, and the merge."""

from typing import Any

from starlette.testclient import TestClient

from app.matching.normalize import normalize, text_hash
from tests.helpers import API, assert_problem, created

BAKHMUT = {
    "statement": "Says that everything east of the Bakhmutka river is under Wagner's control.",
    "original_quote": "Alles ten oosten van de rivier de Bachmoetka is in handen van Wagner.",
    "original_language": "nl",
}
DEPOT = {
    "statement": "Two Ukrainian Mi-24 helicopters struck an oil depot in Belgorod with rockets."
}
UNRELATED = "The European Central Bank raised its deposit rate by a quarter point in June."


def similar(client: TestClient, statement: str, **extra: Any) -> list[dict[str, Any]]:
    response = client.post(f"{API}/claims/similar", json={"statement": statement, **extra})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def history(client: TestClient, claim_id: int) -> list[dict[str, Any]]:
    response = client.get(f"{API}/claims/{claim_id}/history")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


class TestNormalize:
    def test_case_accents_punctuation_and_says_fold_alike(self) -> None:
        assert normalize("Says that PRIGOŽIN won!") == normalize("prigozin won")

    def test_numbers_are_kept_as_written(self) -> None:
        assert normalize("It cost $1,000.") == "it cost 1,000"
        assert text_hash("It cost 1,000") != text_hash("It cost 1.000")


class TestSimilarToStatement:
    def test_an_exact_duplicate_is_found_by_its_hash(self, client: TestClient) -> None:
        claim = created(client, f"{API}/claims", BAKHMUT)
        items = similar(client, "everything EAST of the Bakhmutka river is under Wagner's control")
        assert items[0]["claim"]["id"] == claim["id"]
        assert items[0]["method"] == "exact"
        assert items[0]["score"] == 1.0

    def test_a_reordered_paraphrase_is_found(self, client: TestClient) -> None:
        claim = created(client, f"{API}/claims", DEPOT)
        created(client, f"{API}/claims", BAKHMUT)
        items = similar(
            client, "An oil depot in Belgorod was struck with rockets by two Mi-24 helicopters"
        )
        assert items
        assert items[0]["claim"]["id"] == claim["id"]
        assert 0 < items[0]["score"] < 1

    def test_a_spelling_variant_is_found(self, client: TestClient) -> None:
        claim = created(
            client, f"{API}/claims", {"statement": "Prigozhin says Wagner took Soledar."}
        )
        items = similar(client, "Prigozjin says Wagner took Soledar")
        assert [item["claim"]["id"] for item in items] == [claim["id"]]

    def test_a_dutch_paraphrase_meets_the_dutch_original_quote(self, client: TestClient) -> None:
        claim = created(client, f"{API}/claims", BAKHMUT)
        items = similar(
            client,
            "Alles ten oosten van de Bachmoetka-rivier is in handen van Wagner",
            language="nl",
        )
        assert items[0]["claim"]["id"] == claim["id"]
        assert items[0]["matched_field"] == "original_quote"

    def test_an_unrelated_statement_gets_nothing(self, client: TestClient) -> None:
        created(client, f"{API}/claims", BAKHMUT)
        created(client, f"{API}/claims", DEPOT)
        assert similar(client, UNRELATED) == []

    def test_deleted_claims_are_not_suggested(self, client: TestClient) -> None:
        claim = created(client, f"{API}/claims", DEPOT)
        response = client.delete(
            f"{API}/claims/{claim['id']}", params={"reason": "test"}, headers={"If-Match": '"v1"'}
        )
        assert response.status_code == 200, response.text
        assert similar(client, DEPOT["statement"]) == []

    def test_a_statement_of_no_words_is_a_422(self, client: TestClient) -> None:
        response = client.post(f"{API}/claims/similar", json={"statement": ""})
        assert_problem(response, 422)


class TestSimilarToClaim:
    def test_a_stored_claim_finds_its_duplicate_not_itself(self, client: TestClient) -> None:
        first = created(client, f"{API}/claims", DEPOT)
        second = created(client, f"{API}/claims", {"statement": "Says " + DEPOT["statement"]})
        response = client.get(f"{API}/claims/{first['id']}/similar")
        assert response.status_code == 200, response.text
        assert [item["claim"]["id"] for item in response.json()["items"]] == [second["id"]]

    def test_a_missing_claim_is_a_404(self, client: TestClient) -> None:
        assert_problem(client.get(f"{API}/claims/999999/similar"), 404)


class TestNewClaimSuggestions:
    def test_a_new_claim_links_to_its_similar_claims(self, client: TestClient) -> None:
        response = client.post(f"{API}/claims", json=DEPOT)
        assert response.status_code == 201
        claim_id = response.json()["id"]
        assert response.headers["Link"] == f'</api/v1/claims/{claim_id}/similar>; rel="similar"'

    def test_a_duplicate_is_stored_as_a_suggestion(self, client: TestClient) -> None:
        first = created(client, f"{API}/claims", DEPOT)
        second = created(client, f"{API}/claims", DEPOT)
        matches = client.get(f"{API}/matches", params={"state": "suggested"}).json()["items"]
        assert [(m["claim_id"], m["other_id"], m["method"]) for m in matches] == [
            (first["id"], second["id"], "exact")
        ]


def _suggested_pair(client: TestClient) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    first = created(client, f"{API}/claims", DEPOT)
    second = created(client, f"{API}/claims", DEPOT)
    (match,) = client.get(f"{API}/matches", params={"state": "suggested"}).json()["items"]
    return first, second, match


class TestConfirmAndReject:
    def test_confirming_links_both_claims_in_their_histories(self, client: TestClient) -> None:
        first, second, match = _suggested_pair(client)
        response = client.post(
            f"{API}/matches/{match['id']}/confirm",
            json={"relation": "related", "reason": "same strike"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "confirmed"
        for claim, other in ((first, second), (second, first)):
            latest = history(client, claim["id"])[-1]
            assert latest["reason"] == "same strike"
            (link,) = latest["snapshot"]["links"]
            assert link["claim_id"] == other["id"]
            assert (link["relation"], link["method"], link["score"]) == ("related", "exact", 1.0)
        assert client.get(f"{API}/history/verify").json()["ok"] is True

    def test_a_rejected_pair_is_never_suggested_again(self, client: TestClient) -> None:
        first, _, match = _suggested_pair(client)
        response = client.post(f"{API}/matches/{match['id']}/reject", json={"reason": "differ"})
        assert response.status_code == 200, response.text
        assert history(client, first["id"])[-1]["snapshot"]["links"][0]["state"] == "rejected"
        assert client.get(f"{API}/claims/{first['id']}/similar").json()["items"] == []
        created(client, f"{API}/claims", {"statement": "Something else entirely, about ports."})
        matches = client.get(f"{API}/matches", params={"claim_id": first["id"]}).json()["items"]
        assert [m["state"] for m in matches] == ["rejected"]

    def test_an_unknown_match_is_a_404(self, client: TestClient) -> None:
        assert_problem(client.post(f"{API}/matches/999999/reject", json={}), 404)

    def test_a_reader_may_not_confirm(self, make_client: Any) -> None:
        reader = make_client("reader")
        assert_problem(reader.post(f"{API}/matches/1/confirm", json={}), 403)


def _source(client: TestClient, url: str) -> int:
    return created(client, f"{API}/sources", {"url": url, "title": "t"})["id"]


class TestMerge:
    def test_merge_moves_parts_and_the_merged_claim_points_at_the_survivor(
        self, client: TestClient
    ) -> None:
        merged = created(client, f"{API}/claims", DEPOT)
        survivor = created(client, f"{API}/claims", {"statement": "Says " + DEPOT["statement"]})
        shared = _source(client, "https://example.org/a")
        own = _source(client, "https://example.org/b")
        for claim_id, source_id in (
            (merged["id"], shared),
            (merged["id"], own),
            (survivor["id"], shared),
        ):
            response = client.post(
                f"{API}/claims/{claim_id}/appearances", json={"source_id": source_id}
            )
            assert response.status_code == 201, response.text
        created(
            client,
            f"{API}/claims/{merged['id']}/evidence",
            {"title": "CNN footage", "stance": "supports", "url": "https://example.org/cnn"},
        )
        response = client.post(
            f"{API}/claims/{merged['id']}/merge",
            json={"into": survivor["id"], "reason": "same claim"},
            headers={"If-Match": '"v4"'},
        )
        assert response.status_code == 200, response.text
        assert response.headers["Link"] == f'</api/v1/claims/{survivor["id"]}>; rel="canonical"'
        gone = client.get(f"{API}/claims/{merged['id']}")
        body = assert_problem(gone, 410)
        assert gone.headers["Link"] == f'</api/v1/claims/{survivor["id"]}>; rel="canonical"'
        assert body["merged_into"] == survivor["id"]
        evidence = client.get(f"{API}/claims/{survivor['id']}/evidence").json()["items"]
        assert [e["title"] for e in evidence] == ["CNN footage"]
        appearances = client.get(f"{API}/claims/{survivor['id']}/appearances").json()["items"]
        assert sorted(a["source_id"] for a in appearances) == sorted([shared, own])
        merged_rev = history(client, merged["id"])[-1]
        survivor_rev = history(client, survivor["id"])[-1]
        assert merged_rev["action"] == "deleted"
        assert merged_rev["snapshot"]["links"][0]["merged_into_id"] == survivor["id"]
        assert survivor_rev["snapshot"]["links"][0]["merged_into_id"] == survivor["id"]
        assert "same claim" in survivor_rev["reason"]
        assert client.get(f"{API}/history/verify").json()["ok"] is True

    def test_merging_into_itself_is_a_422(self, client: TestClient) -> None:
        claim = created(client, f"{API}/claims", DEPOT)
        response = client.post(
            f"{API}/claims/{claim['id']}/merge",
            json={"into": claim["id"], "reason": "x"},
            headers={"If-Match": '"v1"'},
        )
        assert_problem(response, 422)

    def test_merging_a_merged_claim_again_is_a_409(self, client: TestClient) -> None:
        one = created(client, f"{API}/claims", DEPOT)
        two = created(client, f"{API}/claims", BAKHMUT)
        three = created(client, f"{API}/claims", {"statement": "A third claim about ports."})
        response = client.post(
            f"{API}/claims/{one['id']}/merge",
            json={"into": two["id"], "reason": "x"},
            headers={"If-Match": '"v1"'},
        )
        assert response.status_code == 200, response.text
        again = client.post(
            f"{API}/claims/{one['id']}/merge",
            json={"into": three["id"], "reason": "x"},
            headers={"If-Match": '"v2"'},
        )
        assert_problem(again, 409)
        into_merged = client.post(
            f"{API}/claims/{three['id']}/merge",
            json={"into": one["id"], "reason": "x"},
            headers={"If-Match": '"v1"'},
        )
        assert_problem(into_merged, 409)

    def test_a_stale_version_of_either_claim_is_a_412(self, client: TestClient) -> None:
        one = created(client, f"{API}/claims", DEPOT)
        two = created(client, f"{API}/claims", BAKHMUT)
        stale = client.post(
            f"{API}/claims/{one['id']}/merge",
            json={"into": two["id"], "reason": "x"},
            headers={"If-Match": '"v9"'},
        )
        assert_problem(stale, 412)
        stale_into = client.post(
            f"{API}/claims/{one['id']}/merge",
            json={"into": two["id"], "into_version": 7, "reason": "x"},
            headers={"If-Match": '"v1"'},
        )
        assert_problem(stale_into, 412)

    def test_a_checker_may_not_merge(self, make_client: Any) -> None:
        checker = make_client("checker")
        response = checker.post(
            f"{API}/claims/1/merge", json={"into": 2, "reason": "x"}, headers={"If-Match": '"v1"'}
        )
        assert_problem(response, 403)
