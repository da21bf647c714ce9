"""Configuration, read from the environment (prefix ``CLAIMS_``) and an optional ``.env`` file."""

import ipaddress
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLAIMS_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./claims.db",
        description="SQLAlchemy URL: a SQLite file, or postgresql+psycopg://user@host:5432/db.",
    )
    migration_database_url: str | None = Field(
        default=None,
        description="URL `claimtracker migrate` uses, for a role that owns the schema; unset: "
        "database_url. Lets the server run as a role that cannot alter the tables.",
    )
    host: str = Field(default="127.0.0.1", description="Address `claimtracker serve` binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `claimtracker serve` uses.")
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes.")
    pool_size: int = Field(
        default=32,
        ge=1,
        le=500,
        description="Database connections kept per process; match the expected concurrency.",
    )
    db_max_connections: int | None = Field(
        default=None,
        ge=2,
        le=100_000,
        description="PostgreSQL connections the whole service may hold, shared equally by the "
        "worker processes (each divides its share between the write pool and the async read "
        "pool). Unset: derived at start-up from the server's max_connections less what other "
        "clients hold, with a 25% margin, and logged.",
    )
    db_pool_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How long a request waits for a pooled connection before it answers 503 "
        "with Retry-After.",
    )
    db_pooler: bool = Field(
        default=False,
        description="The PostgreSQL URL is a transaction pooler (PgBouncer, pool_mode="
        "transaction): no server-side prepared statements. Migrations should bypass it.",
    )
    sqlite_busy_timeout_ms: int = Field(
        default=15_000, ge=0, description="How long a SQLite writer waits for the write lock."
    )
    sqlite_synchronous: str = Field(
        default="FULL",
        pattern="^(OFF|NORMAL|FULL|EXTRA)$",
        description="SQLite PRAGMA synchronous. FULL survives power loss; NORMAL is faster in WAL.",
    )
    require_if_match: bool = Field(
        default=True,
        description="Answer 428 to writes without If-Match. Turn off only for trusted scripts.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS (JSON list)."
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted (413 above it)."
    )
    import_max_records: int = Field(
        default=5000, ge=1, le=1_000_000, description="Most records one POST /imports takes."
    )
    import_max_body_bytes: int = Field(
        default=32 * 1_048_576,
        ge=1024,
        description="Largest body POST /imports accepts (the other routes keep max_body_bytes).",
    )
    organization_name: str = Field(
        default="Claim tracker desk", description="The desk's name: ClaimReview's author."
    )
    organization_url: str = Field(
        default="https://example.org/", description="The desk's site: ClaimReview's author url."
    )
    public_base_url: str | None = Field(
        default=None,
        max_length=2000,
        description="The http(s) URL clients reach the API at, without the /api/v1 path, a "
        "query or a fragment (e.g. https://claims.example.org). The absolute URLs the API "
        "writes (ClaimReview `url`) are built on it, or on organization_url when it is unset; "
        "never on the request's Host header. Link and Location headers are relative.",
    )
    log_level: str = Field(default="info", description="uvicorn log level.")
    public_read: bool = Field(
        default=False,
        description="Let callers without a key use the reader routes (a public newsroom page). "
        "Writes always need a key; a bad Authorization header is still refused.",
    )
    rate_limit_per_minute: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description="Requests per minute per key, and per client address for requests without "
        "a key; 0 is off. Over it: 429 with Retry-After.",
    )
    rate_limit_failed_auth_per_minute: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description="Failed authentications (bad, unknown or revoked keys) per minute per client "
        "address; once used up, every request from that address answers 429, a correct key "
        "included, until the minute ends. 0 is off.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks of reverse proxies whose X-Forwarded-For and "
        'X-Forwarded-Proto are believed (JSON list, e.g. ["10.0.0.5"]); the per-address rate '
        "limits then count the client, not the proxy. Empty: the TCP peer is the client.",
    )
    rate_limit_store: str = Field(
        default="memory://",
        description="Where the `limits` library keeps the counts: `memory://` (this process "
        "only; `memory` means the same). With several processes, limit in the load balancer.",
    )
    # Lifecycle
    # 25, not 30: the lifespan's own shutdown (queued writes, pools) still fits in the 30 s
    # Kubernetes gives a pod by default before SIGKILL.
    shutdown_grace_seconds: int = Field(
        default=25,
        ge=0,
        le=3600,
        description="On SIGTERM, how long `claimtracker serve` lets in-flight requests finish "
        "before it cancels them (uvicorn's timeout_graceful_shutdown); keep the orchestrator's "
        "stop timeout above it.",
    )

    # Logs and metrics
    log_format: Literal["json", "console"] | None = Field(
        default=None,
        description="`json` (one JSON object a line on stderr) or `console` (readable lines). "
        "Unset: console when stderr is a terminal, json otherwise.",
    )
    metrics: Literal["admin", "public", "off"] = Field(
        default="admin",
        description="GET /metrics (Prometheus text format): `admin` needs an admin key, "
        "`public` needs none (keep it behind the proxy), `off` answers 404.",
    )

    # Change stream
    stream_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=15,
        description="GET /changes/stream sends a comment line this often when it has nothing "
        "else to send, so proxies keep the connection open.",
    )
    stream_poll_seconds: float = Field(
        default=0.25,
        gt=0,
        le=60,
        description="How often a process re-reads the change feed for its streams when nothing "
        "woke it: SQLite (writes of other processes), and PostgreSQL behind a transaction "
        "pooler (CLAIMS_DB_POOLER, where LISTEN cannot work).",
    )
    stream_recheck_seconds: float = Field(
        default=2.0,
        gt=0,
        le=600,
        description="PostgreSQL with LISTEN/NOTIFY: the re-read without a notification, for a "
        "feed held back by a transaction that wrote no revision, or a notification lost while "
        "the listening connection was being replaced.",
    )
    stream_send_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="A stream whose client has not taken an event (or a heartbeat) within this "
        "long is closed: a slow consumer is dropped, not buffered.",
    )
    stream_max_per_key: int = Field(
        default=5,
        ge=1,
        le=10_000,
        description="Open streams one key may hold in one process (callers without a key: one "
        "client address); above it 429 with Retry-After.",
    )
    stream_max_per_process: int = Field(
        default=500,
        ge=1,
        le=100_000,
        description="Open streams one server process holds; above it 503 with Retry-After.",
    )

    # Webhooks
    webhook_dispatch: bool = Field(
        default=True,
        description="Send webhook deliveries from every server process (an asyncio task). Turn "
        "it off when a separate `claimtracker webhooks dispatch` process sends them.",
    )
    webhook_allow_private_targets: bool = Field(
        default=False,
        description="Let webhook URLs resolve to loopback, private, link-local, unique-local, "
        "multicast or reserved addresses (tests, desks whose receivers are on their own "
        "network). Off: such targets are refused at creation and at every send.",
    )
    webhook_retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
        min_length=1,
        max_length=20,
        description="Waits before each retry of a failed delivery (Standard Webhooks' schedule: "
        "5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h); after the last, the delivery has failed.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="Timeout of each delivery request (connect, send, first byte, each read).",
    )
    webhook_disable_after_seconds: float = Field(
        default=5 * 86400,
        gt=0,
        description="An endpoint whose deliveries have failed for this long (no success in "
        "between) is disabled, with the reason in its GET and a log event.",
    )
    webhook_secret_grace_seconds: int = Field(
        default=86400,
        ge=0,
        le=30 * 86400,
        description="After a secret rotation, how long the previous secret keeps signing too.",
    )
    webhook_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often an idle dispatcher looks for due deliveries.",
    )
    webhook_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a worker owns a delivery it claimed; a worker that died holding "
        "one is replaced after this. Keep it above webhook_timeout_seconds.",
    )
    webhook_batch_size: int = Field(
        default=32,
        ge=1,
        le=1000,
        description="Most deliveries one dispatcher sends at once (one per endpoint at a time).",
    )

    # Transparency log (docs/history.md, "The transparency log")
    checkpoint_key_file: str = Field(
        default="checkpoint.key",
        description="The Ed25519 key that signs the log's checkpoints: a file outside the "
        "database, made by `claimtracker checkpoint-key create`, readable only by the server. "
        "Never logged or served; without it the checkpoint answers 503.",
    )
    checkpoint_origin: str | None = Field(
        default=None,
        max_length=200,
        description="The log's name on its checkpoints' first line (C2SP tlog-checkpoint), "
        "unique to this desk. Unset: public_base_url's host and path + /history, else "
        "claimtracker/history.",
    )
    checkpoint_key_name: str | None = Field(
        default=None,
        max_length=200,
        description="The signing key's name in the signature line. Unset: the origin.",
    )
    tlog_append_seconds: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="How often each server process appends new revisions to the log "
        "(checkpoint and proof requests catch up first anyway).",
    )

    # --- Public fact-check pages (app/pages, docs/pages.md) ---
    public_pages: bool = Field(
        default=False,
        description="Serve the public fact-check pages (/, /claims/{id}, /embed/claims/{id}, "
        "/oembed, /feeds/fact-checks.atom) from this app. `make run` turns it on.",
    )
    pages_max_age_seconds: int = Field(
        default=60,
        ge=0,
        le=86400,
        description="Cache-Control max-age of the public pages, the embed and the feed "
        "(they carry an ETag too, and answer 304 to a matching If-None-Match).",
    )
    pages_frame_ancestors: str = Field(
        default="*",
        min_length=1,
        max_length=2000,
        pattern=r"^[^;,\r\n]+$",
        description="Who may put the embed card (/embed/claims/{id}) in an iframe: the value of "
        "its `Content-Security-Policy: frame-ancestors` (e.g. `https://news.example.org "
        "https://*.example.com`; `*` lets any site). The full pages allow only 'self'.",
    )
    pages_page_size: int = Field(
        default=20, ge=1, le=100, description="Fact-checks on one page of the public index."
    )
    pages_feed_size: int = Field(
        default=50, ge=1, le=200, description="Entries in the Atom feed (the latest verdicts)."
    )

    # --- Public pages: the rendered-page cache and the published checkpoint (pages2) ---
    pages_cache_mb: float = Field(
        default=32,
        ge=0,
        le=4096,
        description="Rendered public pages (index pages, fact-check pages, embed cards, feeds) "
        "each process keeps and reuses until a revision commits; least recently used out "
        "beyond this many MiB. 0: render every request.",
    )

    # --- Similar claims (issue 14; docs/similar.md) ---
    similar_suggest_threshold: float = Field(
        default=0.75,
        ge=0,
        le=1,
        description="Least score (0-1) a similar claim is shown or stored as a suggestion with; "
        "below it, a statement has no similar claims.",
    )
    similar_link_threshold: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="Least score an import's on_duplicate=link or skip acts on (exact "
        "duplicates always).",
    )
    similar_link_min_words: int = Field(
        default=8,
        ge=1,
        le=100,
        description="Statements shorter than this many words are never linked or skipped "
        "automatically unless they are exact duplicates.",
    )
    similar_matcher: bool = Field(
        default=True,
        description="Whether this server process runs the matcher, which stores the similar "
        "claims of every new claim as suggestions, following the change feed from where any "
        "process left it (docs/similar.md). Off: no suggestions are stored until a process "
        "with it on catches up.",
    )
    similar_match_seconds: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="How often the matcher looks for new claims; while the process is idle "
        "(no request served, none served beside another in the last this-many seconds) it "
        "matches one turn after another.",
    )
    similar_match_claims: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description="New claims one turn of the matcher matches at most (the searches run in "
        "a read; the suggestions are stored in one short write).",
    )

    @field_validator("public_base_url")
    @classmethod
    def _plain_http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not _is_plain_http_url(value):
            raise ValueError(
                f"CLAIMS_PUBLIC_BASE_URL={value!r} must be an http(s) URL with a host and no "
                "credentials, query or fragment, e.g. https://claims.example.org"
            )
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        # uvicorn reads "*" as "trust every peer" and keeps an unparsable entry as a literal:
        # either would let a client write its own address into X-Forwarded-For.
        for entry in value:
            try:
                network = ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"CLAIMS_TRUSTED_PROXIES entry {entry!r} is not an IP address or network"
                ) from None
            if network.prefixlen == 0:
                raise ValueError(
                    f"CLAIMS_TRUSTED_PROXIES entry {entry!r} trusts every address; name the "
                    "proxies' addresses or networks"
                )
        return [entry.strip() for entry in value]

    @field_validator("rate_limit_store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        if value not in RATE_LIMIT_STORES:
            raise ValueError(
                f"CLAIMS_RATE_LIMIT_STORE={value!r} is not a store this app supports; use "
                "`memory://` (with several processes, rate-limit in the load balancer)"
            )
        return "memory://"


# Only the in-process store: a shared one (redis://) would be a network round trip on the event
# loop of every request, and nothing here tests it.
RATE_LIMIT_STORES = frozenset({"memory", "memory://"})


def _is_plain_http_url(value: str) -> bool:
    """An http(s) URL with a host (and a valid port, if any), no credentials, query, fragment,
    spaces or control characters: a base to append paths to."""
    if "?" in value or "#" in value or any(c.isspace() or not c.isprintable() for c in value):
        return False
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - reading it checks the port is a number in range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.username is None


@lru_cache
def get_settings() -> Settings:
    return Settings()
