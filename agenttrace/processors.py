"""Log correlation: the current operation on every structlog event and ``logging`` record.

Inside an operation (a decorated agent, step, tool or model call), every event logged gets:

- ``trace_id`` and ``span_id``: the current span's, as lowercase hex (32 and 16 digits),
  when it is recorded; in a retry or a fallback, the attempt's span;
- ``operation``, ``kind`` and ``attempt``: the innermost operation's name, its kind
  (``agent``, ``step``, ``tool`` or ``model_call``) and which attempt is running (1 is the
  first try).

Outside any operation nothing is added. A key the event already has is left as it is.

When :func:`agenttrace.configure` exports over OTLP, :func:`send_to_otlp` sends each
structlog event as an OpenTelemetry log record too (``logging`` records go through the
handler ``configure()`` puts on the root logger). Both helpers below add it.

With structlog::

    import agenttrace.processors

    agenttrace.processors.add_to_structlog()  # into your configuration, before the renderer
    # (add_trace_context and send_to_otlp)
    # or, for an application that has no structlog configuration of its own:
    agenttrace.processors.configure_structlog()  # JSON lines; a readable console on a TTY

With the standard library's ``logging``::

    agenttrace.processors.add_to_logging()  # on the root logger's handlers
    # or on one handler:
    handler.addFilter(agenttrace.processors.TraceContextFilter())

Example:
    >>> import agenttrace, agenttrace.processors
    >>> agenttrace.processors.add_trace_context(None, "info", {"event": "hello"})
    {'event': 'hello'}
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, Any, Final

import structlog
from opentelemetry import trace

from . import _otel_logs
from ._internal import internal_error
from ._operation import _current

if TYPE_CHECKING:
    from collections.abc import MutableMapping

__all__ = [
    "TraceContextFilter",
    "add_to_logging",
    "add_to_structlog",
    "add_trace_context",
    "configure_structlog",
    "send_to_otlp",
]

_lock: Final = threading.Lock()


def _fields() -> dict[str, Any] | None:
    """The current operation's fields; ``None`` outside any operation."""
    operation = _current.get()
    if operation is None:
        return None
    fields: dict[str, Any] = {}
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        fields["trace_id"] = format(context.trace_id, "032x")
        fields["span_id"] = format(context.span_id, "016x")
    spec = operation.spec
    fields["operation"] = spec.name
    fields["kind"] = spec.kind.value
    fields["attempt"] = operation.attempt
    return fields


def add_trace_context(
    logger: object,  # noqa: ARG001 (structlog's processor signature)
    method_name: str,  # noqa: ARG001
    event_dict: MutableMapping[str, Any],
) -> MutableMapping[str, Any]:
    """Add the current operation's trace and span ids, name, kind and attempt to an event.

    A structlog processor.

    Never raises; outside an operation it returns the event as it is.
    """
    try:
        fields = _fields()
    except Exception as exc:
        internal_error("log_context", exc)
        return event_dict
    if fields:
        for key, value in fields.items():
            event_dict.setdefault(key, value)
    return event_dict


def send_to_otlp(
    logger: object,  # noqa: ARG001 (structlog's processor signature)
    method_name: str,
    event_dict: MutableMapping[str, Any],
) -> MutableMapping[str, Any]:
    """Send the event as an OpenTelemetry log record, when agenttrace exports logs over OTLP.

    A structlog processor; it returns the event unchanged. The record carries the current
    span's trace and span ids, the level as its severity, ``event`` as its body and the
    other keys as attributes (bounded; ``trace_id``, ``span_id``, ``timestamp``, ``level``
    and ``logger`` are the record's own fields). Without OTLP export it does nothing.
    Never raises.
    """
    try:
        _otel_logs.send_structlog_event(method_name, event_dict)
    except Exception as exc:
        internal_error("log_export", exc)
    return event_dict


def add_to_structlog() -> None:
    """Add :func:`add_trace_context` and :func:`send_to_otlp` to structlog's configuration.

    They go just before the last processor (the renderer), once: a second call changes
    nothing, and the rest of the configuration is kept. When structlog hands its events to
    ``logging`` (``structlog.stdlib.LoggerFactory``), :func:`send_to_otlp` is left out:
    the handler on the root logger sends them. Configure structlog first, then call this.
    """
    with _lock:
        config = structlog.get_config()
        processors = list(config["processors"])
        wanted = [add_trace_context]
        if not isinstance(config["logger_factory"], structlog.stdlib.LoggerFactory):
            wanted.append(send_to_otlp)
        missing = [p for p in wanted if p not in processors]
        if not missing:
            return
        at = max(len(processors) - 1, 0)
        processors[at:at] = missing
        structlog.configure(processors=processors)


def configure_structlog(*, json: bool | None = None, level: int = logging.INFO) -> None:
    """A structlog configuration for an application that has none, with the trace context.

    Events at ``level`` and above are printed to stderr: as JSON lines, or, when stderr is a
    terminal, in structlog's readable console format. ``json=`` chooses explicitly.
    """
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            add_trace_context,
            send_to_otlp,  # before format_exc_info: it records the exception's type
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,  # a later configure() still applies to every logger
    )


class TraceContextFilter(logging.Filter):
    """A ``logging`` filter that adds the fields to each record it sees; it drops none.

    Outside an operation the record gets no field: give your formatter defaults, such as
    ``logging.Formatter("%(message)s %(trace_id)s", defaults={"trace_id": "-"})``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the fields to ``record``; keep it."""
        _annotate(record)
        return True


def _annotate(record: logging.LogRecord) -> None:
    try:
        fields = _fields()
    except Exception as exc:
        internal_error("log_context", exc)
        return
    if fields:
        for key, value in fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)


def add_to_logging() -> None:
    """Add :class:`TraceContextFilter` to every handler of the root logger, once.

    Records from every logger reach those handlers, so every record gets the fields. Set
    ``logging`` up first (``logging.basicConfig``, ``dictConfig``); a handler added later
    takes the filter with ``handler.addFilter(TraceContextFilter())``. A key the record
    already has (from ``extra=``) is left as it is.
    """
    with _lock:
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, TraceContextFilter) for f in handler.filters):
                handler.addFilter(TraceContextFilter())
