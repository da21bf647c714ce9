"""The similarity query on a big collection: ``find_similar`` (exact hash, word and trigram
candidates, rapidfuzz re-ranking) for 200 queries on bench/data.py's database of 100,000 claims
(synthetic statements of 80-300 characters, a quarter with an original quote), in-process on
one connection, p50/p99. Half the queries are stored statements with two typos and the first
sentence half dropped (they must find their claim), half LIAR statements (unrelated to the
synthetic ones). ``python -m bench.similar_speed [--claims N] [--backend sqlite|postgresql]
[--url URL]`` (``--url``: measure a database bench/data.py built before).
"""

import argparse
import os
import random
import time

import sqlalchemy as sa

from app.core.db import make_engine
from app.matching.search import find_similar
from bench import data
from bench.similar_eval import read_liar, typos

QUERIES = 100
THRESHOLD = 0.75  # the default CLAIMS_SIMILAR_SUGGEST_THRESHOLD


def measure(url: str) -> tuple[float, float, float]:
    """p50 and p99 in ms, and the share of perturbed statements that found their claim."""
    rng = random.Random(7)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            top = conn.execute(sa.text("SELECT max(id) FROM claim")).scalar_one()
            ids = rng.sample(range(1, top + 1), QUERIES * 2)
            claim = sa.table(
                "claim", sa.column("id"), sa.column("statement"), sa.column("deleted_at")
            )
            stored = conn.execute(
                sa.select(claim.c.id, claim.c.statement).where(
                    claim.c.deleted_at.is_(None), claim.c.id.in_(ids)
                )
            ).all()[:QUERIES]
            queries = []
            for row in stored:
                words = (typos(row.statement, rng) or row.statement).split()
                queries.append((" ".join(words[len(words) // 4 :]), row.id))
            queries += [(s, None) for s in rng.sample(read_liar("valid.tsv"), QUERIES)]
            find_similar(conn, queries[0][0], threshold=THRESHOLD, limit=5)  # warm the caches
            timings, found = [], 0
            for query, target in queries:
                started = time.perf_counter()
                result = find_similar(conn, query, threshold=THRESHOLD, limit=5)
                timings.append(time.perf_counter() - started)
                if target is not None and result and result[0].claim_id == target:
                    found += 1
    finally:
        engine.dispose()
    timings.sort()
    return (
        timings[len(timings) // 2] * 1000,
        timings[int(len(timings) * 0.99)] * 1000,
        found / QUERIES,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("CLAIMS_TEST_PG_URL", ""))
    parser.add_argument(
        "--url", help="an existing database built by bench/data.py (nothing built or dropped)"
    )
    args = parser.parse_args()
    spec = data.Spec(claims=args.claims)
    if args.url:
        p50, p99, recall = measure(args.url)
    elif args.backend == "sqlite":
        built = data.sqlite_database(spec)
        url = built.url
        p50, p99, recall = measure(url)
    else:
        url = data.create_pg_database(args.pg_url)
        try:
            data.build(url, spec)
            p50, p99, recall = measure(url)
        finally:
            data.drop_pg_database(args.pg_url, url)
    print(
        f"{args.backend}: {args.claims:,} claims: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
        f"({QUERIES} perturbed stored statements + {QUERIES} unrelated; "
        f"top hit right for {recall:.0%} of the perturbed)"
    )


if __name__ == "__main__":
    main()
