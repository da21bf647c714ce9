"""The permission matrix: every route of the app's own route table, times every kind of caller.

Routes are read from ``app.routes`` at collection time, so a new route is in the matrix the
moment it exists, and one that declares no role (and is not on the public list) fails.
"""

import re
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from app.auth.actor import Role
from app.auth.dependencies import RoleRequirement
from app.claims.fast_read import FastRead
from app.core.settings import Settings
from app.main import create_app
from app.web.api_docs import ASSETS_PATH
from app.web.problems import only_refuses
from tests.conftest import MakeClient, bearer, create_key

PUBLIC = {"/healthz", "/readyz", "/api/v1/healthz", "/api/v1/readyz"}
FRAMEWORK = {"/openapi.json", "/docs", ASSETS_PATH}
CALLERS: list[Role | None] = [None, Role.reader, Role.checker, Role.editor, Role.admin]
MISSING_ID = "999999999"  # no such entity: a request that passes auth ends in 404/422/428


def declared_roles(dependant: Any) -> list[Role]:
    roles = []
    for sub in dependant.dependencies:
        if isinstance(sub.call, RoleRequirement):
            roles.append(sub.call.required_role)
        roles += declared_roles(sub)
    return roles


def route_table() -> list[tuple[str, str, Role | None]]:
    """(method, path, declared role or None) for every route the app serves."""
    app = create_app(Settings(database_url="sqlite://"))
    table = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, FastRead):  # a lane of the route below
            continue
        if only_refuses(route.endpoint):  # answers 405 only (Allow names the real routes)
            continue
        dependant = getattr(route, "dependant", None)
        roles = sorted(set(declared_roles(dependant)), key=lambda r: r.rank) if dependant else []
        assert len(roles) <= 1, f"{route.path} declares several roles: {roles}"
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                table.append((method, str(route.path), roles[0] if roles else None))
    return table


ROUTES = route_table()
API_ROUTES = [(m, p, r) for m, p, r in ROUTES if p not in PUBLIC | FRAMEWORK]

# The design's table (README "Roles"): what each route must declare.
EXPECTED = {
    "GET": Role.reader,
    "POST": Role.checker,
    "PATCH": Role.checker,
    "DELETE": Role.editor,
}
EXCEPTIONS = {
    ("POST", "/api/v1/claims/{entity_id}/restore"): Role.editor,
    ("POST", "/api/v1/claims/{entity_id}/revert"): Role.editor,
    ("GET", "/api/v1/history/verify"): Role.editor,
    # Issue 14: finding similar claims is a read sent as a POST (the statement is a body);
    # a merge ends a claim, as a delete does.
    ("POST", "/api/v1/claims/similar"): Role.reader,
    ("POST", "/api/v1/claims/{entity_id}/merge"): Role.editor,
    ("GET", "/metrics"): Role.admin,  # CLAIMS_METRICS=admin, the default
}


def test_the_fast_reads_require_what_their_routes_declare() -> None:
    app = create_app(Settings(database_url="sqlite://"))
    fast = [route for route in app.routes if isinstance(route, FastRead)]
    assert len(fast) == 2
    declared = {(m, p): r for m, p, r in ROUTES}
    for route in fast:
        assert route.requirement.required_role == declared[("GET", route.path)]


def expected_role(method: str, path: str) -> Role:
    generic = re.sub(r"^/api/v1/(speakers|outlets|sources)/", "/api/v1/claims/", path)
    if path.startswith(("/api/v1/keys", "/api/v1/webhooks")):
        return Role.admin
    return EXCEPTIONS.get((method, generic), EXPECTED[method])


def expectation(required: Role, caller: Role | None, public_read: bool) -> int | None:
    """401, 403, or None for "passes auth"."""
    if caller is None:
        return None if public_read and required is Role.reader else 401
    return None if caller.at_least(required) else 403


class TestTheRouteTable:
    def test_every_route_declares_a_role_unless_it_is_public(self) -> None:
        undeclared = [(m, p) for m, p, role in API_ROUTES if role is None]
        assert not undeclared, f"routes without require(role): {undeclared}"

    def test_public_routes_declare_none(self) -> None:
        public = {(m, p): role for m, p, role in ROUTES if p in PUBLIC | FRAMEWORK}
        assert set(public.values()) == {None}
        assert {p for _, p in public} == PUBLIC | FRAMEWORK

    def test_the_table_covers_every_kind_of_route(self) -> None:
        assert len(API_ROUTES) >= 50
        assert {role for _, _, role in API_ROUTES} == {
            Role.reader,
            Role.checker,
            Role.editor,
            Role.admin,
        }

    @pytest.mark.parametrize(("method", "path", "role"), API_ROUTES, ids=lambda v: str(v))
    def test_each_route_declares_the_role_of_the_design(
        self, method: str, path: str, role: Role
    ) -> None:
        assert role == expected_role(method, path)


ENDLESS = {"/api/v1/changes/stream"}  # Server-Sent Events: an answer that never ends


def send(client: Any, method: str, path: str, headers: dict[str, str]) -> Any:
    url = re.sub(r"\{[^}]+\}", MISSING_ID, path)
    if path in ENDLESS:  # a bad cursor answers 422 once the caller is let in, 401/403 before
        headers = {**headers, "Last-Event-ID": "not-a-revision-id"}
    if method in ("POST", "PATCH"):
        return client.request(method, url, json={}, headers=headers)
    return client.request(method, url, headers=headers)


@pytest.mark.parametrize(("method", "path", "role"), API_ROUTES, ids=lambda v: str(v))
@pytest.mark.parametrize("public_read", [False, True], ids=["private", "public-read"])
def test_permission_matrix(
    make_client: MakeClient, db: Any, method: str, path: str, role: Role, public_read: bool
) -> None:
    client = make_client(None, public_read=public_read)
    keys = {caller: create_key(db, caller) for caller in CALLERS if caller is not None}
    seen = {}
    for caller in CALLERS:
        headers = bearer(keys[caller]) if caller is not None else {}
        response = send(client, method, path, headers)
        seen[caller] = response.status_code
        wanted = expectation(role, caller, public_read)
        if wanted is None:
            assert response.status_code not in (401, 403), (caller, response.text)
            assert response.status_code < 500, (caller, response.text)
        else:
            assert response.status_code == wanted, (caller, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            if wanted == 401:
                assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", sorted(PUBLIC | {"/openapi.json", "/docs"}))
def test_public_routes_need_no_key(make_client: MakeClient, path: str) -> None:
    assert make_client(None).get(path).status_code == 200


class TestBadCredentials:
    @pytest.mark.parametrize(
        "header",
        [
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "Bearer ct_12345678",
            "Bearer ct_zzzzzzzz_" + "a" * 43,
            "Bearer ct_0123abcd_" + "a" * 43,  # well formed, unknown
            "bearer" + " " * 3,
            "Token abc",
        ],
    )
    @pytest.mark.parametrize("public_read", [False, True])
    def test_a_present_but_bad_header_is_401_even_with_public_read(
        self, make_client: MakeClient, header: str, public_read: bool
    ) -> None:
        client = make_client(None, public_read=public_read)
        response = client.get("/api/v1/claims", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["type"].endswith("unauthorized")

    def test_a_right_prefix_with_a_wrong_secret_is_401(
        self, make_client: MakeClient, db: Any
    ) -> None:
        secret = create_key(db, Role.admin)
        forged = secret[:-4] + ("aaaa" if not secret.endswith("aaaa") else "bbbb")
        client = make_client(None)
        assert client.get("/api/v1/claims", headers=bearer(secret)).status_code == 200
        assert client.get("/api/v1/claims", headers=bearer(forged)).status_code == 401

    def test_the_scheme_is_case_insensitive(self, make_client: MakeClient, db: Any) -> None:
        secret = create_key(db, Role.reader)
        client = make_client(None)
        response = client.get("/api/v1/claims", headers={"Authorization": f"bearer {secret}"})
        assert response.status_code == 200

    def test_public_read_never_opens_writes(self, make_client: MakeClient) -> None:
        client = make_client(None, public_read=True)
        assert client.get("/api/v1/claims").status_code == 200
        response = client.post("/api/v1/claims", json={"statement": "x"})
        assert response.status_code == 401
