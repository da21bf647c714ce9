"""The data that never enters the repository (LIAR, the seed articles): where tests find it.

It lives in a ``shared/`` folder beside the checkout, or wherever ``CLAIMS_SHARED_DIR`` says
(a relative path is taken from the project root). A fresh clone has no such folder: tests that
need it skip, naming the path they looked for. When ``CLAIMS_SHARED_DIR`` is set (CI sets it),
the data was promised, so a missing file fails the test instead of skipping it silently.
"""

import os
from pathlib import Path

import pytest

ENV = "CLAIMS_SHARED_DIR"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    configured = os.environ.get(ENV)
    if configured:
        return (PROJECT_ROOT / configured).resolve()  # an absolute path replaces the root
    return (PROJECT_ROOT.parent / "shared").resolve()


def shared_path(*parts: str) -> Path:
    """``shared/<parts>``; skips the test when it is missing, or fails it if ``ENV`` is set."""
    path = shared_dir().joinpath(*parts)
    if path.exists():
        return path
    if os.environ.get(ENV):
        pytest.fail(f"{path} is missing, but {ENV}={os.environ[ENV]} says the shared data is there")
    pytest.skip(f"needs {path} (the shared data; a fresh clone has none, see {ENV})")
