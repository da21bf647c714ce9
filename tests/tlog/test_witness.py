"""The witness (``claimtracker checkpoint fetch``'s code) against the real app in process, on
both backends: it keeps checkpoints that extend each other and refuses the rest."""

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.client import ClaimTrackerClient
from app.client.witness import WitnessRefused, fetch_checkpoint
from app.tlog.signing import SigningKey, create_key_file, load_key_file
from app.vocabulary.tlog import Checkpoint
from tests.conftest import MakeClient
from tests.helpers import API, created
from tests.tlog import rfc9162


def api_for(client: TestClient) -> ClaimTrackerClient:
    return ClaimTrackerClient(
        "http://testserver",
        client.headers["Authorization"].removeprefix("Bearer "),
        max_retries=0,
        transport=client._transport,
    )


def add_claims(client: TestClient, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        created(client, f"{API}/claims", {"statement": f"Witnessed claim {n}.", "language": "en"})


class TestFetch:
    def test_keeps_the_first_checkpoint_and_then_each_that_extends_it(
        self, client: TestClient, tmp_path: Path
    ) -> None:
        add_claims(client, 2)
        with api_for(client) as api:
            first = fetch_checkpoint(api, tmp_path)
            assert first.first_use
            assert first.previous is None
            add_claims(client, 3, start=2)
            second = fetch_checkpoint(api, tmp_path)
        assert not second.first_use
        assert second.previous == first.checkpoint
        assert (first.checkpoint.size, second.checkpoint.size) == (2, 5)
        kept_key = (tmp_path / "verifier-key").read_text()
        latest = (tmp_path / "checkpoint").read_text()
        assert rfc9162.open_note(latest, kept_key)[1] == 5
        assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["2", "5"]

    def test_refuses_a_checkpoint_another_key_signed(
        self, make_client: MakeClient, client: TestClient, tmp_path: Path
    ) -> None:
        add_claims(client, 1)
        with api_for(client) as api:
            fetch_checkpoint(api, tmp_path / "witness")
        other_key = tmp_path / "other.key"
        create_key_file(other_key, "claimtracker/history")
        impostor = make_client(checkpoint_key_file=str(other_key))
        with api_for(impostor) as api, pytest.raises(WitnessRefused, match="no valid signature"):
            fetch_checkpoint(api, tmp_path / "witness")
        assert sorted(p.name for p in (tmp_path / "witness" / "checkpoints").iterdir()) == ["1"]

    def test_refuses_a_fork_of_the_kept_tree(
        self, client: TestClient, tmp_path: Path, checkpoint_key_file: str
    ) -> None:
        add_claims(client, 3)
        with api_for(client) as api:
            kept = fetch_checkpoint(api, tmp_path).checkpoint
        forged = Checkpoint(kept.origin, kept.size, bytes(32))  # same size, another tree
        key: SigningKey = load_key_file(Path(checkpoint_key_file).resolve())
        (tmp_path / "checkpoint").write_text(key.sign_note(forged.body()))
        with api_for(client) as api, pytest.raises(WitnessRefused, match="fork"):
            fetch_checkpoint(api, tmp_path)

    def test_refuses_a_tree_that_does_not_extend_the_kept_one(
        self, client: TestClient, tmp_path: Path, checkpoint_key_file: str
    ) -> None:
        add_claims(client, 3)
        key: SigningKey = load_key_file(Path(checkpoint_key_file).resolve())
        with api_for(client) as api:
            kept = fetch_checkpoint(api, tmp_path).checkpoint
            forged = Checkpoint(kept.origin, 2, bytes(32))  # a smaller tree the log never had
            (tmp_path / "checkpoint").write_text(key.sign_note(forged.body()))
            with pytest.raises(WitnessRefused, match="rewrote its history"):
                fetch_checkpoint(api, tmp_path)
            bigger = Checkpoint(kept.origin, 99, bytes(32))
            (tmp_path / "checkpoint").write_text(key.sign_note(bigger.body()))
            with pytest.raises(WitnessRefused, match="shrank"):
                fetch_checkpoint(api, tmp_path)
