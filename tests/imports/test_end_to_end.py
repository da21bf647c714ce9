"""Against real servers: the LIAR import through the CLI, resume after a kill, the NDJSON round
trip and ClaimReview in and out; bad files refused before anything is sent."""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from pyld import jsonld
from sqlalchemy import text
from typer.testing import CliRunner

from app.cli import cli
from app.client import ClaimTrackerClient
from app.core.db import Database, make_engine
from app.schema.migrate import upgrade
from app.seeding.seeds import load_seeds
from tests.conftest import drop_pg_database, fresh_database_url, new_key_in
from tests.imports import liar_rows
from tests.servers import ROOT, Server, running_server
from tests.shared_data import shared_path

MAPPING = ROOT / "docs" / "examples" / "liar.mapping.toml"
pytestmark = pytest.mark.slow


@pytest.fixture
def liar_args() -> tuple[str, ...]:
    """`claimtracker import` arguments for LIAR's valid.tsv (shared data, 1,284 rows)."""
    liar = shared_path("datasets", "liar", "valid.tsv")
    return (str(liar), "--format", "csv", "--mapping", str(MAPPING))


@pytest.fixture
def server(migrated_database_url: str) -> Iterator[Server]:
    with running_server(
        migrated_database_url, api_key=new_key_in(migrated_database_url, "editor")
    ) as server:
        yield server


def scalar(url: str, sql: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def cli_import(server: Server, *args: str) -> "subprocess.Popen[bytes]":
    command = [sys.executable, "-m", "app.cli", "import", *args]
    command += ["--url", server.base_url, "--token", str(server.api_key)]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


class TestLiarImport:
    def test_every_row_lands_and_a_second_run_changes_nothing(
        self, liar_args: tuple[str, ...], server: Server, migrated_database_url: str
    ) -> None:
        first = cli_import(server, *liar_args)
        out, err = first.communicate(timeout=240)
        assert first.returncode == 0, err.decode()
        assert scalar(migrated_database_url, "SELECT count(*) FROM claim") == 1284
        assert (
            scalar(migrated_database_url, "SELECT count(*) FROM claim WHERE status = 'unverified'")
            == 0
        )
        revisions = scalar(migrated_database_url, "SELECT count(*) FROM revision")
        second = cli_import(server, *liar_args)
        out, err = second.communicate(timeout=240)
        assert second.returncode == 0, err.decode()
        assert "1,284" in out.decode()  # all unchanged
        assert scalar(migrated_database_url, "SELECT count(*) FROM revision") == revisions

    def test_a_killed_import_resumes_to_the_same_state(
        self, liar_args: tuple[str, ...], server: Server, migrated_database_url: str
    ) -> None:
        # Small batches, so the first one lands long before the last.
        process = cli_import(server, *liar_args, "--batch-size", "10")
        try:
            deadline = time.monotonic() + 120
            while scalar(migrated_database_url, "SELECT count(*) FROM claim") == 0:
                assert time.monotonic() < deadline
                assert process.poll() is None, process.communicate()[1].decode()
                time.sleep(0.01)
        finally:
            # Also when an assert fails: its unclosed pipes would fail a later test
            # (ResourceWarning is an error here).
            process.kill()
            process.communicate()
        landed = scalar(migrated_database_url, "SELECT count(*) FROM claim")
        assert 0 < landed < 1284
        rerun = cli_import(server, *liar_args, "--batch-size", "100")
        _, err = rerun.communicate(timeout=240)
        assert rerun.returncode == 0, err.decode()
        assert scalar(migrated_database_url, "SELECT count(*) FROM claim") == 1284
        assert (
            scalar(migrated_database_url, "SELECT count(DISTINCT external_id) FROM claim") == 1284
        )
        # Every claim created once, with its evidence and verdict in its first revision.
        assert scalar(migrated_database_url, "SELECT max(version) FROM claim") == 1


def claims_of(api: ClaimTrackerClient) -> dict[str, dict]:
    lines = b"".join(api.export("ndjson")).splitlines()
    return {r["external_id"]: r for r in map(orjson.loads, lines)}


class TestRoundTrip:
    def test_ndjson_export_imports_into_an_empty_database_equal(
        self, backend: str, tmp_path: Path, migrated_database_url: str
    ) -> None:
        seeded = fresh_database_url(backend, tmp_path)
        upgrade(seeded)
        engine = make_engine(seeded)
        with Database(engine).session(write=True) as session:
            load_seeds(session)
        engine.dispose()
        try:
            with (
                running_server(seeded, api_key=new_key_in(seeded, "editor")) as source,
                running_server(
                    migrated_database_url, api_key=new_key_in(migrated_database_url, "editor")
                ) as target,
                ClaimTrackerClient(source.base_url, source.api_key) as src,
                ClaimTrackerClient(target.base_url, target.api_key) as dst,
            ):
                exported = claims_of(src)
                assert exported
                summary = dst.import_records(exported.values())
                assert summary["created"] == len(exported)
                assert summary["failed"] == 0
                assert claims_of(dst) == exported
        finally:
            if backend == "postgresql":
                drop_pg_database(seeded)

    def test_claimreview_is_json_ld_and_imports_back_with_the_ratings(
        self, server: Server, migrated_database_url: str, backend: str, tmp_path: Path
    ) -> None:
        with ClaimTrackerClient(server.base_url, server.api_key) as api:
            records = [
                {
                    "external_id": f"cr:{status}",
                    "statement": f"A claim rated {status}.",
                    "speaker": "Jane Roe",
                    "status": status,
                    "verdict": "Checked.",
                    "evidence": [{"title": "E", "url": "https://example.org/e"}],
                }
                for status in (
                    "confirmed",
                    "mostly_true",
                    "mixed",
                    "misleading",
                    "mostly_false",
                    "false",
                    "unproven",
                    "not_checkable",
                )
            ]
            api.import_records(records)
            feed = orjson.loads(b"".join(api.export("claimreview")))
        expanded = jsonld.expand(feed, {"documentLoader": _schema_org_loader})
        elements = expanded[0]["http://schema.org/dataFeedElement"]
        assert len(elements) == 8
        for element in elements:
            assert "http://schema.org/claimReviewed" in element
            assert "http://schema.org/reviewRating" in element
            assert "http://schema.org/itemReviewed" in element
            assert "http://schema.org/author" in element
        other = fresh_database_url(backend, tmp_path)
        upgrade(other)
        try:
            with (
                running_server(other, api_key=new_key_in(other, "editor")) as target,
                ClaimTrackerClient(target.base_url, target.api_key) as dst,
            ):
                body = orjson.dumps(feed)
                response = dst.request(
                    "POST",
                    "/api/v1/imports",
                    content=body,
                    params={"format": "claimreview"},
                    headers={"Content-Type": "application/ld+json"},
                )
                assert response.json()["created"] == 8
                statuses = {c["external_id"]: c["status"] for c in dst.iter_claims()}
            assert statuses == {f"cr:{r['status']}": r["status"] for r in records}
        finally:
            if backend == "postgresql":
                drop_pg_database(other)


def _schema_org_loader(url: str, options: object = None) -> dict:
    # No network in tests: schema.org's context, reduced to what matters (its vocabulary).
    return {
        "contextUrl": None,
        "documentUrl": url,
        "document": {"@context": {"@vocab": "http://schema.org/"}},
    }


class TestBadFiles:
    def run(self, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(
            cli, ["import", *args, "--url", "http://127.0.0.1:9", "--token", "ct_x"]
        )
        return result.exit_code, result.output

    def test_a_wrong_delimiter_names_the_row(self, tmp_path: Path) -> None:
        liar = liar_rows.write_liar(tmp_path / "liar.tsv", liar_rows.plain_rows(3))
        mapping = tmp_path / "m.toml"
        mapping.write_text(MAPPING.read_text().replace('delimiter = "\\t"', 'delimiter = ","'))
        code, output = self.run(str(liar), "--format", "csv", "--mapping", str(mapping))
        assert code == 2
        assert "row 1:" in output
        assert "delimiter" in output
        assert "nothing was imported" in output

    def test_a_missing_mapped_column_is_named(self, tmp_path: Path) -> None:
        data = tmp_path / "d.csv"
        data.write_text("id,text\n1,hello\n")
        mapping = tmp_path / "m.toml"
        mapping.write_text('[columns]\nexternal_id = "id"\nstatement = "claim"\n')
        code, output = self.run(str(data), "--format", "csv", "--mapping", str(mapping))
        assert code == 2
        assert "row 1:" in output
        assert "'claim'" in output

    def test_an_unknown_status_label_names_the_row(self, tmp_path: Path) -> None:
        rows = [*liar_rows.plain_rows(2), liar_rows.UNKNOWN_LABEL]
        data = liar_rows.write_liar(tmp_path / "d.tsv", rows)
        code, output = self.run(str(data), "--format", "csv", "--mapping", str(MAPPING))
        assert code == 2
        assert "row 3:" in output
        assert "sorta-true" in output

    def test_a_50_mb_line_is_refused(self, tmp_path: Path) -> None:
        data = tmp_path / "d.ndjson"
        with data.open("wb") as handle:
            handle.write(orjson.dumps({"external_id": "a", "statement": "fine"}) + b"\n")
            handle.write(b'{"external_id": "b", "statement": "' + b"x" * 50_000_000 + b'"}\n')
        code, output = self.run(str(data), "--format", "ndjson")
        assert code == 2
        assert "row 2:" in output
        assert "line limit" in output
