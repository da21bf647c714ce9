"""The transparency log's wire formats, for the server and its witnesses alike.

- RFC 9162 (Certificate Transparency 2.0) §2.1: the Merkle tree hash (leaf = SHA-256(0x00 ‖
  the revision's 32-byte hash), node = SHA-256(0x01 ‖ left ‖ right)) and the verification of
  inclusion (§2.1.3.2) and consistency (§2.1.4.2) proofs.
- C2SP tlog-checkpoint: the checkpoint body (origin, tree size, base64 root hash).
- C2SP signed-note with Ed25519: the key hash, the verifier key
  ``<name>+<hex key hash>+<base64(0x01 ‖ public key)>``, the signature line
  ``— <name> <base64(key hash ‖ signature)>`` and its verification.

Pure functions; the signing key stays on the server (``app.tlog.signing``).
"""

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ED25519 = 0x01
EM_DASH = "\u2014"
HASH_SIZE = 32


class TlogFormatError(ValueError):
    """A checkpoint, note, key or proof that does not parse, or does not verify."""


def leaf_hash(entry_hash: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry_hash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def key_hash(name: str, public_key: bytes) -> bytes:
    """The 4-byte key hash of an Ed25519 note key (signed-note)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def _valid_key_name(name: str) -> bool:
    return bool(name) and all(c.isprintable() and not c.isspace() and c != "+" for c in name)


# --- keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifierKey:
    name: str
    public_key: bytes  # the raw 32 bytes

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.public_key)

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> "VerifierKey":
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or not _valid_key_name(parts[0]):
            raise TlogFormatError("a verifier key is <name>+<hex key hash>+<base64 key>")
        name, hash_hex, encoded = parts
        try:
            raw = base64.b64decode(encoded, validate=True)
            expected_hash = bytes.fromhex(hash_hex)
        except (binascii.Error, ValueError) as exc:
            raise TlogFormatError(f"the verifier key does not decode: {exc}") from None
        if len(raw) != 1 + HASH_SIZE or raw[0] != ED25519:
            raise TlogFormatError("the verifier key is not an Ed25519 key (0x01 ‖ 32 bytes)")
        key = cls(name, raw[1:])
        if key.key_hash != expected_hash:
            raise TlogFormatError("the verifier key's hash does not match its name and key")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


# --- checkpoints and signed notes -------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    @property
    def root_b64(self) -> str:
        return base64.b64encode(self.root).decode()

    def body(self) -> str:
        """The note text: origin, size, root, each on its line (no extension lines)."""
        return f"{self.origin}\n{self.size}\n{self.root_b64}\n"

    @classmethod
    def parse_body(cls, text: str) -> "Checkpoint":
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise TlogFormatError("a checkpoint is origin, size and root hash, one per line")
        origin, size_text, root_text = lines[0], lines[1], lines[2]
        if not origin or not size_text.isascii() or not size_text.isdigit():
            raise TlogFormatError("the checkpoint's origin or tree size is malformed")
        if size_text != str(int(size_text)):
            raise TlogFormatError("the checkpoint's tree size has leading zeros")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error:
            raise TlogFormatError("the checkpoint's root hash is not base64") from None
        if len(root) != HASH_SIZE:
            raise TlogFormatError("the checkpoint's root hash is not 32 bytes")
        return cls(origin, int(size_text), root)


@dataclass(frozen=True)
class SignedNote:
    text: str  # everything the signatures cover, ending in a newline
    signatures: tuple[tuple[str, bytes], ...]  # (key name, key hash ‖ signature)

    @classmethod
    def parse(cls, note: str) -> "SignedNote":
        """Split a signed note into its text and signature lines (C2SP signed-note)."""
        text, separator, signature_block = note.rpartition("\n\n")
        if not separator or not signature_block.endswith("\n"):
            raise TlogFormatError("a signed note is text, a blank line, then signature lines")
        signatures = []
        for line in signature_block[:-1].split("\n"):
            parts = line.split(" ")
            if len(parts) != 3 or parts[0] != EM_DASH or not _valid_key_name(parts[1]):
                raise TlogFormatError(f"not a signature line: {line!r}")
            try:
                blob = base64.b64decode(parts[2], validate=True)
            except binascii.Error:
                raise TlogFormatError("a signature is not base64") from None
            if len(blob) < 5:
                raise TlogFormatError("a signature is too short")
            signatures.append((parts[1], blob))
        return cls(text + "\n", tuple(signatures))

    def verified_by(self, key: VerifierKey) -> bool:
        """Whether one of the signatures is ``key``'s and verifies over the text."""
        return any(
            name == key.name
            and blob[:4] == key.key_hash
            and key.verify(self.text.encode(), blob[4:])
            for name, blob in self.signatures
        )


def signature_line(name: str, key_hash_bytes: bytes, signature: bytes) -> str:
    return f"{EM_DASH} {name} {base64.b64encode(key_hash_bytes + signature).decode()}\n"


def open_checkpoint(note: str, key: VerifierKey, origin: str | None = None) -> Checkpoint:
    """The checkpoint in a signed note, once ``key``'s signature verifies over it (and its
    origin is ``origin``, when given); ``TlogFormatError`` otherwise."""
    signed = SignedNote.parse(note)
    if not signed.verified_by(key):
        raise TlogFormatError(f"the checkpoint carries no valid signature by {key.name}")
    checkpoint = Checkpoint.parse_body(signed.text)
    if origin is not None and checkpoint.origin != origin:
        raise TlogFormatError(f"the checkpoint's origin is {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


# --- RFC 9162 §2.1.3.2 and §2.1.4.2: verifying proofs -----------------------------------------


def verify_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """Whether ``path`` proves that ``leaf`` (a leaf hash) is at ``index`` in the tree of
    ``size`` leaves whose root is ``root``."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, proof: list[bytes], first_root: bytes, second_root: bytes
) -> bool:
    """Whether ``proof`` shows the tree of ``second`` leaves (``second_root``) extends the
    tree of ``first`` leaves (``first_root``)."""
    if first > second or first < 1:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first & (first - 1) == 0:  # a power of two: the old root starts the path
        proof = [first_root, *proof]
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
