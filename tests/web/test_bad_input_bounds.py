"""The edges of what the API stores: ids (32-bit columns), timestamps (what a timestamp column
can hand back in any time zone), version numbers in as_of, and cursors carrying any of them.
The same answer on both backends, and never a 500."""

from typing import Any

import orjson
import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from app.core.db import Database
from app.vocabulary.types import MAX_ID, MAX_REVISION_ID
from tests.helpers import assert_problem, created, cursor_of

BEFORE_UTC_MIN = "0001-01-01T00:00:00+05:00"  # 0000-12-31T19:00Z: before Python's year 1
AFTER_UTC_MAX = "9999-12-31T23:59:59-05:00"  # 10000-01-01T04:59Z: after Python's year 9999
OUTSIDE = [BEFORE_UTC_MIN, AFTER_UTC_MAX, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
EARLIEST = "0001-01-02T00:00:00Z"
LATEST = "9999-12-30T23:59:59.999999Z"
TIME_FILTERS = [
    ("/api/v1/claims", "claimed_after"),
    ("/api/v1/claims", "claimed_before"),
    ("/api/v1/claims", "updated_since"),
    ("/api/v1/speakers", "updated_since"),
    ("/api/v1/outlets", "updated_since"),
    ("/api/v1/sources", "updated_since"),
    ("/api/v1/exports", "claimed_after"),
]


def claim(client: TestClient, **fields: Any) -> dict[str, Any]:
    return created(client, "/api/v1/claims", {"statement": "x", **fields})


class TestTimestampsOutsideTheStorableRange:
    @pytest.mark.parametrize("value", OUTSIDE)
    def test_every_list_filter_answers_422(self, client: TestClient, value: str) -> None:
        for path, name in TIME_FILTERS:
            response = client.get(path, params={name: value})
            assert_problem(response, 422)
            assert "0001-01-02T00:00:00Z" in response.json()["errors"][0]["msg"]

    @pytest.mark.parametrize("value", OUTSIDE)
    def test_claimed_at_and_published_at_in_bodies_answer_422(
        self, client: TestClient, value: str
    ) -> None:
        claim_body = {"statement": "x", "claimed_at": value}
        assert_problem(client.post("/api/v1/claims", json=claim_body), 422)
        source_body = {"title": "s", "published_at": value}
        assert_problem(client.post("/api/v1/sources", json=source_body), 422)
        created = claim(client)
        patched = client.patch(
            f"/api/v1/claims/{created['id']}",
            json={"claimed_at": value},
            headers={"If-Match": '"v1"'},
        )
        assert_problem(patched, 422)

    @pytest.mark.parametrize("value", OUTSIDE)
    def test_as_of_answers_400(self, client: TestClient, value: str) -> None:
        created = claim(client)
        for path in (f"/api/v1/claims/{created['id']}", "/api/v1/speakers/1"):
            status = 400 if "claims" in path else 404
            assert_problem(client.get(path, params={"as_of": value}), status)

    @pytest.mark.parametrize("value", OUTSIDE)
    def test_a_cursor_carrying_one_answers_400(self, client: TestClient, value: str) -> None:
        for sort in ("claimed_at", "-claimed_at", "updated_at", "-updated_at"):
            cursor = cursor_of({"s": sort, "v": value, "i": 1})
            response = client.get("/api/v1/claims", params={"sort": sort, "cursor": cursor})
            assert_problem(response, 400)

    def test_a_cursor_carrying_a_nul_answers_400(self, client: TestClient) -> None:
        # PostgreSQL text cannot hold NUL; the middleware's check does not see inside a cursor.
        for path in ("/api/v1/speakers", "/api/v1/outlets"):
            cursor = cursor_of({"s": "name", "v": "a\x00b", "i": 1})
            assert_problem(client.get(path, params={"sort": "name", "cursor": cursor}), 400)

    def test_an_import_record_names_the_field(self, client: TestClient) -> None:
        record = {"external_id": "t:1", "statement": "x", "claimed_at": BEFORE_UTC_MIN}
        response = client.post(
            "/api/v1/imports",
            content=orjson.dumps(record) + b"\n",
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert_problem(response, 422)
        assert response.json()["errors"][0]["field"] == "claimed_at"


class TestTimestampsAtTheEdges:
    @pytest.mark.parametrize("value", [EARLIEST, LATEST])
    def test_are_stored_read_filtered_and_paged_as_given(
        self, client: TestClient, value: str
    ) -> None:
        created = claim(client, claimed_at=value)
        claim(client, claimed_at="2023-03-08T10:00:00Z")
        assert created["claimed_at"] == value
        assert client.get(f"/api/v1/claims/{created['id']}").json()["claimed_at"] == value
        listed = client.get("/api/v1/claims", params={"claimed_after": value}).json()["items"]
        assert value in {item["claimed_at"] for item in listed}
        # Page one row at a time through both: the cursor carries the edge value.
        for sort in ("claimed_at", "-claimed_at"):
            page = client.get("/api/v1/claims", params={"sort": sort, "limit": 1}).json()
            rest = client.get(
                "/api/v1/claims", params={"sort": sort, "limit": 1, "cursor": page["next_cursor"]}
            )
            assert rest.status_code == 200, rest.text
            seen = {page["items"][0]["claimed_at"], rest.json()["items"][0]["claimed_at"]}
            assert seen == {value, "2023-03-08T10:00:00Z"}
        source = client.post("/api/v1/sources", json={"title": "s", "published_at": value})
        assert source.json()["published_at"] == value

    def test_offsets_are_converted_to_utc(self, client: TestClient) -> None:
        created = claim(client, claimed_at="0001-01-02T05:00:00+05:00")
        assert created["claimed_at"] == EARLIEST

    def test_a_timestamp_without_offset_is_taken_as_utc(self, client: TestClient) -> None:
        created = claim(client, claimed_at="2023-03-08T10:00:00")
        assert created["claimed_at"] == "2023-03-08T10:00:00Z"
        listed = client.get("/api/v1/claims", params={"claimed_after": "2023-03-08T09:00:00"})
        assert [item["id"] for item in listed.json()["items"]] == [created["id"]]

    def test_the_latest_stays_readable_in_a_session_east_of_utc(
        self, client: TestClient, db: Database, backend: str
    ) -> None:
        if backend != "postgresql":
            pytest.skip("only PostgreSQL hands timestamps back in the session's time zone")
        created = claim(client, claimed_at=LATEST)
        source = client.post("/api/v1/sources", json={"title": "s", "published_at": EARLIEST})
        assert db.bind is not None
        db.bind.execute(text("SET LOCAL TIME ZONE 'Pacific/Kiritimati'"))  # UTC+14
        # A write loads the row through the ORM, so psycopg builds the datetime in UTC+14.
        patched = client.patch(
            f"/api/v1/claims/{created['id']}", json={"place": "p"}, headers={"If-Match": '"v1"'}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["claimed_at"] == LATEST
        db.bind.execute(text("SET LOCAL TIME ZONE 'America/Anchorage'"))  # UTC-9
        moved = client.patch(
            f"/api/v1/sources/{source.json()['id']}",
            json={"title": "t"},
            headers={"If-Match": '"v1"'},
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["published_at"] == EARLIEST


class TestIds:
    """Ids are 32-bit columns on PostgreSQL: bounded to 2**31-1 on both backends."""

    def paths(self, client: TestClient, some_id: int) -> list[tuple[str, str]]:
        created = claim(client)
        return [
            ("GET", f"/api/v1/claims/{some_id}"),
            ("GET", f"/api/v1/speakers/{some_id}"),
            ("GET", f"/api/v1/outlets/{some_id}"),
            ("GET", f"/api/v1/sources/{some_id}"),
            ("GET", f"/api/v1/sources/{some_id}/history"),
            ("GET", f"/api/v1/claims/{created['id']}/history/{some_id}"),
            ("PATCH", f"/api/v1/claims/{created['id']}/evidence/{some_id}"),
            ("DELETE", f"/api/v1/claims/{created['id']}/appearances/{some_id}?reason=r"),
            ("DELETE", f"/api/v1/keys/{some_id}"),
        ]

    def test_the_largest_id_in_a_path_is_not_found(self, client: TestClient) -> None:
        for method, url in self.paths(client, MAX_ID):
            kwargs: dict[str, Any] = {"json": {"note": "n"}} if method == "PATCH" else {}
            response = client.request(method, url, headers={"If-Match": '"v1"'}, **kwargs)
            assert_problem(response, 404)

    def test_one_past_it_in_a_path_is_422(self, client: TestClient) -> None:
        for method, url in self.paths(client, MAX_ID + 1):
            kwargs: dict[str, Any] = {"json": {"note": "n"}} if method == "PATCH" else {}
            response = client.request(method, url, headers={"If-Match": '"v1"'}, **kwargs)
            assert_problem(response, 422)

    def test_filters_take_the_largest_and_refuse_one_past(self, client: TestClient) -> None:
        for path, name in [
            ("/api/v1/claims", "speaker_id"),
            ("/api/v1/claims", "outlet_id"),
            ("/api/v1/sources", "outlet_id"),
            ("/api/v1/exports", "speaker_id"),
        ]:
            assert client.get(path, params={name: MAX_ID}).status_code == 200
            assert_problem(client.get(path, params={name: MAX_ID + 1}), 422)

    def test_bodies_refuse_one_past(self, client: TestClient) -> None:
        # The largest is a well-formed reference to nothing: the desk's rule says so (422 too).
        missing = client.post("/api/v1/claims", json={"statement": "x", "speaker_id": MAX_ID})
        assert_problem(missing, 422)
        assert missing.json()["rule"] == "reference_missing"
        too_large = client.post("/api/v1/claims", json={"statement": "x", "speaker_id": MAX_ID + 1})
        assert_problem(too_large, 422)
        assert too_large.json()["errors"][0]["loc"] == ["body", "speaker_id"]
        assert_problem(client.post("/api/v1/sources", json={"outlet_id": MAX_ID + 1}), 422)

    def test_a_cursor_carrying_an_id_out_of_range_answers_400(self, client: TestClient) -> None:
        created = claim(client)
        for last_id in [MAX_ID + 1, 2**62, -1]:
            cursor = cursor_of({"s": "-id", "v": None, "i": last_id})
            assert_problem(client.get("/api/v1/claims", params={"cursor": cursor}), 400)
            history = cursor_of({"s": "version", "v": None, "i": last_id})
            url = f"/api/v1/claims/{created['id']}/history"
            assert_problem(client.get(url, params={"cursor": history}), 400)

    def test_the_change_feed_takes_any_revision_id_a_bigint_holds(self, client: TestClient) -> None:
        response = client.get("/api/v1/changes", params={"after": MAX_REVISION_ID})
        assert response.status_code == 200, response.text
        assert response.json()["items"] == []
        assert_problem(client.get("/api/v1/changes", params={"after": MAX_REVISION_ID + 1}), 422)

    @pytest.mark.parametrize("version", [MAX_ID + 1, 0])
    def test_versions_out_of_range_answer_422(self, client: TestClient, version: int) -> None:
        created = claim(client)
        url = f"/api/v1/claims/{created['id']}"
        assert_problem(client.get(f"{url}/diff", params={"from": 1, "to": version}), 422)
        assert_problem(client.get(f"{url}/history/{version}"), 422)
        revert = {"to_version": version, "reason": "r"}
        assert_problem(client.post(f"{url}/revert", json=revert, headers={"If-Match": '"v1"'}), 422)


class TestAsOfVersions:
    def test_digits_other_than_ascii_are_not_a_version(self, client: TestClient) -> None:
        created = claim(client)
        for value in ["²", "\u0661", "\U0001d7d7", "1²", "\u0663\u0664"]:
            response = client.get(f"/api/v1/claims/{created['id']}", params={"as_of": value})
            assert_problem(response, 400)

    def test_the_largest_version_is_the_latest_and_one_past_is_400(
        self, client: TestClient
    ) -> None:
        created = claim(client)
        url = f"/api/v1/claims/{created['id']}"
        assert client.get(url, params={"as_of": str(MAX_ID)}).json()["version"] == 1
        assert_problem(client.get(url, params={"as_of": str(MAX_ID + 1)}), 400)


class TestQueryNumbers:
    def test_a_limit_out_of_range_is_422(self, client: TestClient) -> None:
        for limit in [0, -1, 201, 2**64, "1e3", "²"]:
            for path in ("/api/v1/claims", "/api/v1/speakers", "/api/v1/changes"):
                assert_problem(client.get(path, params={"limit": limit}), 422)

    def test_a_negative_feed_position_is_422(self, client: TestClient) -> None:
        for after in [-1, -(2**63)]:
            assert_problem(client.get("/api/v1/changes", params={"after": after}), 422)
