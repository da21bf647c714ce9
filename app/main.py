"""The application factory."""

import asyncio
import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.auth.ratelimit import make_rate_limits
from app.auth.router import router as keys_router
from app.claims.fast_read import install_fast_read
from app.claims.router import router as claims_router
from app.core.budget import derive_budget, per_process, plan_pools
from app.core.db import Database, make_engine
from app.core.logs import configure_logging, get_logger
from app.core.settings import Settings, get_settings
from app.exports.router import router as exports_router
from app.health import router as health
from app.health.metrics import metrics_router
from app.history.router import router as history_router
from app.imports.router import router as imports_router
from app.matching.matcher import Matcher
from app.matching.router import router as matching_router
from app.outlets.router import router as outlets_router
from app.pages.cache import PagesState
from app.pages.router import router as pages_router
from app.schema.versions import SchemaAhead, refuse_to_serve_if_ahead
from app.sources.router import router as sources_router
from app.speakers.router import router as speakers_router
from app.stream.router import StreamCounts
from app.stream.router import router as stream_router
from app.stream.tail import feed_tail_for
from app.tlog.appender import Appender
from app.tlog.router import router as tlog_router
from app.vocabulary.formats import NDJSON_MEDIA_TYPE
from app.web.api_docs import install_docs
from app.web.lifecycle import CountRequests, RequestCounts, ShutdownLog
from app.web.middleware import (
    CLIENT_REQUEST_ID_HEADER,
    REQUEST_ID_HEADER,
    BodyLimitMiddleware,
    JsonContentTypeMiddleware,
    SecurityHeadersMiddleware,
)
from app.web.openapi import install_openapi
from app.web.problems import install_error_handlers
from app.web.request_log import RequestLogMiddleware
from app.webhooks.dispatcher import Dispatcher
from app.webhooks.router import router as webhooks_router

API_PREFIX = "/api/v1"
IMPORTS_PATH = f"{API_PREFIX}/imports"


def tune_garbage_collector() -> None:
    """Run the young-generation collection every 10,000 allocations instead of every 700.
    A batch import allocates hundreds of thousands of short-lived containers, and each
    collection also walks what the batch keeps alive: the LIAR import over HTTP on SQLite went
    from about 3,300 to 4,200 rows/s in one A/B run, and reads cost the same CPU per request.
    ``gc.freeze()`` after start-up helped imports less and cost reads 5% (more frequent full
    collections). Done once per server process, not in tests."""
    gc.set_threshold(10_000, 10, 10)


# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms).
THREAD_SWITCH_SECONDS = 0.001


def shorten_thread_switch_interval() -> None:
    """Let a waiting thread have the GIL after 1 ms instead of 5. The SQLite writer thread
    (``app.core.sqlite_writer``) gives the GIL up around every statement it runs; under load
    the event loop's thread takes it and the writer waited up to 5 ms to get it back, several
    times per write. POST at c=32 on SQLite went from 205-368 to 453-534 req/s (p50 147-86 ms to
    48-63 ms) in alternating runs on a busy machine. A single thread (GET by id, lists) never
    waits, so reads do not pay for it. Done once per server process, not in tests."""
    sys.setswitchinterval(THREAD_SWITCH_SECONDS)


async def open_database(settings: Settings) -> Database:
    """This process's database. On PostgreSQL its pools share this process's part of the
    connection budget (``app.core.budget``); the async read pool serves GET by id."""
    if make_url(settings.database_url).get_backend_name() != "postgresql":
        return Database(make_engine(settings=settings), settings=settings)
    total = settings.db_max_connections
    if total is None:  # `claimtracker serve` derives it once for all its workers
        total = await to_thread.run_sync(
            lambda: derive_budget(settings.database_url, workers=settings.workers)
        )
    plan = plan_pools(
        per_process(total, settings.workers),
        pool_size=settings.pool_size,
        listen=not settings.db_pooler,
    )
    get_logger("app.db").info(
        "connection_pools",
        write_pool=plan.sync_pool_size,
        write_overflow=plan.sync_max_overflow,
        read_pool=plan.async_pool_size,
        listen=plan.listen_connections,
    )
    database = Database(make_engine(settings=settings, plan=plan), settings=settings)
    await database.open_read_pool(size=plan.async_pool_size, settings=settings)
    return database


class ClaimTrackerApp(FastAPI):
    """FastAPI with the request id, the request's log line and metrics, and the security
    headers outside Starlette's 500 handler, so that an unexpected error's answer carries them
    too and is logged and counted as the 500 it is; outermost, the request counter the
    shutdown log reports from."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.request_counts = RequestCounts()

    def build_middleware_stack(self) -> ASGIApp:
        stack = SecurityHeadersMiddleware(super().build_middleware_stack(), api_prefix=API_PREFIX)
        logged = RequestLogMiddleware(
            stack, routes=lambda: self.routes, count=self.state.settings.metrics != "off"
        )
        return CountRequests(logged, self.request_counts)


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """The app. Called without settings it is uvicorn's factory in a server process: the
    settings come from the environment, and the process's logging is set up here, before
    uvicorn's first line, so that every line is structured (tests pass their settings and keep
    their own logging)."""
    if settings is None:
        settings = get_settings()
        configure_logging(settings.log_format, settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if database is not None:
            app.state.database = database
            app.state.feed_tail = feed_tail_for(database, settings)
            try:
                yield
            finally:
                await app.state.feed_tail.close()
            return
        app.state.database = await open_database(settings)
        app.state.feed_tail = feed_tail = feed_tail_for(app.state.database, settings)
        try:
            await to_thread.run_sync(refuse_to_serve_if_ahead, app.state.database)
        except SchemaAhead as exc:
            get_logger("app.lifecycle").error("refusing_to_serve", reason=str(exc))
            await app.state.database.close()
            raise
        tune_garbage_collector()
        shorten_thread_switch_interval()
        counts = app.request_counts if isinstance(app, ClaimTrackerApp) else RequestCounts()
        shutdown_log = ShutdownLog(
            counts, settings.shutdown_grace_seconds, on_begin=feed_tail.end_streams
        )
        shutdown_log.watch_signals()
        dispatcher = Dispatcher(app.state.database, settings) if settings.webhook_dispatch else None
        if dispatcher is not None:
            dispatcher.start()
        appender = Appender(app.state.database, settings)
        appender.start()
        matcher = Matcher(
            app.state.database,
            settings,
            busy=lambda: counts.busy(within=settings.similar_match_seconds),
        )
        if settings.similar_matcher:
            matcher.start()
        try:
            yield
        finally:
            # Each finishes its round in flight (a few seconds' grace, together), before the
            # database closes under it.
            stopping = [appender.stop(), matcher.stop()]
            await asyncio.gather(*stopping, *([dispatcher.stop()] if dispatcher else []))
            await feed_tail.close()
            await app.state.database.close()  # after the queued writes are committed
            shutdown_log.finished()

    app = ClaimTrackerApp(
        title="Claim tracker",
        version="0.1.0",
        summary="Claims, who made them, where they appeared, the evidence and the verdict, "
        "with a verifiable change history.",
        lifespan=lifespan,
        # Served by app.web.api_docs from packaged assets, not from a CDN.
        docs_url=None,
        redoc_url=None,
        # FastAPI's built-in OpenTelemetry hooks look up the global providers on every request
        # (about 7% of a GET by id); nothing here configures OpenTelemetry, so they are off.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # Starlette's trailing-slash redirect writes the client's Host header into Location.
    app.router.redirect_slashes = False
    if database is not None:
        app.state.database = database
    # Read by the auth dependency (public reads, rate limits) for this app, not the process.
    app.state.settings = settings
    app.state.rate_limits = make_rate_limits(settings)
    app.state.stream_counts = StreamCounts()

    # Included straight into the app (not through an /api/v1 router): every level of nesting
    # costs route matching on each request.
    routers = (
        matching_router,
        claims_router,
        speakers_router,
        outlets_router,
        sources_router,
        history_router,
        tlog_router,
        stream_router,
        keys_router,
        imports_router,
        exports_router,
        webhooks_router,
    )
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health.router, prefix=API_PREFIX)
    install_fast_read(app, f"{API_PREFIX}/claims")
    app.include_router(health.router)
    metrics = metrics_router(settings.metrics)
    if metrics is not None:
        app.include_router(metrics)
    install_docs(app)
    if settings.public_pages:  # HTML for readers: /, /claims/{id}, the embed, oEmbed, the feed
        app.state.public_pages = PagesState(settings)  # this process's rendered pages
        app.include_router(pages_router)

    install_error_handlers(app)
    install_openapi(app)
    # Innermost, so that CORS headers reach its 415 answers too.
    app.add_middleware(
        JsonContentTypeMiddleware, extra_types={IMPORTS_PATH: frozenset({NDJSON_MEDIA_TYPE})}
    )
    if settings.cors_origins:  # no origins, no middleware on every request
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "Idempotency-Key",
                REQUEST_ID_HEADER,
            ],
            expose_headers=[
                "ETag",
                "Link",
                "Location",
                REQUEST_ID_HEADER,
                CLIENT_REQUEST_ID_HEADER,
            ],
        )
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        per_path={IMPORTS_PATH: settings.import_max_body_bytes},
    )
    if settings.trusted_proxies:  # outside every layer that reads the client's address
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app
