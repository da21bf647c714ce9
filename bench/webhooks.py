"""Deliveries per second one webhook dispatcher sustains, on SQLite and PostgreSQL.

    python -m bench.webhooks [--deliveries 3000] [--backend sqlite|postgresql|both]

For each backend: a fresh migrated database, N claims imported in batches, one endpoint on a
loopback receiver (a threaded stdlib HTTP server with keep-alive, answering 204), every
revision queued with a range replay, then one in-process dispatcher drains the queue while the
clock runs: claim (lease) a run of webhook_batch_size deliveries, sign and POST them one after
the other (one endpoint: strict order), record the attempts, again. The receiver shares the CPU
with the dispatcher, so this is a floor for one endpoint. Not part of `make bench`.
"""

import argparse
import asyncio
import os
import tempfile
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from app.auth import service as auth_service
from app.core.db import Database, make_engine
from app.core.settings import Settings
from app.main import create_app
from app.schema.migrate import upgrade
from app.webhooks.dispatcher import Dispatcher
from bench.data import create_pg_database, drop_pg_database

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IMPORT_BATCH = 1000


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()


def start_receiver(counter: Counter) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would offer

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with counter.lock:
                counter.count += 1
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(url: str, deliveries: int) -> float:
    upgrade(url)
    settings = Settings(
        database_url=url,
        webhook_allow_private_targets=True,
        webhook_dispatch=False,
        log_level="warning",
    )
    database = Database(make_engine(url, settings), settings=settings)
    with database.session(write=True) as session:
        _, key = auth_service.create_key(session, "bench", "admin")
    counter = Counter()
    receiver = start_receiver(counter)
    app = create_app(settings, database=database)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with TestClient(app, headers=headers) as client:
            for start in range(0, deliveries, IMPORT_BATCH):
                records = [
                    {"statement": f"Bench claim {n}.", "external_id": f"bench-{n}"}
                    for n in range(start, min(start + IMPORT_BATCH, deliveries))
                ]
                response = client.post("/api/v1/imports", json=records)
                assert response.status_code in (200, 201), response.text
            port = receiver.server_address[1]
            endpoint = client.post(
                "/api/v1/webhooks",
                json={"url": f"http://127.0.0.1:{port}/hook", "events": ["claim.created"]},
            ).json()
            queued = client.post(
                f"/api/v1/webhooks/{endpoint['id']}/replay", json={"from_revision": 1}
            ).json()["queued"]
            assert queued == deliveries, queued

        async def drain() -> float:
            dispatcher = Dispatcher(database, settings)
            started = time.perf_counter()
            await dispatcher.drain()
            elapsed = time.perf_counter() - started
            await dispatcher.stop()
            return elapsed

        elapsed = asyncio.run(drain())
        assert counter.count == deliveries, (counter.count, deliveries)
        return deliveries / elapsed
    finally:
        receiver.shutdown()
        receiver.server_close()
        asyncio.run(database.close())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                rate = measure(f"sqlite:///{Path(tmp) / 'bench.db'}", args.deliveries)
        else:
            url = create_pg_database(PG_ADMIN_URL)
            try:
                rate = measure(url, args.deliveries)
            finally:
                drop_pg_database(PG_ADMIN_URL, url)
        print(f"{backend}: {args.deliveries} deliveries, {rate:,.0f} deliveries/s")


if __name__ == "__main__":
    main()
