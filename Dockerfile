# Claim tracker API image. Build: docker build -t claimtracker .  Run and deploy: docs/deploy.md.
# tests/test_dockerfile.py checks this file and runs its install and CMD in a fresh venv.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The app runs as an unprivileged user; it may write only to /data (the SQLite volume).
RUN groupadd --system --gid 10001 claims \
    && useradd --system --no-log-init --uid 10001 --gid claims \
        --home-dir /nonexistent --shell /usr/sbin/nologin claims \
    && mkdir /data \
    && chown claims:claims /data

WORKDIR /srv/claimtracker

# The project and its dependencies at the locked versions; not editable, no dev extras.
# README.md too: pyproject.toml names it as the readme.
COPY pyproject.toml constraints.txt README.md ./
COPY app ./app
RUN pip install --no-cache-dir -c constraints.txt . \
    && rm -rf build ./*.egg-info

COPY alembic.ini ./
COPY migrations ./migrations
COPY seeds ./seeds

# alembic.ini, migrations/ and seeds/ live here, outside the installed package (app/schema/migrate.py).
ENV CLAIMS_PROJECT_ROOT=/srv/claimtracker

# SQLite on the volume by default; production sets a postgresql+psycopg:// URL instead.
ENV CLAIMS_DATABASE_URL=sqlite:////data/claims.db \
    CLAIMS_HOST=0.0.0.0 \
    CLAIMS_PORT=8000
VOLUME ["/data"]

# Numeric, so that runtimes (e.g. Kubernetes runAsNonRoot) can tell it is not root.
USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CLAIMS_PORT', '8000') + '/healthz', timeout=4)"]

# Migrate (a no-op at head), then let uvicorn replace the shell as PID 1 so it gets SIGTERM.
CMD ["sh", "-c", "claimtracker migrate && exec claimtracker serve"]
