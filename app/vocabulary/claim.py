"""A claim's own fields, each typed once.

The claim's table and request models (``app.claims.models``) and the import record
(``app.vocabulary.records``) declare these fields with these types, so a bound changed here
changes everywhere a claim is accepted; tests/vocabulary pins that the import record holds the
claim's fields. The bounds sit at the top of each type as ``annotated_types`` metadata, where
pydantic reads them for validation and the JSON Schema and SQLModel for the column
(``VARCHAR(n)``); a field optional in every model is typed optional here.
"""

from typing import Annotated

from annotated_types import MaxLen, MinLen

from app.vocabulary.types import LanguageTag, Topic

Statement = Annotated[str, MinLen(1), MaxLen(5000)]
Language = Annotated[LanguageTag, MaxLen(35)]
OriginalQuote = Annotated[str | None, MaxLen(5000)]
OriginalLanguage = Annotated[LanguageTag | None, MaxLen(35)]
Context = Annotated[str | None, MaxLen(500)]
Place = Annotated[str | None, MaxLen(200)]
Topics = Annotated[list[Topic], MaxLen(20)]
ExternalId = Annotated[str, MinLen(1), MaxLen(200)]
Verdict = Annotated[str | None, MaxLen(10000)]

# The most appearances one claim may hold (API and imports alike): a claim is said in a few
# places, and a list of thousands is a scraped dump or an attempt to make every read slow.
MAX_APPEARANCES = 50
