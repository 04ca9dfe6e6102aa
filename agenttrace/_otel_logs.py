"""OTLP logs: ``logging`` records and structlog events as OpenTelemetry log records.

When :func:`agenttrace.configure` exports over OTLP, it also builds an SDK
``LoggerProvider`` whose one processor is agenttrace's export pipeline (bounded in records
and in bytes, one worker thread, every record counted: ``stats().logs_*``), and puts
:class:`OtlpHandler` on the root logger. structlog events go out through the
``agenttrace.processors.send_to_otlp`` processor, and agenttrace's own failure, retry,
fallback and outcome events go out directly, whatever structlog's configuration.

Each record carries the trace and span ids of the span current when it was logged (for
agenttrace's events: of the operation they are about), its severity, its message as the
body, and its other fields as attributes, bounded. Records logged on the export worker's
own thread, by the OpenTelemetry SDK's loggers, or while a record is being sent, are not
sent: an export failure must not feed itself.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, cast

from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber

from ._internal import internal_error
from ._runtime import state as runtime

if TYPE_CHECKING:
    from opentelemetry._logs import Logger, LoggerProvider
    from opentelemetry.trace import Span
    from opentelemetry.util.types import AnyValue

MAX_ATTRIBUTES: Final = 64
"""Attributes kept per record; the rest are left out (a record says how many)."""
MAX_BODY_CHARS: Final = 32_768
"""Characters kept of a record's body."""
_DROPPED_KEY: Final = "agenttrace.log.dropped_attributes"
_WORKER_PREFIX: Final = "agenttrace-"
_MAX_KEY_CHARS: Final = 128
_PLAIN: Final = frozenset({str, int, float, bool})

_SEVERITIES: Final = (
    (logging.CRITICAL, SeverityNumber.FATAL, "CRITICAL"),
    (logging.ERROR, SeverityNumber.ERROR, "ERROR"),
    (logging.WARNING, SeverityNumber.WARN, "WARNING"),
    (logging.INFO, SeverityNumber.INFO, "INFO"),
    (logging.DEBUG, SeverityNumber.DEBUG, "DEBUG"),
)
_LEVELS: Final = {
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
    "exception": logging.ERROR,
    "error": logging.ERROR,
    "err": logging.ERROR,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "msg": logging.INFO,
    "debug": logging.DEBUG,
    "trace": logging.DEBUG,
    "notset": logging.NOTSET,
}
# structlog keys that are the record's own fields, not attributes.
_STRUCTLOG_OWN: Final = frozenset(
    {"event", "level", "timestamp", "exc_info", "exception", "logger", "trace_id", "span_id"}
)
# The attributes every logging.LogRecord has; the rest came with extra=.
_RECORD_OWN: Final = frozenset(
    {*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime"}
    | {"trace_id", "span_id"}
)


class _State:
    def __init__(self) -> None:
        self.provider: LoggerProvider | None = None
        """The provider agenttrace built; ``None`` when log records are not exported."""
        self.handler: OtlpHandler | None = None
        self.loggers: dict[str, Logger] = {}


state: Final = _State()
_local: Final = threading.local()


def active() -> bool:
    """Whether log records are exported over OTLP now."""
    return state.provider is not None


def install(provider: LoggerProvider) -> None:
    """Export log records through ``provider``; put the handler on the root logger."""
    uninstall()
    state.provider = provider
    handler = OtlpHandler()
    logging.getLogger().addHandler(handler)
    state.handler = handler
    _wrap_configuration()


def uninstall() -> None:
    """Stop exporting log records; take the handler off the root logger."""
    handler, state.handler = state.handler, None
    state.provider = None
    state.loggers = {}
    if handler is not None:
        logging.getLogger().removeHandler(handler)
    _unwrap_configuration()


# logging.basicConfig() does nothing when the root logger has a handler, and dictConfig() or
# fileConfig() with a root section remove the root's handlers. While the OTLP handler is on
# the root logger, these run without it, and it is put back after: the application's
# logging set-up works as if agenttrace were not there, and records still go out.
def _configuration_calls() -> tuple[tuple[object, str], ...]:
    import logging.config  # noqa: PLC0415 (only once log records are exported)

    return (
        (logging, "basicConfig"),
        (logging.config, "dictConfig"),
        (logging.config, "fileConfig"),
    )


def _wrap_configuration() -> None:
    for module, name in _configuration_calls():
        original = getattr(module, name)
        if getattr(original, "_agenttrace_original", None) is None:
            setattr(module, name, _without_handler(original))


def _unwrap_configuration() -> None:
    for module, name in _configuration_calls():
        original = getattr(getattr(module, name), "_agenttrace_original", None)
        if original is not None:
            setattr(module, name, original)


def _without_handler(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def configure(*args: Any, **kwargs: Any) -> Any:
        handler = state.handler
        root = logging.getLogger()
        if handler is None or handler not in root.handlers:
            return original(*args, **kwargs)
        root.removeHandler(handler)
        try:
            return original(*args, **kwargs)
        finally:
            if state.handler is handler and handler not in root.handlers:
                root.addHandler(handler)

    configure._agenttrace_original = original  # type: ignore[attr-defined]
    return configure


def severity(level: int) -> tuple[SeverityNumber, str]:
    """The OpenTelemetry severity of a ``logging`` level."""
    for floor, number, text in _SEVERITIES:
        if level >= floor:
            return number, text
    return SeverityNumber.TRACE, "NOTSET"


def level_of(method_name: str) -> int:
    """The ``logging`` level of a structlog method name (``info``, ``warning``…)."""
    return _LEVELS.get(method_name.lower(), logging.INFO)


def _sending_now() -> bool:
    return bool(getattr(_local, "sending", False))


@contextlib.contextmanager
def _sending() -> Iterator[None]:
    previous = _sending_now()
    _local.sending = True
    try:
        yield
    finally:
        _local.sending = previous


def send(
    scope: str,
    level: int,
    body: str,
    attributes: Mapping[str, object],
    *,
    span: Span | None = None,
    timestamp: int | None = None,
    exc: BaseException | None = None,
) -> bool:
    """Send one log record; ``True`` when it was handed to the pipeline.

    Args:
        scope: The instrumentation scope: the logger's name.
        level: A ``logging`` level.
        body: The message.
        attributes: Its other fields; values become attribute values, bounded.
        span: The span the record is about; the current span by default.
        timestamp: When it was logged, in nanoseconds since the epoch; now by default.
        exc: An exception to record as ``exception.*`` attributes.
    """
    provider = state.provider
    if provider is None or _sending_now():
        return False
    try:
        with _sending():
            logger = state.loggers.get(scope)
            if logger is None:
                logger = state.loggers[scope] = provider.get_logger(scope)
            number, text = severity(level)
            now = time.time_ns()
            context = trace.set_span_in_context(span) if span is not None else None
            logger.emit(
                LogRecord(
                    timestamp=timestamp or now,
                    observed_timestamp=now,
                    context=context,
                    severity_number=number,
                    severity_text=text,
                    body=_bounded(body, MAX_BODY_CHARS),
                    attributes=_attributes(attributes, exc),
                )
            )
    except Exception as exc_:
        internal_error("log_export", exc_)
        return False
    return True


@contextlib.contextmanager
def sent(
    scope: str,
    level: int,
    body: str,
    attributes: Mapping[str, object],
    *,
    span: Span | None = None,
) -> Iterator[None]:
    """Send a record, then keep the handler and the processor from sending it again.

    Used around agenttrace's own structlog events: the block logs them to structlog, whose
    configuration may carry :func:`send_to_otlp` or lead into ``logging``.
    """
    if not send(scope, level, body, attributes, span=span):
        yield
        return
    with _sending():
        yield


def send_structlog_event(method_name: str, event_dict: Mapping[str, Any]) -> None:
    """Send one structlog event (the :func:`agenttrace.processors.send_to_otlp` processor)."""
    if state.provider is None or _sending_now():
        return
    level = event_dict.get("level")
    number = level_of(level) if isinstance(level, str) else level_of(method_name)
    exc_info = event_dict.get("exc_info")
    exc = None
    if isinstance(exc_info, BaseException):
        exc = exc_info
    elif isinstance(exc_info, tuple) and len(exc_info) == 3:  # noqa: PLR2004 (sys.exc_info())
        exc = exc_info[1]
    elif exc_info is True or method_name == "exception":
        exc = _current_exception()
    attributes = {k: v for k, v in event_dict.items() if k not in _STRUCTLOG_OWN}
    formatted = event_dict.get("exception")  # format_exc_info ran before
    if isinstance(formatted, str) and exc is None:
        attributes["exception.stacktrace"] = formatted
    scope = event_dict.get("logger")
    send(
        scope if isinstance(scope, str) else "structlog",
        number,
        str(event_dict.get("event", "")),
        attributes,
        exc=exc,
    )


def _current_exception() -> BaseException | None:
    import sys  # noqa: PLC0415 (only for exception() calls)

    return sys.exc_info()[1]


class OtlpHandler(logging.Handler):
    """Sends ``logging`` records as OpenTelemetry log records (see the module's docstring).

    ``configure()`` puts one on the root logger, so the root's level decides what goes
    out (``WARNING`` unless the application sets another).
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Send ``record``; never raises."""
        if state.handler is not self:  # left behind by an earlier installation
            return
        self._last_resort(record)
        if (
            _sending_now()
            or record.name.startswith("opentelemetry")
            or (record.threadName or "").startswith(_WORKER_PREFIX)
        ):
            return
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the caller's, not a reason to fail
            message = str(record.msg)
        attributes: dict[str, object] = {
            k: v for k, v in vars(record).items() if k not in _RECORD_OWN
        }
        attributes["code.file.path"] = record.pathname
        attributes["code.function.name"] = record.funcName
        attributes["code.line.number"] = record.lineno
        attributes["thread.name"] = record.threadName
        exc = record.exc_info[1] if record.exc_info else None
        send(
            record.name,
            record.levelno,
            message,
            attributes,
            timestamp=int(record.created * 1e9),
            exc=exc,
        )

    def _last_resort(self, record: logging.LogRecord) -> None:
        """Print ``record`` on stderr where ``logging`` would have without this handler.

        With no handler of its own in the record's way, ``logging`` prints warnings and
        errors on stderr (``logging.lastResort``); this handler on the root logger must
        not silence them.
        """
        last = logging.lastResort
        if last is None or record.levelno < last.level:
            return
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None:
            if any(not isinstance(h, OtlpHandler) for h in logger.handlers):
                return
            if not logger.propagate:
                break
            logger = logger.parent
        last.handle(record)


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[+{len(text) - limit} chars]"


def _value(value: object, limit: int) -> AnyValue:
    if isinstance(value, str):
        return _bounded(value, limit)
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple) and value:
        kind = type(value[0])
        if kind in (str, bool, int, float) and all(type(v) is kind for v in value):
            if kind is str:
                return tuple(_bounded(v, limit) for v in value[:MAX_ATTRIBUTES])
            return tuple(value[:MAX_ATTRIBUTES])
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return _bounded(text, limit)


def _attributes(fields: Mapping[str, object], exc: BaseException | None) -> dict[str, AnyValue]:
    limit = runtime.limits.max_value_chars
    attributes: dict[str, AnyValue] = {}
    dropped = 0
    for key, value in fields.items():
        if value is None:
            continue
        if len(attributes) >= MAX_ATTRIBUTES:
            dropped += len(value) if isinstance(value, Mapping) else 1
            continue
        kind = value.__class__
        if kind in _PLAIN and key.__class__ is str and len(key) <= _MAX_KEY_CHARS:
            # the common case, kept short: a plain value under a plain key
            attributes[key] = (
                _bounded(value, limit) if isinstance(value, str) else cast("AnyValue", value)
            )
            continue
        if isinstance(value, Mapping):  # one level of nesting, as dotted keys
            pairs = [(f"{key}.{k}", v) for k, v in value.items() if v is not None]
        else:
            pairs = [(str(key), value)]
        for name, item in pairs:
            if len(attributes) >= MAX_ATTRIBUTES:
                dropped += 1
                continue
            attributes[_bounded(name, _MAX_KEY_CHARS)] = _value(item, limit)
    if exc is not None:
        attributes["exception.type"] = type(exc).__qualname__
        with contextlib.suppress(Exception):  # an exception whose str() or traceback fails
            attributes["exception.message"] = _bounded(str(exc), limit)
            stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            attributes["exception.stacktrace"] = _bounded(stack, 4 * limit)
    if dropped:
        attributes[_DROPPED_KEY] = dropped
    return attributes
