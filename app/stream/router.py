"""GET /changes/stream: the change feed as Server-Sent Events (sse-starlette), one event per
committed revision, read through this process's ``FeedTail`` (docs/stream.md)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.types import Receive, Scope, Send

from app.auth.actor import Actor
from app.auth.dependencies import READER
from app.core import errors
from app.core.logs import get_logger
from app.core.metrics import OPEN_STREAMS
from app.history.models import EntityType
from app.stream.tail import FeedEvent, FeedTail
from app.vocabulary.types import MAX_REVISION_ID
from app.web.openapi import KEYED, PARAMS, responses

router = APIRouter(tags=["history"])
log = get_logger("app.stream")

EVENT_STREAM = "text/event-stream"
RETRY_AFTER_SECONDS = 5
_EXAMPLE = (
    ": heartbeat\r\n\r\n"
    "id: 1042\r\nevent: claim.updated\r\n"
    'data: {"id":1042,"entity_type":"claim","entity_id":17,"version":3,"action":"updated",...}'
    "\r\n\r\n"
)


@dataclass
class StreamCounts:
    """The streams open in this process, in all and per caller (a key, or an address)."""

    total: int = 0
    per_caller: dict[str, int] = field(default_factory=dict)

    def open(self, caller: str, *, per_caller: int, per_process: int) -> "StreamLease":
        if self.per_caller.get(caller, 0) >= per_caller:
            raise errors.TooManyRequests(
                f"This caller already holds {per_caller} open change streams in this process "
                "(CLAIMS_STREAM_MAX_PER_KEY); close one first.",
                retry_after=RETRY_AFTER_SECONDS,
            )
        if self.total >= per_process:
            raise errors.Unavailable(
                f"This server process holds its most change streams ({per_process}, "
                "CLAIMS_STREAM_MAX_PER_PROCESS); retry, perhaps on another.",
                retry_after=RETRY_AFTER_SECONDS,
            )
        self.total += 1
        self.per_caller[caller] = self.per_caller.get(caller, 0) + 1
        OPEN_STREAMS.inc()
        return StreamLease(self, caller)

    def close(self, caller: str) -> None:
        self.total -= 1
        self.per_caller[caller] -= 1
        if not self.per_caller[caller]:
            del self.per_caller[caller]
        OPEN_STREAMS.dec()


@dataclass
class StreamLease:
    counts: StreamCounts
    caller: str
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.counts.close(self.caller)


class ChangeStreamResponse(EventSourceResponse):
    """sse-starlette's response, with this stream's place in the limits given back, and its
    end logged, however it ends: the client left, the server shut down, or the client took
    nothing for CLAIMS_STREAM_SEND_TIMEOUT_SECONDS (a slow consumer, dropped)."""

    media_type = EVENT_STREAM

    def __init__(self, content: AsyncIterator[ServerSentEvent], **kwargs: Any) -> None:
        self.lease: StreamLease | None = kwargs.pop("lease", None)
        self.tail: FeedTail | None = kwargs.pop("tail", None)
        self.fields: dict[str, Any] = kwargs.pop("fields", {})
        super().__init__(content, **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = "client_closed"
        try:
            await super().__call__(scope, receive, send)
        # Not re-raised: a dropped client is not a server error. ``except*``: when the events
        # and the heartbeat both time out at once, sse-starlette's task group raises the two
        # together.
        except* SendTimeoutError:
            reason = "slow_consumer"
        finally:
            if self.lease is not None:
                self.lease.release()
            if self.tail is not None and self.tail.closing:
                reason = "shutdown"
            log.info("stream_closed", reason=reason, **self.fields)


def feed_tail_of(request: Request) -> FeedTail:
    tail: FeedTail = request.app.state.feed_tail
    return tail


def _caller(request: Request, actor: Actor) -> str:
    if actor.key_id is not None:
        return f"key:{actor.key_id}"
    return f"address:{request.client.host if request.client else 'unknown'}"


async def _events(
    tail: FeedTail, after: int, entity_type: EntityType | None
) -> AsyncIterator[ServerSentEvent]:
    event: FeedEvent
    async for event in tail.follow(after, entity_type):
        yield ServerSentEvent(data=event.data, event=event.event, id=str(event.id))


@router.get(
    "/changes/stream",
    summary="Every revision as it is committed, as Server-Sent Events, in the order of /changes; "
    "resumes after Last-Event-ID",
    response_class=ChangeStreamResponse,
    status_code=200,
    responses={
        **responses(KEYED, PARAMS, 503),
        200: {
            "description": "An endless text/event-stream: one event per revision (`id`: the "
            "revision id, `event`: `<entity_type>.<action>`, `data`: the revision as an item of "
            "/changes shows it), and a comment line as a heartbeat when there is nothing to "
            "send. 429: this caller holds too many open streams; 503: this process does.",
            "content": {EVENT_STREAM: {"schema": {"type": "string"}, "example": _EXAMPLE}},
        },
    },
)
async def change_stream(
    request: Request,
    actor: Annotated[Actor, READER],
    after: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_REVISION_ID,
            description="The last revision id you saw; 0 from the start. Last-Event-ID wins.",
        ),
    ] = 0,
    entity_type: EntityType | None = None,
    last_event_id: Annotated[
        int | None,
        Header(
            alias="Last-Event-ID",
            ge=0,
            le=MAX_REVISION_ID,
            description="The id of the last event received (EventSource sends it when it "
            "reconnects): the stream resumes after it.",
        ),
    ] = None,
) -> ChangeStreamResponse:
    settings = request.app.state.settings
    tail = feed_tail_of(request)
    if tail.closing:
        raise errors.Unavailable(
            "The server is shutting down; reconnect.", retry_after=RETRY_AFTER_SECONDS
        )
    caller = _caller(request, actor)
    counts: StreamCounts = request.app.state.stream_counts
    lease = counts.open(
        caller,
        per_caller=settings.stream_max_per_key,
        per_process=settings.stream_max_per_process,
    )
    start = last_event_id if last_event_id is not None else after
    fields = {"caller": caller, "after": start, "entity_type": entity_type}
    log.info("stream_opened", open_in_process=counts.total, **fields)
    return ChangeStreamResponse(
        _events(tail, start, entity_type),
        ping=settings.stream_heartbeat_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="heartbeat"),
        send_timeout=settings.stream_send_timeout_seconds,
        headers={"Cache-Control": "no-store"},
        lease=lease,
        tail=tail,
        fields=fields,
    )
