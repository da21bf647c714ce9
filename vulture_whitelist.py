"""Names vulture (make lint) cannot see used: frameworks call, set or serialise them, or they
are a library's public API. Each is listed by name only, so a move keeps it listed; a name
that stops being one of these goes from here too. Everything else vulture reports is dead."""

# Enum members the API takes and answers only by value (pydantic and the CHECK constraints).
supports, refutes, repost  # Stance, AppearanceRole
wire, newspaper, broadcaster, online, social_platform, messaging, government_channel, company
government, military  # SpeakerKind
skip  # OnError

# Model fields that are only ever serialised (response bodies, revisions, exports).
original_quote, original_language, place, reviewed_at, added_by  # claims
archived_url, excerpt  # sources
migration, expected_migration  # health: Readiness
unchanged  # imports: ImportSummary
msg  # web.openapi: ProblemDetail

# Attributes a library reads after we set them.
_.naming_convention  # SQLModel.metadata: constraint names for migrations
_.isolation_level  # the sqlite3 connection: SQLAlchemy decides when to BEGIN
_.redirect_slashes  # Starlette's router
_.disabled  # logging.Logger: uvicorn's access log, replaced by the app's request line

# Called by name from outside the code.
backoff_strategy  # httpx-retries' Retry calls the override in app.client.retries
create_app  # uvicorn "app.main:create_app" (cli serve, Dockerfile, bench)
CLI_ACTOR  # the in-process tool's actor: bench/ and tests/ write with it

# The typed client's public API (scripts use it; the CLI calls only some of it).
get_claim, iter_claims, iter_speakers, iter_changes, AsyncClaimTrackerClient

# Database.fetch_all: the async driver read for list pages (issue 11), tested in tests/core.
fetch_all

# Webhooks: fields the wire serialises; drain() is what tests and bench/webhooks.py call.
disabled_at, disabled_reason, attempt_log  # webhooks.models: endpoint and delivery models
drain  # Dispatcher.drain: send until nothing is due (tests, bench/webhooks.py)

# Transparency log: fields the wire serialises; verify_inclusion is the vocabulary's check for
# clients that hold a checkpoint and ask /history/proof (tests/tlog check it).
audit_path, verifier_key, checkpoint_size, verify_inclusion
# Public pages: read by the Jinja2 templates (app/pages/templates), which vulture cannot see.
status_to, corrections, first_published, stylesheet  # app.pages.queries / render
# Public pages follow-up: the interval the footer's small print names (a template reads it);
# feedgen calls its extension's hooks.
log_interval_seconds  # app.pages.render.Site
extend_ns, extend_atom  # app.pages.feed.CheckpointExtension
# Similar claims: fields the wire serialises; Response.background runs after the answer.
decided_at, decided_by, skipped  # matching.models (a pair's decision), vocabulary.records
background  # matching.router.with_similar: the suggestions stored once a new claim is sent
similar_takes_only_post  # matching.router: /claims/similar's 405 route (FastAPI calls it)
