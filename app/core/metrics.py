"""Prometheus metrics (prometheus-client), served at GET /metrics (``app.health.metrics``).

With several worker processes each keeps its own counts; ``claimtracker serve --workers N``
(N > 1) sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start, every process then writes
its values to files there, and a scrape adds them up (``MultiProcessCollector``), whichever
worker answers it.

Labels are bounded: ``route`` is the route's template (``/api/v1/claims/{entity_id}``, or
``unmatched`` for a path no route serves), never the raw path.
"""

import os

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
UNMATCHED_ROUTE = "unmatched"

# No ``*_created`` series beside every counter and histogram: each doubles the series a scrape
# carries, and Prometheus has no use for them (a restart shows in the counters themselves).
disable_created_metrics()  # type: ignore[no-untyped-call]

# A GET by id takes well under a millisecond; an import of thousands of records, seconds.
_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter(
    "claims_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "claims_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response body, by route template, "
    "method and status.",
    ["route", "method", "status"],
    buckets=_SECONDS,
)
DB_SECONDS = Histogram(
    "claims_http_request_db_seconds",
    "Time one request spent waiting for the database (reads, writes with their queue and "
    "commit, the pool wait included), by route template and method.",
    ["route", "method"],
    buckets=_SECONDS,
)
REVISIONS = Counter(
    "claims_revisions_written",
    "Revisions recorded by requests that succeeded, by entity type and action.",
    ["entity_type", "action"],
)
IMPORT_ROWS = Counter(
    "claims_import_rows",
    "Records of committed import batches, by outcome (created, updated, unchanged, failed: "
    "skipped with on_error=skip).",
    ["outcome"],
)
WEBHOOK_ATTEMPTS = Counter(
    "claims_webhook_attempts",
    "Webhook delivery attempts, by outcome (delivered, http_error, timeout, network_error, "
    "refused).",
    ["outcome"],
)
# Every dispatcher counts the same shared queue: the scrape shows the largest live value.
WEBHOOK_QUEUE_DEPTH = Gauge(
    "claims_webhook_queue_depth",
    "Pending webhook deliveries of enabled endpoints, as the dispatchers last counted them.",
    multiprocess_mode="livemax",
)

# livesum: in multi-process mode a scrape adds up the processes that are alive (a stopped
# worker's streams are closed, whatever its file still says).
OPEN_STREAMS = Gauge(
    "claims_change_streams_open",
    "Change streams (GET /api/v1/changes/stream) open now.",
    multiprocess_mode="livesum",
)
STREAM_FEED_READS = Counter(
    "claims_change_stream_feed_reads",
    "Change-feed reads made for the streams: `shared` (one per wake-up per process, for every "
    "stream at the end of the feed) or `own` (a stream catching up from an older cursor).",
    ["kind"],
)

PAGES_CACHE = Counter(
    "claims_pages_cache",
    "Public pages answered from the per-process cache of rendered pages (`hit`) or rendered "
    "(`miss`: first request, or a revision committed since).",
    ["result"],
)


def scrape() -> bytes:
    """The metrics in the Prometheus text format (0.0.4); reads the other processes' files in
    multi-process mode, so call it off the event loop."""
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
