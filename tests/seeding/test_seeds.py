"""The seed claims of the five articles: valid, idempotent, and what a desk expects."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import Session, col, func, select
from starlette.testclient import TestClient

from app.claims.models import Appearance, Claim, Evidence
from app.history.models import Revision
from app.outlets.models import Outlet
from app.schema.migrate import project_root
from app.seeding.seeds import SeedError, load_seeds, read_seed_data
from app.sources.models import Source
from app.speakers.models import Speaker
from tests.shared_data import shared_path

SEEDS = project_root() / "seeds"


def revision_count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(Revision)).one())


def seeded_claim(session: Session, external_id: str) -> Claim:
    claim = session.exec(select(Claim).where(col(Claim.external_id) == external_id)).first()
    assert claim is not None, external_id
    return claim


@pytest.fixture
def articles() -> Path:
    """The five seed articles: shared data, not in the repository."""
    return shared_path("seed-articles")


@pytest.fixture
def seeded(session: Session) -> Session:
    load_seeds(session)
    return session


class TestSeedFiles:
    def test_every_file_validates_against_the_create_models(self) -> None:
        data = read_seed_data()
        assert len(data.claims) >= 30
        assert len(data.sources) == 5

    def test_every_article_is_represented(self, articles: Path) -> None:
        data = read_seed_data()
        represented = {record["source"] for record in data.claims}
        assert represented == {f"article:{path.stem}" for path in articles.glob("*.txt")}

    def test_every_original_quote_is_verbatim_from_its_article(self, articles: Path) -> None:
        for record in read_seed_data().claims:
            article = articles / f"{record['source'].split(':', 1)[1]}.txt"
            assert record["original_quote"] in article.read_text(encoding="utf-8"), record[
                "external_id"
            ]

    def test_a_record_without_a_known_speaker_is_refused_with_its_place(
        self, tmp_path: Path
    ) -> None:
        for name in ("speakers.yaml", "outlets.yaml", "sources.yaml"):
            (tmp_path / name).write_text((SEEDS / name).read_text())
        claims: list[dict[str, Any]] = yaml.safe_load((SEEDS / "claims.yaml").read_text())
        claims[3]["speaker"] = "speaker:nobody"
        (tmp_path / "claims.yaml").write_text(yaml.safe_dump(claims, allow_unicode=True))
        with pytest.raises(SeedError, match="record 3"):
            read_seed_data(tmp_path)


class TestLoadingSeeds:
    def test_loading_twice_records_nothing_new(self, seeded: Session) -> None:
        before = revision_count(seeded)
        report = load_seeds(seeded)
        assert not report.changed
        assert revision_count(seeded) == before

    def test_every_claim_has_speaker_outlet_dutch_quote_and_appearance(
        self, seeded: Session
    ) -> None:
        claims = seeded.exec(select(Claim).where(col(Claim.external_id).like("claim:%"))).all()
        assert len(claims) >= 30
        for claim in claims:
            assert claim.speaker_id, claim.external_id
            assert claim.outlet_id, claim.external_id
            assert claim.original_quote, claim.external_id
            appearances = seeded.exec(
                select(Appearance).where(col(Appearance.claim_id) == claim.id)
            ).all()
            assert appearances, claim.external_id
        dutch = [claim for claim in claims if claim.original_language == "nl"]
        assert len(dutch) >= len(claims) - 1

    def test_prigozhins_bakhmutka_claim_is_unverified_from_telegram(self, seeded: Session) -> None:
        claim = seeded_claim(seeded, "claim:bakhmut-east-of-bakhmutka-under-wagner-control")
        assert seeded.get(Speaker, claim.speaker_id).name == "Yevgeny Prigozhin"
        assert seeded.get(Outlet, claim.outlet_id).name == "Telegram"
        assert claim.status == "unverified"

    def test_belgorod_strike_is_unproven_with_cnn_evidence(self, seeded: Session) -> None:
        claim = seeded_claim(seeded, "claim:belgorod-oil-depot-struck-by-ukrainian-helicopters")
        assert claim.status == "unproven"
        titles = seeded.exec(select(Evidence.title).where(col(Evidence.claim_id) == claim.id))
        assert any("CNN" in title for title in titles)

    def test_the_kremlin_confirming_troop_moves_is_confirmed(self, seeded: Session) -> None:
        claim = seeded_claim(seeded, "claim:kremlin-confirms-sending-more-troops-to-border")
        assert claim.status == "confirmed"
        assert claim.verdict
        assert "Kremlin" in seeded.get(Speaker, claim.speaker_id).name
        evidence = seeded.exec(select(Evidence).where(col(Evidence.claim_id) == claim.id)).all()
        assert evidence

    def test_a_later_fact_is_a_second_dated_status_revision(self, seeded: Session) -> None:
        claim = seeded_claim(seeded, "claim:us-intelligence-russia-preparing-invasion")
        assert claim.status == "confirmed"
        status_changes = [
            revision
            for revision in seeded.exec(
                select(Revision).where(
                    Revision.entity_type == "claim", Revision.entity_id == claim.id
                )
            )
            if "status" in revision.changes
        ]
        assert status_changes[-1].changes["status"]["to"] == "confirmed"
        assert "2022" in (status_changes[-1].reason or "")

    def test_articles_are_sources_in_dutch(self, seeded: Session) -> None:
        sources = seeded.exec(select(Source).where(col(Source.external_id).like("article:%")))
        assert {source.language for source in sources} == {"nl"}

    def test_revisions_are_by_the_seed_actor(self, seeded: Session) -> None:
        actors = set(seeded.exec(select(Revision.actor_name).distinct()))
        assert actors == {"seed"}


class TestSeedsOverHttp:
    def test_q_bakhmut_and_speaker_prigozjin_find_what_a_desk_expects(
        self, seeded: Session, client: TestClient
    ) -> None:
        claims = client.get("/api/v1/claims", params={"q": "Bakhmut", "limit": 200}).json()
        assert len(claims["items"]) >= 5
        speakers = client.get("/api/v1/speakers", params={"q": "Prigozjin"}).json()["items"]
        assert [speaker["name"] for speaker in speakers] == ["Yevgeny Prigozhin"]
        putin = client.get("/api/v1/speakers", params={"q": "Poetin"}).json()["items"]
        assert [speaker["name"] for speaker in putin] == ["Vladimir Putin"]
