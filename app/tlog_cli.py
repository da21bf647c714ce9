"""The transparency log's commands of ``claimtracker`` (``app/cli.py`` registers them):
``checkpoint-key create``, ``checkpoint append|show|fetch`` and ``verify-history``. Heavy
imports happen inside the commands, so ``--help`` is quick."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from app.core.db import Database
    from app.vocabulary.tlog import Checkpoint, VerifierKey

checkpoint_key_cli = typer.Typer(
    help="The Ed25519 key that signs the transparency log's checkpoints.", no_args_is_help=True
)
checkpoint_cli = typer.Typer(
    help="The transparency log's checkpoints: append, show, fetch (a witness).",
    no_args_is_help=True,
)


@contextmanager
def open_database() -> Iterator["Database"]:
    """CLAIMS_DATABASE_URL's database for one command; its engine disposed at the end."""
    from app.core.db import Database, make_engine

    engine = make_engine()
    try:
        yield Database(engine)
    finally:
        engine.dispose()


@checkpoint_key_cli.command("create")
def checkpoint_key_create(
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="Do nothing when the key file exists.")
    ] = False,
) -> None:
    """Write a new signing key to CLAIMS_CHECKPOINT_KEY_FILE (mode 0600, never overwritten) and
    print its verifier key, which witnesses use to check the checkpoints."""
    from app.core.settings import get_settings
    from app.tlog.signing import KeyFileError, create_key_file, key_name_of, load_key_file

    settings = get_settings()
    path = Path(settings.checkpoint_key_file)
    if if_missing and path.exists():
        try:
            existing = load_key_file(path.resolve())
        except KeyFileError as exc:
            typer.echo(f"cannot use the key file: {exc}", err=True)
            raise typer.Exit(2) from exc
        typer.echo(f"checkpoint key exists: {path}; verifier key {existing.verifier}")
        return
    try:
        verifier = create_key_file(path, key_name_of(settings))
    except KeyFileError as exc:
        typer.echo(f"cannot create the key: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"checkpoint key written to {path} (keep it outside the database, mode 0600)")
    typer.echo(f"verifier key: {verifier}")


@checkpoint_cli.command("append")
def checkpoint_append() -> None:
    """Append every revision the log lacks (the servers do it every few seconds)."""
    from app.tlog import service

    with open_database() as database, database.session(write=True) as session:
        appended = service.catch_up(session)
        with database.read_connection() as conn:
            size = service.tree_size(conn)
    typer.echo(f"appended {appended} revisions; the log holds {size}")


@checkpoint_cli.command("show")
def checkpoint_show() -> None:
    """Print the current signed checkpoint (after appending what the log lacks)."""
    from app.core.errors import Unavailable
    from app.core.settings import get_settings
    from app.tlog import service
    from app.tlog.signing import current_checkpoint

    with open_database() as database:
        with database.session(write=True) as session:
            service.catch_up(session)
        try:
            with database.read_connection(snapshot=True) as conn:
                current = current_checkpoint(conn, get_settings())
        except Unavailable as exc:
            typer.echo(str(exc.detail), err=True)
            raise typer.Exit(2) from exc
    typer.echo(current.signed_note, nl=False)


@checkpoint_cli.command("fetch")
def checkpoint_fetch(
    url: Annotated[
        str, typer.Option(envvar="CLAIMS_URL", help="The server, like https://claims.example.org.")
    ],
    out: Annotated[Path, typer.Option(file_okay=False, help="The witness's folder.")],
    token: Annotated[
        str | None, typer.Option(envvar="CLAIMS_TOKEN", help="An API key, unless reads are public.")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(help="The log's verifier key (else the one kept in OUT, else fetched)."),
    ] = None,
) -> None:
    """A witness: fetch the checkpoint, verify its signature and that it extends the one kept
    in OUT, and keep it. Exit 1 if it does not verify (nothing is kept), 2 if the server
    cannot be asked."""
    from app.client import ClaimTrackerClient, ClientError
    from app.client.witness import WitnessRefused, fetch_checkpoint

    verifier = _verifier_key(key) if key else None
    try:
        with ClaimTrackerClient(url, token) as api:
            witnessed = fetch_checkpoint(api, out, key=verifier)
    except WitnessRefused as exc:
        typer.echo(f"checkpoint REFUSED: {exc}", err=True)
        raise typer.Exit(1) from exc
    except ClientError as exc:
        typer.echo(f"cannot fetch the checkpoint: {exc}", err=True)
        raise typer.Exit(2) from exc
    checkpoint, previous = witnessed.checkpoint, witnessed.previous
    if witnessed.first_use:
        typer.echo(f"trusting the log's key on first use: {witnessed.key}")
    since = "first checkpoint kept" if previous is None else f"extends {previous.size}"
    typer.echo(
        f"kept checkpoint {checkpoint.origin} {checkpoint.size} {checkpoint.root_b64} ({since})"
    )


def verify_history_command(
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="A checkpoint saved earlier (a signed note)."
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(help="The verifier key that signed it (else the server's own key file)."),
    ] = None,
) -> None:
    """Recompute every hash chain and the transparency log; with --checkpoint, prove the
    database still holds the tree it signed. Exit 1 and name the first problem on tampering."""
    from app.history.verify import verify_history
    from app.tables import TRACKED_TABLES
    from app.tlog.verify import verify_log

    saved = _saved_checkpoint(checkpoint, key) if checkpoint is not None else None
    with open_database() as database, database.read_connection(snapshot=True) as conn:
        report = verify_history(conn, TRACKED_TABLES)
        log = verify_log(conn, saved)
    if not report.ok:
        broken = report.first_broken
        assert broken is not None
        typer.echo(
            f"history BROKEN at {broken.entity_type} {broken.entity_id} version "
            f"{broken.version} (revision id {broken.revision_id}): {broken.problem}",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(
        f"history intact: {report.entities_checked} entities, {report.revisions_checked} revisions"
    )
    if not log.ok:
        typer.echo(f"transparency log BROKEN: {log.problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"transparency log intact: {log.tree_size} leaves, {log.pending} pending")
    if saved is not None:
        typer.echo(
            f"checkpoint {saved.origin} {saved.size} verified: its revisions are unchanged and "
            f"the log of {log.tree_size} extends it"
        )


def _verifier_key(text: str) -> "VerifierKey":
    from app.vocabulary.tlog import TlogFormatError, VerifierKey

    try:
        return VerifierKey.parse(text)
    except TlogFormatError as exc:
        typer.echo(f"--key: {exc}", err=True)
        raise typer.Exit(2) from exc


def _saved_checkpoint(path: Path, key: str | None) -> "Checkpoint":
    """The checkpoint in ``path`` once its signature verifies: with ``key``, else with the
    server's own key file (the CLI runs beside the server)."""
    from app.core.settings import get_settings
    from app.tlog.signing import KeyFileError, load_key_file
    from app.vocabulary.tlog import TlogFormatError, open_checkpoint

    if key is not None:
        verifier = _verifier_key(key)
    else:
        try:
            verifier = load_key_file(Path(get_settings().checkpoint_key_file).resolve()).verifier
        except KeyFileError as exc:
            typer.echo(f"give --key: {exc}", err=True)
            raise typer.Exit(2) from exc
    try:
        return open_checkpoint(path.read_text(), verifier)
    except TlogFormatError as exc:
        typer.echo(f"checkpoint REFUSED: {exc}", err=True)
        raise typer.Exit(1) from exc
