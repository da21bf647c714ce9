# Two commands matter: `make run` (set up and serve) and `make test` (set up and pass the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The suite runs on SQLite always and on PostgreSQL when this URL is set (empty it to skip).
CLAIMS_TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export CLAIMS_TEST_PG_URL

.PHONY: install run test soak lint format bench fuzz lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The public fact-check pages are on for `make run` (http://127.0.0.1:8000/); off by default
# elsewhere. CLAIMS_PUBLIC_PAGES=false make run serves the API alone.
CLAIMS_PUBLIC_PAGES ?= true
run: install
	$(BIN)/claimtracker migrate
	$(BIN)/claimtracker seed --if-empty
	$(BIN)/claimtracker checkpoint-key create --if-missing
	$(BIN)/claimtracker keys ensure-admin
	CLAIMS_PUBLIC_PAGES=$(CLAIMS_PUBLIC_PAGES) $(BIN)/claimtracker serve

# vulture: dead code (pyproject.toml [tool.vulture]); lint-imports: the layering
# ([tool.importlinter]: services import no web framework, models no service, the client nothing
# of the server).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app
	$(BIN)/vulture
	$(BIN)/lint-imports --no-logo
	$(BIN)/hadolint Dockerfile

# One worker per CPU (pytest-xdist); the tests that touch PostgreSQL share one of them
# (tests/conftest.py says why).
test: lint
	$(BIN)/pytest -m "not soak" -n auto --dist loadgroup --cov --cov-report=term:skip-covered --cov-fail-under=85

# The longest tests (marked soak): several server processes on one database, four workers
# behind PgBouncer, the Dockerfile's commands replayed in a fresh venv. CI runs them too.
soak: install
	$(BIN)/pytest -m soak

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench.run

# schemathesis's CLI, every phase and check, against real servers on both backends
# (make test runs the in-process contract test with fewer examples). FUZZ_EXAMPLES=500 for more.
FUZZ_EXAMPLES ?= 100
fuzz: install
	$(BIN)/python -m tests.contract.fuzz --max-examples $(FUZZ_EXAMPLES)

# Refresh the pinned versions after changing pyproject.toml.
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/python -m pip install --quiet --upgrade pip
	.lockvenv/bin/python -m pip install --quiet -e '.[dev]'
	.lockvenv/bin/python -m pip freeze --exclude-editable > constraints.txt
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) schemathesis-report .schemathesis .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .coverage claims.db claims.db-wal claims.db-shm
