"""What the change history costs, in-process (no HTTP), on fresh SQLite and PostgreSQL databases.

(a) bytes per revision after creating claims through the real service and updating each a few
times; (b) an update through ``app.claims.service.update_claim`` against the same ORM update
committed without the recorder, interleaved in blocks; (c) ``revision_as_of`` for an entity
with 10, 100 and 1,000 revisions. ``python -m bench.history_cost`` replaces this section of
bench/RESULTS.md; ``make bench`` runs it at the end.
"""

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event, text
from sqlmodel import select

from app.auth.actor import Actor, Role
from app.claims import service as claims_service
from app.claims.models import Claim, ClaimCreate, ClaimUpdate
from app.core.base import utcnow
from app.core.db import Database
from app.core.settings import get_settings
from app.history.models import EntityType, Revision
from app.history.service import revision_as_of
from app.matching import texts
from app.outlets.models import OutletCreate
from app.outlets.service import create_outlet
from app.speakers.models import SpeakerCreate
from app.speakers.service import create_speaker
from app.tracked.lookup import load_for_write
from app.tracked.versions import NO_PRECONDITION
from bench import data
from bench.sections import write_section

N_CLAIMS = 2_000
UPDATES_EACH = 2
TIMED_UPDATES = 1_000  # per arm
BLOCK = 50
AS_OF_DEPTHS = (10, 100, 1_000)
AS_OF_REPEATS = 200
ACTOR = Actor(name="bench", role=Role.editor)
SECTION = "## History cost"


@dataclass
class Costs:
    backend: str
    sizes: dict[str, float] = field(default_factory=dict)
    creates_per_s: float = 0.0
    with_us: list[float] = field(default_factory=list)  # per update, one value per block
    without_us: list[float] = field(default_factory=list)
    statements_with: float = 0.0
    statements_without: float = 0.0
    as_of: dict[int, dict[str, float]] = field(default_factory=dict)


class StatementCounter:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


def _changes(generator: data.Generator, round_no: int) -> ClaimUpdate:
    return ClaimUpdate(
        statement=generator.sentence(80, 300, 140),
        context=f"update {round_no}: {generator.sentence(20, 120, 50)}",
    )


def populate(database: Database, costs: Costs, generator: data.Generator) -> list[int]:
    with database.session(write=True) as session:
        speaker = create_speaker(session, SpeakerCreate(name="Ann Example"), actor=ACTOR)
    with database.session(write=True) as session:
        outlet = create_outlet(session, OutletCreate(name="Example Times"), actor=ACTOR)
    ids: list[int] = []
    started = time.perf_counter()
    for number in range(N_CLAIMS):
        quote, language = generator.quote() if number % 4 == 0 else (None, None)
        claim_in = ClaimCreate(
            statement=generator.sentence(80, 300, 140),
            original_quote=quote,
            original_language=language,
            speaker_id=speaker.id,
            outlet_id=outlet.id if number % 3 else None,
            claimed_at=data.EPOCH,
            topics=generator.rng.sample(generator.topics, k=number % 4),
        )
        with database.session(write=True) as session:
            ids.append(claims_service.create_claim(session, claim_in, actor=ACTOR).id or 0)
    costs.creates_per_s = N_CLAIMS / (time.perf_counter() - started)
    for round_no in range(UPDATES_EACH):
        for claim_id in ids:
            update(database, claim_id, _changes(generator, round_no))
    return ids


def update(database: Database, claim_id: int, changes: ClaimUpdate) -> None:
    with database.session(write=True) as session:
        claims_service.update_claim(session, claim_id, changes, expect=NO_PRECONDITION, actor=ACTOR)


def update_without_history(database: Database, claim_id: int, changes: ClaimUpdate) -> None:
    """The same load and the same fields, committed without the recorder. The similar-claims
    search texts are kept as the service keeps them (an edited statement is re-indexed): that
    is search, not history, and an app without history would pay it too."""
    with database.session(write=True) as session:
        claim = load_for_write(session, Claim, claim_id)
        before = {field.value: getattr(claim, field.value) for field in texts.FIELDS}
        for name, value in changes.model_dump(exclude_unset=True).items():
            setattr(claim, name, value)
        claim.version += 1
        claim.updated_at = utcnow()
        session.add(claim)
        after = {field.value: getattr(claim, field.value) for field in texts.FIELDS}
        if texts.changed(before, after):
            texts.replace(session.connection(), claim_id, before, after)
        session.commit()


def revision_sizes(database: Database) -> dict[str, float]:
    with database.engine.connect() as conn:
        if database.is_sqlite:
            row = conn.execute(
                text("SELECT count(*), avg(length(snapshot)), avg(length(changes)) FROM revision")
            ).one()
            indexes = conn.execute(
                text("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='revision'")
            ).scalars()
            names = ["revision", *indexes]
            pages = {
                name: int(
                    conn.execute(
                        text("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = :n"),
                        {"n": name},
                    ).scalar_one()
                )
                for name in names
            }
            count = int(row[0])
            return {
                "revisions": count,
                "table": pages["revision"] / count,
                "total": sum(pages.values()) / count,
                "snapshot": float(row[1]),
                "changes": float(row[2]),
                "row": float("nan"),
            }
        row = conn.execute(
            text(
                "SELECT count(*), pg_relation_size('revision'), "
                "pg_total_relation_size('revision'), avg(pg_column_size(snapshot)), "
                "avg(pg_column_size(changes)), avg(pg_column_size(revision.*)) FROM revision"
            )
        ).one()
        count = int(row[0])
        return {
            "revisions": count,
            "table": row[1] / count,
            "total": row[2] / count,
            "snapshot": float(row[3]),
            "changes": float(row[4]),
            "row": float(row[5]),
        }


def timed_updates(
    database: Database, costs: Costs, ids: list[int], generator: data.Generator
) -> None:
    """Alternate blocks: service update (first half of the claims), plain update (second)."""
    half = len(ids) // 2
    arms: list[tuple[Callable[[Database, int, ClaimUpdate], None], list[int], list[float]]] = [
        (update, ids[:half], costs.with_us),
        (update_without_history, ids[half:], costs.without_us),
    ]
    counter = StatementCounter(database.engine)
    statements = [0, 0]
    for block in range(TIMED_UPDATES // BLOCK):
        for arm, (write, targets, sink) in enumerate(arms):
            changes = [_changes(generator, 100 + block) for _ in range(BLOCK)]
            before = counter.count
            started = time.perf_counter()
            for offset, claim_changes in enumerate(changes):
                write(database, targets[(block * BLOCK + offset) % len(targets)], claim_changes)
            sink.append((time.perf_counter() - started) / BLOCK * 1e6)
            statements[arm] += counter.count - before
    costs.statements_with = statements[0] / TIMED_UPDATES
    costs.statements_without = statements[1] / TIMED_UPDATES


def as_of_costs(database: Database, costs: Costs, generator: data.Generator) -> None:
    for depth in AS_OF_DEPTHS:
        claim_in = ClaimCreate(statement=generator.sentence(80, 300, 140))
        with database.session(write=True) as session:
            claim_id = claims_service.create_claim(session, claim_in, actor=ACTOR).id or 0
        for round_no in range(depth - 1):
            update(database, claim_id, _changes(generator, round_no))
        with database.session() as session:
            statement = select(Revision.version, Revision.recorded_at).where(
                Revision.entity_type == EntityType.claim, Revision.entity_id == claim_id
            )
            times: dict[int, datetime] = dict(session.exec(statement).all())
        targets = {"oldest": 1, "middle": (depth + 1) // 2, "latest": depth}
        results: dict[str, float] = {}
        for label, version in targets.items():
            results[f"version={label}"] = _time_as_of(database, claim_id, version=version)
            results[f"at={label}"] = _time_as_of(database, claim_id, at=times[version])
        costs.as_of[depth] = results


def _time_as_of(database: Database, claim_id: int, **when: Any) -> float:
    samples: list[float] = []
    for _ in range(AS_OF_REPEATS):
        started = time.perf_counter()
        with database.session() as session:
            found: Revision = revision_as_of(session, EntityType.claim, claim_id, **when)
        samples.append((time.perf_counter() - started) * 1e6)
        assert found.entity_id == claim_id
    return statistics.median(samples)


def measure(backend: str, admin_url: str) -> Costs:
    costs = Costs("SQLite" if backend == "sqlite" else "PostgreSQL")
    generator = data.Generator(data.Spec(seed=7))
    with data.scratch_database(backend, admin_url, "history-cost") as database:
        ids = populate(database, costs, generator)
        costs.sizes = revision_sizes(database)
        timed_updates(database, costs, ids, generator)
        as_of_costs(database, costs, generator)
    return costs


def render(all_costs: list[Costs], started: str) -> str:
    lines = [
        SECTION,
        "",
        f"Run {started} (`python -m bench.history_cost` reruns this section alone). "
        f"In-process, no HTTP; fresh databases. {N_CLAIMS:,} claims created through "
        f"`create_claim` (a quarter with an original quote, a fifth of those in Cyrillic), "
        f"then updated {UPDATES_EACH} times each through `update_claim` "
        f"(statement and context), before the sizes are taken. SQLite runs with the app's "
        f"settings (`PRAGMA synchronous={get_settings().sqlite_synchronous}`, WAL).",
        "",
        "### Bytes per revision",
        "",
        "| backend | revisions | table bytes/revision | with indexes (and TOAST) | "
        "avg snapshot bytes | avg changes bytes | avg row (pg_column_size) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for costs in all_costs:
        s = costs.sizes
        row = "" if s["row"] != s["row"] else f"{s['row']:,.0f}"
        lines.append(
            f"| {costs.backend} | {s['revisions']:,.0f} | {s['table']:,.0f} | {s['total']:,.0f} "
            f"| {s['snapshot']:,.0f} | {s['changes']:,.0f} | {row} |"
        )
    lines += [
        "",
        "SQLite: dbstat pages of the revision table and its indexes over the row count; "
        "snapshot and changes are JSON text lengths. PostgreSQL: pg_relation_size and "
        "pg_total_relation_size over count(*); snapshot and changes are JSONB sizes.",
        "",
        "### Write cost of recording history",
        "",
        f"{TIMED_UPDATES:,} updates per arm, interleaved in blocks of {BLOCK}, each in its own "
        "session and transaction. *With*: `update_claim` (the claim loaded with a row lock "
        "and, in the same statement, the evidence and appearances its snapshot lists; the "
        "snapshot after the change built from what the transaction holds; the revision "
        "and its hash; the changed fields, version and head hash in one UPDATE; the topic "
        "index only when topics change; on PostgreSQL whatever the ledger takes to keep the "
        "feed in order). *Without*: the same load and the same fields set, version bumped by "
        "hand, `session.add(claim); session.commit()`. Both arms keep the similar-claims "
        "search texts (`claim_text`: the edited statement re-indexed, one UPDATE), which is "
        "search, not history; before 2026-12-01 the *without* arm skipped it. SQLite counts "
        "the `BEGIN` the app sends as a statement; PostgreSQL's driver begins implicitly.",
        "",
        "| backend | creates/s (service) | with history µs/update | without µs/update | "
        "ratio with/without | SQL statements per update with / without |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for costs in all_costs:
        with_us = statistics.median(costs.with_us)
        without_us = statistics.median(costs.without_us)
        lines.append(
            f"| {costs.backend} | {costs.creates_per_s:,.0f} | {with_us:,.0f} | "
            f"{without_us:,.0f} | {with_us / without_us:.2f} | "
            f"{costs.statements_with:.1f} / {costs.statements_without:.1f} |"
        )
    lines += [
        "",
        "Medians over blocks. Statements: every cursor execution (COMMIT is not one; SQLite's "
        "explicit `BEGIN IMMEDIATE` is).",
        "",
        "### As-of read cost",
        "",
        "`revision_as_of` in a fresh read session per call, median µs over "
        f"{AS_OF_REPEATS} calls, for a claim with 10, 100 and 1,000 revisions; by version and "
        "by time (`at` = the recorded_at of that version).",
        "",
    ]
    for costs in all_costs:
        labels = list(next(iter(costs.as_of.values())))
        lines += [
            f"| {costs.backend}: revisions | " + " | ".join(labels) + " |",
            "|---:|" + "---:|" * len(labels),
        ]
        for depth, results in costs.as_of.items():
            cells = " | ".join(f"{results[label]:,.0f}" for label in labels)
            lines.append(f"| {depth:,} | {cells} |")
        lines.append("")
    return "\n".join(lines)


def run(backends: list[str], admin_url: str) -> str:
    started = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}"
    return render([measure(backend, admin_url) for backend in backends], started)


def main() -> None:
    from bench import import_bench
    from bench.run import PG_ADMIN_URL, RESULTS, pg_version

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    backends = [name for name in args.backends.split(",") if name]
    if "postgresql" in backends and pg_version(PG_ADMIN_URL) is None:
        backends.remove("postgresql")
    section = run(backends, PG_ADMIN_URL)
    write_section(RESULTS, SECTION, section, before=(import_bench.SECTION,))
    print(section)


if __name__ == "__main__":
    main()
