"""``expand`` on claim reads: each embedded object is what its own read answers, a null
reference stays null, unknown names are 422s, and a page costs one statement per kind."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.auth.actor import Role
from app.core.db import Database
from tests import factories
from tests.claims.test_router import add_evidence, create_claim, create_speaker
from tests.claims.test_service_statements import shapes
from tests.conftest import MakeClient

API = "/api/v1"
CLAIMS = f"{API}/claims"
PROBLEM = "application/problem+json"


def create(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{API}/{path}", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def get(client: TestClient, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params or None)  # None: keep the path's own query
    assert response.status_code == 200, response.text
    return response.json()


def delete(client: TestClient, path: str, version: int) -> dict[str, Any]:
    response = client.delete(
        path, params={"reason": "Merged"}, headers={"If-Match": f'"v{version}"'}
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def desk(client: TestClient) -> dict[str, Any]:
    """Two speakers (one deleted after its claim named it), an outlet, and claims with every
    mix of references; the first has evidence and an appearance."""
    speaker = create_speaker(client, "Yevgeny Prigozhin")
    gone = create(client, "speakers", {"name": "Dmitry Utkin"})
    outlet = create(client, "outlets", {"name": "Telegram", "kind": "messaging"})["id"]
    source = create(client, "sources", {"url": "https://t.me/concordgroup_official/1"})["id"]
    claims = [
        create_claim(client, statement="Bakhmut is ours.", speaker_id=speaker, outlet_id=outlet),
        create_claim(client, statement="No speaker named.", outlet_id=outlet),
        create_claim(client, statement="No outlet named.", speaker_id=gone["id"]),
        create_claim(client, statement="Nothing named at all."),
    ]
    first = claims[0]["id"]
    add_evidence(client, first)
    add_evidence(client, first)
    create(client, f"claims/{first}/appearances", {"source_id": source, "quote": "«Ours»"})
    deleted_speaker = delete(client, f"{API}/speakers/{gone['id']}", gone["version"])
    return {"claims": [claim["id"] for claim in claims], "deleted_speaker": deleted_speaker}


def referenced(client: TestClient, kind: str, entity_id: int | None) -> Any:
    """What the reference's own read answers (None for no reference)."""
    if entity_id is None:
        return None
    response = client.get(f"{API}/{kind}s/{entity_id}")
    assert response.status_code in (200, 410), response.text
    return response.json() if response.status_code == 200 else "deleted"


class TestTheList:
    @pytest.mark.parametrize(
        "expand", [{"expand": "speaker,outlet"}, {"expand": ["speaker", "outlet"]}]
    )
    def test_each_claim_carries_what_the_references_own_reads_answer(
        self, client: TestClient, desk: dict[str, Any], expand: dict[str, Any]
    ) -> None:
        plain = get(client, CLAIMS, sort="id")["items"]
        expanded = get(client, CLAIMS, sort="id", **expand)["items"]
        assert [item["id"] for item in expanded] == [item["id"] for item in plain]
        for bare, item in zip(plain, expanded, strict=True):
            assert "speaker" not in bare
            assert "outlet" not in bare
            assert {k: v for k, v in item.items() if k not in ("speaker", "outlet")} == bare
            for kind in ("speaker", "outlet"):
                own = referenced(client, kind, item[f"{kind}_id"])
                if own == "deleted":  # 410 on its own: embedded as it is, deleted_at set
                    assert item[kind] == desk["deleted_speaker"]
                    assert item[kind]["deleted_at"] is not None
                else:
                    assert item[kind] == own
        assert [item["speaker"] is None for item in expanded] == [False, True, False, True]
        assert [item["outlet"] is None for item in expanded] == [False, False, True, True]

    def test_one_kind_only(self, client: TestClient, desk: dict[str, Any]) -> None:
        items = get(client, CLAIMS, expand="outlet")["items"]
        assert all("outlet" in item and "speaker" not in item for item in items)

    def test_expand_keeps_the_filters_paging_and_links(
        self, client: TestClient, desk: dict[str, Any]
    ) -> None:
        response = client.get(CLAIMS, params={"limit": 1, "expand": "speaker", "sort": "id"})
        assert response.status_code == 200
        assert "expand=speaker" in response.headers["link"]
        follow = response.headers["link"][1 : response.headers["link"].index(">")]
        second = get(client, follow)["items"]
        assert second[0]["id"] == desk["claims"][1]
        assert second[0]["speaker"] is None
        speaker_id = get(client, f"{CLAIMS}/{desk['claims'][0]}")["speaker_id"]
        filtered = get(client, CLAIMS, speaker_id=speaker_id, expand="speaker")["items"]
        assert [item["speaker"]["id"] for item in filtered] == [speaker_id]

    @pytest.mark.parametrize(
        ("value", "named"),
        [
            ("evidence", "'evidence'"),
            ("appearances,speaker", "'appearances'"),
            ("speakers", "'speakers'"),
            ("speaker,", "speaker,"),
            ("", "got ."),
            ("Speaker", "'Speaker'"),
        ],
    )
    def test_unknown_names_are_422_naming_the_allowed_ones(
        self, client: TestClient, value: str, named: str
    ) -> None:
        response = client.get(CLAIMS, params={"expand": value})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        [error] = response.json()["errors"]
        assert error["loc"] == ["query", "expand", 0]
        assert "expand takes speaker, outlet" in error["msg"]
        assert named in error["msg"]


class TestOneClaim:
    def test_every_kind_is_what_its_own_read_answers(
        self, client: TestClient, desk: dict[str, Any]
    ) -> None:
        claim_id = desk["claims"][0]
        bare = client.get(f"{CLAIMS}/{claim_id}")
        response = client.get(
            f"{CLAIMS}/{claim_id}", params={"expand": "speaker,outlet,evidence,appearances"}
        )
        assert response.status_code == 200
        assert response.headers["etag"] == bare.headers["etag"]
        body = response.json()
        assert {k: v for k, v in body.items() if k not in EXPANDED} == bare.json()
        assert body["speaker"] == referenced(client, "speaker", body["speaker_id"])
        assert body["outlet"] == referenced(client, "outlet", body["outlet_id"])
        evidence = get(client, f"{CLAIMS}/{claim_id}/evidence")["items"]
        appearances = get(client, f"{CLAIMS}/{claim_id}/appearances")["items"]
        assert len(evidence) == 2
        assert len(appearances) == 1
        assert body["evidence"] == evidence
        assert body["appearances"] == appearances

    def test_repeated_and_comma_separated_are_the_same(
        self, client: TestClient, desk: dict[str, Any]
    ) -> None:
        path = f"{CLAIMS}/{desk['claims'][0]}"
        repeated = client.get(path, params={"expand": ["evidence", "speaker", "speaker"]})
        comma = client.get(path, params={"expand": "speaker,evidence"})
        assert repeated.status_code == comma.status_code == 200
        assert repeated.content == comma.content
        assert set(comma.json()) - set(client.get(path).json()) == {"speaker", "evidence"}

    def test_null_references_stay_null_and_no_parts_are_empty_lists(
        self, client: TestClient, desk: dict[str, Any]
    ) -> None:
        body = get(client, f"{CLAIMS}/{desk['claims'][3]}", expand=",".join(EXPANDED))
        assert body["speaker"] is None
        assert body["outlet"] is None
        assert body["evidence"] == []
        assert body["appearances"] == []

    def test_a_deleted_speaker_is_embedded_with_its_deleted_at(
        self, client: TestClient, desk: dict[str, Any]
    ) -> None:
        body = get(client, f"{CLAIMS}/{desk['claims'][2]}", expand="speaker")
        assert body["speaker"] == desk["deleted_speaker"]
        assert client.get(f"{API}/speakers/{body['speaker_id']}").status_code == 410

    def test_a_missing_or_deleted_claim_is_404_or_410_before_any_expansion(
        self, client: TestClient, desk: dict[str, Any]
    ) -> None:
        assert client.get(f"{CLAIMS}/987654", params={"expand": "speaker"}).status_code == 404
        claim_id = desk["claims"][3]
        delete(client, f"{CLAIMS}/{claim_id}", 1)
        gone = client.get(f"{CLAIMS}/{claim_id}", params={"expand": "evidence"})
        assert gone.status_code == 410

    def test_unknown_names_are_422_naming_all_four(
        self, client: TestClient, desk: dict[str, Any]
    ) -> None:
        response = client.get(f"{CLAIMS}/{desk['claims'][0]}", params={"expand": "sources"})
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM
        [error] = response.json()["errors"]
        assert error["loc"] == ["query", "expand", 0]
        assert "speaker, outlet, evidence, appearances" in error["msg"]
        assert "'sources'" in error["msg"]

    def test_with_as_of_it_is_422(self, client: TestClient, desk: dict[str, Any]) -> None:
        path = f"{CLAIMS}/{desk['claims'][0]}"
        assert client.get(path, params={"as_of": 1}).status_code == 200
        response = client.get(path, params={"as_of": 1, "expand": "evidence"})
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["type"] == "urn:claimtracker:problem:conflicting-parameters"
        assert [error["loc"] for error in problem["errors"]] == [
            ["query", "as_of"],
            ["query", "expand"],
        ]


EXPANDED = ("speaker", "outlet", "evidence", "appearances")


class TestAuth:
    def test_callers_need_a_key_as_without_expand(
        self, client: TestClient, desk: dict[str, Any], make_client: MakeClient
    ) -> None:
        one = f"{CLAIMS}/{desk['claims'][0]}"
        anonymous = make_client(None)
        reader = make_client(Role.reader)
        public = make_client(None, public_read=True)
        for path, expand in ((CLAIMS, "speaker,outlet"), (one, "speaker,evidence")):
            for params in ({"expand": expand}, {"expand": expand, "unused": "1"}):
                assert anonymous.get(path, params=params).status_code == 401
                assert reader.get(path, params=params).status_code == 200
                assert public.get(path, params=params).status_code == 200


# --- what a page costs ---------------------------------------------------------------------


@contextmanager
def driver_statements(db: Database) -> Iterator[list[str]]:
    """Every statement the driver runs on the test's connection (the reads of a request go
    through the driver's own cursor, below SQLAlchemy's events)."""
    assert db.bind is not None
    connection = db.bind.connection.dbapi_connection
    seen: list[str] = []
    if db.engine.dialect.name == "sqlite":
        connection.set_trace_callback(seen.append)  # type: ignore[union-attr]
        try:
            yield seen
        finally:
            connection.set_trace_callback(None)  # type: ignore[union-attr]
        return

    class Recording(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
            seen.append(query if isinstance(query, str) else str(query))
            return super().execute(query, params, **options)

    previous = connection.cursor_factory  # type: ignore[union-attr]
    connection.cursor_factory = Recording  # type: ignore[union-attr]
    try:
        yield seen
    finally:
        connection.cursor_factory = previous  # type: ignore[union-attr]


def reads_of(seen: list[str]) -> list[str]:
    """The tables the SELECTs read (outside their subqueries), for claims and their references:
    not the key's lookups, savepoints and the like."""
    tables = {"claim", "speaker", "outlet", "evidence", "appearance"}
    texts = [" ".join(text.split()) for text in seen]
    reads = [shapes([text])[0] for text in texts if text.startswith("SELECT")]
    return [read.split()[1] for read in reads if read.split()[1] in tables]


class TestStatements:
    def test_a_page_of_50_costs_one_statement_per_kind(
        self, session: Session, db: Database, client: TestClient
    ) -> None:
        for n in range(50):  # every claim its own speaker and outlet: 50 of each to read
            speaker = factories.speaker(session, name=f"Speaker {n}", aliases=[])
            outlet = factories.outlet(session, name=f"Outlet {n}", domain=f"o{n}.example")
            factories.claim(session, speaker_id=speaker.id, outlet_id=outlet.id)
        client.get(CLAIMS)  # the key's first lookup, outside the count
        with driver_statements(db) as plain_seen:
            plain = client.get(CLAIMS, params={"limit": 50})
        with driver_statements(db) as seen:
            expanded = client.get(CLAIMS, params={"limit": 50, "expand": "speaker,outlet"})
        assert plain.status_code == expanded.status_code == 200
        items = expanded.json()["items"]
        assert len(items) == 50
        assert len({item["speaker"]["id"] for item in items}) == 50
        assert len({item["outlet"]["id"] for item in items}) == 50
        assert reads_of(plain_seen) == ["claim"]
        assert reads_of(seen) == ["claim", "speaker", "outlet"]
        assert len(seen) - len(plain_seen) == 2

    def test_a_claim_by_id_costs_one_statement_per_kind(
        self, session: Session, db: Database, client: TestClient
    ) -> None:
        claim = factories.claim(
            session,
            speaker_id=factories.speaker(session).id,
            outlet_id=factories.outlet(session).id,
        )
        factories.evidence(session, claim.id)
        factories.evidence(session, claim.id)
        client.get(f"{CLAIMS}/{claim.id}")
        with driver_statements(db) as seen:
            response = client.get(f"{CLAIMS}/{claim.id}", params={"expand": ",".join(EXPANDED)})
        assert response.status_code == 200
        assert len(response.json()["evidence"]) == 2
        assert reads_of(seen) == ["claim", "speaker", "outlet", "evidence", "appearance"]

    def test_a_page_without_references_reads_none(
        self, session: Session, db: Database, client: TestClient
    ) -> None:
        factories.claim(session)
        client.get(CLAIMS)
        with driver_statements(db) as seen:
            items = get(client, CLAIMS, expand="speaker,outlet")["items"]
        assert [(item["speaker"], item["outlet"]) for item in items] == [(None, None)]
        assert reads_of(seen) == ["claim"]


# --- the document ----------------------------------------------------------------------------


def test_the_openapi_document_describes_the_expanded_shapes(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]

    def ref(name: str) -> str:
        return f"#/components/schemas/{name}"

    listed = schemas["ClaimExpanded"]["properties"]
    assert {"$ref": ref("SpeakerPublic")} in listed["speaker"]["anyOf"]
    assert {"$ref": ref("OutletPublic")} in listed["outlet"]["anyOf"]
    assert "expand=speaker" in listed["speaker"]["description"]
    assert "speaker" not in schemas["ClaimExpanded"].get("required", [])
    detail = schemas["ClaimDetail"]["properties"]
    assert detail["evidence"]["items"] == {"$ref": ref("EvidencePublic")}
    assert detail["appearances"]["items"] == {"$ref": ref("AppearancePublic")}

    list_get = document["paths"][CLAIMS]["get"]
    page = list_get["responses"]["200"]["content"]["application/json"]["schema"]
    assert schemas[page["$ref"].rsplit("/", 1)[1]]["properties"]["items"]["items"] == {
        "$ref": ref("ClaimExpanded")
    }
    [expand] = [p for p in list_get["parameters"] if p.get("name") == "expand"]
    assert expand["schema"]["items"]["pattern"] == "^(?:speaker|outlet)(?:,(?:speaker|outlet))*$"

    one_get = document["paths"][f"{CLAIMS}/{{entity_id}}"]["get"]
    one = one_get["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"$ref": ref("ClaimDetail")} in one["anyOf"]
    assert {"$ref": ref("ClaimAsOf")} in one["anyOf"]
    [expand] = [p for p in one_get["parameters"] if p.get("name") == "expand"]
    assert "appearances" in expand["schema"]["items"]["pattern"]
