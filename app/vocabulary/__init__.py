"""The API's wire vocabulary: the enums, the checked field types and the import-record models
that the server and the client (``app.client``) both speak.

Pydantic only: it imports no other app package, no SQLAlchemy, SQLModel, FastAPI or Starlette,
so the client can use it without loading the server. The server's models import their types
from here.

- ``types``: ids, timestamps, URLs, language tags, country codes, domains, aliases, topics.
- ``enums``: statuses, review states, stances, roles, kinds, import options.
- ``claim``: each of a claim's own fields, typed once (the claim's models and the import record
  both declare their fields with these).
- ``records``: the import record (one claim, its speaker, outlet, sources and evidence inline)
  and the import summary.
- ``formats``: media types and the spreadsheet formula triggers of the CSV format.
- ``claimreview``: schema.org ClaimReview JSON-LD to import records (the client reads files
  with it, the server's import reads request bodies with it).
"""
