"""Fault injection and observers: what the testing toolkit hooks into the handling loop.

An injection makes a declared failure mode of a named operation fire, as if it had been
detected in the value an attempt returned: the attempt's code runs, then the failure is
handled as its mode declares (retry, fallback, escalate, accept, abort). Observers see the
failure, retry, fallback, escalation and outcome events as they are logged, whether or not
the operation is recorded. Both cost one truthiness check per attempt while none is active.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from ._internal import internal_error

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ._operation import Operation

INJECTED: Final = "injected"
"""The ``source`` of an injected failure, on its span event and its log event."""


@dataclass
class Injection:
    """One active injection: fires ``mode`` on ``operation``'s next ``times`` attempts."""

    operation: str
    mode: str
    times: int | None
    """How many attempts it fires on; ``None``: every attempt while active."""
    details: Mapping[str, object] = field(default_factory=dict)
    fired: int = 0
    """How many attempts it fired on so far."""

    @property
    def spent(self) -> bool:
        """Whether it fired as many times as it may."""
        return self.times is not None and self.fired >= self.times


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.injections: list[Injection] = []
        self.observers: list[Callable[[str, Mapping[str, Any]], None]] = []


state: Final = _State()


def add(injection: Injection) -> None:
    """Make ``injection`` active."""
    with state.lock:
        state.injections = [*state.injections, injection]


def remove(injection: Injection) -> None:
    """Make ``injection`` inactive."""
    with state.lock:
        state.injections = [i for i in state.injections if i is not injection]


def apply(operation: Operation) -> None:
    """Fire the first active injection for ``operation``'s name, if one is left.

    The failure goes first among those recorded in the attempt, so it is the one handled.
    """
    from ._failures import Failure  # noqa: PLC0415 (only while an injection is active)

    spec = operation.spec
    declared = spec.policy.by_name if spec.policy is not None else {}
    with state.lock:
        for injection in state.injections:
            # Only where the mode is declared: another operation of the same name (in
            # another module) that does not declare it is left alone.
            if (
                injection.operation == spec.name
                and injection.mode in declared
                and not injection.spent
            ):
                injection.fired += 1
                break
        else:
            return
    failure = Failure(injection.mode, **dict(injection.details))
    failure.injected = True
    operation.recorded = [failure, *(operation.recorded or ())]


def observe(callback: Callable[[str, Mapping[str, Any]], None]) -> Callable[[], None]:
    """Call ``callback(event, fields)`` for every lifecycle event; returns the undo."""
    with state.lock:
        state.observers = [*state.observers, callback]

    def undo() -> None:
        with state.lock:
            state.observers = [o for o in state.observers if o is not callback]

    return undo


def notify(event: str, fields: Mapping[str, Any]) -> None:
    """Tell every observer about one lifecycle event; an observer that raises is counted."""
    for callback in state.observers:
        _call(callback, event, fields)


def _call(
    callback: Callable[[str, Mapping[str, Any]], None], event: str, fields: Mapping[str, Any]
) -> None:
    try:
        callback(event, fields)
    except Exception as exc:
        internal_error("observer", exc)
