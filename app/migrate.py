"""Running Alembic from code (CLI, tests, readiness).

alembic.ini, migrations/ and seeds/ live at the top of the project, not inside the package, so
a non-editable install (the Docker image) finds them through CLAIMS_PROJECT_ROOT or the working
directory.
"""

import os
from pathlib import Path

from alembic import command
from alembic.config import Config

SOURCE_ROOT = Path(__file__).resolve().parent.parent


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
