"""Declared failure modes, retry policies, fallbacks, and the rules that detect a failure.

Pure logic, no OpenTelemetry: what a declaration means and whether it is valid, which
declared mode (if any) an exception or a returned value is, and what to do next. The
handling loop that runs attempts and records them lives in :mod:`agenttrace._handling`.

Detection order for one attempt (DESIGN §4):

1. the code raised :class:`Failure` (or an exception a child operation left unrecovered
   under a mode name) → the declared mode of that name;
2. the code raised an exception listed in some mode's ``on=`` → that mode;
3. any other exception → an undeclared failure, re-raised untouched;
4. the code returned, after declaring a failure with ``current().record_failure()`` → that
   mode; else the first mode whose ``when=`` predicate is true for the value → that mode.
"""

from __future__ import annotations

import functools
import inspect
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ._internal import count_usage_error, log_limited

Handling = Literal["retry", "fallback", "escalate", "accept", "abort"]
Severity = Literal["info", "warning", "error", "critical"]

_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
_MAX_DESCRIPTION: Final = 1024
TAG: Final = "_agenttrace_failure"
"""Attribute set on an exception that leaves an operation as a declared, unrecovered
failure: ``(mode name, operation name)``. The exception itself is never replaced."""


class Outcome(str, Enum):
    """How an operation ended, written as ``agenttrace.outcome``."""

    OK = "ok"
    """The first try succeeded, with no failure."""
    RECOVERED = "recovered"
    """A declared failure occurred and a retry succeeded."""
    DEGRADED = "degraded"
    """Served by a fallback, or a failure was accepted with the value kept."""
    ESCALATED = "escalated"
    """Served by a human hand-off (``agenttrace.human``)."""
    FAILED = "failed"
    """Ended in an exception, declared or not."""


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(
            f"{what} must be a letter followed by up to 63 letters, digits or '_.:-' "
            f"(a low-cardinality label), not {value!r}"
        )
    return value


class FailureMode(BaseModel):
    """A declared way an operation can fail, and what to do when it does.

    Args:
        name: A short, stable label (``low_confidence``); it names the failure in spans,
            logs, metrics and reports. Positional.
        description: What the failure means, for people reading the contract.
        handling: ``retry`` (re-run the operation within its :class:`Retry` policy),
            ``fallback`` (run the next fallback), ``escalate`` (go to the next
            :func:`human` hand-off), ``accept`` (keep the returned value; outcome
            ``degraded``) or ``abort`` (raise; the default).
        severity: ``info``, ``warning``, ``error`` or ``critical``; by default ``error`` for
            ``abort`` and ``warning`` for every handled mode.
        on: Exception classes that are this failure when the operation raises them.
        when: A predicate on the returned value: true means the value is this failure
            (a *silent* failure, garbage that raised nothing).

    Example:
        >>> import agenttrace
        >>> LOW_CONFIDENCE = agenttrace.FailureMode(
        ...     "low_confidence",
        ...     when=lambda label: label["confidence"] < 0.7,
        ...     handling="fallback",
        ...     description="classifier unsure; route to rules, then to a human",
        ... )
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str
    description: str = Field(default="", max_length=_MAX_DESCRIPTION)
    handling: Handling = "abort"
    severity: Severity = "error"
    on: tuple[type[Exception], ...] = ()
    when: Callable[[Any], Any] | None = None

    def __init__(self, name: str | None = None, /, **data: Any) -> None:
        if name is not None:
            data["name"] = name
        super().__init__(**data)

    @model_validator(mode="before")
    @classmethod
    def _default_severity(cls, data: Any) -> Any:
        if isinstance(data, dict) and "severity" not in data:
            data = {
                **data,
                "severity": "error" if data.get("handling", "abort") == "abort" else "warning",
            }
        return data

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_name(value, "a failure mode's name")

    @field_validator("on", mode="before")
    @classmethod
    def _exception_classes(cls, value: Any) -> Any:
        classes = (value,) if isinstance(value, type) else value
        if not isinstance(classes, (tuple, list)):
            raise ValueError(  # noqa: TRY004 (pydantic reports ValueError, not TypeError)
                f"on= takes an exception class or a tuple of them, not {value!r}"
            )
        for item in classes:
            if not (isinstance(item, type) and issubclass(item, Exception)):
                raise ValueError(  # noqa: TRY004 (as above)
                    f"on= takes subclasses of Exception, not {item!r} (KeyboardInterrupt, "
                    "SystemExit and cancellation are never failures)"
                )
        return tuple(classes)

    @field_validator("when")
    @classmethod
    def _plain_predicate(cls, value: Any) -> Any:
        if value is None:
            return None
        if inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value):
            raise ValueError("when= must be a plain function returning a bool, not a coroutine")
        return value

    @model_validator(mode="after")
    def _accept_needs_a_value(self) -> FailureMode:
        if self.handling == "accept" and self.on:
            raise ValueError(
                f"failure mode {self.name!r}: handling 'accept' keeps a returned value, and an "
                "exception has none; detect it with when= (or current().record_failure()), or "
                "choose another handling"
            )
        return self


class Retry(BaseModel):
    """How a failure whose mode has ``handling="retry"`` re-runs the operation.

    The delay before retry *n* (1, 2, …) is ``backoff * multiplier ** (n - 1)``, at most
    ``max_backoff`` seconds; with ``jitter`` it is drawn uniformly between half of that
    and all of it. When the attempts run out, the failure goes on down the fallbacks, if
    there are any; else the operation fails with it.

    Example:
        >>> import agenttrace
        >>> policy = agenttrace.Retry(attempts=3, backoff=0.5)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: int = Field(default=3, ge=2, le=100)
    """Tries in all, the first one included (so ``attempts=3`` is two retries)."""
    backoff: float = Field(default=0.0, ge=0.0, le=3600.0)
    """Seconds before the first retry."""
    multiplier: float = Field(default=2.0, ge=1.0, le=10.0)
    """Each further retry waits this many times longer."""
    max_backoff: float = Field(default=30.0, ge=0.0, le=3600.0)
    """The longest wait before one retry, in seconds."""
    jitter: bool = True
    """Randomise each wait (between half and all of it), so retries do not stampede."""

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        if self.backoff == 0.0:
            return 0.0
        delay = min(self.max_backoff, self.backoff * self.multiplier ** (retry - 1))
        if self.jitter:
            delay *= random.uniform(0.5, 1.0)  # noqa: S311 (spreading retries, not secrets)
        return delay


class Human(BaseModel):
    """A fallback that hands the work to people: an escalation. Made by :func:`human`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    queue: str
    """The queue the work goes to, e.g. ``triage-queue``."""
    handoff: Callable[..., Any] | None = None
    """Called as ``handoff(escalation, *args, **kwargs)``; what it returns is the result."""

    @field_validator("queue")
    @classmethod
    def _valid_queue(cls, value: str) -> str:
        return _check_name(value, "a human queue's name")

    @property
    def name(self) -> str:
        """``human:{queue}``: the name this fallback has in spans (``served_by``)."""
        return f"human:{self.queue}"


def human(queue: str, *, handoff: Callable[..., Any] | None = None) -> Human:
    """A fallback that escalates to a human queue.

    Without ``handoff``, the operation returns an :class:`Escalation` record (queue, the
    failure that caused it, trace ids) for the caller to route. With ``handoff``, it is
    called as ``handoff(escalation, *args, **kwargs)`` with the operation's own arguments,
    and its return value is the operation's result (async for an async operation, or
    plain).

    Example:
        >>> import agenttrace
        >>> triage = agenttrace.human("triage-queue")
        >>> triage.name
        'human:triage-queue'
    """
    return Human(queue=queue, handoff=handoff)


class Escalation(BaseModel):
    """What an operation returns when a :func:`human` fallback without a handoff served it."""

    model_config = ConfigDict(frozen=True)

    queue: str
    """The human queue the work went to."""
    operation: str
    """The operation that escalated."""
    mode: str | None = None
    """The failure mode that caused the escalation."""
    details: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """The failure's details, bounded and redacted."""
    trace_id: str | None = None
    """The operation's trace id (32 hex digits), to link the ticket to the trace."""
    span_id: str | None = None
    """The operation's span id (16 hex digits)."""


def _safe_repr(value: object) -> str:
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    if isinstance(value, str):
        return repr(value[:64] + "…") if len(value) > 64 else repr(value)  # noqa: PLR2004
    return f"<{type(value).__name__}>"


class Failure(Exception):  # noqa: N818 (the vocabulary: a failure, declared)
    """A declared failure: raise it from an operation to say which mode occurred.

    Args:
        mode: The :class:`FailureMode` (or its name).
        **details: What to record with it (bounded and redacted like captured values).

    An enclosing operation that declares a mode of the same name handles it with its own
    handling; one that does not records it as an undeclared failure and lets it through.
    agenttrace raises it too, when a failure detected in a returned value (``when=``) is
    not recovered; :attr:`value` is then the value.

    Example:
        >>> import agenttrace
        >>> LOW_CONFIDENCE = agenttrace.FailureMode("low_confidence", handling="fallback")
        >>> error = agenttrace.Failure(LOW_CONFIDENCE, confidence=0.41)
        >>> str(error)
        'low_confidence (confidence=0.41)'
    """

    mode: str
    """The failure mode's name."""
    details: dict[str, object]
    """The details given."""
    operation: str | None
    """The operation the failure left unrecovered, once it has left one."""
    value: object
    """The returned value that was the failure (for a ``when=`` failure), else ``None``."""
    injected: bool = False
    """Fired by ``agenttrace.testing.inject()``, not by the code."""

    def __init__(self, mode: FailureMode | str, /, **details: object) -> None:
        name = mode.name if isinstance(mode, FailureMode) else mode
        if not isinstance(name, str) or not name:
            raise TypeError(f"Failure takes a FailureMode or its name, not {mode!r}")
        super().__init__(name)
        self.mode = name
        self.details = details
        self.operation = None
        self.value = None

    def __str__(self) -> str:
        if not self.details:
            return self.mode
        shown = ", ".join(
            f"{key}={_safe_repr(value)}" for key, value in list(self.details.items())[:8]
        )
        return f"{self.mode} ({shown})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_failure, (self.mode, self.details, self.operation))


# Its public name: error.type, tracebacks and reprs read agenttrace.Failure.
Failure.__module__ = "agenttrace"


def _rebuild_failure(mode: str, details: dict[str, object], operation: str | None) -> Failure:
    failure = Failure(mode, **details)
    failure.operation = operation
    return failure


# --- the validated policy of one operation ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Fallback:
    """One fallback of an operation, resolved when the decorator is applied."""

    name: str
    call: Callable[..., Any]
    is_async: bool
    human: Human | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """An operation's declared failure modes, retry policy and fallbacks, validated."""

    modes: tuple[FailureMode, ...]
    retry: Retry | None
    fallbacks: tuple[Fallback, ...]
    by_name: Mapping[str, FailureMode] = field(default_factory=dict)
    exception_modes: tuple[FailureMode, ...] = ()
    predicates: tuple[FailureMode, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The declared modes' names, in declaration order."""
        return tuple(mode.name for mode in self.modes)


def _fallback_name(candidate: Any) -> str:
    spec = getattr(candidate, "_self_agenttrace_spec", None)
    if spec is not None:
        return str(spec.name)
    target = candidate.func if isinstance(candidate, functools.partial) else candidate
    name = getattr(target, "__name__", None)
    return name if isinstance(name, str) else type(target).__name__


def _is_async_callable(candidate: Any) -> bool:
    target = candidate.func if isinstance(candidate, functools.partial) else candidate
    if inspect.iscoroutinefunction(target):
        return True
    call = getattr(type(target), "__call__", None)  # noqa: B004 (a callable object's method)
    return not inspect.isfunction(target) and inspect.iscoroutinefunction(call)


def _resolve_fallback(candidate: Any, where: str, is_async: bool) -> Fallback:
    if isinstance(candidate, Human):
        handoff = candidate.handoff
        handoff_async = handoff is not None and _is_async_callable(handoff)
        if handoff_async and not is_async:
            raise TypeError(
                f"{where}: the handoff of {candidate.name!r} is async and the operation is "
                "not; give a plain function"
            )
        return Fallback(candidate.name, handoff or _no_handoff, handoff_async, candidate)
    if not callable(candidate) or inspect.isclass(candidate):
        raise TypeError(
            f"{where}: each fallback must be a function, a decorated operation or "
            f"agenttrace.human(...), not {type(candidate).__name__}"
        )
    target = getattr(candidate, "__wrapped__", candidate)
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        raise TypeError(f"{where}: fallback {_fallback_name(candidate)!r} is a generator")
    fallback_async = _is_async_callable(candidate)
    if fallback_async and not is_async:
        raise TypeError(
            f"{where}: fallback {_fallback_name(candidate)!r} is async and the operation is "
            "not; async fallbacks serve async operations"
        )
    return Fallback(_fallback_name(candidate), candidate, fallback_async)


def _no_handoff(escalation: Escalation, *args: object, **kwargs: object) -> Escalation:  # noqa: ARG001
    return escalation


def make_policy(  # noqa: C901, PLR0912 (one check after another, each with its message)
    where: str,
    failure_modes: Sequence[FailureMode] | None,
    retry: Retry | None,
    fallbacks: Sequence[Any] | None,
    *,
    is_async: bool = False,
) -> Policy | None:
    """Check an operation's declaration and resolve it; ``None`` when nothing is declared.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: The declaration contradicts itself (see the messages).
    """
    if failure_modes is None and retry is None and fallbacks is None:
        return None
    if isinstance(failure_modes, (str, FailureMode)) or not isinstance(
        failure_modes, (Sequence, type(None))
    ):
        raise TypeError(f"{where}: failure_modes takes a list of FailureMode objects")
    modes = tuple(failure_modes or ())
    for mode in modes:
        if not isinstance(mode, FailureMode):
            raise TypeError(
                f"{where}: failure_modes takes agenttrace.FailureMode objects, not "
                f"{type(mode).__name__}"
            )
    by_name: dict[str, FailureMode] = {}
    for mode in modes:
        if mode.name in by_name:
            raise ValueError(f"{where}: failure mode {mode.name!r} is declared twice")
        by_name[mode.name] = mode
    if retry is not None and not isinstance(retry, Retry):
        raise TypeError(f"{where}: retry takes agenttrace.Retry(...), not {type(retry).__name__}")
    if fallbacks is not None and (
        isinstance(fallbacks, (str, Human)) or not isinstance(fallbacks, Sequence)
    ):
        raise TypeError(f"{where}: fallbacks takes a list of callables and agenttrace.human(...)")
    resolved = tuple(_resolve_fallback(item, where, is_async) for item in fallbacks or ())
    names = [fallback.name for fallback in resolved]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"{where}: fallback names must be unique (they say which one served), and "
            f"{', '.join(map(repr, repeated))} repeats; wrap one in a named function"
        )
    handlings = {mode.handling for mode in modes}
    retrying = [mode.name for mode in modes if mode.handling == "retry"]
    if retrying and retry is None:
        raise ValueError(
            f"{where}: failure mode {retrying[0]!r} has handling 'retry' but no retry policy "
            "was given; add retry=agenttrace.Retry(attempts=3)"
        )
    if retry is not None and not retrying:
        raise ValueError(
            f"{where}: retry= is given but no failure mode has handling 'retry', so it would "
            "never run"
        )
    falling = [mode.name for mode in modes if mode.handling == "fallback"]
    if falling and not resolved:
        raise ValueError(
            f"{where}: failure mode {falling[0]!r} has handling 'fallback' but no fallbacks "
            "were given; add fallbacks=[...]"
        )
    escalating = [mode.name for mode in modes if mode.handling == "escalate"]
    if escalating and not any(fallback.human for fallback in resolved):
        raise ValueError(
            f"{where}: failure mode {escalating[0]!r} has handling 'escalate' but no "
            "agenttrace.human(...) is among the fallbacks"
        )
    if resolved and not handlings & {"retry", "fallback", "escalate"}:
        raise ValueError(
            f"{where}: fallbacks are given but no failure mode has handling 'fallback', "
            "'escalate' or 'retry', so they would never run"
        )
    return Policy(
        modes=modes,
        retry=retry,
        fallbacks=resolved,
        by_name=by_name,
        exception_modes=tuple(mode for mode in modes if mode.on),
        predicates=tuple(mode for mode in modes if mode.when is not None),
    )


# --- detection ---------------------------------------------------------------------------

Source = Literal["raised", "recorded", "exception", "value", "propagated", "injected"]


@dataclass(slots=True)
class Detected:
    """One failure of one attempt, as detection saw it."""

    mode: str | None
    """The mode's name; ``None`` for an undeclared exception."""
    declared: FailureMode | None
    """The operation's own mode of that name, when it declares one."""
    source: Source | None
    details: Mapping[str, object]
    exc: BaseException | None = None
    value: object = None
    has_value: bool = False
    origin: str | None = None
    """For a propagated failure: the operation that left it unrecovered."""
    also: list[Detected] = field(default_factory=list)
    """Other failures found in the same value (built-in detectors), noted after this one."""

    @property
    def handling(self) -> str | None:
        """The declared mode's handling (``None`` when undeclared)."""
        return self.declared.handling if self.declared is not None else None


def mark_left(exc: BaseException, operation: str) -> None:
    """Name ``operation`` as the one a :class:`Failure` first left unrecovered."""
    if isinstance(exc, Failure) and exc.operation is None:
        exc.operation = operation


def propagated_mode(exc: BaseException) -> tuple[str, str | None] | None:
    """``(mode, origin operation)`` of a declared failure that left an operation, else ``None``."""
    if isinstance(exc, Failure):
        return exc.mode, exc.operation
    tag = getattr(exc, TAG, None)
    if isinstance(tag, tuple) and len(tag) == 2 and isinstance(tag[0], str):  # noqa: PLR2004
        return tag[0], tag[1]
    return None


def detect_exception(policy: Policy | None, exc: BaseException) -> Detected:
    """Which failure ``exc`` is for an operation with ``policy`` (``None``: declares nothing)."""
    found = propagated_mode(exc)
    if found is not None:
        mode, origin = found
        declared = policy.by_name.get(mode) if policy is not None else None
        details = exc.details if isinstance(exc, Failure) else {}
        if declared is not None or isinstance(exc, Failure):
            source: Source = "raised" if origin is None else "propagated"
            return Detected(mode, declared, source, details, exc, origin=origin)
    if policy is not None:
        for declared in policy.exception_modes:
            if isinstance(exc, declared.on):
                return Detected(declared.name, declared, "exception", {}, exc)
    if found is not None:
        return Detected(found[0], None, "propagated", {}, exc, origin=found[1])
    return Detected(None, None, None, {}, exc)


def detect_value(
    policy: Policy, recorded: list[Failure] | None, value: object, operation: str
) -> Detected | None:
    """Which failure a returned ``value`` is: a recorded failure first, then ``when=``."""
    if recorded:
        failure = recorded[0]
        return Detected(
            failure.mode,
            policy.by_name.get(failure.mode),
            "injected" if getattr(failure, "injected", False) else "recorded",
            failure.details,
            value=value,
            has_value=True,
        )
    for mode in policy.predicates:
        if _fires(mode, value, operation):
            return Detected(mode.name, mode, "value", {}, value=value, has_value=True)
    return None


def _fires(mode: FailureMode, value: object, operation: str) -> bool:
    when = mode.when
    if when is None:
        return False
    try:
        return bool(when(value))
    except Exception as exc:
        predicate_failed(operation, mode.name, exc)
        return False


def predicate_failed(operation: str, mode: str, exc: Exception) -> None:
    """Count and log a ``when=`` predicate that raised; the value is kept as it is."""
    count_usage_error("when_raised")
    log_limited(
        f"when:{operation}:{mode}",
        "agenttrace: the when= predicate of failure mode %r of %r raised %s; the value was "
        "kept as not failed (%d more since the last report)",
        mode,
        operation,
        type(exc).__name__,
    )
