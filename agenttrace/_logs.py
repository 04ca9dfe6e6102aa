"""Failure handling as structlog events: every failure, retry, fallback, escalation, outcome.

Each event is logged on the ``agenttrace`` structlog logger with stable keys and the
operation's ``trace_id`` and ``span_id`` (when the operation is recorded), so logs and
traces meet. Levels: a declared failure that is handled is a warning; an undeclared one,
or one whose handling is ``abort``, is an error; retries, fallbacks and escalations are
info; the outcome is info when recovered, warning when degraded or escalated, error when
failed. Logging never raises into the caller.

Event names and keys (``docs/failure-modes.md`` lists them):

- ``agenttrace.failure``: operation, kind, attempt, mode, declared, handling, severity,
  source, error_type, details;
- ``agenttrace.retry``, ``agenttrace.fallback``, ``agenttrace.escalation``: operation,
  kind, attempt, reason, fallback, delay_s;
- ``agenttrace.outcome``: operation, kind, outcome, served_by, attempts — for operations
  that declare failure handling, when they end other than ``ok``, or ``failed`` after a
  declared failure or more than one attempt (an undeclared exception on a first try is
  already its ``agenttrace.failure`` event).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Final

import structlog

from . import _inject, _metrics, _otel_logs
from ._internal import internal_error

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

    from ._failures import Detected
    from ._operation import Operation

logger: Final = structlog.get_logger("agenttrace")

_LOGGED: Final = "_agenttrace_logged"
_OUTCOME_LEVELS: Final = {"recovered": "info", "degraded": "warning", "escalated": "warning"}


def _ids(operation: Operation) -> dict[str, str]:
    context = operation.span.get_span_context()
    if not context.is_valid:
        return {}
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


_LEVELS: Final = {"info": 20, "warning": 30, "error": 40}
_IDS: Final = frozenset({"trace_id", "span_id"})


def _emit(level: str, event: str, fields: dict[str, Any], operation: Operation) -> None:
    try:
        if _inject.state.observers:
            _inject.notify(event, fields)
        if not _otel_logs.active():
            getattr(logger, level)(event, **fields)
            return
        span = operation.span if operation.span.get_span_context().is_valid else None
        attributes = {k: v for k, v in fields.items() if k not in _IDS}  # the record's own
        with _otel_logs.sent("agenttrace", _LEVELS[level], event, attributes, span=span):
            getattr(logger, level)(event, **fields)
    except Exception as exc:
        internal_error("log", exc)


def failure(
    operation: Operation, detected: Detected, attempt: int, details: dict[str, AttributeValue]
) -> None:
    """Log (and count) one failure of ``operation``.

    An undeclared exception is logged and counted once, where it first fails an operation: the
    operations it then passes through record it on their spans, not again in the log.
    """
    declared = detected.declared
    exc = detected.exc
    if declared is None and exc is not None:
        if getattr(exc, _LOGGED, False):
            return
        with contextlib.suppress(Exception):  # an exception that takes no attribute
            setattr(exc, _LOGGED, True)
    _metrics.failure(operation, detected)
    fields: dict[str, Any] = {
        "operation": operation.name,
        "kind": operation.kind,
        "attempt": attempt,
        "mode": detected.mode,
        "declared": declared is not None,
        "handling": declared.handling if declared is not None else None,
        "severity": declared.severity if declared is not None else None,
        "source": detected.source,
    }
    if detected.exc is not None:
        fields["error_type"] = type(detected.exc).__qualname__
    if details:
        fields["details"] = details
    fields.update(_ids(operation))
    handled = declared is not None and declared.handling != "abort"
    _emit("warning" if handled else "error", "agenttrace.failure", fields, operation)


def attempt(
    operation: Operation,
    kind: str,
    number: int,
    reason: str | None,
    fallback: str | None,
    delay: float,
) -> None:
    """Log (and count) the start of a retry, fallback or escalation."""
    _metrics.attempt(operation, kind, fallback)
    fields: dict[str, Any] = {
        "operation": operation.name,
        "kind": operation.kind,
        "attempt": number,
        "reason": reason,
    }
    if fallback is not None:
        fields["fallback"] = fallback
    if delay:
        fields["delay_s"] = round(delay, 3)
    fields.update(_ids(operation))
    _emit("info", f"agenttrace.{kind}", fields, operation)


def outcome(operation: Operation, outcome: str, served_by: str | None, attempts: int) -> None:
    """Log how a handled operation ended (never called for ``ok``)."""
    fields: dict[str, Any] = {
        "operation": operation.name,
        "kind": operation.kind,
        "outcome": outcome,
        "attempts": attempts,
    }
    if served_by is not None:
        fields["served_by"] = served_by
    fields.update(_ids(operation))
    _emit(_OUTCOME_LEVELS.get(outcome, "error"), "agenttrace.outcome", fields, operation)
