"""The body of ``POST /imports``: JSON (an array, or one value) or NDJSON by its media type,
to raw values; then the whole import, in one worker thread (``import_body``)."""

from typing import Any

import orjson

from app.auth.actor import Actor
from app.core import errors
from app.core.db import Database
from app.imports import idempotency, intake
from app.imports.duplicates import DuplicatePolicy
from app.imports.idempotency import ImportAnswer
from app.vocabulary.enums import ImportFormat, OnError
from app.vocabulary.formats import NDJSON_MEDIA_TYPE

# The deepest nesting a body may have. Records nest about 5 levels (batch, record, sources,
# source, outlet), ClaimReview feeds about 10; deeper is a nesting bomb, refused before any
# code walks it (orjson itself stops at 1,024).
MAX_NESTING = 64


def import_body(
    database: Database,
    body: bytes,
    *,
    content_type: str,
    format: ImportFormat,
    max_records: int,
    actor: Actor,
    dry_run: bool,
    on_error: OnError,
    idempotency_key: str | None,
    policy: DuplicatePolicy = DuplicatePolicy(),
) -> ImportAnswer:
    """Parse, check and map ``body``, then import it. Blocking, and all of it CPU or blocking
    I/O (a 32 MB body, thousands of ClaimReviews, the database): call it in ONE worker thread,
    so the event loop never stalls on it."""
    values = parse_body(content_type, body, max_records=max_records)
    return intake.import_values(
        database,
        values,
        format=format,
        max_records=max_records,
        actor=actor,
        dry_run=dry_run,
        on_error=on_error,
        idempotency_key=idempotency_key,
        body_fingerprint=idempotency.fingerprint(
            body, str(dry_run), on_error, format, *policy.fingerprint_parts()
        ),
        policy=policy,
    )


def parse_body(content_type: str, body: bytes, *, max_records: int) -> list[Any]:
    """A JSON array (or one value) or NDJSON, as raw records; 400 names the bad line."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    records: list[Any]
    if media_type == NDJSON_MEDIA_TYPE:
        records = []
        for number, line in enumerate(body.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise errors.BadRequest(
                    f"Line {number} is not valid JSON: {exc}.", line=number
                ) from None
            if _too_deep(record, MAX_NESTING - 1):  # the line is one level below a batch
                raise errors.BadRequest(
                    f"Line {number} nests deeper than {MAX_NESTING} levels.",
                    line=number,
                    max_nesting=MAX_NESTING,
                )
            records.append(record)
            if len(records) > max_records:
                break
    else:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise errors.BadRequest(f"The body is not valid JSON: {exc}.") from None
        if _too_deep(data, MAX_NESTING):
            raise errors.BadRequest(
                f"The body nests deeper than {MAX_NESTING} levels.", max_nesting=MAX_NESTING
            )
        records = data if isinstance(data, list) else [data]
    intake.check_count(len(records), max_records)
    return records


def _too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` deep (``[]`` is 1).
    A loop over the containers only, not recursion: linear, and safe at any depth."""
    if not isinstance(value, list | dict):
        return False
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        container, depth = pending.pop()
        if depth > limit:
            return True
        children = container.values() if isinstance(container, dict) else container
        pending.extend((child, depth + 1) for child in children if isinstance(child, list | dict))
    return False
