"""Pure functions for the hash chain: canonical JSON and revision digests.

The canonical form follows RFC 8785 for the values we store (strings, integers, booleans, null,
lists, objects): keys sorted, no insignificant whitespace, UTF-8. It is always computed in Python
from Python values, never from JSON as a database hands it back.
"""

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson


def canonical_json(value: Any) -> bytes:
    # orjson with sorted keys writes the same bytes as json.dumps(sort_keys=True,
    # separators=(",", ":"), ensure_ascii=False) for these values (tests/history/test_hashing.py
    # checks every code point), about 15 times faster.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def format_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def revision_hash(
    *,
    entity_type: str,
    entity_id: int,
    version: int,
    action: str,
    reverted_to: int | None,
    recorded_at: datetime,
    actor_key_id: int | None,
    actor_name: str,
    actor_role: str,
    reason: str | None,
    request_id: str | None,
    schema_version: int,
    prev_hash: str | None,
    snapshot: dict[str, Any],
    changes: dict[str, Any],
) -> str:
    metadata = {
        "entity_type": entity_type,
        "entity_id": entity_id,
        "version": version,
        "action": action,
        "reverted_to": reverted_to,
        "recorded_at": format_timestamp(recorded_at),
        "actor": {"key_id": actor_key_id, "name": actor_name, "role": actor_role},
        "reason": reason,
        "request_id": request_id,
        "schema_version": schema_version,
        "prev_hash": prev_hash,
        "snapshot_sha256": digest(snapshot),
        "changes_sha256": digest(changes),
    }
    return digest(metadata)
