"""The fast route for GET /api/v1/claims/{id} answers exactly as FastAPI's route does.

A query string the route ignores (``?unused=1``) sends the same request to FastAPI's route
(the fast route does not match it), so each pair below compares the two answers whole: status,
body, ETag, content type.
"""

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from app.auth.actor import Role
from app.claims.fast_read import ClaimByIdFastRead, ClaimListFastRead
from tests.claims.test_router import add_evidence, create_claim, create_speaker
from tests.conftest import MakeClient

CLAIMS = "/api/v1/claims"


def _without_request_id(problem: dict[str, Any]) -> dict[str, Any]:
    assert problem.pop("request_id")
    return problem


def _same_answer(client: TestClient, path: str) -> int:
    fast = client.get(path)
    routed = client.get(f"{path}&unused=1" if "?" in path else f"{path}?unused=1")
    assert fast.status_code == routed.status_code
    if fast.status_code == 200:
        assert fast.content == routed.content
    else:  # a problem document names its own request
        assert _without_request_id(fast.json()) == _without_request_id(routed.json())
    for header in ("etag", "content-type", "cache-control"):
        assert fast.headers.get(header) == routed.headers.get(header)
    return fast.status_code


def test_the_fast_route_is_tried_first_and_only_for_a_bare_get(client: TestClient) -> None:
    route = client.app.router.routes[0]  # type: ignore[attr-defined]
    assert isinstance(route, ClaimByIdFastRead)
    scope = {"type": "http", "method": "GET", "path": f"{CLAIMS}/7", "query_string": b""}
    assert route.matches(scope)[0].name == "FULL"
    for expand in (b"speaker", b"speaker,outlet,evidence,appearances", b"evidence,evidence"):
        assert route.matches({**scope, "query_string": b"expand=" + expand})[0].name == "FULL"
    for other in (
        {"query_string": b"as_of=1"},
        {"query_string": b"as_of=1&expand=speaker"},
        {"query_string": b"expand=speaker&expand=outlet"},  # repeated: FastAPI reads the list
        {"query_string": b"expand=speaker&unused=1"},
        {"query_string": b"expand=sources"},  # refused: FastAPI's 422
        {"query_string": b"expand="},
        {"method": "HEAD"},
        {"path": f"{CLAIMS}/0"},
        {"path": f"{CLAIMS}/99999999999999999999"},
        {"path": f"{CLAIMS}/{'9' * 5000}"},
        {"path": f"{CLAIMS}/%EF%BC%97"},
    ):
        assert route.matches({**scope, **other})[0].name == "NONE"


def test_a_claim_with_its_etag(client: TestClient) -> None:
    claim = create_claim(client, statement="Ниже по течению — «вода» 💧")
    add_evidence(client, claim["id"])
    assert _same_answer(client, f"{CLAIMS}/{claim['id']}") == 200


@pytest.mark.parametrize(
    "expand", ["speaker", "outlet,speaker", "evidence,appearances", "speaker,outlet,evidence"]
)
def test_a_claim_with_what_expand_names(client: TestClient, expand: str) -> None:
    speaker = create_speaker(client, "Yevgeny Prigozhin")
    claim = create_claim(client, speaker_id=speaker, statement="Ниже по течению — «вода» 💧")
    add_evidence(client, claim["id"])
    assert _same_answer(client, f"{CLAIMS}/{claim['id']}?expand={expand}") == 200
    bare = create_claim(client)
    assert _same_answer(client, f"{CLAIMS}/{bare['id']}?expand={expand}") == 200


def test_missing_and_deleted_claims(client: TestClient) -> None:
    assert _same_answer(client, f"{CLAIMS}/987654") == 404
    claim = create_claim(client)
    deleted = client.delete(
        f"{CLAIMS}/{claim['id']}",
        params={"reason": "Duplicate"},
        headers={"If-Match": f'"v{claim["version"]}"'},
    )
    assert deleted.status_code == 200
    assert _same_answer(client, f"{CLAIMS}/{claim['id']}") == 410
    assert _same_answer(client, f"{CLAIMS}/{claim['id']}?expand=speaker") == 410
    assert _same_answer(client, f"{CLAIMS}/987654?expand=evidence") == 404


def test_callers_without_a_usable_key(client: TestClient, make_client: MakeClient) -> None:
    claim = create_claim(client)
    anonymous = make_client(None)
    assert _same_answer(anonymous, f"{CLAIMS}/{claim['id']}") == 401
    assert _same_answer(anonymous, f"{CLAIMS}/{claim['id']}?expand=speaker") == 401
    wrong = make_client(Role.reader)
    wrong.headers["Authorization"] = "Bearer ct_not_a_key"
    assert _same_answer(wrong, f"{CLAIMS}/{claim['id']}") == 401


def test_public_read_lets_anonymous_callers_in(client: TestClient, make_client: MakeClient) -> None:
    claim = create_claim(client)
    public = make_client(None, public_read=True)
    assert _same_answer(public, f"{CLAIMS}/{claim['id']}") == 200


def test_odd_ids_are_left_to_fastapi(client: TestClient) -> None:
    assert client.get(f"{CLAIMS}/0").status_code == 422
    assert client.get(f"{CLAIMS}/{'1' * 5000}").status_code == 422
    assert client.head(f"{CLAIMS}/1").status_code == 405


# The list: FastAPI's route gets the same request when an unknown parameter rides along.


def _same_list_answer(client: TestClient, query: str) -> tuple[int, dict[str, Any]]:
    fast = client.get(f"{CLAIMS}?{query}")
    routed = client.get(f"{CLAIMS}?{query}&unused=1" if query else f"{CLAIMS}?unused=1")
    assert fast.status_code == routed.status_code, (query, fast.text, routed.text)
    if fast.status_code == 200:
        assert fast.content == routed.content, query
        # The next link keeps the request's own parameters: the routed one has unused=1 too.
        assert fast.headers.get("link") == (
            routed.headers["link"].replace("&unused=1", "").replace("unused=1&", "")
            if "link" in routed.headers
            else None
        )
    else:
        assert _without_request_id(fast.json()) == _without_request_id(routed.json())
    for header in ("content-type", "cache-control"):
        assert fast.headers.get(header) == routed.headers.get(header)
    return fast.status_code, fast.json()


@pytest.fixture
def listed(client: TestClient) -> TestClient:
    speaker = create_speaker(client, "Yevgeny Prigozhin")
    for n, (status, topics, claimed_at) in enumerate(
        [
            ("unverified", ["war"], "2023-05-01T10:00:00Z"),
            ("false", ["war", "energy"], None),
            ("unverified", [], "2022-01-01T00:00:00+02:00"),
            ("confirmed", ["energy"], "2024-02-29T12:00:00Z"),
            ("unverified", ["war"], None),
        ]
    ):
        body: dict[str, Any] = {"statement": f"Bakhmutka river claim {n}", "topics": topics}
        if claimed_at:
            body["claimed_at"] = claimed_at
        if n % 2:
            body["speaker_id"] = speaker
        claim = create_claim(client, **body)
        if status != "unverified":
            add_evidence(client, claim["id"])
            verdict = client.post(
                f"{CLAIMS}/{claim['id']}/status",
                json={"status": status, "verdict": f"Rated {status}.", "reason": "Checked."},
                headers={"If-Match": f'"v{claim["version"] + 1}"'},
            )
            assert verdict.status_code == 200, verdict.text
    return client


QUERIES = [
    "",
    "limit=2",
    "status=unverified",
    "status=unverified&limit=1",
    "sort=claimed_at&limit=2",
    "sort=-claimed_at&limit=3",
    "sort=updated_at",
    "topic=WAR",
    "topic=energy&status=false",
    "speaker_id=1",
    "q=river",
    "q=%22river",
    "q=%20",
    "claimed_after=2023-01-01T00:00:00Z",
    "claimed_before=2023-01-01",
    "updated_since=2000-01-01T00:00:00%2B01:00",
    "language=nl",
    "cursor=not-a-cursor",
    "sort=statement",
    "limit=0",
    "limit=101",
    "status=perhaps",
    "speaker_id=-1",
    "claimed_after=yesterday",
    "expand=speaker",
    "expand=outlet,speaker&limit=2",
    "expand=speaker&status=false",
    "sort=claimed_at&limit=2&expand=outlet",
    "expand=evidence",
    "expand=speaker,",
    "expand=",
]


@pytest.mark.parametrize("query", QUERIES)
def test_the_list_answers_as_fastapis_route(listed: TestClient, query: str) -> None:
    _same_list_answer(listed, query)


@pytest.mark.parametrize("sort", ["-id", "id", "claimed_at", "-claimed_at", "updated_at"])
def test_every_page_of_a_walk_is_the_same(listed: TestClient, sort: str) -> None:
    query, pages = f"sort={sort}&limit=2", 0
    while True:
        status, page = _same_list_answer(listed, query)
        assert status == 200
        pages += 1
        if page["next_cursor"] is None:
            break
        query = f"sort={sort}&limit=2&cursor={page['next_cursor']}"
    assert pages == 3


def test_the_list_route_is_tried_first_and_only_for_its_own_parameters(client: TestClient) -> None:
    route = client.app.router.routes[1]  # type: ignore[attr-defined]
    assert isinstance(route, ClaimListFastRead)
    scope = {"type": "http", "method": "GET", "path": CLAIMS, "query_string": b"status=confirmed"}
    assert route.matches(scope)[0].name == "FULL"
    assert route.matches({**scope, "query_string": b""})[0].name == "FULL"
    for other in (
        {"query_string": b"status=confirmed&status=false"},  # repeated: FastAPI keeps the last
        {"query_string": b"status=confirmed&colour=red"},  # not one of the list's
        {"query_string": b"expand=speaker&expand=outlet"},  # repeated: FastAPI reads the list
        {"query_string": b"expand=evidence"},  # by id only: FastAPI's 422
        {"query_string": b"limit=1000"},  # refused by the model: FastAPI's 422
        {"query_string": b"q=" + b"x" * 501},
        {"method": "POST"},
        {"method": "HEAD"},
        {"path": f"{CLAIMS}/"},
    ):
        assert route.matches({**scope, **other})[0].name == "NONE"


def test_the_list_refuses_callers_as_its_route_does(
    listed: TestClient, make_client: MakeClient
) -> None:
    assert _same_list_answer(make_client(None), "status=confirmed")[0] == 401
    assert _same_list_answer(make_client(None, public_read=True), "status=confirmed")[0] == 200
    assert _same_list_answer(make_client(None), "expand=speaker")[0] == 401
    assert _same_list_answer(make_client(Role.reader), "expand=speaker,outlet")[0] == 200


VALUES = {
    "status": st.sampled_from(["confirmed", "false", "unverified", "", "x"]),
    "limit": st.sampled_from(["1", "2", "50", "0", "-3", "abc", " 2"]),
    "sort": st.sampled_from(["id", "-id", "claimed_at", "-updated_at", "x"]),
    "topic": st.sampled_from(["war", "ENERGY ", "", "x" * 65]),
    "speaker_id": st.sampled_from(["1", "2", "0", "1.0", "9" * 30]),
    "q": st.sampled_from(["river", "claim 3", '"', "", "AND OR NOT", "*"]),
    "claimed_after": st.sampled_from(["2023-01-01", "2023-01-01T00:00:00Z", "0", "nope"]),
    "review": st.sampled_from(["", "open", "settled", "x"]),
    "expand": st.sampled_from(["speaker", "outlet,speaker", "speaker,speaker", "", "evidence"]),
}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(st.sampled_from(sorted(VALUES)), st.just(None), max_size=4).flatmap(
        lambda keys: st.fixed_dictionaries({key: VALUES[key] for key in keys})
    )
)
def test_any_mix_of_parameters_answers_as_fastapis_route(
    listed: TestClient, params: dict[str, str]
) -> None:
    _same_list_answer(listed, urlencode(params))
