"""The testing toolkit: fault injection, and (as a pytest plugin) capture and coverage.

``inject()`` makes a declared failure mode of a named operation fire, as if it had been
detected in what an attempt returned, so a test drives the declared handling (a retry, the
fallback chain, an escalation) without a misbehaving model::

    from agenttrace.testing import inject

    with inject("classify", "low_confidence"):
        label = classify(ticket)  # served by the declared fallback

The pytest plugin (installed with the package) adds the ``agenttrace_capture`` fixture,
the ``agenttrace_inject`` marker and failure-mode coverage (``--agenttrace-cov``); see
``docs/testing.md``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from agenttrace._contracts import contracts
from agenttrace._inject import Injection, add, remove
from agenttrace.testing._capture import (
    Capture,
    CapturedAttempt,
    CapturedFailure,
    CapturedOperation,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "Capture",
    "CapturedAttempt",
    "CapturedFailure",
    "CapturedOperation",
    "Injection",
    "InjectionError",
    "inject",
]


class InjectionError(ValueError):
    """``inject()`` was asked for an operation or a failure mode that is not declared."""


@contextlib.contextmanager
def inject(
    operation: str, mode: str, *, times: int | None = 1, details: dict[str, object] | None = None
) -> Iterator[Injection]:
    """Make ``mode`` of ``operation`` fire on its next ``times`` attempts, inside the block.

    Each attempt runs its code; then the failure is handled as the mode declares, as if it
    had been detected in the value the attempt returned (its span event and log event say
    ``source="injected"``). An attempt that raises is handled as it would be anyway, and the
    injection waits for the next one. Retries and fallbacks are attempts too: ``times=2``
    on a mode with ``handling="retry"`` fails the first try and the retry. A human hand-off
    is not judged, and a stream a model call returns is recorded, not handled: neither
    fires it.

    Args:
        operation: The operation's name, as its decorator registered it.
        mode: A failure mode the operation declares (a model call's detectors count).
        times: Attempts to fire on; ``None`` fires on every attempt inside the block.
        details: Recorded with the failure, as ``record_failure()`` details are.

    Yields:
        The injection; its ``fired`` says how many attempts it fired on.

    Raises:
        InjectionError: No decorated operation has that name, or it declares no such mode;
            the message lists what is declared.
        ValueError: ``times`` is below 1.
    """
    if times is not None and times < 1:
        msg = f"inject(times={times!r}): times is a whole number from 1, or None for every attempt"
        raise ValueError(msg)
    _check(operation, mode)
    injection = Injection(operation, mode, times, dict(details or {}))
    add(injection)
    try:
        yield injection
    finally:
        remove(injection)


def _check(operation: str, mode: str) -> None:
    found = [c for c in contracts() if c.operation == operation]
    if not found:
        names = sorted({c.operation for c in contracts() if c.failure_modes})
        msg = (
            f"inject({operation!r}, {mode!r}): no decorated operation is named {operation!r} "
            f"(is its module imported?). Operations that declare failure modes: "
            f"{', '.join(names) or 'none'}."
        )
        raise InjectionError(msg)
    declared = sorted({m.name for c in found for m in c.failure_modes})
    if mode not in declared:
        msg = (
            f"inject({operation!r}, {mode!r}): {operation!r} does not declare {mode!r}. "
            f"It declares: {', '.join(declared) or 'no failure modes'}."
        )
        raise InjectionError(msg)
