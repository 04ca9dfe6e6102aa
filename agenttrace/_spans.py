"""The only module that writes to spans: names, attributes, events and status.

Every value written here is bounded and redacted; nothing here calls a method of a user
object except ``str()`` on an exception, which is guarded.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Final

from opentelemetry.trace import Status, StatusCode

from . import _semconv as sc
from ._redact import redact_text

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry.trace import Span
    from opentelemetry.util.types import AttributeValue

    from ._failures import Detected

MAX_MESSAGE_CHARS: Final = 1024
"""Characters kept of an exception's message."""
MAX_STACKTRACE_CHARS: Final = 8192
"""Characters kept of an exception's stack trace (its end, where the error is)."""
_REDACT_MARGIN: Final = 256


def bounded_text(text: str, limit: int) -> str:
    """``text`` redacted and cut to ``limit`` characters, with a marker giving the length."""
    if len(text) <= limit:
        return redact_text(text)
    window = redact_text(text[: limit + _REDACT_MARGIN], cut=True)
    return f"{window[:limit]}...[+{len(text) - limit} chars]"


def _tail(text: str, limit: int) -> str:
    """The end of a line-based ``text`` (a stack trace), redacted, from a whole line on."""
    if len(text) <= limit:
        return redact_text(text)
    kept = redact_text(text[-(limit + _REDACT_MARGIN) :])[-limit:]
    # Start at a whole line: the cut line could begin with the end of a secret, which no
    # pattern recognises without its start.
    newline = kept.find("\n", 0, _REDACT_MARGIN)
    if newline >= 0:
        kept = kept[newline + 1 :]
    return f"[{len(text) - len(kept)} chars cut]\n{kept}"


def error_type(exc: BaseException) -> str:
    """The ``error.type`` of ``exc``: its class name, module-qualified unless a builtin."""
    cls = type(exc)
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, bounded and redacted; never raises."""
    try:
        text = str(exc)
    except Exception:
        return "<exception str() failed>"
    return bounded_text(text, MAX_MESSAGE_CHARS)


def _stacktrace(exc: BaseException) -> str:
    # TracebackException guards str() of the exception and of its chain itself.
    lines = traceback.TracebackException(
        type(exc), exc, exc.__traceback__, limit=32, compact=True
    ).format()
    return _tail("".join(lines), MAX_STACKTRACE_CHARS)


def end_ok(span: Span, attributes: Mapping[str, AttributeValue] | None) -> None:
    """End ``span`` as ``ok``, adding ``attributes``.

    Spans start with ``agenttrace.outcome=ok`` (see ``_operation.make_spec``), so the
    happy path sets nothing here: setting one attribute on an SDK span costs about as much
    as a fifth of the span itself.
    """
    if attributes:
        span.set_attributes(attributes)
    span.end()


def end_failed(
    span: Span, exc: BaseException, attributes: Mapping[str, AttributeValue] | None
) -> None:
    """Mark ``span`` as ``failed`` by ``exc``: outcome, ``error.type``, event, status; end it."""
    kind = error_type(exc)
    message = exception_message(exc)
    failed: dict[str, AttributeValue] = {sc.OUTCOME: sc.OUTCOME_FAILED, sc.ERROR_TYPE: kind}
    if attributes:
        failed.update(attributes)
    span.set_attributes(failed)
    span.add_event(
        sc.EXCEPTION_EVENT,
        {
            sc.EXCEPTION_TYPE: kind,
            sc.EXCEPTION_MESSAGE: message,
            sc.EXCEPTION_STACKTRACE: _stacktrace(exc),
        },
    )
    span.set_status(Status(StatusCode.ERROR, f"{kind}: {message}" if message else kind))
    span.end()


def failure_attributes(
    detected: Detected, attempt: int, details: dict[str, AttributeValue]
) -> dict[str, AttributeValue]:
    """The attributes of one ``agenttrace.failure`` event."""
    attributes: dict[str, AttributeValue] = {
        sc.FAILURE_DECLARED: detected.declared is not None,
        sc.ATTEMPT: attempt,
    }
    if detected.mode is not None:
        attributes[sc.FAILURE_MODE] = detected.mode
    if detected.declared is not None:
        attributes[sc.FAILURE_HANDLING] = detected.declared.handling
        attributes[sc.FAILURE_SEVERITY] = detected.declared.severity
    if detected.source is not None:
        attributes[sc.FAILURE_SOURCE] = detected.source
    if detected.origin is not None:
        attributes[sc.FAILURE_ORIGIN] = detected.origin
    if detected.exc is not None:
        attributes[sc.ERROR_TYPE] = error_type(detected.exc)
    for key, value in details.items():
        attributes[sc.FAILURE_DETAIL_PREFIX + key] = value
    return attributes


def attempt_attributes(
    operation: str, number: int, kind: str, reason: str | None, fallback: str | None
) -> dict[str, AttributeValue]:
    """The attributes an attempt span starts with."""
    attributes: dict[str, AttributeValue] = {
        sc.KIND: sc.KIND_ATTEMPT,
        sc.OPERATION: operation,
        sc.ATTEMPT: number,
        sc.ATTEMPT_TYPE: kind,
    }
    if reason is not None:
        attributes[sc.ATTEMPT_REASON] = reason
    if fallback is not None:
        attributes[sc.FALLBACK_NAME] = fallback
        if fallback.startswith("human:"):
            attributes[sc.ESCALATION_QUEUE] = fallback[len("human:") :]
    return attributes


def end_attempt(span: Span, detected: Detected | None) -> None:
    """End an attempt span: plain when it served; marked by its failure when it did not.

    A declared failure leaves the status unset (it was handled: a retry is not an error);
    an undeclared exception is recorded as on any failed span.
    """
    if detected is not None:
        if detected.mode is not None:
            span.set_attributes(
                {sc.FAILURE_MODE: detected.mode, sc.FAILURE_DECLARED: detected.declared is not None}
            )
        if detected.declared is None and detected.exc is not None:
            end_failed(span, detected.exc, None)
            return
    span.end()
