"""The witness: ``claimtracker checkpoint fetch``, run by a newsroom partner from cron.

Each run fetches the log's signed checkpoint, verifies its signature, proves that it extends
the last checkpoint this witness kept (an RFC 9162 consistency proof from the server, checked
here), and keeps it. The folder holds:

- ``verifier-key``: the log's note verifier key, trusted on first use (or given with ``--key``);
  a later run refuses a checkpoint the kept key did not sign;
- ``checkpoint``: the latest checkpoint kept, as the signed note the server sent;
- ``checkpoints/<tree size>``: every checkpoint kept, for comparing with other witnesses (a
  log that signs two different trees of one size for two witnesses is caught that way).

It talks HTTP only and imports nothing of the server: the formats are ``app.vocabulary.tlog``.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from app.client.core import API
from app.client.http import ClaimTrackerClient
from app.vocabulary.tlog import (
    Checkpoint,
    TlogFormatError,
    VerifierKey,
    open_checkpoint,
    verify_consistency,
)

KEY_FILE = "verifier-key"
LATEST = "checkpoint"
HISTORY = "checkpoints"


class WitnessRefused(Exception):
    """The log's answer does not verify: a wrong signature, a tree that shrank, a fork, a
    consistency proof that fails. Nothing is kept."""


@dataclass(frozen=True)
class Witnessed:
    checkpoint: Checkpoint
    previous: Checkpoint | None
    key: VerifierKey
    first_use: bool


def fetch_checkpoint(
    api: ClaimTrackerClient, directory: Path, *, key: VerifierKey | None = None
) -> Witnessed:
    """Fetch, verify and keep the log's checkpoint in ``directory``; ``WitnessRefused`` when it
    does not verify (then nothing is written)."""
    directory.mkdir(parents=True, exist_ok=True)
    kept_key = _kept_key(directory)
    first_use = kept_key is None and key is None
    if kept_key is not None and key is not None and str(kept_key) != str(key):
        raise WitnessRefused(f"--key differs from the key kept in {directory / KEY_FILE}")
    trusted = key or kept_key
    if trusted is None:
        trusted = _parse_key(api.request("GET", f"{API}/history/checkpoint/key").text)
    note = api.request("GET", f"{API}/history/checkpoint").text
    previous = _kept_checkpoint(directory, trusted)
    try:
        checkpoint = open_checkpoint(
            note, trusted, origin=previous.origin if previous is not None else None
        )
    except TlogFormatError as exc:
        raise WitnessRefused(f"the checkpoint does not verify: {exc}") from None
    if previous is not None:
        _check_extends(api, previous, checkpoint)
    if kept_key is None:
        _write(directory / KEY_FILE, f"{trusted}\n")
    _write(directory / HISTORY / str(checkpoint.size), note)
    _write(directory / LATEST, note)
    return Witnessed(checkpoint, previous, trusted, first_use)


def _check_extends(api: ClaimTrackerClient, previous: Checkpoint, current: Checkpoint) -> None:
    if current.size < previous.size:
        raise WitnessRefused(
            f"the log shrank: it signed {current.size} leaves after {previous.size}"
        )
    if current.size == previous.size:
        if current.root != previous.root:
            raise WitnessRefused(
                f"the log signed two different trees of {current.size} leaves (a fork)"
            )
        return
    if previous.size == 0:
        return
    answer = api.request(
        "GET",
        f"{API}/history/consistency",
        params={"first": previous.size, "second": current.size},
    ).json()
    try:
        proof = [bytes.fromhex(node) for node in answer["proof"]]
    except (KeyError, TypeError, ValueError):
        raise WitnessRefused("the consistency proof is malformed") from None
    if not verify_consistency(previous.size, current.size, proof, previous.root, current.root):
        raise WitnessRefused(
            f"the tree of {current.size} leaves does not extend the kept tree of "
            f"{previous.size}: the log rewrote its history"
        )


def _parse_key(text: str) -> VerifierKey:
    try:
        return VerifierKey.parse(text)
    except TlogFormatError as exc:
        raise WitnessRefused(f"the log's verifier key does not parse: {exc}") from None


def _kept_key(directory: Path) -> VerifierKey | None:
    path = directory / KEY_FILE
    return _parse_key(path.read_text()) if path.exists() else None


def _kept_checkpoint(directory: Path, key: VerifierKey) -> Checkpoint | None:
    path = directory / LATEST
    if not path.exists():
        return None
    try:
        return open_checkpoint(path.read_text(), key)
    except TlogFormatError as exc:
        raise WitnessRefused(f"the kept checkpoint {path} does not verify: {exc}") from None


def _write(path: Path, text: str) -> None:
    """Replace ``path`` at once (a crash leaves the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
