"""The checkpoint signing key and the signed checkpoint.

The private key lives in a file outside the database (``CLAIMS_CHECKPOINT_KEY_FILE``), written
once by ``claimtracker checkpoint-key create`` with mode 0600, in the format of Go's
``golang.org/x/mod/sumdb/note`` (``PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 ‖ seed)>``),
so the tools of the signed-note ecosystem can read it. It is never logged, never served and
never written to the database; only the verifier key leaves the process.
"""

import base64
import binascii
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Connection

from app.core import errors
from app.core.settings import Settings
from app.tlog import service
from app.tlog.models import CurrentCheckpoint
from app.vocabulary.tlog import (
    ED25519,
    Checkpoint,
    VerifierKey,
    key_hash,
    signature_line,
)

PRIVATE_PREFIX = "PRIVATE+KEY+"
DEFAULT_ORIGIN = "claimtracker/history"


class KeyFileError(Exception):
    """The key file is missing, unreadable or not a note signing key (the message never
    holds the key)."""


@dataclass(frozen=True, repr=False)
class SigningKey:
    name: str
    private: Ed25519PrivateKey

    def __repr__(self) -> str:  # never the key material, in a log line or a traceback
        return f"SigningKey(name={self.name!r})"

    @property
    def verifier(self) -> VerifierKey:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return VerifierKey(self.name, raw)

    def sign_note(self, text: str) -> str:
        """``text`` (ending in a newline) as a signed note with this key's signature line."""
        signature = self.private.sign(text.encode())
        line = signature_line(self.name, key_hash(self.name, self.verifier.public_key), signature)
        return f"{text}\n{line}"


def origin_of(settings: Settings) -> str:
    """CLAIMS_CHECKPOINT_ORIGIN, else the public base URL's host and path + /history."""
    if settings.checkpoint_origin:
        return settings.checkpoint_origin
    if settings.public_base_url:
        parts = urlsplit(settings.public_base_url)
        return f"{parts.netloc}{parts.path}/history"
    return DEFAULT_ORIGIN


def key_name_of(settings: Settings) -> str:
    return settings.checkpoint_key_name or origin_of(settings)


def create_key_file(path: Path, name: str) -> VerifierKey:
    """Write a new signing key to ``path`` (which must not exist), readable by its owner only;
    returns its verifier key."""
    if not name or any(c.isspace() or c == "+" or not c.isprintable() for c in name):
        raise KeyFileError(f"{name!r} cannot name a note key (no spaces, no '+')")
    private = Ed25519PrivateKey.generate()
    key = SigningKey(name, private)
    seed = private.private_bytes_raw()
    verifier = key.verifier
    line = (
        f"{PRIVATE_PREFIX}{name}+{verifier.key_hash.hex()}+"
        f"{base64.b64encode(bytes([ED25519]) + seed).decode()}\n"
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} exists; a log keeps its key (remove it by hand)") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(line)
    return verifier


@lru_cache(maxsize=4)
def load_key_file(path: Path) -> SigningKey:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise KeyFileError(
            f"cannot read the checkpoint key file {path}: {exc.strerror} "
            "(create one with `claimtracker checkpoint-key create`)"
        ) from None
    parts = text.removeprefix(PRIVATE_PREFIX).split("+", 2)
    if not text.startswith(PRIVATE_PREFIX) or len(parts) != 3:
        raise KeyFileError(f"{path} is not a note signing key")
    name, hash_hex, encoded = parts
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise KeyFileError(f"{path} is not a note signing key") from None
    if len(raw) != 33 or raw[0] != ED25519:
        raise KeyFileError(f"{path} is not an Ed25519 note signing key")
    key = SigningKey(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if key.verifier.key_hash.hex() != hash_hex:
        raise KeyFileError(f"{path}: the key hash does not match the key")
    return key


def signing_key(settings: Settings) -> SigningKey:
    """The server's key; 503 (``Unavailable``) when it has none it can read."""
    try:
        key = load_key_file(Path(settings.checkpoint_key_file).resolve())
    except KeyFileError as exc:
        raise errors.Unavailable(f"No checkpoint can be signed: {exc}.", retry_after=3600) from None
    if key.name != key_name_of(settings):
        raise errors.Unavailable(
            f"The checkpoint key is named {key.name!r}, the settings say "
            f"{key_name_of(settings)!r}.",
            retry_after=3600,
        )
    return key


def current_checkpoint(conn: Connection, settings: Settings) -> CurrentCheckpoint:
    """The log's checkpoint now, signed: what the API serves (size, root in base64, the signed
    note). Call ``service.catch_up`` first to include the newest revisions."""
    return checkpoint_at(conn, settings, service.tree_size(conn))


def checkpoint_at(conn: Connection, settings: Settings, size: int) -> CurrentCheckpoint:
    """The signed checkpoint of the tree of ``size`` leaves (at most the log's size): what the
    public pages show, signed once per size (``app.pages.checkpoint``)."""
    key = signing_key(settings)
    checkpoint = Checkpoint(origin_of(settings), size, service.root_hash(conn, size))
    return CurrentCheckpoint(
        origin=checkpoint.origin,
        tree_size=size,
        root_hash=checkpoint.root_b64,
        signed_note=key.sign_note(checkpoint.body()),
        verifier_key=str(key.verifier),
    )
