"""Snapshots and the changes between them: what a revision stores besides its metadata."""

from typing import Any


def diff_snapshots(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"from": old, "to": new}} for every field whose value differs."""
    changes: dict[str, dict[str, Any]] = {}
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old != new:
            changes[key] = {"from": old, "to": new}
    return changes


def apply_changes(snapshot: dict[str, Any], changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Replay ``changes`` on a snapshot (the verifier checks this reproduces the next one)."""
    result = dict(snapshot)
    for key, change in changes.items():
        result[key] = change["to"]
    return result
