"""Structured logs (structlog): one JSON object a line on stderr, or readable console lines.

The app's own events are structlog events with fields (``get_logger(name).info("key_created",
key_id=...)``), rendered by structlog itself: no stdlib ``logging`` round trip on the hot path
(the per-request line), orjson for the JSON, and a logger below the level is a no-op method
(``make_filtering_bound_logger``). Everything else that logs through the stdlib (uvicorn's
error log, libraries) reaches the root handler, whose ``ProcessorFormatter`` runs the same
processors, so in JSON mode every line on stderr is one JSON object.

Each line starts with ``timestamp`` (ISO 8601, UTC), ``level``, ``event``; during a request the
server's ``request_id`` is added to every line, whoever logs it (``app.core.request_record``).
"""

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from app.core.request_record import CURRENT

LogFormat = Literal["json", "console"]

# uvicorn's level names (``trace`` is its own, below debug).
LEVELS = {"critical": 50, "error": 40, "warning": 30, "info": 20, "debug": 10, "trace": 5}
_LEVEL_NAMES = {"exception": "error", "warn": "warning", "fatal": "critical"}
# Its own logger names, each sent to the root handler; the access log is replaced by the app's
# request line (app.web.request_log), so it is silenced, whatever uvicorn was told.
_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.asgi")
_UVICORN_ACCESS = "uvicorn.access"
_HANDLER_NAME = "claims-structured"

# Set by ``configure_logging`` in JSON mode: where ``write_json_line`` writes, and from which
# level. None: structlog renders every event (console mode, tests, a process not configured).
_json_stream: Any = None
_json_min_level = logging.INFO


# Until a server configures logging (and in the CLI, the tests): structlog's defaults, but on
# stderr, where stdout stays the commands' output (a key's secret is its last line).
if not structlog.is_configured():
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))


def default_format() -> LogFormat:
    """Readable lines for a person at a terminal, JSON for everything that collects logs."""
    return "console" if sys.stderr.isatty() else "json"


def get_logger(name: str) -> Any:
    """The structlog logger for the app's events from ``name`` (the module's area, like
    ``app.auth``), written as the ``logger`` field."""
    return structlog.get_logger(logger_name=name)  # ``logger`` is get_logger's own argument


def _frame(_logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """timestamp, level, event, logger first (orjson keeps the order), then the request id,
    then the event's own fields."""
    framed: EventDict = {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "level": _LEVEL_NAMES.get(method_name, method_name),
        "event": event_dict.pop("event", None),
        # The app's loggers carry logger_name; stdlib records get logger from add_logger_name.
        "logger": event_dict.pop("logger_name", None) or event_dict.pop("logger", None),
    }
    if "request_id" not in event_dict:
        record = CURRENT.get()
        if record is not None:
            framed["request_id"] = record.request_id
    framed.update(event_dict)
    return framed


class _DropRepeatedTraces(logging.Filter):
    """uvicorn logs an unexpected error again ("Exception in ASGI application") after the app's
    own handler logged it with the request id and answered 500: one trace is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not getattr(exc, _LOGGED, False)


_LOGGED = "_claims_trace_logged"


def mark_logged(exc: BaseException) -> None:
    """Say that ``exc``'s trace is in the log already (``_DropRepeatedTraces``)."""
    setattr(exc, _LOGGED, True)


def _json_bytes(event_dict: EventDict, **_: Any) -> bytes:
    return orjson.dumps(event_dict, default=str)


def _json_text(event_dict: EventDict, **_: Any) -> str:
    return orjson.dumps(event_dict, default=str).decode()


def write_json_line(level: int, event: str, logger: str, fields: dict[str, Any]) -> bool:
    """The hottest event, one per request, written as the JSON line structlog would write
    (the same frame and fields) without its processor chain: that chain cost about a quarter
    of a GET by id's CPU (wrk on the SQLite bench database, 106-111 µs a request with the line
    off, 119-142 µs with it through structlog). False, writing nothing, unless the process logs
    JSON: the caller then logs the event through structlog as usual."""
    if _json_stream is None:
        return False
    if level < _json_min_level:
        return True  # filtered out, as structlog's level filter would
    framed = {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "level": logging.getLevelName(level).lower(),
        "event": event,
        "logger": logger,
        **fields,
    }
    _json_stream.write(orjson.dumps(framed, default=str) + b"\n")
    _json_stream.flush()
    return True


def configure_logging(log_format: LogFormat | None, level: str) -> None:
    """Set up this process's logging; safe to call again (it replaces its own handler)."""
    global _json_stream, _json_min_level
    log_format = log_format or default_format()
    level_number = LEVELS.get(level.lower(), logging.INFO)
    _json_stream = sys.stderr.buffer if log_format == "json" else None
    _json_min_level = level_number
    renderer: Processor
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_json_bytes)
        foreign_renderer: Processor = structlog.processors.JSONRenderer(serializer=_json_text)
        exceptions: list[Processor] = [structlog.processors.format_exc_info]
        factory: Any = structlog.BytesLoggerFactory(sys.stderr.buffer)
    else:
        renderer = foreign_renderer = structlog.dev.ConsoleRenderer()
        exceptions = []  # the console renderer prints tracebacks itself
        factory = structlog.PrintLoggerFactory(sys.stderr)
    structlog.configure(
        processors=[_frame, *exceptions, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level_number),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(_DropRepeatedTraces())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, _frame],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *exceptions,
                foreign_renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_number)
    for name in _UVICORN:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger(_UVICORN_ACCESS)
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    # Alembic announces each of its plugins at INFO whenever it loads: noise, not events.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.getLogger("py.warnings").propagate = True
    logging.captureWarnings(True)
