"""Raw values to an import: mapped by format, bounded, then ``service.run_import``.

Blocking: the router runs it, with the parsing of the body (``bodies``), in ONE worker thread.
Mapping thousands of ClaimReviews and the database work are CPU or blocking I/O, and on the
event loop they would stall every other request, ``/healthz`` included.
"""

from typing import Any

from app.auth.actor import Actor
from app.core import errors
from app.core.db import Database
from app.imports import service
from app.imports.duplicates import DuplicatePolicy
from app.imports.idempotency import ImportAnswer
from app.vocabulary import claimreview
from app.vocabulary.enums import ImportFormat, OnError


def import_values(
    database: Database,
    values: list[Any],
    *,
    format: ImportFormat,
    max_records: int,
    actor: Actor,
    dry_run: bool,
    on_error: OnError,
    idempotency_key: str | None,
    body_fingerprint: str,
    policy: DuplicatePolicy = DuplicatePolicy(),
) -> ImportAnswer:
    """Import ``values`` (records, or ClaimReview JSON-LD to map to records first)."""
    if format is ImportFormat.claimreview:
        values = claimreview.records_from_jsonld(values)
        # Counted again after the expansion: a @graph or DataFeed is one value holding many.
        check_count(len(values), max_records)
    return service.run_import(
        database,
        values,
        actor=actor,
        dry_run=dry_run,
        on_error=on_error,
        idempotency_key=idempotency_key,
        body_fingerprint=body_fingerprint,
        policy=policy,
    )


def check_count(count: int, max_records: int) -> None:
    if count > max_records:
        raise errors.PayloadTooLarge(
            f"A batch holds at most {max_records} records (CLAIMS_IMPORT_MAX_RECORDS); "
            "split the file into smaller batches.",
            max_records=max_records,
        )
