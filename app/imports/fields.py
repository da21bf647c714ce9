"""The claim's own fields as an import record carries them, and as an export writes them.

Derived, never kept by hand: the fields an import record shares with a new claim (the
references, ``speaker_id`` and ``outlet_id``, travel as inline speaker and outlet refs), in
the import record's order. A field added to both models is imported and exported at once.
"""

from app.claims.models import ClaimCreate
from app.vocabulary.records import ImportRecord

CLAIM_FIELDS: tuple[str, ...] = tuple(
    name for name in ImportRecord.model_fields if name in ClaimCreate.model_fields
)
