"""Failure handling for one call: detect, then retry, fall back, escalate, accept or abort.

The first try runs in the operation's own span, so a call that succeeds pays for nothing
here beyond its ``when=`` predicates. After a failure a :class:`Run` takes over: each
further attempt (a retry, a fallback, an escalation) is a child span of the operation, and
the operation ends with its outcome and what served it.

Handling runs whether or not the operation is recorded: telemetry settings never change
what the code does. Only the user's own calls sit inside a ``try`` that re-raises, and an
exception that ends the call is the very object that was raised (a failure found in a
returned value, which has no exception, ends as :class:`~agenttrace.Failure`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from . import _inject, _logs, _spans
from . import _semconv as sc
from ._failures import (
    TAG,
    Detected,
    Escalation,
    Failure,
    detect_exception,
    detect_value,
    mark_left,
)
from ._internal import internal_error
from ._models import response_attributes
from ._operation import Operation, OperationSpec, begin, begin_silent
from ._runtime import resolve, state
from ._streaming import deferred, model_failure

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.trace import Span

    from ._failures import Fallback, Policy


class Run:
    """The failure handling of one call, from its first failure to its outcome."""

    __slots__ = (
        "args",
        "delay",
        "error",
        "fallback",
        "instance",
        "kwargs",
        "next_fallback",
        "number",
        "operation",
        "policy",
        "reason",
        "retries",
        "span",
        "value",
        "wrapped",
    )

    def __init__(
        self,
        operation: Operation,
        wrapped: Callable[..., Any],
        instance: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        policy = operation.spec.policy
        assert policy is not None  # noqa: S101 (only operations with a policy get here)
        self.policy: Policy = policy
        self.operation = operation
        self.wrapped = wrapped
        self.instance = instance
        self.args = args
        self.kwargs = kwargs
        self.number = 1
        self.retries = 0
        self.next_fallback = 0
        self.fallback: Fallback | None = None
        self.reason: Detected | None = None
        self.delay = 0.0
        self.span: Span | None = None
        self.value: object = None
        self.error: BaseException | None = None

    # --- after an attempt -------------------------------------------------------------------

    def after_exception(self, exc: BaseException) -> bool:
        """Handle ``exc`` raised by the current attempt; ``True`` when another attempt follows.

        ``False`` means the call ends by re-raising ``exc`` (the operation has ended).
        """
        if not isinstance(exc, Exception):  # cancellation, interrupts, exits: not failures
            self.stopped(exc)
            return False
        try:
            detected = detect_exception(self.policy, exc)
            self._note_recorded(skip_first=False)
            self.operation.note_failure(detected, self.number)
            self._end_attempt(detected)
            return self._decide(detected)
        except Exception as error:
            # Handling itself broke (a hostile exception class, say): the call ends as if
            # undecorated, by the exception the code raised.
            internal_error("handling", error)
            self._end_attempt(None)
            self.error = exc
            self.operation.fail(exc, attempts=self.number)
            return False

    def after_value(self, value: object, detected: Detected | None = None) -> bool:
        """Check ``value`` returned by the current attempt; ``True`` when another follows.

        ``False`` means the call ends: :meth:`result` returns the value or raises.
        """
        operation = self.operation
        try:
            if detected is None and not (self.fallback is not None and self.fallback.human):
                detected = detect_value(self.policy, operation.recorded, value, operation.name)
                if detected is None and operation.model_call is not None:
                    # A fallback is another call by design: what model served it is no
                    # substitution.
                    detected = model_failure(
                        operation,
                        self.policy,
                        value,
                        skip=("model_substituted",) if self.fallback is not None else (),
                    )
            self._note_recorded(
                skip_first=detected is not None and detected.source in ("recorded", "injected")
            )
            if detected is None:
                self._end_attempt(None)
                return self._serve(value, accepted=False)
            operation.note_failure(detected, self.number)
            for extra in detected.also:
                operation.note_failure(extra, self.number)
            self._end_attempt(detected)
            return self._decide(detected)
        except Exception as error:
            internal_error("handling", error)  # the value in hand is returned as it is
            self._end_attempt(None)
            self.value, self.error = value, None
            operation.finish(value)
            return False

    @property
    def runs_code(self) -> bool:
        """Whether the current attempt runs code whose value is judged (a hand-off's is not)."""
        return self.fallback is None or self.fallback.human is None

    def stopped(self, exc: BaseException) -> None:
        """End the call on a cancellation, interrupt or exit, during an attempt or a wait.

        Nothing is handled: the operation and any open attempt span end failed by it.
        """
        self._end_attempt(Detected(None, None, None, {}, exc))
        self.operation.fail(exc, attempts=self.number)

    def result(self) -> Any:
        """The value the call returns, or the error it raises."""
        if self.error is not None:
            raise self.error
        return self.value

    def _note_recorded(self, *, skip_first: bool) -> None:
        recorded, self.operation.recorded = self.operation.recorded, None
        if not recorded:
            return
        for failure in recorded[1:] if skip_first else recorded:
            declared = self.policy.by_name.get(failure.mode)
            self.operation.note_failure(
                Detected(failure.mode, declared, "recorded", failure.details), self.number
            )

    def _decide(self, detected: Detected) -> bool:
        mode = detected.declared
        if mode is None and detected.has_value:
            # A recorded failure of a mode this operation does not declare: nothing says how
            # to handle it, so the value stands (as on an operation that declares nothing).
            return self._serve(detected.value, accepted=True)
        if mode is None or mode.handling == "abort":
            return self._fail(detected)
        if mode.handling == "accept":
            return (
                self._serve(detected.value, accepted=True)
                if detected.has_value
                else self._fail(detected)
            )
        retry = self.policy.retry
        if (
            mode.handling == "retry"
            and retry is not None
            and self.fallback is None
            and self.retries + 1 < retry.attempts
        ):
            self.retries += 1
            return self._next(detected, None, retry.delay(self.retries))
        # fallback, escalate, or retries spent: down the chain (escalate: to the next human)
        fallbacks = self.policy.fallbacks
        for index in range(self.next_fallback, len(fallbacks)):
            if mode.handling != "escalate" or fallbacks[index].human is not None:
                self.next_fallback = index + 1
                return self._next(detected, fallbacks[index], 0.0)
        return self._fail(detected)

    def _next(self, reason: Detected, fallback: Fallback | None, delay: float) -> bool:
        self.number += 1
        self.fallback = fallback
        self.reason = reason
        self.delay = delay
        _logs.attempt(
            self.operation,
            self._type(),
            self.number,
            reason.mode,
            fallback.name if fallback is not None else None,
            delay,
        )
        return True

    def _type(self) -> str:
        if self.fallback is None:
            return sc.ATTEMPT_RETRY
        return sc.ATTEMPT_ESCALATION if self.fallback.human is not None else sc.ATTEMPT_FALLBACK

    def _serve(self, value: object, *, accepted: bool) -> bool:
        fallback = self.fallback
        if fallback is None:
            served_by = self.operation.name
            outcome = sc.OUTCOME_DEGRADED if accepted else sc.OUTCOME_RECOVERED
        else:
            served_by = fallback.name
            outcome = sc.OUTCOME_ESCALATED if fallback.human is not None else sc.OUTCOME_DEGRADED
        self.value = value
        self.operation.end_handled(value, outcome, served_by, self.number)
        _logs.outcome(self.operation, outcome, served_by, self.number)
        return False

    def _fail(self, detected: Detected) -> bool:
        operation = self.operation
        error = detected.exc
        if error is None:  # found in a value: there is no exception, so raise a Failure
            error = Failure(detected.mode or "failure", **dict(detected.details))
            error.value = detected.value
        if detected.declared is not None and not isinstance(error, Failure):
            # The exception stays the one the code raised; the tag lets an enclosing
            # operation that declares the same mode handle it as its own.
            with contextlib.suppress(Exception):  # an exception that takes no attribute
                setattr(error, TAG, (detected.mode, operation.name))
        mark_left(error, operation.name)
        self.error = error
        operation.fail(error, detected, self.number)
        if self.number > 1 or detected.declared is not None:
            _logs.outcome(operation, sc.OUTCOME_FAILED, None, self.number)
        return False

    # --- the next attempt -------------------------------------------------------------------

    def enter(self) -> None:
        """Start the next attempt's span (when recorded) and make it current."""
        operation = self.operation
        operation.recorded = None
        operation.attempt = self.number
        context = None
        if operation.span.is_recording():
            try:
                entry = state.entry or resolve()
                if entry is not None:
                    fallback = self.fallback
                    self.span = entry.tracer.start_span(
                        self._span_name(),
                        operation.child_context(operation.span),
                        attributes=_spans.attempt_attributes(
                            operation.name,
                            self.number,
                            self._type(),
                            self.reason.mode if self.reason is not None else None,
                            fallback.name if fallback is not None else None,
                        ),
                    )
                    context = operation.child_context(self.span)
            except Exception as exc:
                internal_error("attempt", exc)
        if operation.model_call is not None:
            operation.model_call.next_attempt(self.span)  # its response is read anew
        operation.enter(context)

    def exit(self) -> None:
        """Leave the attempt's context (its span ends when its result is known)."""
        self.operation.exit()

    def _span_name(self) -> str:
        fallback = self.fallback
        if fallback is None:
            return f"retry {self.operation.name}"
        if fallback.human is not None:
            return f"escalate {fallback.human.queue}"
        return f"fallback {fallback.name}"

    def _end_attempt(self, detected: Detected | None) -> None:
        span, self.span = self.span, None
        if span is not None:
            try:
                model_call = self.operation.model_call
                if model_call is not None and model_call.response is not None:
                    # What this attempt's model did; its tokens count on the operation's span.
                    span.set_attributes(response_attributes(model_call.response, usage=False))
                _spans.end_attempt(span, detected)
            except Exception as exc:
                internal_error("attempt", exc)

    def call(self) -> Any:
        """Run the current attempt: the operation again, a fallback, or a human hand-off."""
        fallback = self.fallback
        if fallback is None:
            return self.wrapped(*self.args, **self.kwargs)
        args = self.args if self.instance is None else (self.instance, *self.args)
        if fallback.human is not None:
            return fallback.call(self._escalation(), *args, **self.kwargs)
        return fallback.call(*args, **self.kwargs)

    @property
    def awaits(self) -> bool:
        """Whether the current attempt returns an awaitable.

        It does for an async operation's own try and for an async fallback.
        """
        return self.fallback is None or self.fallback.is_async

    def _escalation(self) -> Escalation:
        operation = self.operation
        reason = self.reason
        details = operation.failure_details(reason.details) if reason and reason.details else {}
        recorded = operation.span.get_span_context().is_valid
        human = self.fallback.human if self.fallback is not None else None
        assert human is not None  # noqa: S101 (called for hand-offs only)
        return Escalation(
            queue=human.queue,
            operation=operation.name,
            mode=reason.mode if reason is not None else None,
            details={k: v for k, v in details.items() if isinstance(v, (str, int, float, bool))},
            trace_id=operation.trace_id if recorded else None,
            span_id=operation.span_id if recorded else None,
        )


def _first_value(operation: Operation, policy: Policy, result: object) -> Detected | None:
    if policy.predicates or operation.recorded:
        detected = detect_value(policy, operation.recorded, result, operation.name)
        if detected is not None:
            return detected
    if operation.model_call is not None:
        return model_failure(operation, policy, result)
    return None


def handled_sync(spec: OperationSpec) -> Callable[..., Any]:  # noqa: C901 (see the wrapper)
    """The wrapper of a plain function that declares failure handling."""
    policy = spec.policy
    assert policy is not None  # noqa: S101

    def wrapper(  # noqa: C901, PLR0912 (the first try, then the loop; kept flat for the reader)
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        operation = begin(spec, instance, args, kwargs) or begin_silent(spec, kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            operation.exit()
            run = Run(operation, wrapped, instance, args, kwargs)
            if not run.after_exception(exc):
                raise
        else:
            operation.exit()
            if operation.model_call is not None:
                # A stream is the caller's as it arrives: it is recorded, not handled.
                streamed = deferred(operation, result)
                if streamed is not None:
                    return streamed
            if _inject.state.injections:
                _inject.apply(operation)
            detected = _first_value(operation, policy, result)
            if detected is None:
                operation.recorded = None
                operation.finish(result)
                return result
            run = Run(operation, wrapped, instance, args, kwargs)
            if not run.after_value(result, detected):
                return run.result()
        while True:
            if run.delay:
                try:
                    time.sleep(run.delay)
                except BaseException as exc:
                    run.stopped(exc)
                    raise
            run.enter()
            try:
                result = run.call()
            except BaseException as exc:
                run.exit()
                if run.after_exception(exc):
                    continue
                raise
            run.exit()
            if _inject.state.injections and run.runs_code:
                _inject.apply(operation)
            if not run.after_value(result):
                return run.result()

    return wrapper


def handled_async(spec: OperationSpec) -> Callable[..., Any]:  # noqa: C901 (see the wrapper)
    """The wrapper of a coroutine function that declares failure handling."""
    policy = spec.policy
    assert policy is not None  # noqa: S101

    async def wrapper(  # noqa: C901, PLR0912 (as handled_sync's)
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        operation = begin(spec, instance, args, kwargs) or begin_silent(spec, kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            operation.exit()
            run = Run(operation, wrapped, instance, args, kwargs)
            if not run.after_exception(exc):
                raise
        else:
            operation.exit()
            if operation.model_call is not None:
                # A stream is the caller's as it arrives: it is recorded, not handled.
                streamed = deferred(operation, result)
                if streamed is not None:
                    return streamed
            if _inject.state.injections:
                _inject.apply(operation)
            detected = _first_value(operation, policy, result)
            if detected is None:
                operation.recorded = None
                operation.finish(result)
                return result
            run = Run(operation, wrapped, instance, args, kwargs)
            if not run.after_value(result, detected):
                return run.result()
        while True:
            if run.delay:
                try:
                    await asyncio.sleep(run.delay)
                except BaseException as exc:
                    run.stopped(exc)
                    raise
            run.enter()
            try:
                result = run.call()
                if run.awaits:
                    result = await result
            except BaseException as exc:
                run.exit()
                if run.after_exception(exc):
                    continue
                raise
            run.exit()
            if _inject.state.injections and run.runs_code:
                _inject.apply(operation)
            if not run.after_value(result):
                return run.result()

    return wrapper
