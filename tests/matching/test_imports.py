"""Likely duplicates in imports, on both backends: the report, and on_duplicate's three
answers."""

from typing import Any

from starlette.testclient import TestClient

from app.core.bulk import DRIVER_MIN_ROWS
from app.core.db import Database
from tests.helpers import API, created

STATEMENT = "Two Ukrainian Mi-24 helicopters struck an oil depot in Belgorod with rockets."


def imported(client: TestClient, records: list[dict[str, Any]], **params: str) -> dict[str, Any]:
    response = client.post(f"{API}/imports", json=records, params=params)
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()
    return summary


class TestImportDuplicates:
    def test_the_report_lists_a_rows_likely_duplicates_and_stores_suggestions(
        self, client: TestClient
    ) -> None:
        stored = created(client, f"{API}/claims", {"statement": STATEMENT})
        summary = imported(
            client,
            [
                {"external_id": "x:1", "statement": "Says " + STATEMENT},
                {"external_id": "x:2", "statement": "The central bank raised rates in June."},
            ],
        )
        assert summary["created"] == 2
        (report,) = summary["duplicates"]
        assert report["index"] == 0
        assert [d["claim_id"] for d in report["duplicates"]] == [stored["id"]]
        assert report["duplicates"][0]["method"] == "exact"
        matches = client.get(f"{API}/matches", params={"state": "suggested"}).json()["items"]
        assert [(m["claim_id"], m["other_id"]) for m in matches] == [
            (stored["id"], report["claim_id"])
        ]

    def test_skip_leaves_out_a_sure_duplicate(self, client: TestClient) -> None:
        stored = created(client, f"{API}/claims", {"statement": STATEMENT})
        summary = imported(
            client, [{"external_id": "x:1", "statement": STATEMENT}], on_duplicate="skip"
        )
        assert (summary["created"], summary["skipped"]) == (0, 1)
        assert summary["duplicates"][0]["skipped"] is True
        assert summary["duplicates"][0]["duplicates"][0]["claim_id"] == stored["id"]
        listed = client.get(f"{API}/claims").json()["items"]
        assert [claim["id"] for claim in listed] == [stored["id"]]

    def test_link_confirms_a_sure_duplicate_in_both_histories(self, client: TestClient) -> None:
        stored = created(client, f"{API}/claims", {"statement": STATEMENT})
        summary = imported(
            client, [{"external_id": "x:1", "statement": STATEMENT}], on_duplicate="link"
        )
        (report,) = summary["duplicates"]
        assert report["duplicates"][0]["linked"] is True
        for claim_id in (stored["id"], report["claim_id"]):
            latest = client.get(f"{API}/claims/{claim_id}/history").json()["items"][-1]
            assert latest["snapshot"]["links"][0]["relation"] == "duplicate"
        confirmed = client.get(f"{API}/matches", params={"state": "confirmed"}).json()["items"]
        assert len(confirmed) == 1
        assert client.get(f"{API}/history/verify").json()["ok"] is True

    def test_a_dry_run_stores_no_suggestion(self, client: TestClient) -> None:
        created(client, f"{API}/claims", {"statement": STATEMENT})
        summary = imported(client, [{"external_id": "x:1", "statement": STATEMENT}], dry_run="true")
        assert summary["duplicates"]
        assert client.get(f"{API}/matches").json()["items"] == []

    def test_create_reports_exact_duplicates_of_the_batch_itself_and_no_near_ones(
        self, client: TestClient
    ) -> None:
        created(client, f"{API}/claims", {"statement": STATEMENT})
        near = STATEMENT.replace("helicopters", "helicoptres")
        summary = imported(
            client,
            [
                {"external_id": "x:1", "statement": near},
                {"external_id": "x:2", "statement": "The central bank raised rates in June."},
                {"external_id": "x:3", "statement": "The Central Bank raised rates in June!"},
            ],
        )
        assert summary["created"] == 3
        reports = {report["index"]: report for report in summary["duplicates"]}
        assert sorted(reports) == [1, 2]  # the near duplicate waits for GET /claims/{id}/similar
        assert reports[1]["duplicates"][0]["claim_id"] == reports[2]["claim_id"]
        assert reports[2]["duplicates"][0]["claim_id"] == reports[1]["claim_id"]
        assert reports[1]["duplicates"][0]["method"] == "exact"

    def test_link_searches_similar_claims_not_only_exact_ones(self, client: TestClient) -> None:
        stored = created(client, f"{API}/claims", {"statement": STATEMENT})
        near = STATEMENT.replace("helicopters", "helicoptres")
        summary = imported(client, [{"external_id": "x:1", "statement": near}], on_duplicate="link")
        (report,) = summary["duplicates"]
        (duplicate,) = report["duplicates"]
        assert duplicate["claim_id"] == stored["id"]
        assert duplicate["method"] != "exact"
        assert duplicate["linked"] is True


WORDS = ["harbour", "lantern", "granite", "meadow", "orchard", "quarry", "saffron", "thimble"]


def test_a_large_batch_leaves_every_search_index_whole(client: TestClient, db: Database) -> None:
    """A batch past the bulk path's threshold (several rows a statement on SQLite): each new
    claim is found by the list's text search, by its similar claims and by trigrams, and on
    SQLite every FTS5 index passes its own integrity check."""
    count = 2 * DRIVER_MIN_ROWS + 7
    records = [
        {
            "external_id": f"big:{n}",
            "statement": f"The {WORDS[n % 8]} council spent {n} euro on zeppelin{n:03d}x repairs.",
            "original_quote": f"De raad gaf {n} euro uit aan reparaties van zeppelin{n:03d}x.",
            "original_language": "nl",
        }
        for n in range(count)
    ]
    assert imported(client, records)["created"] == count
    with db.session() as session:
        conn = session.connection()
        if conn.dialect.name == "sqlite":
            for table in ("claim_fts", "claim_text_fts", "claim_text_trigram"):
                conn.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
    for n in (0, count // 2, count - 1):
        listed = client.get(f"{API}/claims", params={"q": f"zeppelin{n:03d}x"}).json()["items"]
        assert [claim["external_id"] for claim in listed] == [f"big:{n}"]
        # A misspelt name reaches it through trigrams; the Dutch quote through the words.
        for statement in (
            f"The {WORDS[n % 8]} council spent {n} euro on zepelin{n:03d}x repairs",
            f"De raad gaf {n} euro uit aan reparaties van zeppelin{n:03d}x.",
        ):
            found = client.post(f"{API}/claims/similar", json={"statement": statement}).json()
            assert found["items"][0]["claim"]["external_id"] == f"big:{n}", statement
