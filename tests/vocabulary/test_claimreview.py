"""The schema.org ClaimReview reader: JSON-LD shapes and ratings to import records, no server."""

from typing import Any

import pytest

from app.vocabulary.claimreview import (
    rating_text,
    record_from_review,
    records_from_jsonld,
    status_of,
)
from app.vocabulary.records import ImportRecord


def review(identifier: str, **fields: Any) -> dict[str, Any]:
    return {
        "@type": "ClaimReview",
        "identifier": identifier,
        "url": f"https://checks.example.org/{identifier}",
        "claimReviewed": f"Claim {identifier}.",
        "author": {"@type": "Organization", "name": "Example Checks"},
        "reviewRating": {"@type": "Rating", "alternateName": "False"},
        **fields,
    }


class TestStatusOf:
    @pytest.mark.parametrize(
        ("name", "status"),
        [
            ("True", "confirmed"),
            ("Mostly True", "mostly_true"),
            ("Half-True", "mixed"),
            ("Missing context", "misleading"),
            ("Barely true", "mostly_false"),
            ("Pants on Fire!", "false"),
            ("Unsupported", "unproven"),
            ("Satire", "not_checkable"),
        ],
    )
    def test_a_known_name_is_read_ignoring_case_and_punctuation(
        self, name: str, status: str
    ) -> None:
        assert status_of({"alternateName": name}) == status

    @pytest.mark.parametrize(
        ("value", "status"),
        [(5, "confirmed"), (4, "mostly_true"), (3, "mixed"), (2, "mostly_false"), (1, "false")],
    )
    def test_a_value_is_placed_on_the_default_1_to_5_scale(self, value: int, status: str) -> None:
        assert status_of({"ratingValue": value}) == status

    def test_a_value_is_placed_on_the_scale_given(self) -> None:
        assert status_of({"ratingValue": "9", "worstRating": 0, "bestRating": 10}) == "confirmed"
        assert status_of({"ratingValue": 0, "worstRating": 0, "bestRating": 10}) == "false"

    def test_a_rating_neither_named_nor_placed_is_kept_as_given(self) -> None:
        assert status_of({"alternateName": "Spicy"}) == "Spicy"
        assert status_of({}) == "no rating"

    def test_rating_text_keeps_the_original_name_and_scale(self) -> None:
        assert rating_text({"alternateName": "Four Pinocchios", "ratingValue": 1}) == (
            "Four Pinocchios (1 of 1..5)"
        )
        assert rating_text({}) == "no rating given"


class TestRecordsFromJsonld:
    def test_one_object_an_array_a_graph_and_a_data_feed_keep_their_order(self) -> None:
        one, two, three = review("1"), review("2"), review("3")
        feed = {
            "@type": "DataFeed",
            "dataFeedElement": [{"@type": "DataFeedItem", "item": two}, three],
        }
        ids = [r["external_id"] for r in records_from_jsonld({"@graph": [one, feed]})]
        assert ids == ["1", "2", "3"]
        assert [r["external_id"] for r in records_from_jsonld(one)] == ["1"]
        assert [r["external_id"] for r in records_from_jsonld([two, one])] == ["2", "1"]

    def test_deep_nesting_does_not_exhaust_the_stack(self) -> None:
        data: Any = review("deep")
        for _ in range(10_000):
            data = [data]
        assert [r["external_id"] for r in records_from_jsonld(data)] == ["deep"]

    def test_anything_not_a_claim_review_is_passed_on_to_fail_validation(self) -> None:
        assert records_from_jsonld([{"@type": "Article"}, "text"]) == [{"@type": "Article"}, "text"]


class TestRecordFromReview:
    def test_a_review_becomes_a_valid_record_with_its_rating_kept_in_evidence(self) -> None:
        record = record_from_review(
            review(
                "r1",
                inLanguage="de",
                itemReviewed={
                    "@type": "Claim",
                    "author": {"@type": "Person", "name": "Jane Roe"},
                    "datePublished": "2023-03-08",
                },
            )
        )
        assert record == {
            "external_id": "r1",
            "statement": "Claim r1.",
            "status": "false",
            "verdict": "Example Checks rated this False.",
            "evidence": [
                {
                    "title": "ClaimReview by Example Checks",
                    "stance": "context",
                    "url": "https://checks.example.org/r1",
                    "note": "Example Checks rated this False.",
                }
            ],
            "language": "de",
            "speaker": {"name": "Jane Roe"},
            "claimed_at": "2023-03-08",
        }
        ImportRecord.model_validate(record)

    def test_the_review_body_is_the_verdict_when_given(self) -> None:
        record = record_from_review(review("r2", reviewBody="It did not happen."))
        assert record["verdict"] == "It did not happen."

    def test_an_unverified_rating_carries_no_verdict(self) -> None:
        record = record_from_review(
            review("r3", reviewRating={"@type": "Rating", "alternateName": "unverified"})
        )
        assert record["status"] == "unverified"
        assert "verdict" not in record
        ImportRecord.model_validate(record)

    def test_appearances_become_sources_once_each_the_first_as_origin(self) -> None:
        item = {
            "appearance": ["https://ex.org/a", {"url": "https://ex.org/b", "name": "B"}] * 3,
            "firstAppearance": {"url": "https://ex.org/b"},
        }
        record = record_from_review(review("r4", itemReviewed=item))
        assert record["sources"] == [
            {"url": "https://ex.org/a", "title": None, "role": "report"},
            {"url": "https://ex.org/b", "title": "B", "role": "origin"},
        ]
        ImportRecord.model_validate(record)

    def test_a_url_that_is_not_http_is_left_out_of_the_evidence(self) -> None:
        record = record_from_review(review("r5", url="urn:x:1"))
        assert record["external_id"] == "r5"
        assert record["evidence"][0]["url"] is None
