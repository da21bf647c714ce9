"""Running Alembic from code (CLI, tests, readiness).

alembic.ini, migrations/ and seeds/ live at the top of the project, not inside the package, so
a non-editable install (the Docker image) finds them through CLAIMS_PROJECT_ROOT or the working
directory.
"""

import os
import re
from pathlib import Path

from alembic import command
from alembic.config import Config

SOURCE_ROOT = Path(__file__).resolve().parents[2]


def project_root() -> Path:
    """CLAIMS_PROJECT_ROOT if set, else the checkout (editable install), else the working
    directory (the Docker image's WORKDIR)."""
    configured = os.environ.get("CLAIMS_PROJECT_ROOT")
    candidates = [Path(configured)] if configured else [SOURCE_ROOT, Path.cwd()]
    for candidate in candidates:
        if (candidate / "migrations" / "env.py").is_file():
            return candidate.resolve()
    tried = ", ".join(str(candidate) for candidate in candidates)
    raise RuntimeError(f"migrations/ not found in {tried}; set CLAIMS_PROJECT_ROOT")


def alembic_config(database_url: str | None = None) -> Config:
    root = project_root()
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    if database_url is not None:
        # env.py reads this before falling back to settings; alembic.ini holds no URL.
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


# --- a least-privilege role for the server (PostgreSQL) ---------------------------------------

ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def app_role_grants(role: str) -> list[str]:
    """The statements that give ``role`` what the server needs and nothing more: rows of
    every table, but only SELECT and INSERT on ``revision`` and the transparency log's
    ``tlog_leaf`` and ``tlog_node`` (history is append-only) and
    SELECT on ``alembic_version``; USAGE on the sequences; no TRUNCATE, no ownership, so no
    DDL and no disabling of triggers. Run them as the role that runs the migrations, after
    each migration: they are idempotent, and the default privileges cover tables a later
    migration adds until then. docs/deploy.md lists them."""
    if not ROLE_NAME.fullmatch(role):
        raise ValueError(f"{role!r} is not a plain role name (letters, digits, _; ≤ 63)")
    quoted = f'"{role}"'
    return [
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"REVOKE CREATE ON SCHEMA public FROM {quoted}",
        # REVOKE ALL first, so a re-run also takes back what an earlier grant gave too much.
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"REVOKE UPDATE, DELETE ON revision, tlog_leaf, tlog_node FROM {quoted}",
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {quoted}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {quoted}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {quoted}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO {quoted}",
    ]


def migration_database_url() -> str:
    """The owner's URL: CLAIMS_MIGRATION_DATABASE_URL, else CLAIMS_DATABASE_URL."""
    from app.core.settings import get_settings

    settings = get_settings()
    return settings.migration_database_url or settings.database_url


def grant_app_role(role: str, database_url: str | None = None) -> list[str]:
    """Apply ``app_role_grants(role)`` in one transaction, connected as the migration role;
    returns the statements. PostgreSQL only: SQLite has no roles."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    statements = app_role_grants(role)
    url = database_url or migration_database_url()
    if make_url(url).get_backend_name() != "postgresql":
        raise ValueError("roles and grants exist only on PostgreSQL")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()
    return statements
