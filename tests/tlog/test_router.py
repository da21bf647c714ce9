"""The log over HTTP, on both backends: the checkpoint is a C2SP signed note (checked with
tests/tlog/rfc9162.py, not the app's parser), proofs verify against its root, bad parameters
get problem documents."""

from pathlib import Path

from starlette.testclient import TestClient

from app.auth.actor import Role
from tests.conftest import MakeClient
from tests.helpers import API, assert_problem, created
from tests.tlog import rfc9162


def claim_body(number: int) -> dict[str, object]:
    return {"statement": f"Statement number {number} about the front.", "language": "en"}


def checkpoint_of(client: TestClient) -> tuple[str, int, bytes]:
    response = client.get(f"{API}/history/checkpoint")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    key = client.get(f"{API}/history/checkpoint/key")
    assert key.status_code == 200
    return rfc9162.open_note(response.text, key.text)


class TestCheckpoint:
    def test_is_a_signed_note_of_the_current_tree(self, client: TestClient) -> None:
        first = [created(client, f"{API}/claims", claim_body(n)) for n in range(3)]
        origin, size, root = checkpoint_of(client)
        assert origin == "claimtracker/history"
        assert size == 3
        proofs = [
            client.get(f"{API}/history/proof", params={"revision_id": r}).json()
            for r in [
                client.get(f"{API}/claims/{c['id']}/history").json()["items"][0]["id"]
                for c in first
            ]
        ]
        for proof in proofs:
            leaf = bytes.fromhex(proof["leaf_hash"])
            path = [bytes.fromhex(node) for node in proof["audit_path"]]
            assert rfc9162.verify_inclusion(proof["leaf_index"], size, leaf, path, root)

    def test_the_key_line_is_a_note_verifier_key(self, client: TestClient) -> None:
        text = client.get(f"{API}/history/checkpoint/key").text
        assert text.endswith("\n")
        name, _, public = rfc9162.parse_verifier_key(text)
        assert name == "claimtracker/history"
        assert len(public) == 32

    def test_a_later_checkpoint_is_consistent_with_an_earlier_one(self, client: TestClient) -> None:
        created(client, f"{API}/claims", claim_body(0))
        _, first, first_root = checkpoint_of(client)
        for n in range(1, 6):
            created(client, f"{API}/claims", claim_body(n))
        _, second, second_root = checkpoint_of(client)
        answer = client.get(
            f"{API}/history/consistency", params={"first": first, "second": second}
        ).json()
        assert answer["first"] == first
        assert answer["second"] == second
        path = [bytes.fromhex(node) for node in answer["proof"]]
        assert rfc9162.verify_consistency(first, second, first_root, second_root, path)
        assert not rfc9162.verify_consistency(first, second, second_root, first_root, path)

    def test_a_reader_may_read_it(self, make_client: MakeClient, client: TestClient) -> None:
        created(client, f"{API}/claims", claim_body(0))
        assert make_client(Role.reader).get(f"{API}/history/checkpoint").status_code == 200

    def test_without_a_key_file_it_is_unavailable_and_says_why(
        self, make_client: MakeClient, tmp_path: Path
    ) -> None:
        client = make_client(Role.admin, checkpoint_key_file=str(tmp_path / "none.key"))
        for path in ("/history/checkpoint", "/history/checkpoint/key"):
            body = assert_problem(client.get(f"{API}{path}"), 503)
            assert "checkpoint-key create" in body["detail"]

    def test_the_private_key_is_never_in_an_answer(
        self, client: TestClient, checkpoint_key_file: str
    ) -> None:
        secret = Path(checkpoint_key_file).read_text().strip().split("+", 4)[4]
        created(client, f"{API}/claims", claim_body(0))
        for path in ("/history/checkpoint", "/history/checkpoint/key", "/history/verify"):
            assert secret not in client.get(f"{API}{path}").text


class TestProofParameters:
    def test_an_unknown_revision_is_not_found(self, client: TestClient) -> None:
        assert_problem(client.get(f"{API}/history/proof", params={"revision_id": 10**12}), 404)

    def test_a_tree_the_log_has_not_reached_is_not_found(self, client: TestClient) -> None:
        claim = created(client, f"{API}/claims", claim_body(0))
        revision = client.get(f"{API}/claims/{claim['id']}/history").json()["items"][0]["id"]
        response = client.get(
            f"{API}/history/proof", params={"revision_id": revision, "tree_size": 1000}
        )
        assert_problem(response, 404)

    def test_a_revision_after_the_tree_size_is_refused(self, client: TestClient) -> None:
        created(client, f"{API}/claims", claim_body(0))
        claim = created(client, f"{API}/claims", claim_body(1))
        revision = client.get(f"{API}/claims/{claim['id']}/history").json()["items"][0]["id"]
        response = client.get(
            f"{API}/history/proof", params={"revision_id": revision, "tree_size": 1}
        )
        body = assert_problem(response, 422)
        assert "not in a tree of 1" in body["detail"]

    def test_first_after_second_is_refused(self, client: TestClient) -> None:
        for n in range(3):
            created(client, f"{API}/claims", claim_body(n))
        response = client.get(f"{API}/history/consistency", params={"first": 3, "second": 2})
        assert_problem(response, 422)

    def test_malformed_parameters_are_validation_problems(self, client: TestClient) -> None:
        assert_problem(client.get(f"{API}/history/proof", params={"revision_id": "x"}), 422)
        assert_problem(client.get(f"{API}/history/proof"), 422)
        assert_problem(client.get(f"{API}/history/consistency", params={"first": 0}), 422)


class TestVerifyReportsTheCheckpoint:
    def test_the_report_carries_the_log_and_the_signed_checkpoint(self, client: TestClient) -> None:
        for n in range(2):
            created(client, f"{API}/claims", claim_body(n))
        report = client.get(f"{API}/history/verify").json()
        assert report["ok"] is True
        assert report["log"] == {
            "ok": True,
            "tree_size": 2,
            "pending": 0,
            "checkpoint_size": None,
            "problem": None,
        }
        key = client.get(f"{API}/history/checkpoint/key").text
        assert report["checkpoint"]["verifier_key"] == key.strip()
        _, size, root = rfc9162.open_note(report["checkpoint"]["signed_note"], key)
        assert size == report["checkpoint"]["tree_size"] == 2
        assert report["checkpoint"]["root_hash"] == __import__("base64").b64encode(root).decode()


class TestClaimReadsNameTheirLeaf:
    def test_leaf_index_true_names_the_revision_and_its_leaf(self, client: TestClient) -> None:
        created(client, f"{API}/claims", claim_body(0))
        claim = created(client, f"{API}/claims", claim_body(1))
        changed = client.patch(
            f"{API}/claims/{claim['id']}",
            json={"place": "Soledar"},
            headers={"If-Match": '"v1"'},
        )
        assert changed.status_code == 200, changed.text
        response = client.get(f"{API}/claims/{claim['id']}", params={"leaf_index": "true"})
        assert response.status_code == 200
        assert response.json()["version"] == 2
        history = client.get(f"{API}/claims/{claim['id']}/history").json()["items"]
        assert response.headers["Tlog-Revision-Id"] == str(history[1]["id"])
        leaf_index = int(response.headers["Tlog-Leaf-Index"])
        assert leaf_index == 2
        _, size, root = checkpoint_of(client)
        proof = client.get(
            f"{API}/history/proof", params={"revision_id": history[1]["id"], "tree_size": size}
        ).json()
        assert proof["leaf_index"] == leaf_index
        leaf = rfc9162.leaf(bytes.fromhex(history[1]["hash"]))
        path = [bytes.fromhex(node) for node in proof["audit_path"]]
        assert rfc9162.verify_inclusion(leaf_index, size, leaf, path, root)

    def test_a_plain_read_carries_no_leaf_headers(self, client: TestClient) -> None:
        claim = created(client, f"{API}/claims", claim_body(0))
        response = client.get(f"{API}/claims/{claim['id']}")
        assert response.status_code == 200
        assert "Tlog-Leaf-Index" not in response.headers

    def test_not_with_as_of(self, client: TestClient) -> None:
        claim = created(client, f"{API}/claims", claim_body(0))
        response = client.get(
            f"{API}/claims/{claim['id']}", params={"leaf_index": "true", "as_of": "1"}
        )
        assert_problem(response, 422)

    def test_a_missing_claim_is_still_not_found(self, client: TestClient) -> None:
        assert_problem(client.get(f"{API}/claims/999999", params={"leaf_index": "true"}), 404)
