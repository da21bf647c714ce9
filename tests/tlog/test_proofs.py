"""The log's proofs, on both backends, checked against RFC 9162 as tests/tlog/rfc9162.py reads
it: the app's proofs equal the recursive definitions computed from the revisions' own hashes,
the RFC's verification algorithms accept them, and reject them when anything is off."""

import pytest
from sqlalchemy import select
from sqlmodel import Session

from app.claims import service as claims_service
from app.claims.models import ClaimUpdate
from app.history import service as history_service
from app.tlog import merkle, service
from app.tlog.verify import verify_log
from app.tracked.versions import NO_PRECONDITION
from app.vocabulary import tlog as vocabulary
from tests import factories
from tests.tlog import rfc9162


def write_history(session: Session, claims: int = 4) -> None:
    for number in range(claims):
        claim = factories.claim(session, statement=f"Claim number {number} was said.")
        claims_service.update_claim(
            session,
            claim.id,
            ClaimUpdate(place=f"Place {number}"),
            expect=NO_PRECONDITION,
            actor=factories.ACTOR,
        )


def leaves_in_feed_order(session: Session) -> tuple[list[int], list[bytes]]:
    """The revisions' ids and RFC 9162 leaf hashes, in the change feed's order, read with the
    feed (not the log)."""
    feed = history_service.changes_feed(session.connection(), limit=10_000)
    return [r.id or 0 for r in feed], [rfc9162.leaf(bytes.fromhex(r.hash)) for r in feed]


class TestAppending:
    def test_every_revision_becomes_a_leaf_in_feed_order(self, session: Session) -> None:
        write_history(session)
        assert service.catch_up(session) > 0
        ids, _ = leaves_in_feed_order(session)
        conn = session.connection()
        logged = [
            row.revision_id
            for row in conn.execute(
                select(service.leaf_table.c.revision_id).order_by(service.leaf_table.c.leaf_index)
            )
        ]
        assert logged == ids
        assert service.catch_up(session) == 0  # nothing twice

    def test_small_batches_give_the_same_tree(self, session: Session) -> None:
        write_history(session, claims=3)
        service.catch_up(session, limit=2)
        _, leaves = leaves_in_feed_order(session)
        conn = session.connection()
        assert service.tree_size(conn) == len(leaves)
        assert service.root_hash(conn, len(leaves)) == rfc9162.mth(leaves)

    def test_the_roots_of_every_size_match_the_rfc(self, session: Session) -> None:
        write_history(session)
        service.catch_up(session)
        _, leaves = leaves_in_feed_order(session)
        conn = session.connection()
        for size in range(len(leaves) + 1):
            assert service.root_hash(conn, size) == rfc9162.mth(leaves[:size])

    def test_the_log_of_untouched_history_verifies(self, session: Session) -> None:
        write_history(session, claims=2)
        service.catch_up(session)
        report = verify_log(session.connection())
        assert report.ok, report.problem
        assert report.pending == 0


class TestInclusionProofs:
    def test_every_leaf_in_every_tree_size(self, session: Session) -> None:
        write_history(session)
        service.catch_up(session)
        ids, leaves = leaves_in_feed_order(session)
        conn = session.connection()
        for size in range(1, len(leaves) + 1):
            root = rfc9162.mth(leaves[:size])
            for index in range(size):
                answer = service.inclusion_proof(conn, ids[index], size)
                audit_path = [bytes.fromhex(node) for node in answer.audit_path]
                assert answer.leaf_index == index
                assert bytes.fromhex(answer.leaf_hash) == leaves[index]
                assert audit_path == rfc9162.path(index, leaves[:size])
                assert rfc9162.verify_inclusion(index, size, leaves[index], audit_path, root)
                # The vocabulary's verifier (what clients use) agrees.
                assert vocabulary.verify_inclusion(leaves[index], index, size, audit_path, root)

    def test_a_wrong_leaf_or_index_does_not_verify(self, session: Session) -> None:
        write_history(session)
        service.catch_up(session)
        ids, leaves = leaves_in_feed_order(session)
        conn = session.connection()
        size = len(leaves)
        root = rfc9162.mth(leaves)
        answer = service.inclusion_proof(conn, ids[3], None)
        audit_path = [bytes.fromhex(node) for node in answer.audit_path]
        assert answer.tree_size == size
        assert rfc9162.verify_inclusion(3, size, leaves[3], audit_path, root)
        assert not rfc9162.verify_inclusion(3, size, leaves[4], audit_path, root)
        assert not rfc9162.verify_inclusion(2, size, leaves[3], audit_path, root)
        assert not vocabulary.verify_inclusion(leaves[4], 3, size, audit_path, root)


class TestConsistencyProofs:
    def test_every_pair_of_sizes(self, session: Session) -> None:
        write_history(session)
        service.catch_up(session)
        _, leaves = leaves_in_feed_order(session)
        conn = session.connection()
        for second in range(1, len(leaves) + 1):
            for first in range(1, second + 1):
                answer = service.consistency_proof(conn, first, second)
                nodes = [bytes.fromhex(node) for node in answer.proof]
                assert nodes == rfc9162.proof(first, leaves[:second])
                first_root, second_root = rfc9162.mth(leaves[:first]), rfc9162.mth(leaves[:second])
                assert rfc9162.verify_consistency(first, second, first_root, second_root, nodes)
                assert vocabulary.verify_consistency(first, second, nodes, first_root, second_root)

    def test_a_proof_from_another_tree_does_not_verify(self, session: Session) -> None:
        write_history(session)
        service.catch_up(session)
        _, leaves = leaves_in_feed_order(session)
        conn = session.connection()
        nodes = [bytes.fromhex(node) for node in service.consistency_proof(conn, 5, 8).proof]
        forged = [*leaves[:4], leaves[5], leaves[4], *leaves[6:8]]  # two leaves swapped
        assert not rfc9162.verify_consistency(
            5, 8, rfc9162.mth(forged[:5]), rfc9162.mth(leaves[:8]), nodes
        )
        assert not vocabulary.verify_consistency(
            5, 8, nodes, rfc9162.mth(forged[:5]), rfc9162.mth(leaves[:8])
        )


class TestTheMathAlone:
    """The stored-subtree arithmetic against the recursive definitions, for many sizes (no
    database: leaves are made up)."""

    @pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 31, 32, 33, 100])
    def test_proofs_from_stored_subtrees(self, size: int) -> None:
        leaves = [rfc9162.leaf(bytes([i % 256, i // 256]) * 16) for i in range(size)]
        frontier: list[tuple[merkle.Node, bytes]] = []
        stored = dict(merkle.append_leaves(frontier, 0, leaves))
        assert merkle.frontier_root(frontier) == rfc9162.mth(leaves)
        for index in range(size):
            ranges = merkle.inclusion_ranges(index, size)
            got = [merkle.range_hash(a, b, stored) for a, b in ranges]
            assert got == rfc9162.path(index, leaves)
        for first in range(1, size + 1):
            ranges = merkle.consistency_ranges(first, size)
            got = [merkle.range_hash(a, b, stored) for a, b in ranges]
            assert got == rfc9162.proof(first, leaves)
