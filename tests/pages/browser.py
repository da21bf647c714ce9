"""What the browser tests share with the screenshot script: Debian's Chromium (never a browser
Playwright downloads), a seeded database, and a real server with the public pages on.

``/usr/bin/chromium`` missing: the browser tests skip, naming it; under ``CI=true`` they fail
instead (CI installs the package, .ci/run), the pattern of tests/shared_data.py.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.core.db import Database, make_engine
from app.seeding.seeds import load_seeds
from tests.conftest import new_key_in
from tests.servers import Server, running_server

CHROMIUM = Path("/usr/bin/chromium")


def chromium_path() -> Path:
    """Debian's Chromium; skips the test when it is missing, or fails it under CI=true."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing, but CI=true: .ci/run installs the chromium package")
    pytest.skip(f"needs {CHROMIUM} (Debian's chromium package: apt-get install chromium)")


def seed(database_url: str) -> None:
    """The repository's seeds, through the services (with their history), as `make run` does."""
    engine = make_engine(database_url)
    try:
        with Database(engine).session(write=True) as session:
            load_seeds(session)
    finally:
        engine.dispose()


@contextmanager
def pages_server(database_url: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """uvicorn on a migrated, seeded database, with the public pages on and an editor's key
    (``env``: more settings)."""
    seed(database_url)
    key = new_key_in(database_url, "editor", "browser test editor")
    settings = {"CLAIMS_PUBLIC_PAGES": "true", **(env or {})}
    with running_server(database_url, env=settings, api_key=key) as server:
        yield server
