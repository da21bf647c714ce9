"""Which stored subtrees answer a root, an inclusion proof or a consistency proof (pure).

The tree stores the hash of every complete subtree: node ``(level, index)`` covers leaves
``[index·2^level, (index+1)·2^level)``. Any range that RFC 9162's recursion names (§2.1.1,
§2.1.3.1, §2.1.4.1) splits into at most log2(n) such nodes, largest first, so a proof is one
read of at most log2(n)² stored hashes, whatever the size of the tree.
"""

import hashlib
from collections.abc import Iterable, Mapping

from app.vocabulary.tlog import node_hash

Range = tuple[int, int]  # leaves [start, end)
Node = tuple[int, int]  # (level, index)

# RFC 9162: the hash of an empty list is SHA-256 of nothing.
EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n ≥ 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose hashes form the audit path of leaf ``index`` in a tree of ``size``
    leaves, leaf side first (RFC 9162 §2.1.3.1, PATH(m, D[n]))."""
    path: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start += k
    path.reverse()
    return path


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The ranges whose hashes form the consistency proof from ``first`` to ``second`` leaves
    (RFC 9162 §2.1.4.1, PROOF(m, D[n]) = SUBPROOF(m, D[n], true)); 1 ≤ first ≤ second."""
    proof: list[Range] = []
    start, end, m, complete = 0, second, first, True
    while end - start != m:
        k = _split(end - start)
        if m <= k:
            proof.append((start + k, end))
            end = start + k
        else:
            proof.append((start, start + k))
            start += k
            m -= k
            complete = False
    if not complete:
        proof.append((start, end))
    proof.reverse()
    return proof


def range_nodes(start: int, end: int) -> list[Node]:
    """The complete subtrees that make up leaves [start, end), largest (leftmost) first."""
    nodes: list[Node] = []
    while start < end:
        n = end - start
        width = n if n & (n - 1) == 0 else _split(n)
        level = width.bit_length() - 1
        nodes.append((level, start >> level))
        start += width
    return nodes


def nodes_of(ranges: Iterable[Range]) -> set[Node]:
    return {node for start, end in ranges for node in range_nodes(start, end)}


def range_hash(start: int, end: int, stored: Mapping[Node, bytes]) -> bytes:
    """MTH(D[start:end]) from the stored hashes of its complete subtrees."""
    hashes = [stored[node] for node in range_nodes(start, end)]
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def push(frontier: list[tuple[Node, bytes]], index: int, leaf: bytes) -> list[tuple[Node, bytes]]:
    """Append leaf ``index`` to ``frontier`` (the complete subtrees of the tree of ``index``
    leaves, largest first, with their hashes; updated in place). Returns the nodes that became
    complete: the leaf and each subtree it completed."""
    node, value = (0, index), leaf
    completed = [(node, value)]
    while frontier and frontier[-1][0][0] == node[0]:
        (level, left_index), left = frontier.pop()
        node, value = (level + 1, left_index >> 1), node_hash(left, value)
        completed.append((node, value))
    frontier.append((node, value))
    return completed


def frontier_root(frontier: list[tuple[Node, bytes]]) -> bytes:
    """The root of the tree whose complete subtrees ``frontier`` holds."""
    if not frontier:
        return EMPTY_ROOT
    result = frontier[-1][1]
    for _, left in reversed(frontier[:-1]):
        result = node_hash(left, result)
    return result


def append_leaves(
    frontier: list[tuple[Node, bytes]], first_index: int, leaves: Iterable[bytes]
) -> list[tuple[Node, bytes]]:
    """``push`` each leaf from ``first_index`` on; every node that became complete."""
    completed: list[tuple[Node, bytes]] = []
    for offset, leaf in enumerate(leaves):
        completed.extend(push(frontier, first_index + offset, leaf))
    return completed
