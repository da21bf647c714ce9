"""The webhook dispatcher: claims due deliveries (``app.webhooks.queue``), sends them
(``app.webhooks.sender``), records what happened. An asyncio task in every server process
(``CLAIMS_WEBHOOK_DISPATCH``, on by default), or ``claimtracker webhooks dispatch``.

Each claimed run (consecutive deliveries of one endpoint) is a task of its own that sends its
deliveries one after the other and stops at the first failure; the runs of other endpoints go
on meanwhile, so a slow endpoint delays only itself. The database work runs where
``Database.write`` and ``Database.read`` put it, never blocking the loop for long.
"""

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta

from app.core.chores import STOP_GRACE_SECONDS
from app.core.db import Database
from app.core.logs import get_logger
from app.core.metrics import WEBHOOK_ATTEMPTS, WEBHOOK_QUEUE_DEPTH
from app.core.settings import Settings
from app.webhooks import queue, sender
from app.webhooks.models import AttemptOutcome, webhook_id

log = get_logger("app.webhooks")

DEPTH_EVERY_SECONDS = 5.0
MAX_RUNS_IN_FLIGHT = 64


class Dispatcher:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self.policy = queue.Policy(
            retry_schedule=tuple(settings.webhook_retry_schedule_seconds),
            disable_after=timedelta(seconds=settings.webhook_disable_after_seconds),
        )
        self._client = sender.make_client(settings.webhook_timeout_seconds)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._depth_at = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="webhook-dispatcher")

    async def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Stop claiming; let the runs in flight finish for ``grace_seconds``, then cancel them
        (their leases run out and another worker sends them again)."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._in_flight:
            _, pending = await asyncio.wait(self._in_flight, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._client.aclose()

    async def run(self) -> None:
        log.info("webhook_dispatcher_started")
        while not self._stop.is_set():
            try:
                await self.claim_and_start()
                await self._measure_depth()
            except Exception as exc:  # a database hiccup must not end the dispatcher
                log.warning("webhook_dispatcher_error", error=f"{type(exc).__name__}: {exc}")
            await self._wait()
        log.info("webhook_dispatcher_stopped")

    async def _wait(self) -> None:
        """Until a run finishes (its endpoint may have more), the poll interval, or stop."""
        stopping = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait(
                {stopping, *self._in_flight},
                timeout=self.settings.webhook_poll_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            stopping.cancel()

    async def claim_and_start(self) -> int:
        """Claim what is due and start sending it; returns how many deliveries were claimed."""
        room = MAX_RUNS_IN_FLIGHT - len(self._in_flight)
        now = datetime.now(UTC)
        if room <= 0 or not await self._any_due(now):
            return 0
        runs = await self.database.write(
            lambda session: queue.claim_runs(
                session,
                now,
                lease=timedelta(seconds=self.settings.webhook_lease_seconds),
                per_endpoint=self.settings.webhook_batch_size,
                endpoints=room,
            )
        )
        for run in runs:
            task = asyncio.create_task(self.deliver(run))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return sum(len(run.deliveries) for run in runs)

    async def _any_due(self, now: datetime) -> bool:
        return await self.database.read(lambda conn: queue.any_due(conn, now))

    async def drain(self) -> None:
        """Claim and send until nothing is due (tests, the bench)."""
        while await self.claim_and_start() or self._in_flight:
            if self._in_flight:
                await asyncio.wait(self._in_flight)

    async def deliver(self, run: queue.Run) -> None:
        results: list[queue.Result] = []
        for claimed in run.deliveries:
            attempted_at = datetime.now(UTC)
            sent = await sender.send(
                self._client,
                run.url,
                msg_id=webhook_id(claimed.revision_id),
                body=claimed.body,
                secrets=run.secrets,
                allow_private=self.settings.webhook_allow_private_targets,
            )
            WEBHOOK_ATTEMPTS.labels(str(sent.outcome)).inc()
            results.append(
                queue.Result(
                    claimed.delivery_id,
                    attempted_at,
                    sent.outcome,
                    sent.response_status,
                    sent.duration_ms,
                    sent.error,
                )
            )
            if sent.outcome is not AttemptOutcome.delivered:
                break  # the rest waits behind it: the endpoint's order is strict
        try:
            events = await self.database.write(
                lambda session: queue.record_run(session, run, results, self.policy)
            )
        except Exception as exc:  # the leases run out; the deliveries are sent again
            log.warning("webhook_record_failed", endpoint_id=run.endpoint_id, error=repr(exc))
            return
        for event in events:
            name = event.pop("event")
            quiet = name == "webhook_attempt" and event["outcome"] == "delivered"
            (log.info if quiet else log.warning)(name, **event)

    async def _measure_depth(self) -> None:
        if time.monotonic() - self._depth_at < DEPTH_EVERY_SECONDS:
            return
        self._depth_at = time.monotonic()
        WEBHOOK_QUEUE_DEPTH.set(await self.database.read(queue.queue_depth))
