"""An independent implementation, written in the tests from the published texts, of what the
transparency log must agree with (none of the app's code is used here):

- RFC 9162 §2.1.1 MTH, §2.1.3.1 PATH and §2.1.4.1 PROOF/SUBPROOF, as the recursive
  definitions read, over a plain list of leaf hashes;
- RFC 9162 §2.1.3.2 and §2.1.4.2, the verification algorithms, step by step;
- C2SP signed-note (Ed25519 key hash, signature line) and tlog-checkpoint (three lines).
"""

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry)


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    """MTH over entries that are already leaf hashes (the app's leaves are SHA-256(0x00 ‖ h))."""
    n = len(d)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return d[0]
    k = _k(n)
    return sha256(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    return subproof(m, d, True)


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf_hash: bytes, inclusion_path: list[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    for p in inclusion_path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, consistency_path: list[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2 (for 0 < first < second)."""
    if first == second:
        return not consistency_path and first_hash == second_hash
    if not consistency_path:
        return False
    if first & (first - 1) == 0:
        consistency_path = [first_hash, *consistency_path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = consistency_path[0]
    for c in consistency_path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = sha256(b"\x01" + c + fr)
            sr = sha256(b"\x01" + c + sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha256(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


# --- C2SP signed-note and tlog-checkpoint -------------------------------------------------------


def parse_verifier_key(text: str) -> tuple[str, bytes, bytes]:
    """``name+hexhash+base64(0x01 ‖ key)`` -> (name, key hash, public key), checked."""
    name, key_hash_hex, encoded = text.strip().split("+", 2)
    raw = base64.b64decode(encoded)
    assert raw[0] == 0x01, "algorithm byte 0x01 (Ed25519)"
    assert len(raw) == 33
    public = raw[1:]
    assert sha256(name.encode() + b"\x0a" + b"\x01" + public)[:4] == bytes.fromhex(key_hash_hex)
    return name, bytes.fromhex(key_hash_hex), public


def open_note(note: str, verifier_key: str) -> tuple[str, int, bytes]:
    """Check a signed checkpoint against the C2SP texts and return (origin, size, root)."""
    name, key_hash, public = parse_verifier_key(verifier_key)
    text, signatures = note.split("\n\n", 1)  # a checkpoint has no blank line of its own
    text += "\n"
    lines = signatures.split("\n")
    assert lines[-1] == "", "the note ends with a newline"
    verified = False
    for line in lines[:-1]:
        dash, signer, blob_b64 = line.split(" ")
        assert dash == "\u2014"  # em dash
        blob = base64.b64decode(blob_b64)
        if signer == name and blob[:4] == key_hash:
            try:
                Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], text.encode())
                verified = True
            except InvalidSignature:
                pass
    assert verified, "signed by the verifier key"
    origin, size, root_b64, rest = text.split("\n", 3)
    assert rest == "", "origin, size, root: three lines and no extension"
    assert size == str(int(size))
    root = base64.b64decode(root_b64, validate=True)
    assert len(root) == 32
    return origin, int(size), root
