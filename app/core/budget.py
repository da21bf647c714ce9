"""The connection budget: how many PostgreSQL connections this service may hold, and how one
process divides its share between the synchronous engine's pool and the async read pool.

The budget is for the whole service (every worker process); each process takes an equal share.
Unset, it is derived once at start-up from what the server allows (``max_connections`` less
the reserved slots and what other clients hold now), with a margin, and logged.
"""

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from app.core.logs import get_logger

log = get_logger("app.db")

# What the budget leaves free of the connections the server has spare at start-up: for psql
# sessions, migrations, a second deploy starting before the first one stops, other clients.
MARGIN = 0.25
# Assumed when the server cannot be asked at start-up (PostgreSQL's default max_connections).
FALLBACK_MAX_CONNECTIONS = 100


@dataclass(frozen=True, slots=True)
class ServerConnections:
    """What a PostgreSQL server allows and what others hold of it, read at one moment."""

    max_connections: int
    reserved: int  # superuser_reserved_connections + reserved_connections (PostgreSQL 16+)
    held_by_others: int

    @property
    def spare(self) -> int:
        return max(0, self.max_connections - self.reserved - self.held_by_others)


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """One process's share: the engine's pool and overflow, the async read pool, and the
    connection that LISTENs for new revisions (the change stream's wake-ups)."""

    sync_pool_size: int
    sync_max_overflow: int
    async_pool_size: int
    listen_connections: int = 0

    @property
    def total(self) -> int:
        return (
            self.sync_pool_size
            + self.sync_max_overflow
            + self.async_pool_size
            + self.listen_connections
        )


# The least one process can work with: one connection for writes, one for async reads, one
# that listens for the change stream.
MIN_PER_PROCESS = 3


def libpq_url(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as a libpq connection string, its query
    options (``?options=-c lock_timeout=200``, ``sslmode``...) included as SQLAlchemy passes
    them to psycopg (rendered back as a URL, a space would arrive as ``+``)."""
    parsed = make_url(url)
    options: dict[str, Any] = parsed.translate_connect_args(username="user", database="dbname")
    options.update(parsed.query)
    return make_conninfo("", **options)


def read_server_connections(url: str, *, timeout_seconds: int = 5) -> ServerConnections:
    """Ask the server (one short connection, not counted among the others)."""
    with psycopg.connect(libpq_url(url), connect_timeout=timeout_seconds, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int,"
            " current_setting('superuser_reserved_connections')::int"
            " + coalesce(current_setting('reserved_connections', true)::int, 0),"
            " (SELECT count(*) FROM pg_stat_activity"
            "   WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())::int"
        ).fetchone()
    assert row is not None
    return ServerConnections(max_connections=row[0], reserved=row[1], held_by_others=row[2])


def default_budget(server: ServerConnections) -> int:
    """What the service takes by default: the spare connections less the margin."""
    return int(server.spare * (1 - MARGIN))


def derive_budget(url: str, *, workers: int) -> int:
    """The default budget for ``workers`` processes, logged with the numbers it came from."""
    try:
        server = read_server_connections(url)
    except psycopg.Error as exc:
        server = ServerConnections(FALLBACK_MAX_CONNECTIONS, 3, 0)
        log.warning("max_connections_unreadable", error=str(exc), assumed=FALLBACK_MAX_CONNECTIONS)
    budget = default_budget(server)
    if budget < MIN_PER_PROCESS * workers:
        log.warning(
            "connections_spare_too_few",
            spare=server.spare,
            max_connections=server.max_connections,
            reserved=server.reserved,
            held_by_others=server.held_by_others,
            workers=workers,
            needed=MIN_PER_PROCESS * workers,
        )
        budget = MIN_PER_PROCESS * workers
    # A warning, so that it shows at every level: the operator should choose the budget.
    log.warning(
        "connection_budget_derived",
        budget=budget,
        workers=workers,
        max_connections=server.max_connections,
        reserved=server.reserved,
        held_by_others=server.held_by_others,
        spare_percent=int(MARGIN * 100),
        hint="set CLAIMS_DB_MAX_CONNECTIONS to choose",
    )
    return budget


def per_process(budget: int, workers: int) -> int:
    """One process's equal share of ``budget``; refuses a budget too small to share."""
    share = budget // workers
    if share < MIN_PER_PROCESS:
        raise ValueError(
            f"CLAIMS_DB_MAX_CONNECTIONS={budget} cannot serve {workers} worker(s): each needs "
            f"at least {MIN_PER_PROCESS} connections"
        )
    return share


def plan_pools(share: int, *, pool_size: int, listen: bool = True) -> PoolPlan:
    """Divide one process's ``share``: one connection to LISTEN for new revisions (unless
    ``listen`` is off: behind a transaction pooler, where LISTEN cannot work), a quarter of the
    rest (at least one) to the async read pool, the remainder to the engine, two thirds kept
    and one third overflow; the engine keeps at most ``pool_size`` (CLAIMS_POOL_SIZE) plus half
    of that as overflow."""
    listen_connections = 1 if listen else 0
    rest = share - listen_connections
    async_size = max(1, rest // 4)
    sync_total = max(1, rest - async_size)
    kept = min(pool_size, max(1, sync_total - sync_total // 3))
    overflow = min(pool_size // 2, sync_total - kept)
    return PoolPlan(
        sync_pool_size=kept,
        sync_max_overflow=overflow,
        async_pool_size=async_size,
        listen_connections=listen_connections,
    )
