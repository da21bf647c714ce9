"""Deterministic bulk data: claims, speakers and outlets with the history the services write.

Every row is what the service functions would write: snapshots come from the real model objects
through ``app.tracked.values.plain_snapshot`` (plus the claim's evidence and appearances lists,
as ``ClaimService.snapshot`` adds them), changes from ``diff_snapshots`` and hashes
from ``app.history.hashing.revision_hash``. Only the writing is different: Core executemany,
one transaction per batch of 1,000 claims. ``GET /api/v1/history/verify`` passes on the result.
"""

import json
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, func, select, text
from sqlalchemy.engine import make_url

from app.auth import service as auth_service
from app.auth.actor import Actor, Role
from app.claims import queries as claims_queries
from app.claims import service as claims_service
from app.claims.models import Claim, ClaimTopic, Evidence
from app.core.db import Database, make_engine
from app.core.paging import encode_cursor
from app.core.text import fold
from app.history.hashing import revision_hash
from app.history.models import SCHEMA_VERSION, EntityType, Revision, RevisionAction
from app.history.snapshots import diff_snapshots
from app.history.verify import verify_history
from app.matching import texts as claim_texts
from app.matching.models import ClaimText
from app.outlets.models import Outlet
from app.schema.migrate import upgrade
from app.speakers.models import Speaker, SpeakerAlias
from app.speakers.service import _clean_aliases  # the service's own alias rule
from app.tables import TRACKED_TABLES
from app.tlog import service as tlog_service
from app.tracked.values import plain_snapshot
from app.vocabulary.enums import ClaimStatus, OutletKind, ReviewState, SpeakerKind, Stance

WORK = Path(__file__).resolve().parent / ".work"
FORMAT = 2  # bump when the generator changes, so a cached SQLite file is rebuilt
BATCH = 1_000
ACTOR = Actor(name="bench-import", role=Role.system)
SEARCH_WORD = "desalination"  # planted in about 1% of statements, nowhere else
SEARCH_SHARE = 0.01
DELETED_EVERY = 97  # claim ids divisible by this are soft-deleted (the id scenario skips them)
EPOCH = datetime(2019, 1, 1, tzinfo=UTC)
CLAIM_SPAN_S = int((datetime(2026, 1, 1, tzinfo=UTC) - EPOCH).total_seconds())

T: dict[str, Table] = {
    model.__tablename__: model.__table__  # type: ignore[attr-defined]
    for model in (Claim, ClaimTopic, ClaimText, Evidence, Revision, Speaker, SpeakerAlias, Outlet)
}


def _words(text: str) -> list[str]:
    return text.split()


STATUS_WEIGHTS = {
    ClaimStatus.unverified: 70,
    ClaimStatus.confirmed: 4,
    ClaimStatus.mostly_true: 4,
    ClaimStatus.mixed: 4,
    ClaimStatus.misleading: 5,
    ClaimStatus.mostly_false: 4,
    ClaimStatus.false: 6,
    ClaimStatus.unproven: 2,
    ClaimStatus.not_checkable: 1,
}
COMMON = _words(
    "the of to and in that is was for on with as by at from it be has are were not this have "
    "will but they more than per cent million billion government minister president people "
    "country year new all after over since said would could army troops border city region "
    "election vote prices tax energy gas oil grain wheat exports imports sanctions "
    "report reports data official officials ministry military attack strike drone missile "
    "civilians children schools hospital hospitals vaccine vaccines virus health doctors "
    "police protest protesters court law ban banned secret plan plans claims claimed denied "
    "showed video photo photos footage fake real true false every never always only no none "
    "thousands hundreds dozens percent rise fell doubled tripled record highest lowest first"
)
TOPIC_BASES = _words(
    "elections energy health vaccines migration economy inflation climate war ukraine russia "
    "nato eu sanctions food grain media disinformation crime security military nuclear water "
    "education housing pensions taxes labour trade technology ai social-media religion history "
    "diplomacy borders refugees human-rights corruption courts police protests transport"
)
TOPIC_QUALIFIERS = ("", "-policy", "-prices", "-statistics", "-abroad")
KIND_WEIGHTS = {
    SpeakerKind.person: 70,
    SpeakerKind.organization: 10,
    SpeakerKind.government: 8,
    SpeakerKind.military: 4,
    SpeakerKind.group: 5,
    SpeakerKind.unknown: 3,
}
COUNTRIES = _words("UA RU PL DE FR US GB BY MD GE LT LV EE RO HU CZ SK NL BE IT ES TR")
LANGUAGES = _words("uk ru pl de fr es it ro hu tr")
ROLES = ("minister", "spokesperson", "governor", "mayor", "general", "member of parliament")
CYRILLIC = str.maketrans(
    "abvgdezijklmnoprstufhcywx", "абвгдезийклмнопрстуфхцывх"
)  # a crude transliteration: quotes said in Russian or Ukrainian are stored in Cyrillic
DIACRITICS = str.maketrans({"a": "á", "e": "é", "o": "ö", "u": "ü", "c": "č", "s": "š", "z": "ž"})
SYLLABLES = _words(
    "ba be bi bo bu da de di do du ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no "
    "nu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo vu za ze zi zo zu ch sh str "
    "an en in on ar er ir or ol il ov ev ski ko nov grad"
)


@dataclass(frozen=True)
class Spec:
    claims: int = 100_000
    speakers: int = 3_000
    outlets: int = 1_000
    seed: int = 20_261_123
    format: int = FORMAT


@dataclass
class Rows:
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.tables.setdefault(table, []).append(row)

    def write(self, conn: Connection) -> int:
        """Insert in dependency order (entities first, then what points at them)."""
        order = (
            "outlet",
            "speaker",
            "speaker_alias",
            "claim",
            "claim_topic",
            "claim_text",
            "evidence",
        )
        written = 0
        for name in (*order, "revision"):
            rows = self.tables.pop(name, [])
            if rows:
                conn.execute(T[name].insert(), rows)
                written += len(rows)
        return written


@dataclass
class History:
    """One entity's revisions, built step by step exactly as history.service.record does."""

    entity_type: EntityType
    entity_id: int
    revisions: list[dict[str, Any]] = field(default_factory=list)
    previous: dict[str, Any] = field(default_factory=dict)

    def step(
        self,
        action: RevisionAction,
        at: datetime,
        snapshot: dict[str, Any],
        reason: str | None = None,
    ) -> None:
        row: dict[str, Any] = {
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "version": len(self.revisions) + 1,
            "action": action,
            "reverted_to": None,
            "recorded_at": at,
            "actor_key_id": ACTOR.key_id,
            "actor_name": ACTOR.name,
            "actor_role": str(ACTOR.role),
            "reason": reason,
            "request_id": None,
            "changes": diff_snapshots(self.previous, snapshot),
            "snapshot": snapshot,
            "schema_version": SCHEMA_VERSION,
            "prev_hash": self.revisions[-1]["hash"] if self.revisions else None,
        }
        row["hash"] = revision_hash(**row)
        self.revisions.append(row)
        self.previous = snapshot

    def stamp(self, entity: Any) -> None:
        """The tracking columns the recorder sets on the entity row."""
        entity.version = len(self.revisions)
        entity.head_hash = self.revisions[-1]["hash"]
        entity.created_at = self.revisions[0]["recorded_at"]
        entity.updated_at = self.revisions[-1]["recorded_at"]

    def emit(self, rows: Rows) -> None:
        for revision in self.revisions:
            rows.add("revision", revision)


def _row(table: str, entity: Any) -> dict[str, Any]:
    return {column.key: getattr(entity, column.key) for column in T[table].columns}


def _claim_snapshot(claim: Claim, evidence: list[dict[str, Any]]) -> dict[str, Any]:
    """ClaimService.snapshot without the session: the evidence list is given."""
    data = plain_snapshot(claim)
    data["evidence"] = evidence
    data["appearances"] = []
    return data


class Generator:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        pseudo = sorted({self._pseudo_word() for _ in range(6_000)} - set(COMMON) - {SEARCH_WORD})
        self.rng.shuffle(pseudo)
        self.vocab = COMMON + pseudo
        self.word_weights = list(accumulate(1 / (rank + 1) for rank in range(len(self.vocab))))
        self.topics = [base + q for base in TOPIC_BASES for q in TOPIC_QUALIFIERS][:200]
        self.topic_weights = list(accumulate(1 / (rank + 1) ** 0.8 for rank in range(200)))
        self.statuses = list(STATUS_WEIGHTS)
        self.status_weights = list(accumulate(STATUS_WEIGHTS.values()))
        self.outlet_domains: list[str] = []

    # --- text ---------------------------------------------------------------------------------

    def _pseudo_word(self) -> str:
        return "".join(self.rng.choices(SYLLABLES, k=self.rng.randint(2, 4)))

    def _name_part(self) -> str:
        part = self._pseudo_word().capitalize()
        return part.translate(DIACRITICS) if self.rng.random() < 0.15 else part

    def sentence(self, low: int, high: int, mode: int, extra: str | None = None) -> str:
        target = int(self.rng.triangular(low, high, mode))
        words = self.rng.choices(self.vocab, cum_weights=self.word_weights, k=target // 3 + 2)
        kept: list[str] = []
        length = 0
        for word in words:
            kept.append(word)
            length += len(word) + 1
            if length >= target:
                break
        if extra is not None:
            kept.insert(self.rng.randrange(len(kept) + 1), extra)
        body = " ".join(kept)
        return body[0].upper() + body[1:] + "."

    def quote(self) -> tuple[str, str]:
        """An original quote and its language; Russian and Ukrainian ones in Cyrillic."""
        language = self.rng.choice(LANGUAGES)
        text = self.sentence(60, 320, 150)
        if language in ("ru", "uk"):
            text = text.lower().translate(CYRILLIC)
            text = text[0].upper() + text[1:]
        return text, language

    def _time(self, start: datetime, max_hours: float) -> datetime:
        return start + timedelta(seconds=self.rng.uniform(1800, max_hours * 3600))

    # --- entities -----------------------------------------------------------------------------

    def outlets(self) -> Rows:
        rows = Rows()
        kinds = list(OutletKind)
        for outlet_id in range(1, self.spec.outlets + 1):
            stem = self._pseudo_word()
            domain = f"{stem}{outlet_id}.{self.rng.choice(('com', 'net', 'org', 'info', 'tv'))}"
            self.outlet_domains.append(domain)
            suffix = self.rng.choice(("Times", "News", "TV", "Daily", "Post", "24", "Channel"))
            outlet = Outlet(
                id=outlet_id,
                name=f"{stem.capitalize()} {suffix}",
                kind=self.rng.choice(kinds),
                domain=domain,
                country=self.rng.choice(COUNTRIES),
                language=self.rng.choice(LANGUAGES),
            )
            history = History(EntityType.outlet, outlet_id)
            history.step(
                RevisionAction.created,
                self._time(EPOCH - timedelta(days=200), 2000),
                (plain_snapshot(outlet)),
            )
            history.stamp(outlet)
            rows.add("outlet", _row("outlet", outlet))
            history.emit(rows)
        return rows

    def speakers(self) -> Rows:
        rows = Rows()
        kinds = list(KIND_WEIGHTS)
        kind_weights = list(accumulate(KIND_WEIGHTS.values()))
        for speaker_id in range(1, self.spec.speakers + 1):
            first, last = self._name_part(), self._name_part()
            name = f"{first} {last}"
            candidates = [last, f"{first[0]}. {last}", fold(name).title(), f"{last}, {first}"]
            aliases = self.rng.sample(candidates, k=self.rng.choice((0, 1, 1, 2, 2, 3)))
            speaker = Speaker(
                id=speaker_id,
                name=name,
                kind=self.rng.choices(kinds, cum_weights=kind_weights)[0],
                role=self.rng.choice(ROLES) if self.rng.random() < 0.5 else None,
                affiliation=f"{self._name_part()} party" if self.rng.random() < 0.3 else None,
                country=self.rng.choice(COUNTRIES) if self.rng.random() < 0.8 else None,
                external_id=f"spk-{speaker_id}",
                aliases=_clean_aliases(name, aliases),
            )
            history = History(EntityType.speaker, speaker_id)
            history.step(
                RevisionAction.created,
                self._time(EPOCH - timedelta(days=200), 2000),
                plain_snapshot(speaker),
            )
            history.stamp(speaker)
            rows.add("speaker", _row("speaker", speaker))
            for alias in [speaker.name, *speaker.aliases]:
                rows.add(
                    "speaker_alias",
                    {"speaker_id": speaker_id, "alias": alias, "folded": fold(alias)[:200]},
                )
            history.emit(rows)
        return rows

    def claims(self) -> Iterator[Rows]:
        rows = Rows()
        evidence_id = 0
        for claim_id in range(1, self.spec.claims + 1):
            evidence_id = self._claim(rows, claim_id, evidence_id)
            if claim_id % BATCH == 0 or claim_id == self.spec.claims:
                yield rows
                rows = Rows()

    def _claim(self, rows: Rows, claim_id: int, evidence_id: int) -> int:
        rng = self.rng
        extra = SEARCH_WORD if rng.random() < SEARCH_SHARE else None
        quote, quote_language = self.quote() if rng.random() < 0.25 else (None, None)
        topics = rng.choices(self.topics, cum_weights=self.topic_weights, k=rng.randint(0, 4))
        claimed_at = EPOCH + timedelta(seconds=rng.randrange(CLAIM_SPAN_S))
        claim = Claim(
            statement=self.sentence(80, 300, 140, extra),
            language="en",
            original_quote=quote,
            original_language=quote_language,
            speaker_id=rng.randint(1, self.spec.speakers) if rng.random() < 0.9 else None,
            outlet_id=rng.randint(1, self.spec.outlets) if rng.random() < 0.7 else None,
            claimed_at=claimed_at if rng.random() < 0.95 else None,
            context=rng.choice(("press conference", "interview", "speech", "post"))
            if rng.random() < 0.3
            else None,
            place=rng.choice(COUNTRIES) if rng.random() < 0.2 else None,
            external_id=f"feed-{claim_id}" if rng.random() < 0.2 else None,
            topics=list(dict.fromkeys(topics)),
        )
        history = History(EntityType.claim, claim_id)
        at = self._time(claimed_at, 240)
        history.step(RevisionAction.created, at, _claim_snapshot(claim, []))
        status = rng.choices(self.statuses, cum_weights=self.status_weights)[0]
        evidence: list[dict[str, Any]] = []
        if status is not ClaimStatus.unverified:
            evidence_id += 1
            at = self._time(at, 120)
            item = Evidence(
                id=evidence_id,
                claim_id=claim_id,
                url=f"https://{rng.choice(self.outlet_domains)}/a/{claim_id}",
                title=self.sentence(20, 90, 40),
                stance=rng.choice(list(Stance)),
                added_by=ACTOR.name,
                created_at=at,
            )
            rows.add("evidence", _row("evidence", item))
            fields = set(claims_service.EVIDENCE_FIELDS)
            evidence = [item.model_dump(mode="json", include=fields)]
            history.step(RevisionAction.updated, at, _claim_snapshot(claim, evidence))
            at = self._time(at, 240)
            claim.status = status
            claim.review = ReviewState.settled
            claim.verdict = self.sentence(80, 600, 200)
            claim.reviewed_at = at - timedelta(milliseconds=3)
            history.step(RevisionAction.updated, at, _claim_snapshot(claim, evidence), "checked")
        elif rng.random() < 0.05:
            at = self._time(at, 48)
            claim.review = ReviewState.in_review
            history.step(RevisionAction.updated, at, _claim_snapshot(claim, evidence), "picked up")
        if claim_id % DELETED_EVERY == 0:
            at = self._time(at, 24)
            claim.deleted_at = at - timedelta(milliseconds=2)
            history.step(RevisionAction.deleted, at, _claim_snapshot(claim, evidence), "duplicate")
        claim.id = claim_id
        history.stamp(claim)
        rows.add("claim", _row("claim", claim))
        for topic in claim.topics:
            rows.add("claim_topic", {"claim_id": claim_id, "topic": topic})
        # The similar claims' normalised texts, as the claim service stores them.
        for text_row in claim_texts.text_rows(claim_id, _row("claim", claim)):
            rows.add("claim_text", text_row)
        history.emit(rows)
        return evidence_id


# --- databases ------------------------------------------------------------------------------


@dataclass
class Built:
    url: str
    how: str  # "generated in 41.2 s" or "reused"
    counts: dict[str, int]
    verify: str = ""


def populate(url: str, spec: Spec) -> dict[str, int]:
    """Fill a freshly migrated database; returns rows written per kind."""
    engine = make_engine(url)
    generator = Generator(spec)
    try:
        with engine.begin() as conn:
            generator.outlets().write(conn)
            generator.speakers().write(conn)
        for batch in generator.claims():
            with engine.begin() as conn:
                batch.write(conn)
        settle(engine)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                for table in ("claim", "speaker", "outlet", "evidence"):
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))"
                        )
                    )
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        return table_counts(url)
    finally:
        engine.dispose()


def settle(engine: Engine) -> None:
    """What a running service would have done with the rows by now, so that the servers under
    load do not do it meanwhile: the transparency log holds every revision, and the
    similar-claims matcher starts after them (as the migration starts it after the claims an
    upgraded database already holds)."""
    with Database(engine).session(write=True) as session:
        tlog_service.catch_up(session)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE match_cursor SET revision_id = (SELECT COALESCE(max(id), 0) FROM revision)"
            )
        )


def table_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: int(conn.execute(select(func.count()).select_from(T[name])).scalar_one())
                for name in ("claim", "revision", "speaker", "speaker_alias", "outlet", "evidence")
            }
    finally:
        engine.dispose()


def verify(url: str) -> str:
    engine = make_engine(url)
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            report = verify_history(conn, TRACKED_TABLES)
    finally:
        engine.dispose()
    outcome = "ok" if report.ok else f"BROKEN: {report.first_broken}"
    return (
        f"history verify {outcome}: {report.entities_checked:,} entities, "
        f"{report.revisions_checked:,} revisions in {time.perf_counter() - started:.1f} s"
    )


def build(url: str, spec: Spec) -> Built:
    started = time.perf_counter()
    upgrade(url)
    counts = populate(url, spec)
    return Built(url, f"generated in {time.perf_counter() - started:.1f} s", counts, verify(url))


def sqlite_database(spec: Spec) -> Built:
    """The cached SQLite file, rebuilt only when missing or made by another spec."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"claims-{spec.claims}.db"
    marker = path.with_suffix(".json")
    url = f"sqlite:///{path}"
    if path.exists() and marker.exists() and json.loads(marker.read_text()) == asdict(spec):
        counts = table_counts(url)
        if counts["claim"] == spec.claims:
            upgrade(url)  # a file from before a new migration gets it, data kept
            return Built(url, "reused from an earlier run", counts)
    for suffix in ("", "-wal", "-shm", ".json"):
        Path(f"{path}{suffix}" if suffix != ".json" else marker).unlink(missing_ok=True)
    built = build(url, spec)
    marker.write_text(json.dumps(asdict(spec)))
    return built


def api_key(url: str, name: str, role: str) -> str:
    """A new API key in the bench database; returns its secret."""
    engine = make_engine(url)
    try:
        with Database(engine).session(write=True) as session:
            _, secret = auth_service.create_key(session, name, role)
    finally:
        engine.dispose()
    return secret


def create_pg_database(admin_url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def scratch_database(backend: str, admin_url: str, name: str) -> Iterator[Database]:
    """A fresh, migrated database for one in-process measurement, removed afterwards: the file
    ``WORK/<name>.db`` on SQLite, a new database on the PostgreSQL server of ``admin_url``."""
    if backend == "sqlite":
        WORK.mkdir(parents=True, exist_ok=True)
        path = WORK / f"{name}.db"
        files = [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")]
        for file in files:
            file.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        url = create_pg_database(admin_url)
    try:
        upgrade(url)
        database = Database(make_engine(url))
        try:
            yield database
        finally:
            database.engine.dispose()
    finally:
        if backend == "sqlite":
            for file in files:
                file.unlink(missing_ok=True)
        else:
            drop_pg_database(admin_url, url)


def deep_cursor(url: str, pages: int, limit: int) -> tuple[str, int]:
    """The cursor a client holds after ``pages`` pages of ``?status=unverified&sort=-id``.

    Fewer pages when the collection is too small (a quick run); returns the pages used.
    """
    c = T["claim"].c
    matching = select(c.id).where(c.deleted_at.is_(None), c.status == ClaimStatus.unverified)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            total = int(
                conn.execute(select(func.count()).select_from(matching.subquery())).scalar_one()
            )
            pages = max(1, min(pages, total // limit - 1))
            statement = matching.order_by(c.id.desc()).offset(pages * limit - 1).limit(1)
            last_id = int(conn.execute(statement).scalar_one())
    finally:
        engine.dispose()
    return encode_cursor(claims_queries.SORTS["-id"], None, last_id), pages


def search_hits(url: str) -> int:
    """How many live statements contain the search word (a plain scan, for the report)."""
    c = T["claim"].c
    statement = select(func.count()).where(
        c.deleted_at.is_(None), func.lower(c.statement).like(f"%{SEARCH_WORD}%")
    )
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(statement).scalar_one())
    finally:
        engine.dispose()
