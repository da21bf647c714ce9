"""Likely duplicates in an import: each record with a new ``external_id`` is matched against
the stored claims (app/matching), and ``on_duplicate`` decides what happens:

- ``create`` (the default): the claim is created; its exact duplicates (the same normalised
  statement or original quote, found for the whole batch at once) are reported and stored as
  suggestions, and once the batch is committed the matcher (app/matching/matcher.py) stores
  its similar claims as suggestions too, in the background;
- ``link``: created, searched like ``GET /claims/{id}/similar`` (without the trigram search),
  and linked (confirmed ``duplicate``, a revision of both claims) to the stored claims it
  surely repeats; the other pairs are suggestions;
- ``skip``: not created when it surely repeats a stored claim; the report names that claim.

"Surely" is an exact duplicate (the same normalised text: always), or a score of at least the
link threshold for a statement of at least ``link_min_words`` words. The report lists every
record's likely duplicates (score at least the suggestion threshold). Everything happens in
the import's transaction, so a dry run or a refused batch stores nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from app.claims.models import Claim
from app.core.db import in_chunks
from app.imports.records import Batch
from app.matching import service as matching
from app.matching.links import LINKS
from app.matching.models import MatchRelation
from app.matching.normalize import word_count
from app.matching.search import EXACT, Found, find_similar
from app.vocabulary.enums import OnDuplicate
from app.vocabulary.records import ImportRecord, LikelyDuplicate, RecordDuplicates

DEFAULT_THRESHOLDS = matching.Thresholds(suggest=0.75, link=0.9, link_min_words=8)
REPORTED = 5  # likely duplicates reported (and stored) per record at most


@dataclass(frozen=True)
class DuplicatePolicy:
    on_duplicate: OnDuplicate = OnDuplicate.create
    thresholds: matching.Thresholds = field(default=DEFAULT_THRESHOLDS)

    def fingerprint_parts(self) -> tuple[str, ...]:
        """What an Idempotency-Key's retry must repeat of the policy (the default: nothing, so
        keys stored before on_duplicate existed still match)."""
        return () if self.on_duplicate is OnDuplicate.create else (self.on_duplicate.value,)

    def acts_on(self, found: Found, statement: str) -> bool:
        """Whether ``found`` is sure enough to link or skip on."""
        if found.method == EXACT:
            return True
        limits = self.thresholds
        return found.score >= limits.link and word_count(statement) >= limits.link_min_words


def skip_duplicates(
    batch: Batch,
    new: list[tuple[int, ImportRecord]],
    outcomes: dict[int, str],
    policy: DuplicatePolicy,
) -> tuple[list[tuple[int, ImportRecord]], list[RecordDuplicates]]:
    """``on_duplicate=skip``: the records that surely repeat a stored claim are answered
    ``skipped``; returns the others and the skipped ones' reports."""
    kept: list[tuple[int, ImportRecord]] = []
    reports: list[RecordDuplicates] = []
    for index, record in new:
        found = find_similar(
            batch.conn,
            record.statement,
            threshold=policy.thresholds.suggest,
            limit=REPORTED,
            trigrams=False,
        )
        if any(policy.acts_on(item, record.statement) for item in found):
            outcomes[index] = "skipped"
            reports.append(
                RecordDuplicates(
                    index=index,
                    external_id=record.external_id,
                    skipped=True,
                    duplicates=[_reported(item, linked=False) for item in found],
                )
            )
        else:
            kept.append((index, record))
    return kept, reports


def match_created(
    batch: Batch,
    new: Sequence[tuple[int, ImportRecord]],
    outcomes: dict[int, str],
    policy: DuplicatePolicy,
) -> list[RecordDuplicates]:
    """The likely duplicates of the claims the batch created (other claims of the batch
    included): linked under ``on_duplicate=link``, stored as suggestions otherwise.

    Under ``create`` (the default) only exact duplicates, for the whole batch at once (one hash
    join): a similarity search for every record would cut the import's throughput many times
    (bench/RESULTS.md); the matcher stores the new claims' similar claims after the commit,
    off the import's path. ``link`` asks for the similarity search of every new record, and
    pays for it."""
    created = [(index, record) for index, record in new if outcomes.get(index) == "created"]
    ids = _ids_of(batch, [record.external_id for _, record in created])
    if policy.on_duplicate is OnDuplicate.link:
        found = {
            claim_id: matching.similar_claims(
                batch.conn,
                claim_id,
                limit=REPORTED,
                threshold=policy.thresholds.suggest,
                trigrams=False,  # the cheaper search: an import matches every new record
            )
            for claim_id in ids.values()
        }
    else:
        found = matching.exact_duplicates(batch.conn, list(ids.values()), limit=REPORTED)
    reports: list[RecordDuplicates] = []
    for index, record in created:
        claim_id = ids[record.external_id]
        items = found.get(claim_id)
        if not items:
            continue
        linked = set()
        if policy.on_duplicate is OnDuplicate.link:
            for item in items:
                if policy.acts_on(item, record.statement):
                    LINKS.link(
                        batch.session,
                        claim_id,
                        item.claim_id,
                        MatchRelation.duplicate,
                        method=item.method,
                        value=item.score,
                        matched_field=item.matched_field,
                        actor=batch.actor,
                        reason=f"{batch.reason}: on_duplicate=link",
                    )
                    linked.add(item.claim_id)
        reports.append(
            RecordDuplicates(
                index=index,
                external_id=record.external_id,
                claim_id=claim_id,
                duplicates=[_reported(item, linked=item.claim_id in linked) for item in items],
            )
        )
    batch.session.flush()
    matching.store_pairs(batch.conn, found)
    # The session's one commit: in an import it only releases the session's savepoint; the
    # import's outer transaction commits (or rolls back) the whole batch.
    batch.session.commit()
    return reports


def _reported(found: Found, *, linked: bool) -> LikelyDuplicate:
    return LikelyDuplicate(
        claim_id=found.claim_id,
        score=found.score,
        method=found.method,
        matched_field=found.matched_field.value,
        linked=linked,
    )


def _ids_of(batch: Batch, external_ids: list[str]) -> dict[str, int]:
    table = Claim.__table__  # type: ignore[attr-defined]
    ids: dict[str, int] = {}
    for chunk in in_chunks(external_ids):
        rows = batch.conn.execute(
            sa.select(table.c.external_id, table.c.id).where(table.c.external_id.in_(chunk))
        )
        ids.update((row.external_id, row.id) for row in rows)
    return ids
