"""Alembic environment: the URL comes from settings (or the caller), the tables from app.tables."""

from typing import Any

from alembic import context
from sqlalchemy import Connection

from app.core.db import make_engine
from app.core.settings import get_settings
from app.tables import metadata

config = context.config

# Objects that live only in the database, made by hand in migrations: full-text indexes (the
# claims' search, the similar claims' word and trigram search), and the change feed's
# PostgreSQL-only index.
DATABASE_ONLY = {
    "claim_fts",
    "search_vector",
    "ix_claim_search_vector",
    "ix_revision_feed",
    "ix_claim_text_words",
    "ix_claim_text_trigram",
    "search_words",
}
DATABASE_ONLY_PREFIXES = ("claim_fts", "claim_text_fts", "claim_text_trigram")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if name is None:
        return True
    return not (name in DATABASE_ONLY or name.startswith(DATABASE_ONLY_PREFIXES))


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    return include_name(name, type_, None)


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    settings = get_settings()
    # The schema's owner migrates; the server's own role may only read and write rows.
    url = (
        config.attributes.get("database_url")
        or settings.migration_database_url
        or settings.database_url
    )
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run against a database.")
run_migrations_online()
