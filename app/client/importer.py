"""``claimtracker import``: read and check the file, send it in batches, show progress."""

import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from app.client.csv_mapping import Mapping, MappingError, RowError
from app.client.errors import ClientError, ProblemError
from app.client.files import read_file
from app.client.http import ClaimTrackerClient
from app.vocabulary.records import ImportRecord

SHOWN_ERRORS = 20
# How long the client waits for one batch's answer. The server's time grows with the batch's
# records: an unchanged one costs well under a millisecond, a changed one a few (more on a
# loaded server). A batch whose answer comes too late is retried with its Idempotency-Key and
# answered 409 while the first attempt still runs, so the wait grows with the batch: the
# client's usual 30 s for the default 500 records, 100 s for the 5,000 a server takes at most.
MIN_BATCH_TIMEOUT_SECONDS = 30.0
SECONDS_PER_RECORD = 0.02


def batch_timeout(batch_size: int) -> float:
    """Seconds to wait for the answer to a batch of ``batch_size`` records."""
    return max(MIN_BATCH_TIMEOUT_SECONDS, batch_size * SECONDS_PER_RECORD)


def _check(path: Path, fmt: str, mapping: Mapping | None) -> tuple[list[Any], list[RowError]]:
    records: list[Any] = []
    problems: list[RowError] = []
    for row, item in read_file(path, fmt, mapping):
        if isinstance(item, RowError):
            problems.append(item)
            continue
        try:
            ImportRecord.model_validate(item)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "record"
                problems.append(RowError(row, f"{where}: {err['msg']}"))
            continue
        records.append(item)
    return records, problems


def run_import_command(
    path: Path,
    *,
    url: str,
    token: str,
    fmt: str,
    mapping_path: Path | None,
    batch_size: int,
    dry_run: bool,
    on_error: str,
) -> int:
    # soft_wrap: messages name files and rows; hard-wrapping them at the terminal
    # width would split those names in logs and greps.
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    if fmt not in ("ndjson", "csv", "claimreview"):
        console.print(f"[red]unknown format {fmt!r}: use ndjson, csv or claimreview")
        return 2
    try:
        mapping = Mapping.load(mapping_path) if mapping_path else None
        records, problems = _check(path, fmt, mapping)
    except (MappingError, ValueError, OSError, UnicodeDecodeError) as exc:
        console.print(f"cannot read {path}: {exc}", style="red", markup=False)
        return 2
    if problems:
        console.print(
            f"{path}: {len(problems)} bad row(s); nothing was imported.", style="red", markup=False
        )
        for problem in problems[:SHOWN_ERRORS]:
            console.print(f"  {problem}", markup=False)
        if len(problems) > SHOWN_ERRORS:
            console.print(f"  ... and {len(problems) - SHOWN_ERRORS} more")
        return 2
    totals = {"created": 0, "updated": 0, "unchanged": 0, "failed": 0}
    errors: list[str] = []
    with (
        ClaimTrackerClient(url, token, timeout=batch_timeout(batch_size)) as api,
        Progress(
            TextColumn("[bold]importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TextColumn("{task.fields[rate]} rows/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        ) as progress,
    ):
        task = progress.add_task("import", total=len(records), rate="-")
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            try:
                summary = api.import_records(
                    batch,
                    dry_run=dry_run,
                    on_error=on_error,
                    idempotency_key=uuid.uuid4().hex,
                )
            except ProblemError as exc:
                totals["failed"] += len(batch)
                errors.append(f"batch from record {start}: {exc}")
                for err in exc.errors[:SHOWN_ERRORS]:
                    index = err.get("index")
                    row = f"record {start + index}" if isinstance(index, int) else "batch"
                    errors.append(f"  {row} {err.get('field') or ''}: {err.get('message', err)}")
                break
            except ClientError as exc:
                console.print(f"import stopped: {exc}", style="red", markup=False)
                return 1
            for key in totals:
                totals[key] += int(summary.get(key, 0))
            for err in summary.get("errors", [])[:SHOWN_ERRORS]:
                errors.append(
                    f"record {start + err['index']} {err.get('field') or ''}: {err['message']}"
                )
            progress.advance(task, len(batch))
            elapsed = progress.tasks[0].elapsed or 0
            done = progress.tasks[0].completed
            progress.update(task, rate=f"{done / elapsed:,.0f}" if elapsed else "-")
    table = Table(title="dry run: nothing written" if dry_run else "import summary")
    for key in totals:
        table.add_column(key, justify="right")
    table.add_row(*(f"{value:,}" for value in totals.values()))
    out = Console()
    out.print(table)
    for line in errors:
        console.print(line, markup=False)
    return 1 if totals["failed"] else 0
