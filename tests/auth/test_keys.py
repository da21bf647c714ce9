"""API keys over HTTP and the CLI: created, used, listed without secrets, revoked, refused;
revisions carrying the calling key; the checker's limits on status changes; CORS.
Rate limits: tests/auth/test_ratelimit.py."""

import asyncio
import re
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy import Connection
from sqlmodel import select
from starlette.testclient import TestClient

from app.auth import service as auth_service
from app.auth.actor import Role
from app.auth.models import ApiKey
from app.core.db import Database
from app.core.settings import Settings
from app.main import create_app
from tests.conftest import MakeClient, bearer, create_key
from tests.helpers import PROBLEM, invoke

KEYS = "/api/v1/keys"
CLAIMS = "/api/v1/claims"
R = TypeVar("R")


def authenticate(db: Database, raw_key: str) -> auth_service.Caller | None:
    """The server's own authenticate, reading through ``db`` as a request would."""

    async def read(work: Callable[[Connection], R]) -> R:
        with db.read_connection(single_statement=True) as conn:
            return work(conn)

    return asyncio.run(auth_service.authenticate(raw_key, read))


def key_row(db: Database, secret: str) -> ApiKey:
    with db.session() as session:
        prefix = auth_service.prefix_of(secret)
        return session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).one()


class TestKeyLifecycleOverHttp:
    def test_created_used_listed_revoked_refused(self, client: TestClient) -> None:
        created = client.post(KEYS, json={"name": "newsroom frontend", "role": "reader"})
        assert created.status_code == 201, created.text
        assert created.headers["cache-control"] == "no-store"
        body = created.json()
        secret = body["secret"]
        assert secret.startswith(f"ct_{body['prefix']}_")
        assert len(secret) >= len("ct_12345678_") + 32
        assert "secret_hash" not in body
        key_id = body["id"]

        reader = {"Authorization": f"Bearer {secret}"}
        assert client.get(CLAIMS, headers=reader).status_code == 200
        assert client.post(CLAIMS, json={"statement": "x"}, headers=reader).status_code == 403

        listed = client.get(KEYS)
        assert listed.status_code == 200
        assert secret not in listed.text
        assert auth_service.digest_of(secret) not in listed.text
        items = {item["id"]: item for item in listed.json()["items"]}
        assert set(items[key_id]) == {
            "id",
            "name",
            "prefix",
            "role",
            "created_at",
            "revoked_at",
            "last_used_at",
        }
        assert items[key_id]["last_used_at"] is not None  # it was used above
        assert items[key_id]["revoked_at"] is None

        revoked = client.delete(f"{KEYS}/{key_id}")
        assert revoked.status_code == 200
        assert revoked.json()["revoked_at"] is not None

        refused = client.get(CLAIMS, headers=reader)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == PROBLEM
        active = client.get(KEYS, params={"include_revoked": "false"}).json()["items"]
        assert key_id not in {item["id"] for item in active}

    def test_revoking_twice_keeps_the_first_time(self, client: TestClient) -> None:
        key_id = client.post(KEYS, json={"name": "x", "role": "checker"}).json()["id"]
        first = client.delete(f"{KEYS}/{key_id}").json()["revoked_at"]
        assert client.delete(f"{KEYS}/{key_id}").json()["revoked_at"] == first

    def test_unknown_key_is_404(self, client: TestClient) -> None:
        assert client.delete(f"{KEYS}/424242").status_code == 404

    @pytest.mark.parametrize(
        "body",
        [
            {"name": "x", "role": "system"},
            {"name": "x", "role": "root"},
            {"name": "", "role": "reader"},
            {"name": "x" * 101, "role": "reader"},
            {"name": "x", "role": "reader", "secret": "mine"},
        ],
    )
    def test_bad_key_requests_are_422(self, client: TestClient, body: dict[str, Any]) -> None:
        response = client.post(KEYS, json=body)
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM

    @pytest.mark.parametrize("role", [Role.reader, Role.checker, Role.editor])
    def test_only_admins_manage_keys(self, make_client: MakeClient, role: Role) -> None:
        client = make_client(role)
        assert client.get(KEYS).status_code == 403
        assert client.post(KEYS, json={"name": "x", "role": "admin"}).status_code == 403
        assert client.delete(f"{KEYS}/1").status_code == 403


class TestKeyService:
    def test_only_the_digest_is_stored(self, db: Database) -> None:
        secret = create_key(db, Role.editor)
        row = key_row(db, secret)
        assert row.secret_hash == auth_service.digest_of(secret)
        assert secret not in row.model_dump_json()

    def test_authenticate_knows_a_key_and_forgets_a_revoked_one(self, db: Database) -> None:
        secret = create_key(db, Role.checker, "desk")
        caller = authenticate(db, secret)
        assert caller is not None
        assert (caller.name, caller.role) == ("desk", Role.checker)
        with db.session(write=True) as session:
            auth_service.revoke_key(session, caller.key_id)
        assert authenticate(db, secret) is None

    @pytest.mark.parametrize("raw", ["", "ct_", "ct_abc_def", "x" * 300, "ct_ABCDEFGH_" + "a" * 40])
    def test_malformed_keys_are_nobody(self, db: Database, raw: str) -> None:
        assert authenticate(db, raw) is None

    def test_a_key_cannot_hold_the_system_role(self, db: Database) -> None:
        from app.core.errors import RuleViolation

        with db.session(write=True) as session, pytest.raises(RuleViolation):
            auth_service.create_key(session, "sneaky", Role.system)

    def test_keys_are_random(self, db: Database) -> None:
        assert len({create_key(db, Role.reader) for _ in range(5)}) == 5


class TestRevisionsCarryTheCallingKey:
    @pytest.mark.parametrize("role", [Role.checker, Role.editor, Role.admin])
    def test_a_create_records_key_id_name_and_role(
        self, make_client: MakeClient, db: Database, role: Role
    ) -> None:
        secret = create_key(db, role, f"desk {role}")
        key = key_row(db, secret)
        client = make_client(None)
        created = client.post(
            CLAIMS,
            json={"statement": "Wagner holds east Bakhmut."},
            headers={**bearer(secret), "X-Request-ID": f"req-{role}"},
        )
        assert created.status_code == 201, created.text
        history = client.get(f"{CLAIMS}/{created.json()['id']}/history", headers=bearer(secret))
        (revision,) = history.json()["items"]
        assert revision["actor"] == {"key_id": key.id, "name": f"desk {role}", "role": str(role)}
        # The server's id, never the client's (tests/web/test_headers.py has the rest).
        assert revision["request_id"] == created.headers["x-request-id"]

    def test_each_writer_of_one_claim_is_named_and_survives_revocation(
        self, make_client: MakeClient, client: TestClient, db: Database
    ) -> None:
        checker, editor = create_key(db, Role.checker, "Anna"), create_key(db, Role.editor, "Ben")
        api = make_client(None)
        claim = api.post(CLAIMS, json={"statement": "x"}, headers=bearer(checker)).json()
        api.patch(
            f"{CLAIMS}/{claim['id']}",
            json={"place": "Bakhmut"},
            headers={**bearer(checker), "If-Match": '"v1"'},
        )
        deleted = api.delete(
            f"{CLAIMS}/{claim['id']}",
            params={"reason": "duplicate"},
            headers={**bearer(editor), "If-Match": '"v2"'},
        )
        assert deleted.status_code == 200, deleted.text
        client.delete(f"{KEYS}/{key_row(db, checker).id}")  # revoked afterwards
        items = client.get(f"{CLAIMS}/{claim['id']}/history").json()["items"]
        actors = [(item["actor"]["name"], item["actor"]["role"]) for item in items]
        assert actors == [("Anna", "checker"), ("Anna", "checker"), ("Ben", "editor")]

    def test_evidence_records_who_added_it(self, make_client: MakeClient) -> None:
        client = make_client(Role.checker)
        claim = client.post(CLAIMS, json={"statement": "x"}).json()
        evidence = client.post(
            f"{CLAIMS}/{claim['id']}/evidence",
            json={"title": "Satellite images", "stance": "refutes", "url": "https://example.org/"},
        )
        assert evidence.status_code == 201, evidence.text
        assert evidence.json()["added_by"] == "test checker"


class TestCheckersAndStatus:
    def status(self, client: TestClient, claim_id: int, etag: str, **body: Any) -> Any:
        return client.post(
            f"{CLAIMS}/{claim_id}/status",
            json={"reason": "desk review", **body},
            headers={"If-Match": etag},
        )

    @pytest.fixture
    def claim(self, client: TestClient) -> int:
        return int(client.post(CLAIMS, json={"statement": "The depot burned."}).json()["id"])

    def test_a_checker_may_take_a_claim_into_review(
        self, make_client: MakeClient, claim: int
    ) -> None:
        response = self.status(make_client(Role.checker), claim, '"v1"', review="in_review")
        assert response.status_code == 200, response.text
        assert response.json()["review"] == "in_review"

    @pytest.mark.parametrize(
        "body",
        [
            {"status": "unproven", "verdict": "No footage of the depot could be verified."},
            {"verdict": "A rationale alone."},
            {"review": "settled"},
            {"status": "unverified"},
        ],
    )
    def test_a_checker_may_not_give_a_verdict_or_settle(
        self, make_client: MakeClient, claim: int, body: dict[str, Any]
    ) -> None:
        response = self.status(make_client(Role.checker), claim, '"v1"', **body)
        assert response.status_code == 403
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["required_role"] == "editor"

    def test_a_checker_may_not_reopen_but_an_editor_may(
        self, make_client: MakeClient, claim: int
    ) -> None:
        editor = make_client(Role.editor)
        verdict = self.status(
            editor, claim, '"v1"', status="unproven", verdict="Neither confirmed nor refuted."
        )
        assert verdict.status_code == 200, verdict.text
        assert verdict.json()["review"] == "settled"
        checker = make_client(Role.checker)
        assert self.status(checker, claim, '"v2"', review="in_review").status_code == 403
        assert self.status(editor, claim, '"v2"', review="in_review").status_code == 200

    def test_a_reader_may_not_change_status_at_all(
        self, make_client: MakeClient, claim: int
    ) -> None:
        response = self.status(make_client(Role.reader), claim, '"v1"', review="in_review")
        assert response.status_code == 403


class TestCors:
    ORIGIN = "https://newsroom.example"

    def test_allowed_origin_sees_etag_link_and_request_id(self, make_client: MakeClient) -> None:
        client = make_client(Role.reader, cors_origins=[self.ORIGIN])
        response = client.get(CLAIMS, headers={"Origin": self.ORIGIN})
        assert response.headers["access-control-allow-origin"] == self.ORIGIN
        exposed = {
            h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
        }
        assert {"etag", "link", "x-request-id"} <= exposed

    def test_preflight_allows_authorization_and_if_match(self, make_client: MakeClient) -> None:
        client = make_client(None, cors_origins=[self.ORIGIN])
        response = client.options(
            f"{CLAIMS}/1",
            headers={
                "Origin": self.ORIGIN,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "authorization, if-match, content-type",
            },
        )
        assert response.status_code == 200
        allowed = response.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed
        assert "if-match" in allowed

    def test_other_origins_get_no_cors_headers(self, make_client: MakeClient) -> None:
        client = make_client(Role.reader, cors_origins=[self.ORIGIN])
        response = client.get(CLAIMS, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in response.headers

    def test_without_origins_there_is_no_cors(self, client: TestClient) -> None:
        response = client.get(CLAIMS, headers={"Origin": self.ORIGIN})
        assert "access-control-allow-origin" not in response.headers


# --- the CLI ----------------------------------------------------------------------------------


@pytest.fixture
def database_file(cli_database: str) -> str:
    """A migrated database for the keys commands; its URL."""
    assert invoke("migrate")[0] == 0
    return cli_database


class TestKeysCommand:
    def test_created_used_listed_revoked_refused(self, database_file: str) -> None:
        code, output = invoke("keys", "create", "--name", "Night desk", "--role", "editor")
        assert code == 0, output
        secret = output.strip().splitlines()[-1]
        assert secret.startswith("ct_")
        key_id = output.split()[2]

        with TestClient(create_app(Settings(database_url=database_file))) as api:
            assert api.get(CLAIMS, headers=bearer(secret)).status_code == 200

            code, listing = invoke("keys", "list")
            assert code == 0
            assert "Night desk" in listing
            assert auth_service.prefix_of(secret) in listing
            assert secret not in listing
            assert auth_service.digest_of(secret) not in listing

            assert invoke("keys", "revoke", key_id)[0] == 0
            assert api.get(CLAIMS, headers=bearer(secret)).status_code == 401

    def test_a_bad_role_exits_2(self, database_file: str) -> None:
        code, output = invoke("keys", "create", "--name", "x", "--role", "system")
        assert code == 2
        assert "role" in output

    def test_revoking_an_unknown_key_exits_1(self, database_file: str) -> None:
        assert invoke("keys", "revoke", "4242")[0] == 1

    def test_ensure_admin_creates_one_once(self, database_file: str) -> None:
        code, first = invoke("keys", "ensure-admin")
        assert code == 0
        secret = next(word for word in first.split() if word.startswith("ct_"))
        assert "shown only this once" in first
        code, second = invoke("keys", "ensure-admin")
        assert code == 0
        assert "ct_" not in second
        with TestClient(create_app(Settings(database_url=database_file))) as api:
            assert api.get(KEYS, headers=bearer(secret)).status_code == 200

    def test_ensure_admin_replaces_a_revoked_admin(self, database_file: str) -> None:
        code, first = invoke("keys", "ensure-admin")
        key_id = re.search(r"key (\d+)", first).group(1)  # type: ignore[union-attr]
        invoke("keys", "revoke", key_id)
        code, again = invoke("keys", "ensure-admin")
        assert code == 0
        assert "ct_" in again
