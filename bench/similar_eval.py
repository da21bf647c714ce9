"""How well the similar-claims search finds what it should, and leaves alone what it should not.

The collection: LIAR train.tsv (10,269 statements, read from the shared folder, never copied)
and the seed claims (seeds/), created through the claim services on a fresh, migrated database.

Queries (all derived here, seeded random, so a run is repeatable):
- paraphrases of LIAR statements, one kind at a time: ``drop_says`` (the leading "Says"
  gone), ``reorder`` (the two halves of the statement swapped at a comma, "and", "but" or
  "because"), ``synonyms`` (up to three words replaced from a small hand list), ``typos`` (two
  words with a letter swapped or dropped), ``truncation`` (the first 60% of the words) and
  ``numbers`` (1,000 -> 1000, percent <-> %, $5 -> 5 dollars);
- hand-written English and Dutch paraphrases of seed claims (``SEED_PARAPHRASES``);
- unrelated statements that share words with stored claims: LIAR valid.tsv statements (not in
  the collection) whose best candidate shares at least two content words with them, minus the
  exact duplicates, and hand-written ones about the seed claims' subjects (``SEED_UNRELATED``).

Thresholds are chosen on the LIAR queries of even index (dev) and reported on the odd ones
(test): the least threshold whose false-suggestion rate on dev is at most ``MAX_FALSE``.
``python -m bench.similar_eval [--backend sqlite|postgresql] [--write]``: prints the tables,
and with --write replaces this section of bench/RESULTS.md.
"""

import argparse
import csv
import os
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Connection

from app.auth.actor import CLI_ACTOR
from app.claims import batch as claims_batch
from app.claims.models import ClaimCreate
from app.core.db import Database, make_engine
from app.matching.normalize import content_words, normalize
from app.matching.search import find_similar
from app.schema.migrate import upgrade
from app.seeding.seeds import load_seeds
from bench import data
from bench.sections import write_section

ROOT = Path(__file__).resolve().parent.parent
SHARED = (ROOT / (os.environ.get("CLAIMS_SHARED_DIR") or "../shared")).resolve()
LIAR = SHARED / "datasets" / "liar"
SECTION = "## Similar claims: evaluation"
SEED = 20261130
PER_KIND = 300  # LIAR paraphrases per kind
UNRELATED = 400  # LIAR valid.tsv statements tried as unrelated queries
MAX_FALSE = 0.05
THRESHOLDS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)

SYNONYMS = {
    "says": "claims",
    "percent": "per cent",
    "government": "administration",
    "increase": "rise",
    "increased": "rose",
    "more than": "over",
    "voted": "cast a vote",
    "supports": "backs",
    "million": "mln",
    "billion": "bn",
    "taxes": "levies",
    "people": "individuals",
    "jobs": "positions",
    "money": "funds",
    "state": "state's",
    "bill": "legislation",
    "cut": "reduced",
    "spending": "expenditure",
    "children": "kids",
    "president": "president of the united states",
    "because": "since",
    "country": "nation",
    "largest": "biggest",
    "nearly": "almost",
    "almost": "nearly",
    "doubled": "went up two-fold",
}

# (external_id of the seed claim, a paraphrase), English and Dutch.
SEED_PARAPHRASES = [
    (
        "claim:belgorod-oil-depot-completely-destroyed",
        "Reports say the Belgorod oil depot was destroyed completely.",
    ),
    (
        "claim:belgorod-oil-depot-completely-destroyed",
        "Het oliedepot in Belgorod zou helemaal vernietigd zijn.",
    ),
    (
        "claim:belgorod-footage-authentic-according-to-cnn",
        "CNN says the video of the Belgorod oil depot attack is authentic.",
    ),
    (
        "claim:belgorod-footage-authentic-according-to-cnn",
        "Volgens CNN zijn de beelden van de aanval echt.",
    ),
    (
        "claim:russia-effectively-lost-battle-of-kyiv",
        "Western military observers say Russia has effectively lost the battle for Kyiv.",
    ),
    (
        "claim:russia-effectively-lost-battle-of-kyiv",
        "De Russen hebben de slag om Kyiv in feite verloren, volgens Westerse waarnemers.",
    ),
    (
        "claim:russian-units-regrouping-in-eastern-ukraine",
        "Russian units are said to be regrouping in eastern Ukraine.",
    ),
    (
        "claim:russian-units-regrouping-in-eastern-ukraine",
        "Russische eenheden hergroeperen zich in het oosten van Oekraïne.",
    ),
    (
        "claim:kharkiv-hit-by-15-strikes",
        "Fifteen strikes hit Kharkiv city and region, targeting infrastructure among others.",
    ),
    (
        "claim:kharkiv-hit-by-15-strikes",
        "De stad en de regio Kharkiv werden door 15 aanvallen getroffen.",
    ),
    (
        "claim:stoltenberg-russia-throwing-more-troops-into-bakhmut",
        "Russia keeps sending more troops into the fight for Bakhmut.",
    ),
    (
        "claim:stoltenberg-russia-throwing-more-troops-into-bakhmut",
        "Rusland gooit meer troepen in de strijd om Bakhmut.",
    ),
    (
        "claim:vereshchuk-fewer-than-4000-civilians-left-in-bakhmut",
        "Less than 4,000 civilians, 38 of them children, are still in Bakhmut, which had "
        "about 70,000 people before the war.",
    ),
    (
        "claim:vereshchuk-fewer-than-4000-civilians-left-in-bakhmut",
        "Minder dan 4.000 burgers, onder wie 38 kinderen, zijn nog in Bakhmut.",
    ),
    (
        "claim:russia-buying-north-korean-artillery-shells",
        "Russia's defence ministry is buying millions of artillery shells and rockets from "
        "North Korea to use in Ukraine.",
    ),
    (
        "claim:russia-buying-north-korean-artillery-shells",
        "Rusland koopt miljoenen artilleriegranaten en raketten in Noord-Korea.",
    ),
    (
        "claim:bakhmut-east-of-bakhmutka-under-wagner-control",
        "Wagner controls everything east of the Bakhmutka river, the eastern part of Bakhmut.",
    ),
    (
        "claim:bakhmut-east-of-bakhmutka-under-wagner-control",
        "Alles ten oosten van de rivier de Bakhmutka is volledig in handen van Wagner.",
    ),
    (
        "claim:odesa-energy-facility-hit-by-mass-missile-attack",
        "An energy facility in the port city of Odesa was hit in a massive missile strike, "
        "cutting power.",
    ),
    (
        "claim:odesa-energy-facility-hit-by-mass-missile-attack",
        "Een massale raketaanval trof een energiecentrale in de havenstad Odessa.",
    ),
]
SEED_UNRELATED = [
    "The oil price rose sharply in Belgorod's markets after the harvest.",
    "CNN hired a new anchor for its evening show about Kyiv's restaurants.",
    "Kharkiv's university opened 15 new study programmes this autumn.",
    "North Korea held a military parade with artillery for its anniversary.",
    "Odesa's port city council voted on a new tourism tax.",
    "De energieprijzen in Nederland stegen in de winter.",
    "Bakhmut was known for its sparkling wine before the war.",
    "Western observers praised the elections in Moldova.",
    "Het depot van het museum in Rotterdam is open voor publiek.",
    "Russian ballet dancers performed in Kyiv in 2019.",
]

_SPLIT = re.compile(r",\s+|\s+(?:and|but|because)\s+")


def read_liar(name: str) -> list[str]:
    with (LIAR / name).open(encoding="utf-8", newline="") as handle:
        return [row[2] for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]


# --- paraphrase makers: None when the kind does not apply to the statement ------------------


def drop_says(text: str, rng: random.Random) -> str | None:
    match = re.match(r"(?i)says\s+(?:that\s+)?", text)
    return text[match.end() :] if match else None


def reorder(text: str, rng: random.Random) -> str | None:
    parts = _SPLIT.split(text.rstrip("."), maxsplit=1)
    if len(parts) != 2 or min(len(p.split()) for p in parts) < 3:
        return None
    return f"{parts[1]}, {parts[0]}."


def synonyms(text: str, rng: random.Random) -> str | None:
    found = [w for w in SYNONYMS if re.search(rf"(?i)\b{re.escape(w)}\b", text)]
    if not found:
        return None
    for word in rng.sample(found, min(3, len(found))):
        text = re.sub(rf"(?i)\b{re.escape(word)}\b", SYNONYMS[word], text, count=1)
    return text


def typos(text: str, rng: random.Random) -> str | None:
    words = text.split()
    long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if len(long) < 2:
        return None
    for i in rng.sample(long, 2):
        word = words[i]
        j = rng.randrange(1, len(word) - 2)
        if rng.random() < 0.5:
            words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
        else:
            words[i] = word[:j] + word[j + 1 :]
    return " ".join(words)


def truncation(text: str, rng: random.Random) -> str | None:
    words = text.split()
    if len(words) < 10:
        return None
    return " ".join(words[: int(len(words) * 0.6)])


def numbers(text: str, rng: random.Random) -> str | None:
    changed = re.sub(r"(\d),(\d{3})", r"\1\2", text)
    changed = (
        re.sub(r"(?i)\s?percent\b", "%", changed)
        if "percent" in changed
        else (changed.replace("%", " percent"))
    )
    changed = re.sub(r"\$(\d[\d.,]*)( (?:million|billion|trillion))?", r"\1\2 dollars", changed)
    return changed if changed != text else None


KINDS: dict[str, Callable[[str, random.Random], str | None]] = {
    "drop_says": drop_says,
    "reorder": reorder,
    "synonyms": synonyms,
    "typos": typos,
    "truncation": truncation,
    "numbers": numbers,
}


# --- the collection --------------------------------------------------------------------------


def build(url: str, statements: list[str]) -> tuple[Database, dict[str, int]]:
    """A migrated database holding the seeds and ``statements``; returns the seed claims' ids
    by external_id."""
    upgrade(url)
    database = Database(make_engine(url))
    with database.session(write=True) as session:
        load_seeds(session)
    for start in range(0, len(statements), 1000):
        items = [
            claims_batch.NewClaim(ClaimCreate(statement=s, external_id=f"liar:{start + i}"))
            for i, s in enumerate(statements[start : start + 1000])
        ]
        with database.session(write=True) as session:
            claims_batch.create_claims(session, items, actor=CLI_ACTOR)
    if database.engine.dialect.name == "postgresql":
        # What autovacuum does to a filled table (the test server runs without it): the GIN
        # indexes' pending lists merged, the planner's statistics taken.
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE claim_text"))
            conn.execute(sa.text("VACUUM ANALYZE claim"))
    with database.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT external_id, id FROM claim WHERE external_id LIKE 'claim:%'")
        )
        return database, {row.external_id: row.id for row in rows}


def liar_ids(conn: Connection) -> dict[int, int]:
    rows = conn.execute(
        sa.text("SELECT external_id, id FROM claim WHERE external_id LIKE 'liar:%'")
    )
    return {int(row.external_id.split(":")[1]): row.id for row in rows}


# --- the evaluation --------------------------------------------------------------------------

Ranked = list[tuple[int, float]]


def ranked(conn: Connection, query: str) -> Ranked:
    return [(f.claim_id, f.score) for f in find_similar(conn, query, threshold=0.0, limit=3)]


def hit(result: Ranked, target: int, k: int, threshold: float) -> bool:
    return target in [claim_id for claim_id, score in result if score >= threshold][:k]


def suggests(result: Ranked, threshold: float) -> bool:
    return any(score >= threshold for _, score in result)


def evaluate(backend: str, url: str) -> dict[str, object]:
    rng = random.Random(SEED)
    train = read_liar("train.tsv")
    valid = read_liar("valid.tsv")
    started = time.perf_counter()
    database, seeds = build(url, train)
    build_seconds = time.perf_counter() - started
    paraphrases: list[tuple[str, str, int, bool]] = []  # kind, query, target, dev?
    unrelated: list[tuple[str, bool]] = []  # query, dev?
    with database.engine.connect() as conn:
        ids = liar_ids(conn)
        order = list(range(len(train)))
        rng.shuffle(order)
        for kind, make in KINDS.items():
            made = 0
            for index in order:
                query = make(train[index], rng)
                if query is None or normalize(query) == "":
                    continue
                paraphrases.append((kind, query, ids[index], made % 2 == 0))
                made += 1
                if made == PER_KIND:
                    break
        for n, (external_id, query) in enumerate(SEED_PARAPHRASES):
            kind = "seed_nl" if n % 2 else "seed_en"
            paraphrases.append((kind, query, seeds[external_id], False))
        exact = {normalize(s) for s in train}
        tried = 0
        for statement in rng.sample(valid, len(valid)):
            if normalize(statement) in exact:
                continue  # a real duplicate, not an unrelated statement
            result = find_similar(conn, statement, threshold=0.0, limit=1)
            if not result:
                continue
            stored = conn.execute(
                sa.text("SELECT statement FROM claim WHERE id = :id"), {"id": result[0].claim_id}
            ).scalar_one()
            shared = set(content_words(normalize(statement))) & set(
                content_words(normalize(stored))
            )
            if len(shared) >= 2:
                unrelated.append((statement, tried % 2 == 0))
                tried += 1
            if tried == UNRELATED:
                break
        unrelated.extend((query, False) for query in SEED_UNRELATED)
        timings: list[float] = []
        results_p = []
        for kind, query, target, dev in paraphrases:
            t0 = time.perf_counter()
            results_p.append((kind, ranked(conn, query), target, dev))
            timings.append(time.perf_counter() - t0)
        results_u = [(ranked(conn, query), dev) for query, dev in unrelated]
    database.engine.dispose()
    return {
        "backend": backend,
        "build_seconds": build_seconds,
        "paraphrases": results_p,
        "unrelated": results_u,
        "timings": sorted(timings),
    }


def choose_threshold(result: dict[str, object]) -> float:
    unrelated = [r for r, dev in result["unrelated"] if dev]  # type: ignore[attr-defined]
    for threshold in THRESHOLDS:
        rate = sum(suggests(r, threshold) for r in unrelated) / len(unrelated)
        if rate <= MAX_FALSE:
            return threshold
    return THRESHOLDS[-1]


def report(result: dict[str, object], threshold: float) -> list[str]:
    paraphrases = result["paraphrases"]  # type: ignore[assignment]
    unrelated = result["unrelated"]  # type: ignore[assignment]
    lines = [
        f"### {result['backend']}",
        "",
        f"Collection: {len(read_liar('train.tsv')):,} LIAR statements + the seed claims, built "
        f"in {result['build_seconds']:.1f} s. Threshold chosen on dev: **{threshold}** "
        f"(false-suggestion rate on dev ≤ {MAX_FALSE:.0%}).",
        "",
        "Test queries (odd-indexed LIAR queries, all seed paraphrases), at the chosen threshold:",
        "",
        "| queries | n | recall@1 | recall@3 |",
        "|---|---:|---:|---:|",
    ]
    by_kind: dict[str, list[tuple[Ranked, int]]] = defaultdict(list)
    for kind, ranking, target, dev in paraphrases:  # type: ignore[attr-defined]
        if not dev:
            by_kind[kind].append((ranking, target))
            by_kind["all paraphrases"].append((ranking, target))
    for kind, items in by_kind.items():
        r1 = sum(hit(r, t, 1, threshold) for r, t in items) / len(items)
        r3 = sum(hit(r, t, 3, threshold) for r, t in items) / len(items)
        lines.append(f"| {kind} | {len(items)} | {r1:.3f} | {r3:.3f} |")
    test_unrelated = [r for r, dev in unrelated if not dev]  # type: ignore[attr-defined]
    lines += [
        "",
        "Unrelated statements sharing words (test half of LIAR valid.tsv picks + the hand-written "
        "ones): the share that gets any suggestion, by threshold (recall@3 of all test "
        "paraphrases beside it):",
        "",
        "| threshold | false-suggestion rate | recall@3 |",
        "|---:|---:|---:|",
    ]
    everything = by_kind["all paraphrases"]
    for t in THRESHOLDS:
        rate = sum(suggests(r, t) for r in test_unrelated) / len(test_unrelated)
        r3 = sum(hit(r, target, 3, t) for r, target in everything) / len(everything)
        mark = " (chosen)" if t == threshold else ""
        lines.append(f"| {t}{mark} | {rate:.3f} (n={len(test_unrelated)}) | {r3:.3f} |")
    timings = result["timings"]  # type: ignore[assignment]
    p50 = timings[len(timings) // 2] * 1000  # type: ignore[index]
    p99 = timings[int(len(timings) * 0.99)] * 1000  # type: ignore[index]
    lines += [
        "",
        f"Search time per query on this collection: p50 {p50:.1f} ms, p99 {p99:.1f} ms.",
        "",
    ]
    return lines


def run(backends: list[str], pg_url: str) -> str:
    """This section of bench/RESULTS.md, evaluated on each of ``backends`` (PostgreSQL in a
    scratch database next to ``pg_url``)."""
    lines = [
        SECTION,
        "",
        "`bench/similar_eval.py` (its docstring says how the queries are made). Scores: the "
        "mean of rapidfuzz's token-sort and token-set ratios (mean) and the Dice overlap of "
        "5-letter word stems, over the normalised content words (docs/similar.md).",
        "",
    ]
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            if backend == "sqlite":
                result = evaluate(backend, f"sqlite:///{Path(tmp) / 'eval.db'}")
            else:
                url = data.create_pg_database(pg_url)
                try:
                    result = evaluate(backend, url)
                finally:
                    data.drop_pg_database(pg_url, url)
        threshold = choose_threshold(result)
        section = report(result, threshold)
        print("\n".join(section), file=sys.stderr, flush=True)
        lines += section
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get("CLAIMS_TEST_PG_URL", ""))
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not args.pg_url:
        print("no --pg-url / CLAIMS_TEST_PG_URL: PostgreSQL skipped", file=sys.stderr)
        backends.remove("postgresql")
    section = run(backends, args.pg_url)
    print(section)
    if args.write:
        write_section(ROOT / "bench" / "RESULTS.md", SECTION, section)


if __name__ == "__main__":
    main()
