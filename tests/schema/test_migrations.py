"""Migrations on each backend, in a fresh database: up, no drift, down, up again."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from app.core.db import make_engine
from app.schema.migrate import alembic_config, downgrade, upgrade
from tests.conftest import BACKENDS, drop_pg_database, fresh_database_url

APPEND_ONLY_GUARDS = "5e1f0a7c2b94"  # 2026-11-30_append_only_guards.py


def parent_of(revision: str) -> str:
    parent = ScriptDirectory.from_config(alembic_config()).get_revision(revision).down_revision
    assert isinstance(parent, str)
    return parent


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(str(request.param), tmp_path)
    yield url
    if request.param == "postgresql":
        drop_pg_database(url)


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


class TestMigrations:
    def test_upgrade_check_downgrade_upgrade(self, empty_database: str) -> None:
        upgrade(empty_database)
        assert {"claim", "revision", "speaker", "outlet", "source"} <= table_names(empty_database)
        command.check(alembic_config(empty_database))  # raises on any drift from the models
        downgrade(empty_database)
        assert table_names(empty_database) <= {"alembic_version"}
        upgrade(empty_database)
        command.check(alembic_config(empty_database))

    def test_migration_files_are_dated(self) -> None:
        versions = Path(__file__).resolve().parents[2] / "migrations" / "versions"
        names = [path.name for path in versions.glob("*.py")]
        assert names
        assert all(name[:4].isdigit() and name[4] == "-" for name in names)


def revision_guards(url: str) -> set[str]:
    """The revision table's guard triggers; on PostgreSQL, those that fire ALWAYS."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                sql = (
                    "SELECT name FROM sqlite_master "
                    "WHERE type = 'trigger' AND tbl_name = 'revision'"
                )
            else:
                sql = (
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'revision'::regclass "
                    "AND tgenabled = 'A'"
                )
            return {row[0] for row in conn.execute(text(sql))}
    finally:
        engine.dispose()


class TestAppendOnlyGuardsMigration:
    def test_the_guards_come_with_the_migration_and_go_with_its_downgrade(
        self, empty_database: str
    ) -> None:
        upgrade(empty_database)
        sqlite = empty_database.startswith("sqlite")
        added = (
            {"revision_no_overwrite", "revision_positive_id"}
            if sqlite
            else {"revision_append_only", "revision_no_truncate"}
        )
        assert added <= revision_guards(empty_database)
        downgrade(empty_database, parent_of(APPEND_ONLY_GUARDS))
        assert not added & revision_guards(empty_database)
        upgrade(empty_database)
        assert added <= revision_guards(empty_database)
