"""The fast route for GET /api/v1/claims/{id} answers exactly as FastAPI's route does.

A query string the route ignores (``?unused=1``) sends the same request to FastAPI's route
(the fast route does not match it), so each pair below compares the two answers whole: status,
body, ETag, content type.
"""

from typing import Any

from starlette.testclient import TestClient

from app.auth.actor import Role
from app.claims.fast_read import ClaimByIdFastRead
from tests.claims.test_router import add_evidence, create_claim
from tests.conftest import MakeClient

CLAIMS = "/api/v1/claims"


def _without_request_id(problem: dict[str, Any]) -> dict[str, Any]:
    assert problem.pop("request_id")
    return problem


def _same_answer(client: TestClient, path: str) -> int:
    fast = client.get(path)
    routed = client.get(f"{path}?unused=1")
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
    for other in (
        {"query_string": b"as_of=1"},
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


def test_callers_without_a_usable_key(client: TestClient, make_client: MakeClient) -> None:
    claim = create_claim(client)
    anonymous = make_client(None)
    assert _same_answer(anonymous, f"{CLAIMS}/{claim['id']}") == 401
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
