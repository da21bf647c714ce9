"""The import record holds the claim's own fields, typed as the claim types them: the list and
the bounds cannot drift apart (app/vocabulary/claim.py defines each once)."""

from typing import Any

from pydantic import BaseModel

from app.claims.models import ClaimCreate, ClaimRevertable
from app.vocabulary.records import ImportRecord

ID_REFERENCES = {"speaker_id", "outlet_id"}
INLINE = {"speaker", "outlet", "sources", "evidence", "status", "verdict"}


def shape(model: type[BaseModel], name: str) -> dict[str, Any]:
    """A field's JSON Schema without its title, description, default and null branch."""
    schema = {
        key: value
        for key, value in model.model_json_schema()["properties"][name].items()
        if key not in ("title", "description", "default")
    }
    branches = [branch for branch in schema.get("anyOf", []) if branch != {"type": "null"}]
    if len(branches) == 1:
        return dict(branches[0])
    return schema


class TestTheImportRecord:
    def test_holds_the_claims_create_fields_less_the_ids_plus_the_inline_refs(self) -> None:
        claim_fields = set(ClaimCreate.model_fields) - ID_REFERENCES
        assert set(ImportRecord.model_fields) == claim_fields | INLINE

    def test_types_each_claim_field_as_the_claim_does(self) -> None:
        for name in set(ClaimCreate.model_fields) - ID_REFERENCES:
            assert shape(ImportRecord, name) == shape(ClaimCreate, name), name

    def test_types_the_verdict_fields_as_the_claim_does(self) -> None:
        for name in ("status", "verdict"):
            assert shape(ImportRecord, name) == shape(ClaimRevertable, name), name

    def test_keeps_the_claims_defaults(self) -> None:
        record = ImportRecord(external_id="x:1", statement="A claim.")
        claim = ClaimCreate(statement="A claim.")
        for name in set(ClaimCreate.model_fields) - ID_REFERENCES - {"external_id"}:
            assert getattr(record, name) == getattr(claim, name), name
