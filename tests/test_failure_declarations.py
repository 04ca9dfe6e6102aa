"""A failure-handling declaration is checked when it is written, with a message that says why."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

import agenttrace

LOW = agenttrace.FailureMode("low_confidence", when=lambda v: v < 0.5, handling="fallback")
BAD = agenttrace.FailureMode("invalid_output", on=(ValueError,), handling="retry")
REFUSED = agenttrace.FailureMode("refused", handling="escalate")
EMPTY = agenttrace.FailureMode("empty", when=lambda v: not v, handling="accept")


def rules(x: float) -> float:
    return x


async def arules(x: float) -> float:
    return x


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda: agenttrace.FailureMode("x", handling="ignore"), "handling"),
        (lambda: agenttrace.FailureMode("", handling="abort"), "failure mode's name"),
        (lambda: agenttrace.FailureMode("has space"), "failure mode's name"),
        (lambda: agenttrace.FailureMode("x" * 65), "failure mode's name"),
        (lambda: agenttrace.FailureMode("x", when=3), "when"),
        (lambda: agenttrace.FailureMode("x", when=arules), "not a coroutine"),
        (lambda: agenttrace.FailureMode("x", on=KeyboardInterrupt), "subclasses of Exception"),
        (lambda: agenttrace.FailureMode("x", on=("ValueError",)), "subclasses of Exception"),
        (lambda: agenttrace.FailureMode("x", on=ValueError, handling="accept"), "has none"),
        (lambda: agenttrace.FailureMode("x", severity="fatal"), "severity"),
        (lambda: agenttrace.FailureMode("x", colour="red"), "colour"),
        (lambda: agenttrace.Retry(attempts=1), "attempts"),
        (lambda: agenttrace.Retry(backoff=-1), "backoff"),
        (lambda: agenttrace.human("two words"), "human queue's name"),
    ],
)
def test_bad_declarations_are_validation_errors(declare: Callable[[], Any], message: str) -> None:
    """FailureMode, Retry and human() reject bad values when they are created."""
    with pytest.raises(ValidationError, match=message):
        declare()


@pytest.mark.parametrize(
    ("decorate", "message"),
    [
        (
            lambda: agenttrace.step(failure_modes=[LOW, LOW], fallbacks=[rules]),
            "'low_confidence' is declared twice",
        ),
        (
            lambda: agenttrace.step(failure_modes=[BAD]),
            "'invalid_output' has handling 'retry' but no retry policy",
        ),
        (
            lambda: agenttrace.step(failure_modes=[LOW], retry=agenttrace.Retry()),
            "retry= is given but no failure mode has handling 'retry'",
        ),
        (
            lambda: agenttrace.step(failure_modes=[LOW]),
            "'low_confidence' has handling 'fallback' but no fallbacks",
        ),
        (
            lambda: agenttrace.step(failure_modes=[REFUSED], fallbacks=[rules]),
            "no agenttrace.human",
        ),
        (
            lambda: agenttrace.step(failure_modes=[EMPTY], fallbacks=[rules]),
            "fallbacks are given but no failure mode",
        ),
        (
            lambda: agenttrace.step(failure_modes=[LOW], fallbacks=[rules, rules]),
            "fallback names must be unique",
        ),
        (lambda: agenttrace.step(failure_modes=[LOW], fallbacks=[42]), "each fallback must be"),
        (lambda: agenttrace.step(failure_modes=LOW), "failure_modes takes"),  # type: ignore[call-overload]
        (lambda: agenttrace.step(failure_modes=["low"]), "FailureMode objects"),  # type: ignore[list-item]
        (lambda: agenttrace.step(failure_modes=[LOW], fallbacks=rules), "fallbacks takes a list"),  # type: ignore[call-overload]
        (
            lambda: agenttrace.step(failure_modes=[BAD], retry=3),  # type: ignore[call-overload]
            "retry takes agenttrace.Retry",
        ),
    ],
)
def test_contradictory_declarations_fail_when_the_decorator_is_applied(
    decorate: Callable[[], Any], message: str
) -> None:
    """The called decorator checks the declaration before it sees the function."""
    with pytest.raises((TypeError, ValueError), match=message):
        decorate()


def test_an_async_fallback_on_a_sync_operation_fails_at_decoration() -> None:
    """A sync operation cannot await its fallback: a TypeError names the fallback."""
    with pytest.raises(TypeError, match="fallback 'arules' is async and the operation is not"):

        @agenttrace.step(failure_modes=[LOW], fallbacks=[arules])
        def classify(x: float) -> float:
            return x


def test_an_async_handoff_on_a_sync_operation_fails_at_decoration() -> None:
    """The same holds for a human hand-off."""

    async def page(escalation: agenttrace.Escalation, x: float) -> float:
        return x

    with pytest.raises(TypeError, match="handoff of 'human:pager' is async"):

        @agenttrace.step(
            failure_modes=[REFUSED], fallbacks=[agenttrace.human("pager", handoff=page)]
        )
        def classify(x: float) -> float:
            return x


def test_a_plain_fallback_serves_an_async_operation() -> None:
    """The other way round is fine: an async operation can call a plain fallback."""

    @agenttrace.step(failure_modes=[LOW], fallbacks=[rules])
    async def classify(x: float) -> float:
        return x

    assert classify.__name__ == "classify"


def test_generators_cannot_declare_failure_handling() -> None:
    """What a generator yielded is gone when it fails: it cannot be retried or replaced."""
    with pytest.raises(TypeError, match="not generators"):

        @agenttrace.step(failure_modes=[LOW], fallbacks=[rules])
        def stream(x: float) -> Any:
            yield x


def test_severity_defaults_follow_the_handling() -> None:
    """An aborting mode is an error by default; a handled one a warning."""
    assert ("error", "warning") == (
        agenttrace.FailureMode("x").severity,
        agenttrace.FailureMode("x", handling="fallback").severity,
    )


def test_failure_modes_are_frozen_and_comparable() -> None:
    """A mode is a value: frozen, equal to an identical one, hashable."""
    mode = agenttrace.FailureMode("x", on=ValueError)

    with pytest.raises(ValidationError):
        mode.name = "y"  # type: ignore[misc]
    assert mode == agenttrace.FailureMode("x", on=(ValueError,))
    assert len({mode, agenttrace.FailureMode("x", on=(ValueError,))}) == 1


def test_failure_reads_well_and_pickles() -> None:
    """str() shows the mode and details (values of unknown types by type only); the
    exception survives pickling, details and origin included."""

    class Opaque:
        def __repr__(self) -> str:
            raise AssertionError("never called")

    failure = agenttrace.Failure(LOW, confidence=0.41, label="billing", raw=Opaque())
    failure.operation = "classify"

    assert "low_confidence (confidence=0.41, label='billing', raw=<Opaque>)" == str(failure)
    copy = pickle.loads(pickle.dumps(agenttrace.Failure("low_confidence", confidence=0.41)))  # noqa: S301 (our own bytes)
    assert ("low_confidence", {"confidence": 0.41}) == (copy.mode, copy.details)


def test_failure_needs_a_mode() -> None:
    """A Failure without a mode or its name is a TypeError at the raise site."""
    with pytest.raises(TypeError, match="takes a FailureMode or its name"):
        agenttrace.Failure(42)  # type: ignore[arg-type]


def test_retry_delays_grow_and_cap() -> None:
    """Without jitter the delays are backoff * multiplier**(n-1), capped at max_backoff;
    with jitter each is between half and all of that."""
    fixed = agenttrace.Retry(attempts=5, backoff=1.0, multiplier=3.0, max_backoff=5.0, jitter=False)
    jittered = agenttrace.Retry(attempts=5, backoff=1.0, multiplier=3.0, max_backoff=5.0)

    assert [1.0, 3.0, 5.0, 5.0] == [fixed.delay(n) for n in range(1, 5)]
    assert all(0.5 <= jittered.delay(1) <= 1.0 for _ in range(100))
    assert agenttrace.Retry().delay(1) == 0.0


def test_the_outcome_enum_is_the_vocabulary_on_spans() -> None:
    """agenttrace.Outcome holds exactly the values written as agenttrace.outcome."""
    from agenttrace import _semconv as sc  # noqa: PLC0415

    assert [
        sc.OUTCOME_OK,
        sc.OUTCOME_RECOVERED,
        sc.OUTCOME_DEGRADED,
        sc.OUTCOME_ESCALATED,
        sc.OUTCOME_FAILED,
    ] == [outcome.value for outcome in agenttrace.Outcome]
