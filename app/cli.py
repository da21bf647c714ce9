"""The ``claimtracker`` command. Heavy imports happen inside commands, so ``--help`` is quick."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.tlog_cli import checkpoint_cli, checkpoint_key_cli, verify_history_command

if TYPE_CHECKING:
    from app.core.db import Database

cli = typer.Typer(
    help="Claim tracker: serve the API and look after its database.", no_args_is_help=True
)
keys_cli = typer.Typer(
    help="API keys: create (the secret is printed once), list, revoke.", no_args_is_help=True
)
cli.add_typer(keys_cli, name="keys")
db_cli = typer.Typer(help="Database roles (PostgreSQL).", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
webhooks_cli = typer.Typer(help="Webhook deliveries.", no_args_is_help=True)
cli.add_typer(webhooks_cli, name="webhooks")
cli.add_typer(checkpoint_key_cli, name="checkpoint-key")
cli.add_typer(checkpoint_cli, name="checkpoint")
cli.command("verify-history")(verify_history_command)


@contextmanager
def open_database() -> Iterator["Database"]:
    """The command's database (CLAIMS_DATABASE_URL): opened once per invocation, closed (its
    engine disposed) when the command ends, whatever way it ends."""
    from app.core.db import Database, make_engine

    database = Database(make_engine())
    try:
        yield database
    finally:
        database.engine.dispose()


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (CLAIMS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (CLAIMS_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (CLAIMS_WORKERS).")] = None,
) -> None:
    """Serve the API with uvicorn. On PostgreSQL the worker processes share one connection
    budget (CLAIMS_DB_MAX_CONNECTIONS, derived here once when unset)."""
    import uvicorn

    from app.core.logs import configure_logging
    from app.core.settings import get_settings

    settings = get_settings()
    # Structured lines from this process too, from its first (the connection budget's); the
    # app writes one line per request, so uvicorn's access log is off and its own logging
    # config is not installed.
    configure_logging(settings.log_format, settings.log_level)
    refuse_a_newer_schema()
    workers = workers or settings.workers
    share_connection_budget(workers)
    exit_quietly_after_graceful_shutdown()
    with metrics_shared_by(workers):
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            log_level=settings.log_level,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        )


@contextmanager
def metrics_shared_by(workers: int) -> Iterator[None]:
    """With several workers, a fresh PROMETHEUS_MULTIPROC_DIR for their metric files (set
    before they start, so each imports prometheus-client in multi-process mode), removed when
    the server stops: counts from an earlier run must not be added in."""
    import os
    import shutil
    import tempfile

    from app.core.metrics import MULTIPROCESS_DIR_VARIABLE

    if workers <= 1:
        yield
        return
    directory = tempfile.mkdtemp(prefix="claims-metrics-")
    os.environ[MULTIPROCESS_DIR_VARIABLE] = directory
    try:
        yield
    finally:
        os.environ.pop(MULTIPROCESS_DIR_VARIABLE, None)
        shutil.rmtree(directory, ignore_errors=True)


def refuse_a_newer_schema() -> None:
    """Exit 1 with one line, before any worker starts, on a database a newer version of the
    code migrated (the app's lifespan refuses it too, with uvicorn's traceback)."""
    from app.schema.versions import SchemaAhead, refuse_to_serve_if_ahead

    try:
        with open_database() as database:
            refuse_to_serve_if_ahead(database)
    except SchemaAhead as exc:
        typer.echo(f"refusing to serve: {exc}", err=True)
        raise typer.Exit(1) from exc


def exit_quietly_after_graceful_shutdown() -> None:
    """Exit 0 on SIGTERM or SIGINT outside uvicorn's own handlers. uvicorn re-raises the signal
    it shut down on, with the handlers it found restored: without ours that kills the process
    (exit 143) after a clean shutdown. Before uvicorn takes over, it simply stops the command."""
    import signal

    def exit_0(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, exit_0)


def share_connection_budget(workers: int) -> None:
    """Tell the worker processes (through their environment) how many they are and, on
    PostgreSQL, the service's connection budget: derived once here, before any worker holds a
    connection, so that no worker counts another's pool as "held by other clients"."""
    import os

    from sqlalchemy.engine import make_url

    from app.core.budget import derive_budget
    from app.core.settings import get_settings

    os.environ["CLAIMS_WORKERS"] = str(workers)
    get_settings.cache_clear()
    settings = get_settings()
    postgres = make_url(settings.database_url).get_backend_name() == "postgresql"
    if postgres and settings.db_max_connections is None:
        budget = derive_budget(settings.database_url, workers=workers)
        os.environ["CLAIMS_DB_MAX_CONNECTIONS"] = str(budget)
        get_settings.cache_clear()


@cli.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Upgrade the database schema (Alembic) to head."""
    from app.schema.migrate import upgrade

    upgrade(revision=revision)
    typer.echo(f"database migrated to {revision}")


@cli.command()
def seed(
    directory: Annotated[Path | None, typer.Option(help="Folder with the seed YAML files.")] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Only when the database has no claims yet.")
    ] = False,
) -> None:
    """Load the seed claims (idempotent: a second run changes nothing)."""
    from app.seeding.seeds import SeedError, database_is_empty, load_seeds

    try:
        with open_database() as database, database.session(write=True) as session:
            if if_empty and not database_is_empty(session):
                typer.echo("database already has claims; seeds not loaded")
                return
            report = load_seeds(session, directory)
    except SeedError as exc:
        typer.echo(f"seed data is invalid: {exc}", err=True)
        raise typer.Exit(2) from exc
    if report.changed:
        typer.echo(f"seeds loaded: created {report.created}, updated {report.updated}")
    else:
        typer.echo("seeds already loaded; nothing changed")


@cli.command()
def backup(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write the copy.")],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
) -> None:
    """Copy the SQLite database while the server runs (one consistent moment), then check the
    copy: integrity_check and verify-history. Exit 1 if the copy fails either check.
    PostgreSQL: use pg_dump (docs/operations.md)."""
    import time

    from app.core.settings import get_settings
    from app.schema.backup import (
        BackupRefused,
        NotSqlite,
        backup_sqlite,
        describe,
        integrity_problem,
        sqlite_path,
        verify_file,
    )

    try:
        result = backup_sqlite(sqlite_path(get_settings().database_url), file, force=force)
    except NotSqlite as exc:
        typer.echo(f"cannot back up: {exc}", err=True)
        raise typer.Exit(2) from exc
    except BackupRefused as exc:
        typer.echo(f"backup refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    size_mb = result.size_bytes / 1e6
    typer.echo(f"backup written: {result.path} ({size_mb:.1f} MB in {result.seconds:.1f} s)")
    started = time.perf_counter()
    problem = integrity_problem(result.path)
    if problem is not None:
        typer.echo(f"the copy is corrupt: integrity_check says {problem!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"copy integrity_check ok ({time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    report = verify_file(result.path)
    typer.echo(f"copy {describe(report)} ({time.perf_counter() - started:.1f} s)")
    if not report.ok:
        raise typer.Exit(1)


@cli.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A backup `claimtracker backup` wrote.")],
) -> None:
    """Check a backup (SQLite, integrity, migration, history), then put it in place of the
    SQLite database; the server must be stopped. The replaced file is kept as
    <name>.before-restore-<time>. PostgreSQL: use pg_restore (docs/operations.md)."""
    from app.core.settings import get_settings
    from app.schema.backup import NotSqlite, describe, sqlite_path
    from app.schema.restore import RestoreRefused, restore_sqlite

    try:
        result = restore_sqlite(file, sqlite_path(get_settings().database_url))
    except NotSqlite as exc:
        typer.echo(f"cannot restore: {exc}", err=True)
        raise typer.Exit(2) from exc
    except RestoreRefused as exc:
        typer.echo(f"restore refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    if result.migrated_from:
        typer.echo(f"the backup was at migration {result.migrated_from}; migrated to head")
    typer.echo(f"backup checked: integrity ok, {describe(result.checked)}")
    replaced = f"; the replaced file is {result.replaced}" if result.replaced else ""
    typer.echo(f"restored {file} to {result.database}{replaced}")
    typer.echo(f"restored database: {describe(result.restored)}")
    if not result.restored.ok:
        raise typer.Exit(1)


@db_cli.command("grant-app-role")
def db_grant_app_role(
    role: Annotated[str, typer.Argument(help="The server's PostgreSQL role (it must exist).")],
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Run them, connected as CLAIMS_MIGRATION_DATABASE_URL (else "
            "CLAIMS_DATABASE_URL); without it, only print them.",
        ),
    ] = False,
) -> None:
    """Print (or apply) the grants for a server role that may read and write rows but only
    SELECT and INSERT revisions. Idempotent: re-apply after each migration."""
    from sqlalchemy.exc import DBAPIError

    from app.schema.migrate import app_role_grants, grant_app_role

    try:
        statements = grant_app_role(role) if apply else app_role_grants(role)
    except (ValueError, DBAPIError) as exc:
        typer.echo(f"cannot grant: {exc}", err=True)
        raise typer.Exit(2) from exc
    for statement in statements:
        typer.echo(f"{statement};")
    if apply:
        typer.echo(f"-- applied for role {role}")


# --- import and export through the API -------------------------------------------------------

UrlOption = Annotated[
    str, typer.Option(envvar="CLAIMS_URL", help="The server, like http://127.0.0.1:8000.")
]
TokenOption = Annotated[str, typer.Option(envvar="CLAIMS_TOKEN", help="An API key (ct_...).")]


@cli.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The file.")],
    url: UrlOption,
    token: TokenOption,
    format: Annotated[str, typer.Option(help="ndjson, csv or claimreview.")] = "ndjson",
    mapping: Annotated[
        Path | None, typer.Option(exists=True, help="TOML column mapping (csv).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Records per POST.")] = 500,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report; write nothing.")] = False,
    on_error: Annotated[str, typer.Option(help="stop (refuse a failing batch) or skip.")] = "stop",
) -> None:
    """Import claims through the API (never straight to the database).

    The whole file is read and checked first: any bad row is reported by number and nothing
    is sent. Re-running after an interruption is safe: records upsert by external_id, so what
    landed reports as unchanged.
    """
    from app.client.importer import run_import_command

    raise typer.Exit(
        run_import_command(
            file,
            url=url,
            token=token,
            fmt=format,
            mapping_path=mapping,
            batch_size=batch_size,
            dry_run=dry_run,
            on_error=on_error,
        )
    )


@cli.command("export")
def export_file(
    output: Annotated[Path, typer.Option(help="Where to write (- for stdout).")],
    url: UrlOption,
    token: TokenOption,
    format: Annotated[str, typer.Option(help="ndjson, csv or claimreview.")] = "ndjson",
    status: Annotated[str | None, typer.Option(help="Only claims with this status.")] = None,
    topic: Annotated[str | None, typer.Option(help="Only claims with this topic.")] = None,
) -> None:
    """Export claims through the API, streamed to a file."""
    import sys

    from app.client import ClaimTrackerClient, ClientError

    try:
        with ClaimTrackerClient(url, token) as api:
            chunks = api.export(format, status=status, topic=topic)
            if str(output) == "-":
                for chunk in chunks:
                    sys.stdout.buffer.write(chunk)
            else:
                with output.open("wb") as handle:
                    for chunk in chunks:
                        handle.write(chunk)
    except ClientError as exc:
        typer.echo(f"export failed: {exc}", err=True)
        raise typer.Exit(1) from exc


# --- API keys ---------------------------------------------------------------------------------

ROLES_HELP = "reader, checker, editor or admin"


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what holds the key (≤ 100 characters).")],
    role: Annotated[str, typer.Option(help=f"The key's role: {ROLES_HELP}.")],
) -> None:
    """Create a key; its secret is the last line of the output, shown only this once."""
    from app.auth import service
    from app.core.errors import RuleViolation

    try:
        with open_database() as database, database.session(write=True) as session:
            key, secret = service.create_key(session, name, role)
    except RuleViolation as exc:
        typer.echo(f"cannot create the key: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"created key {key.id} {key.name!r} with role {key.role} (prefix {key.prefix}).")
    typer.echo("Its secret follows; it is not stored and cannot be shown again:")
    typer.echo(secret)


@keys_cli.command("list")
def keys_list() -> None:
    """List keys: id, name, prefix, role, dates. Never a secret."""
    from rich.console import Console
    from rich.table import Table

    from app.auth import service

    with open_database() as database, database.read_connection() as conn:
        keys = list(service.list_keys(conn))
    table = Table("id", "name", "prefix", "role", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            str(key.id),
            key.name,
            key.prefix,
            str(key.role),
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "-",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "-",
        )
    Console(width=120).print(table)


@keys_cli.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (see keys list).")],
) -> None:
    """Revoke a key. Servers refuse it at once, or within 10 s in other processes."""
    from app.auth import service
    from app.core.errors import NotFound

    try:
        with open_database() as database, database.session(write=True) as session:
            key = service.revoke_key(session, key_id)
    except NotFound as exc:
        typer.echo(f"no key with id {key_id}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"key {key.id} {key.name!r} revoked at {key.revoked_at:%Y-%m-%d %H:%M:%S} UTC")


@keys_cli.command("ensure-admin")
def keys_ensure_admin() -> None:
    """Without an active admin key, create one named "admin" and print its secret once."""
    from app.auth import service
    from app.auth.models import KeyRole

    with open_database() as database, database.session(write=True) as session:
        if service.has_active_admin(session):
            typer.echo("an admin key exists (claimtracker keys list)")
            return
        key, secret = service.create_key(session, "admin", KeyRole.admin)
    typer.echo("")
    typer.echo(f"No admin key existed, so one was made: key {key.id} 'admin' (role admin).")
    typer.echo("Send it as `Authorization: Bearer <key>`; it is shown only this once:")
    typer.echo("")
    typer.echo(f"    {secret}")
    typer.echo("")


@webhooks_cli.command("dispatch")
def webhooks_dispatch() -> None:
    """Send webhook deliveries until SIGTERM or Ctrl-C: a dispatcher of its own, beside or
    instead of the servers' (CLAIMS_WEBHOOK_DISPATCH=false turns theirs off)."""
    import asyncio
    import signal

    from app.core.db import Database, make_engine
    from app.core.logs import configure_logging
    from app.core.settings import get_settings
    from app.webhooks.dispatcher import Dispatcher

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    refuse_a_newer_schema()

    async def dispatch() -> None:
        database = Database(make_engine(settings=settings), settings=settings)
        dispatcher = Dispatcher(database, settings)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        dispatcher.start()
        try:
            await stopping.wait()
        finally:
            await dispatcher.stop()
            await database.close()

    asyncio.run(dispatch())


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
