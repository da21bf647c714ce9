"""The PostgreSQL backup drill of docs/operations.md, run exactly as written: the block between
its ``pg-drill`` markers, in a shell, against two scratch databases on the real PostgreSQL. The
README shows the same commands."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.core.settings import get_settings
from tests.conftest import PG_URL, create_pg_database, drop_pg_database
from tests.helpers import invoke
from tests.servers import ROOT

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set CLAIMS_TEST_PG_URL"),
]

OPERATIONS = ROOT / "docs" / "operations.md"
README = ROOT / "README.md"
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))  # Debian keeps them off the PATH


def documented_drill() -> str:
    """The shell block between ``<!-- pg-drill: begin -->`` and ``<!-- pg-drill: end -->``."""
    match = re.search(
        r"<!-- pg-drill: begin -->\s*```sh\n(.*?)```\s*<!-- pg-drill: end -->",
        OPERATIONS.read_text(encoding="utf-8"),
        re.DOTALL,
    )
    assert match, "docs/operations.md lost its pg-drill block"
    return match.group(1)


def libpq(url: str) -> str:
    """postgresql+psycopg://… as pg_dump writes it: postgresql://…"""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture
def scratch() -> Iterator[tuple[str, str]]:
    """Two new databases: the source (migrated, seeded) and an empty target."""
    source, target = create_pg_database("claims_drill_src"), create_pg_database("claims_drill")
    try:
        yield source, target
    finally:
        drop_pg_database(source)
        drop_pg_database(target)


def test_the_documented_commands_restore_a_database_that_verifies(
    scratch: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = scratch
    monkeypatch.setenv("CLAIMS_DATABASE_URL", source)
    get_settings.cache_clear()
    try:
        assert invoke("migrate")[0] == 0
        assert invoke("seed")[0] == 0
        code, verified = invoke("verify-history")
    finally:
        get_settings.cache_clear()
    assert code == 0, verified
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLAIMS_")}
    env.update(
        SOURCE=libpq(source),
        TARGET=libpq(target),
        DUMP=str(tmp_path / "claims.dump"),
        # claimtracker from this checkout's environment, pg_dump from the PostgreSQL install
        PATH=os.pathsep.join([str(Path(sys.executable).parent), *map(str, PG_BIN), env["PATH"]]),
    )
    done = subprocess.run(
        ["bash", "-euc", documented_drill()],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == verified  # the same entities and revisions as the source
    assert done.stdout.startswith("history intact:")
    assert count(source, "claim") > 0
    for table in ("claim", "revision", "speaker", "outlet", "evidence"):
        assert count(target, table) == count(source, table), table


def test_the_readme_shows_the_same_commands() -> None:
    readme = README.read_text(encoding="utf-8")
    commands = [line for line in documented_drill().splitlines() if not line.startswith("#")]
    assert len(commands) == 3
    for command in commands:
        assert command in readme
