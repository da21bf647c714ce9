"""The OpenAPI document is the truth: schemathesis runs every check against the app in process.

Every operation, every check (schemathesis.toml says what this API answers where the defaults
cannot know), as an admin and as a reader, on each backend, in one rolled-back database state
per run. Deterministic: seed 7, derandomized. `make fuzz` runs the same with more examples.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

import tests.contract.hooks  # noqa: F401  (registers the project's own check)
from app.auth.actor import Role
from app.core.db import Database, make_engine
from app.core.settings import Settings
from app.main import create_app
from app.schema.migrate import upgrade
from tests.conftest import create_key, drop_pg_database, fresh_database_url

CONFIG_PATH = Path(__file__).resolve().parents[2] / "schemathesis.toml"
# Enough to cover every status an operation documents on both backends in about a minute.
MAX_EXAMPLES = int(os.environ.get("CLAIMS_CONTRACT_EXAMPLES", "10"))


@dataclass(frozen=True)
class Found:
    operation: str
    title: str
    message: str
    sample: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.title}\n  {self.message}\n  {self.sample}"


ALL_PHASES = ["examples", "coverage", "fuzzing", "stateful"]


def run_schemathesis(
    app: Any, headers: dict[str, str], *, max_examples: int, phases: list[str] = ALL_PHASES
) -> tuple[list[Found], int, int]:
    """Every check in ``phases`` against ``app``: the unique failures, operations and cases."""
    config = SchemathesisConfig.from_path(CONFIG_PATH)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    schema.config.update(headers=headers, workers=1)
    schema.config.generation.update(max_examples=max_examples, deterministic=True)
    schema.config.seed = 7
    schema.config.phases.update(phases=phases)
    found: dict[tuple[str, str, str], Found] = {}
    operations: set[str] = set()
    cases = 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.FatalError):
            raise event.exception
        if isinstance(event, events.NonFatalError):
            # In process, an exception the app did not turn into a response (a 500) lands here.
            message = event.info.format().strip().splitlines()
            detail = [line for line in message if "parameters:" in line or "Error" in line]
            error = Found(event.label, "Error", "\n  ".join(detail[:4] or message[:4]), "")
            found.setdefault((event.label, "Error", message[0] if message else ""), error)
            continue
        if not isinstance(event, events.ScenarioFinished):
            continue
        operations.add(event.recorder.label)
        cases += len(event.recorder.cases)
        if event.status is not Status.FAILURE:
            continue
        for checks in event.recorder.checks.values():
            for check in checks:
                info = check.failure_info
                if check.status is Status.FAILURE and info is not None:
                    failure = info.failure
                    key = (str(failure.operation), failure.title, failure._unique_key)
                    found.setdefault(
                        key,
                        Found(
                            str(failure.operation),
                            failure.title,
                            failure.message,
                            info.code_sample,
                        ),
                    )
    return list(found.values()), len(operations), cases


class TestTheDocument:
    def test_is_a_valid_openapi_document(self, settings: Settings, db: Database) -> None:
        validate(create_app(settings, database=db).openapi())

    def test_if_match_is_required_where_the_app_requires_it(
        self, settings: Settings, db: Database
    ) -> None:
        def if_match(app_settings: Settings) -> dict[str, Any]:
            document = create_app(app_settings, database=db).openapi()
            patch = document["paths"]["/api/v1/claims/{entity_id}"]["patch"]
            [parameter] = [p for p in patch["parameters"] if p.get("name") == "if-match"]
            return {"required": parameter["required"], "statuses": set(patch["responses"])}

        strict = if_match(settings)
        relaxed = if_match(settings.model_copy(update={"require_if_match": False}))
        assert strict["required"]
        assert "428" in strict["statuses"]
        assert not relaxed["required"]
        assert "428" not in relaxed["statuses"]

    def test_errors_are_declared_as_problem_json(self, settings: Settings, db: Database) -> None:
        document = create_app(settings, database=db).openapi()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                for status, response in operation["responses"].items():
                    if status.startswith("4"):
                        assert list(response["content"]) == ["application/problem+json"], (
                            method,
                            path,
                            status,
                        )
        assert "HTTPValidationError" not in document["components"]["schemas"]


@pytest.fixture
def empty_database(backend: str, tmp_path: Path) -> Iterator[Database]:
    """A migrated database of its own: ids start at 1 in every run, so the seeded cases meet
    the same rows whatever ran before (PostgreSQL sequences do not roll back with a test)."""
    url = fresh_database_url(backend, tmp_path)
    upgrade(url)
    engine = make_engine(url, Settings(database_url=url, pool_size=5))
    try:
        yield Database(engine)
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_pg_database(url)


# The coverage phase (about 2,900 boundary and malformed cases) runs as the admin, who gets past
# every role check to validation; a reader's writes stop at 403, so fuzzing covers them.
@pytest.mark.parametrize(
    ("role", "phases"),
    [(Role.admin, ALL_PHASES), (Role.reader, ["examples", "fuzzing", "stateful"])],
    ids=["admin", "reader"],
)
def test_schemathesis_finds_nothing(
    empty_database: Database, settings: Settings, role: Role, phases: list[str]
) -> None:
    app = create_app(settings, database=empty_database)
    headers = {"Authorization": f"Bearer {create_key(empty_database, role)}"}
    found, operations, cases = run_schemathesis(
        app, headers, max_examples=MAX_EXAMPLES, phases=phases
    )
    print(f"schemathesis as {role}: {operations} operations, {cases} cases, {len(found)} failures")
    assert not found, "\n\n".join(map(str, found))
