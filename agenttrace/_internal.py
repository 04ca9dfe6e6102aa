"""The boundary that keeps agenttrace's own errors away from user code.

Every telemetry stage runs under :func:`internal_error` on failure: the error is
counted by stage, logged through the ``agenttrace`` stdlib logger at most once a
minute per stage (with how many were suppressed), and the user's code goes on with
less telemetry. In strict mode (``AGENTTRACE_STRICT=true``) the error is raised
instead, so our own tests are loud.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Final

logger: Final = logging.getLogger("agenttrace")

LOG_INTERVAL_SECONDS: Final = 60.0
"""At most one log line per stage in this many seconds."""


class InternalError(RuntimeError):
    """An agenttrace stage failed while strict mode was on.

    Outside strict mode this is never raised: the failure is counted and logged.
    """


class _Counters:
    """Internal-error counts by stage, and when each stage last logged."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.errors: dict[str, int] = {}
        self.last_logged: dict[str, float] = {}
        self.suppressed: dict[str, int] = {}
        self.usage: dict[str, int] = {}
        self.strict = False


_counters: Final = _Counters()


def set_strict(strict: bool) -> None:
    """Make internal errors raise (``True``) or be counted and logged (``False``)."""
    _counters.strict = strict


def internal_error(stage: str, exc: Exception) -> None:
    """Count and log an error raised by agenttrace's own code in ``stage``.

    Args:
        stage: The telemetry stage that failed, e.g. ``"start"`` or ``"capture"``.
        exc: The error.

    Raises:
        InternalError: In strict mode only, chained to ``exc``.
    """
    now = time.monotonic()
    with _counters.lock:
        _counters.errors[stage] = _counters.errors.get(stage, 0) + 1
        last = _counters.last_logged.get(stage)
        due = last is None or now - last >= LOG_INTERVAL_SECONDS
        if due:
            _counters.last_logged[stage] = now
            suppressed = _counters.suppressed.pop(stage, 0)
        else:
            _counters.suppressed[stage] = _counters.suppressed.get(stage, 0) + 1
    if _counters.strict:
        raise InternalError(f"agenttrace stage {stage!r} failed") from exc
    if due:
        # The message names the stage and the error's type only: an error's text may quote
        # user values (and so secrets). The traceback is there for whoever enables DEBUG.
        logger.warning(
            "agenttrace: internal error in stage %r (%s; %d more suppressed since the last "
            "report). Your code still runs, with less telemetry.",
            stage,
            type(exc).__name__,
            suppressed,
        )
        logger.debug("agenttrace: internal error in stage %r", stage, exc_info=exc)


class _Limited:
    """When each rate-limited message last went out, and how many were held back since."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: dict[str, float] = {}
        self.held: dict[str, int] = {}


_limited: Final = _Limited()


def log_limited(key: str, message: str, *args: object, level: int = logging.WARNING) -> None:
    """Log ``message`` at most once a minute per ``key``.

    The message gets one more argument at the end: how many were held back since the last
    time it went out. Never raises.

    Args:
        key: What the message is about; each key has its own minute.
        message: A ``%``-format string whose last placeholder takes the held-back count.
        *args: The other arguments of ``message``.
        level: The logging level.
    """
    now = time.monotonic()
    with _limited.lock:
        last = _limited.last.get(key)
        if last is not None and now - last < LOG_INTERVAL_SECONDS:
            _limited.held[key] = _limited.held.get(key, 0) + 1
            return
        _limited.last[key] = now
        held = _limited.held.pop(key, 0)
    logger.log(level, message, *args, held)


def count_usage_error(kind: str) -> None:
    """Count one misuse noticed at run time (e.g. ``when_raised``); the caller logs it."""
    with _counters.lock:
        _counters.usage[kind] = _counters.usage.get(kind, 0) + 1


def usage_error_counts() -> dict[str, int]:
    """A copy of the usage-error counts by kind."""
    with _counters.lock:
        return dict(_counters.usage)


def internal_error_counts() -> dict[str, int]:
    """A copy of the internal-error counts by stage."""
    with _counters.lock:
        return dict(_counters.errors)


def reset_internal_errors() -> None:
    """Forget every count (for tests)."""
    with _counters.lock:
        _counters.errors.clear()
        _counters.last_logged.clear()
        _counters.suppressed.clear()
        _counters.usage.clear()
    with _limited.lock:
        _limited.last.clear()
        _limited.held.clear()
