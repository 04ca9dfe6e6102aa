"""Every way a failure is detected, handled every way, in sync and async operations.

Each test states what the call returns or raises and what the trace says about it: the
outcome, what served, the attempt spans, and the ``agenttrace.failure`` events.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import StatusCode

import agenttrace
from agenttrace import _runtime
from agenttrace import _semconv as sc
from tests.conftest import Recorder, apply


class Boom(Exception):
    """The exception a mode lists in ``on=``."""


class Surprise(Exception):
    """An exception no mode declares."""


TICKET = "T-1"
GOOD = "good"
BAD = "bad"
PLAN_B = "plan b"


async def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a decorated function, awaiting it when it is a coroutine function."""
    result = function(*args, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result


def attempt_spans(recorder: Recorder) -> list[ReadableSpan]:
    """The retry, fallback and escalation spans, in start order."""
    attempts = [s for s in recorder.spans if (s.attributes or {}).get(sc.KIND) == sc.KIND_ATTEMPT]
    return sorted(attempts, key=lambda s: s.start_time or 0)


def failure_events(span: ReadableSpan) -> list[dict[str, Any]]:
    """The attributes of each ``agenttrace.failure`` event of ``span``."""
    return [dict(e.attributes or {}) for e in span.events if e.name == sc.FAILURE_EVENT]


def attribute(span: ReadableSpan, key: str) -> object:
    """One attribute of ``span``, ``None`` when it is not set."""
    return (span.attributes or {}).get(key)


# --- the matrix: detection x handling x sync/async ---------------------------------------

ESCALATION = "<returns an agenttrace.Escalation>"
SAME_ERROR = "<raises the very exception the first try raised>"
VALUE_FAILURE = "<raises an agenttrace.Failure carrying the returned value>"


@dataclass(frozen=True)
class Expect:
    """What a call gives when its first try fails and its second would succeed."""

    gives: str
    """The returned value, or one of ESCALATION, SAME_ERROR, VALUE_FAILURE."""
    outcome: str
    served_by: str | None
    attempt_spans: tuple[str, ...]


RETRIED = Expect(GOOD, sc.OUTCOME_RECOVERED, "classify", ("retry classify",))
FELL_BACK = Expect(PLAN_B, sc.OUTCOME_DEGRADED, "plan_b", ("fallback plan_b",))
ESCALATED = Expect(ESCALATION, sc.OUTCOME_ESCALATED, "human:triage", ("escalate triage",))
ACCEPTED = Expect(BAD, sc.OUTCOME_DEGRADED, "classify", ())
RERAISED = Expect(SAME_ERROR, sc.OUTCOME_FAILED, None, ())
VALUE_RAISED = Expect(VALUE_FAILURE, sc.OUTCOME_FAILED, None, ())
INVALID = None
"""The declaration itself is refused: accept keeps a value, and an exception has none."""

MATRIX: list[tuple[str, str, Expect | None]] = [
    ("raised", "retry", RETRIED),
    ("raised", "fallback", FELL_BACK),
    ("raised", "escalate", ESCALATED),
    ("raised", "accept", RERAISED),  # a raised Failure has no value to keep
    ("raised", "abort", RERAISED),
    ("exception", "retry", RETRIED),
    ("exception", "fallback", FELL_BACK),
    ("exception", "escalate", ESCALATED),
    ("exception", "accept", INVALID),
    ("exception", "abort", RERAISED),
    ("recorded", "retry", RETRIED),
    ("recorded", "fallback", FELL_BACK),
    ("recorded", "escalate", ESCALATED),
    ("recorded", "accept", ACCEPTED),
    ("recorded", "abort", VALUE_RAISED),
    ("value", "retry", RETRIED),
    ("value", "fallback", FELL_BACK),
    ("value", "escalate", ESCALATED),
    ("value", "accept", ACCEPTED),
    ("value", "abort", VALUE_RAISED),
]


def make_mode(detection: str, handling: Any) -> agenttrace.FailureMode:
    """The mode ``broken``, detected the way ``detection`` says, handled by ``handling``."""
    if detection == "exception":
        return agenttrace.FailureMode("broken", on=(Boom,), handling=handling)
    if detection == "value":
        return agenttrace.FailureMode("broken", when=lambda value: value == BAD, handling=handling)
    return agenttrace.FailureMode("broken", handling=handling)  # raised, or recorded


EVENT_KEYS = (
    sc.FAILURE_MODE,
    sc.FAILURE_DECLARED,
    sc.FAILURE_HANDLING,
    sc.FAILURE_SOURCE,
    sc.ATTEMPT,
)


class Script:
    """The body of ``classify``: the first call fails as ``detection`` says, later ones work."""

    def __init__(self, detection: str, mode: agenttrace.FailureMode) -> None:
        self.detection = detection
        self.mode = mode
        self.calls = 0
        self.raised: list[Exception] = []

    def run(self, ticket: str) -> str:
        self.calls += 1
        if self.calls > 1:
            return GOOD
        if self.detection == "raised":
            self.raised.append(agenttrace.Failure(self.mode, ticket=ticket))
            raise self.raised[-1]
        if self.detection == "exception":
            self.raised.append(Boom(ticket))
            raise self.raised[-1]
        if self.detection == "recorded":
            agenttrace.current().record_failure(self.mode, ticket=ticket)
        return BAD


def build(detection: str, handling: str, is_async: bool) -> tuple[Callable[..., Any], Script]:
    """A ``classify`` step declaring the one mode, with what its handling needs."""
    mode = make_mode(detection, handling)
    script = Script(detection, mode)

    def plan_b(ticket: str) -> str:
        return PLAN_B

    async def async_plan_b(ticket: str) -> str:
        await asyncio.sleep(0)
        return PLAN_B

    async_plan_b.__name__ = "plan_b"
    options: dict[str, Any] = {}
    if handling == "retry":
        options["retry"] = agenttrace.Retry(attempts=2)
    elif handling == "fallback":
        options["fallbacks"] = [async_plan_b if is_async else plan_b]
    elif handling == "escalate":
        options["fallbacks"] = [agenttrace.human("triage")]
    decorate = agenttrace.step("classify", failure_modes=[mode], **options)

    if is_async:

        async def classify_async(ticket: str) -> str:
            await asyncio.sleep(0)
            return script.run(ticket)

        return decorate(classify_async), script

    def classify(ticket: str) -> str:
        return script.run(ticket)

    return decorate(classify), script


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("detection", "handling", "expect"),
    [pytest.param(*row, id=f"{row[0]}-{row[1]}") for row in MATRIX],
)
async def test_detection_by_handling(
    recorder: Recorder, detection: str, handling: str, expect: Expect | None, is_async: bool
) -> None:
    """Each detection handled each way gives the value or error, outcome and trace of the table."""
    if expect is INVALID:
        with pytest.raises(ValueError, match="an exception has none"):
            build(detection, handling, is_async)
        return
    classify, script = build(detection, handling, is_async)

    if expect.gives in (SAME_ERROR, VALUE_FAILURE):
        with pytest.raises(Exception) as caught:
            await call(classify, TICKET)
        result: object = caught.value
    else:
        result = await call(classify, TICKET)

    span = recorder.one("classify")
    if expect.gives == SAME_ERROR:
        assert result is script.raised[0]
    elif expect.gives == VALUE_FAILURE:
        assert isinstance(result, agenttrace.Failure)
        expected_details = {"ticket": TICKET} if detection == "recorded" else {}
        assert ("broken", BAD, "classify", expected_details) == (
            result.mode,
            result.value,
            result.operation,
            result.details,
        )
    elif expect.gives == ESCALATION:
        context = span.get_span_context()
        assert context is not None
        assert (
            agenttrace.Escalation(
                queue="triage",
                operation="classify",
                mode="broken",
                details={"ticket": TICKET} if detection in ("raised", "recorded") else {},
                trace_id=format(context.trace_id, "032x"),
                span_id=format(context.span_id, "016x"),
            )
            == result
        )
    else:
        assert expect.gives == result
    assert (expect.outcome, expect.served_by) == (
        attribute(span, sc.OUTCOME),
        attribute(span, sc.SERVED_BY),
    )
    assert (expect.outcome == sc.OUTCOME_FAILED) == (span.status.status_code is StatusCode.ERROR)
    assert list(expect.attempt_spans) == [s.name for s in attempt_spans(recorder)]
    assert (2 if expect.attempt_spans else None) == attribute(span, sc.ATTEMPTS)
    assert (2 if handling == "retry" else 1) == script.calls
    assert [(2, "broken")] * len(expect.attempt_spans) == [
        (attribute(s, sc.ATTEMPT), attribute(s, sc.ATTEMPT_REASON)) for s in attempt_spans(recorder)
    ]
    assert ("broken" if expect.outcome == sc.OUTCOME_FAILED else None) == attribute(
        span, sc.FAILURE_MODE
    )
    assert [
        {
            sc.FAILURE_MODE: "broken",
            sc.FAILURE_DECLARED: True,
            sc.FAILURE_HANDLING: handling,
            sc.FAILURE_SOURCE: detection,
            sc.ATTEMPT: 1,
        }
    ] == [{key: event.get(key) for key in EVENT_KEYS} for event in failure_events(span)]


# --- undeclared exceptions ------------------------------------------------------------------

LOW = agenttrace.FailureMode("low_confidence", when=lambda value: value == BAD, handling="fallback")
INVALID_OUTPUT = agenttrace.FailureMode("invalid_output", on=(Boom,), handling="retry")


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_an_undeclared_exception_passes_through_untouched(
    recorder: Recorder, is_async: bool
) -> None:
    """The very object, traceback and all; failed; one undeclared failure event; no attempt."""
    raised: list[Exception] = []

    def fail(ticket: str) -> str:
        raised.append(Surprise(ticket))
        raise raised[-1]  # the line the traceback ends at

    def plan_b(ticket: str) -> str:
        return PLAN_B

    decorate = agenttrace.step(
        "classify",
        failure_modes=[LOW, INVALID_OUTPUT],
        retry=agenttrace.Retry(attempts=3),
        fallbacks=[plan_b],
    )
    if is_async:

        async def classify_async(ticket: str) -> str:
            return fail(ticket)

        classify: Callable[..., Any] = decorate(classify_async)
    else:
        classify = decorate(fail)

    with pytest.raises(Surprise) as caught:
        await call(classify, TICKET)

    assert caught.value is raised[0]
    assert ((TICKET,), None) == (caught.value.args, caught.value.__cause__)
    assert ("fail", "raise raised[-1]  # the line the traceback ends at") == (
        caught.traceback[-1].name,
        str(caught.traceback[-1].statement).strip(),
    )
    span = recorder.one("classify")
    assert (sc.OUTCOME_FAILED, f"{__name__}.Surprise", StatusCode.ERROR) == (
        attribute(span, sc.OUTCOME),
        attribute(span, sc.ERROR_TYPE),
        span.status.status_code,
    )
    assert [{sc.FAILURE_DECLARED: False, sc.ATTEMPT: 1, sc.ERROR_TYPE: f"{__name__}.Surprise"}] == (
        failure_events(span)
    )
    assert [] == attempt_spans(recorder)
    assert ["classify"] == recorder.names()


def test_a_failure_of_a_mode_not_declared_is_undeclared(recorder: Recorder) -> None:
    """agenttrace.Failure naming a mode the operation lacks passes through as a surprise."""
    error = agenttrace.Failure("other", why="unknown")

    def plan_b(ticket: str) -> str:
        return PLAN_B

    @agenttrace.step(failure_modes=[LOW], fallbacks=[plan_b])
    def classify(ticket: str) -> str:
        raise error

    with pytest.raises(agenttrace.Failure) as caught:
        classify(TICKET)

    assert caught.value is error
    span = recorder.one("classify")
    assert [
        {
            sc.FAILURE_MODE: "other",
            sc.FAILURE_DECLARED: False,
            sc.FAILURE_SOURCE: "raised",
            sc.ATTEMPT: 1,
            sc.ERROR_TYPE: "agenttrace.Failure",
            sc.FAILURE_DETAIL_PREFIX + "why": "unknown",
        }
    ] == failure_events(span)
    assert (sc.OUTCOME_FAILED, "classify") == (attribute(span, sc.OUTCOME), caught.value.operation)


def test_recording_a_mode_not_declared_keeps_the_value(recorder: Recorder) -> None:
    """record_failure() of an undeclared mode never raises: the value is kept, degraded."""

    def plan_b(ticket: str) -> str:
        return PLAN_B

    @agenttrace.step(failure_modes=[LOW], fallbacks=[plan_b])
    def classify(ticket: str) -> str:
        agenttrace.current().record_failure("other", why="unknown")
        return GOOD

    assert GOOD == classify(TICKET)
    span = recorder.one("classify")
    assert (sc.OUTCOME_DEGRADED, "classify") == (
        attribute(span, sc.OUTCOME),
        attribute(span, sc.SERVED_BY),
    )
    assert [(False, "recorded")] == [
        (event[sc.FAILURE_DECLARED], event[sc.FAILURE_SOURCE]) for event in failure_events(span)
    ]


# --- detection order ------------------------------------------------------------------------


def test_a_raised_failure_wins_over_on() -> None:
    """A raised Failure is its own mode even when another mode's on= would match it."""
    anything = agenttrace.FailureMode("anything", on=(Exception,), handling="abort")
    named = agenttrace.FailureMode("named", handling="fallback")

    def plan_b(ticket: str) -> str:
        return PLAN_B

    @agenttrace.step(failure_modes=[anything, named], fallbacks=[plan_b])
    def classify(ticket: str) -> str:
        raise agenttrace.Failure("named")

    assert PLAN_B == classify(TICKET)


def test_a_raised_failure_may_name_its_mode_by_name(recorder: Recorder) -> None:
    """Failure("name") is the declared mode of that name, like Failure(mode)."""

    def plan_b(ticket: str) -> str:
        return PLAN_B

    @agenttrace.step(
        failure_modes=[agenttrace.FailureMode("named", handling="fallback")], fallbacks=[plan_b]
    )
    def classify(ticket: str) -> str:
        raise agenttrace.Failure("named", score=3)

    assert PLAN_B == classify(TICKET)
    assert [("named", True, 3)] == [
        (e[sc.FAILURE_MODE], e[sc.FAILURE_DECLARED], e[sc.FAILURE_DETAIL_PREFIX + "score"])
        for e in failure_events(recorder.one("classify"))
    ]


def test_a_recorded_failure_wins_over_when(recorder: Recorder) -> None:
    """A value that both was recorded as one mode and matches another's when= is the recorded."""
    recorded = agenttrace.FailureMode("recorded_mode", handling="accept")

    def plan_b(ticket: str) -> str:
        return PLAN_B

    @agenttrace.step(failure_modes=[LOW, recorded], fallbacks=[plan_b])
    def classify(ticket: str) -> str:
        agenttrace.current().record_failure(recorded)
        return BAD

    assert BAD == classify(TICKET)
    assert [("recorded_mode", "recorded")] == [
        (e[sc.FAILURE_MODE], e[sc.FAILURE_SOURCE]) for e in failure_events(recorder.one("classify"))
    ]


def test_the_first_matching_when_in_declaration_order_wins(recorder: Recorder) -> None:
    """Two when= predicates true for one value: the mode declared first is the failure."""
    first = agenttrace.FailureMode("first", when=lambda value: True, handling="accept")
    second = agenttrace.FailureMode("second", when=lambda value: True, handling="abort")

    @agenttrace.step(failure_modes=[first, second])
    def classify(ticket: str) -> str:
        return BAD

    assert BAD == classify(TICKET)
    assert ["first"] == [e[sc.FAILURE_MODE] for e in failure_events(recorder.one("classify"))]


def test_the_first_matching_on_in_declaration_order_wins(recorder: Recorder) -> None:
    """An exception matching two modes' on= is the mode declared first."""
    first = agenttrace.FailureMode("first", on=(Boom,), handling="fallback")
    second = agenttrace.FailureMode("second", on=(Exception,), handling="abort")

    def plan_b(ticket: str) -> str:
        return PLAN_B

    @agenttrace.step(failure_modes=[first, second], fallbacks=[plan_b])
    def classify(ticket: str) -> str:
        raise Boom(ticket)

    assert PLAN_B == classify(TICKET)
    assert ["first"] == [e[sc.FAILURE_MODE] for e in failure_events(recorder.one("classify"))]


# --- retries and the fallback chain ---------------------------------------------------------


def test_spent_retries_go_down_the_fallbacks(recorder: Recorder) -> None:
    """Three tries that all fail (two retry spans), then the fallback serves, degraded."""
    calls: list[str] = []

    def plan_b(ticket: str) -> str:
        calls.append("plan_b")
        return PLAN_B

    @agenttrace.step(
        failure_modes=[INVALID_OUTPUT], retry=agenttrace.Retry(attempts=3), fallbacks=[plan_b]
    )
    def classify(ticket: str) -> str:
        calls.append("classify")
        raise Boom(ticket)

    assert PLAN_B == classify(TICKET)
    assert ["classify", "classify", "classify", "plan_b"] == calls
    assert [
        ("retry classify", 2, sc.ATTEMPT_RETRY),
        ("retry classify", 3, sc.ATTEMPT_RETRY),
        ("fallback plan_b", 4, sc.ATTEMPT_FALLBACK),
    ] == [
        (s.name, attribute(s, sc.ATTEMPT), attribute(s, sc.ATTEMPT_TYPE))
        for s in attempt_spans(recorder)
    ]
    span = recorder.one("classify")
    assert (sc.OUTCOME_DEGRADED, "plan_b", 4) == (
        attribute(span, sc.OUTCOME),
        attribute(span, sc.SERVED_BY),
        attribute(span, sc.ATTEMPTS),
    )
    assert [1, 2, 3] == [event[sc.ATTEMPT] for event in failure_events(span)]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_fallback_gets_the_same_arguments(recorder: Recorder, is_async: bool) -> None:
    """Positional and keyword arguments reach the fallback exactly as the operation got them."""
    received_calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def plan_b(*args: Any, **kwargs: Any) -> str:
        received_calls.append((args, kwargs))
        return PLAN_B

    def attempt(ticket: str, channel: str, *, priority: int = 0) -> str:
        return BAD

    async def attempt_async(ticket: str, channel: str, *, priority: int = 0) -> str:
        return BAD

    classify = agenttrace.step("classify", failure_modes=[LOW], fallbacks=[plan_b])(
        attempt_async if is_async else attempt
    )

    assert PLAN_B == await call(classify, TICKET, "email", priority=2)
    assert [((TICKET, "email"), {"priority": 2})] == received_calls


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_spent_retries_without_fallbacks_fail_with_the_last_exception(
    recorder: Recorder, is_async: bool
) -> None:
    """With no fallback left, the call raises the exception object of the last try."""
    raised: list[Exception] = []

    def fail(ticket: str) -> str:
        raised.append(Boom(f"try {len(raised) + 1}"))
        raise raised[-1]

    decorate = agenttrace.step(failure_modes=[INVALID_OUTPUT], retry=agenttrace.Retry(attempts=3))
    if is_async:

        async def classify_async(ticket: str) -> str:
            return fail(ticket)

        classify: Callable[..., Any] = decorate(classify_async)
        name = "classify_async"
    else:
        classify = decorate(fail)
        name = "fail"

    with pytest.raises(Boom) as caught:
        await call(classify, TICKET)

    assert 3 == len(raised)
    assert caught.value is raised[-1]
    span = recorder.one(name)
    assert (sc.OUTCOME_FAILED, 3, "invalid_output", True) == (
        attribute(span, sc.OUTCOME),
        attribute(span, sc.ATTEMPTS),
        attribute(span, sc.FAILURE_MODE),
        attribute(span, sc.FAILURE_DECLARED),
    )
    assert [f"retry {name}", f"retry {name}"] == [s.name for s in attempt_spans(recorder)]
    assert [1, 2, 3] == [event[sc.ATTEMPT] for event in failure_events(span)]


def test_a_used_up_chain_fails_with_the_last_value_failure(recorder: Recorder) -> None:
    """Every fallback is unsure too: the call raises a Failure carrying the last value."""
    unsure = agenttrace.FailureMode(
        "unsure", when=lambda value: value.startswith("unsure"), handling="fallback"
    )

    def rules(ticket: str) -> str:
        return "unsure: rules"

    def lookup(ticket: str) -> str:
        return "unsure: lookup"

    @agenttrace.step(failure_modes=[unsure], fallbacks=[rules, lookup])
    def classify(ticket: str) -> str:
        return "unsure: model"

    with pytest.raises(agenttrace.Failure) as caught:
        classify(TICKET)

    assert ("unsure", "unsure: lookup", "classify") == (
        caught.value.mode,
        caught.value.value,
        caught.value.operation,
    )
    span = recorder.one("classify")
    assert (sc.OUTCOME_FAILED, 3, "agenttrace.Failure") == (
        attribute(span, sc.OUTCOME),
        attribute(span, sc.ATTEMPTS),
        attribute(span, sc.ERROR_TYPE),
    )
    assert [("fallback rules", "unsure"), ("fallback lookup", "unsure")] == [
        (s.name, attribute(s, sc.FAILURE_MODE)) for s in attempt_spans(recorder)
    ]


def test_a_used_up_chain_fails_with_the_last_exception(recorder: Recorder) -> None:
    """The last fallback raised a declared exception: the call raises that very object."""
    down = agenttrace.FailureMode("down", on=(Boom,), handling="fallback")
    raised: list[Exception] = []

    def rules(ticket: str) -> str:
        raised.append(Boom("rules"))
        raise raised[-1]

    def lookup(ticket: str) -> str:
        raised.append(Boom("lookup"))
        raise raised[-1]

    @agenttrace.step(failure_modes=[down], fallbacks=[rules, lookup])
    def classify(ticket: str) -> str:
        raised.append(Boom("classify"))
        raise raised[-1]

    with pytest.raises(Boom) as caught:
        classify(TICKET)

    assert 3 == len(raised)
    assert caught.value is raised[-1]
    assert sc.OUTCOME_FAILED == attribute(recorder.one("classify"), sc.OUTCOME)


def test_a_retry_failure_of_a_fallback_moves_to_the_next_fallback(recorder: Recorder) -> None:
    """Retries re-run the operation only: a fallback failing a retry mode is not re-run."""
    calls: list[str] = []

    def rules(ticket: str) -> str:
        calls.append("rules")
        raise Boom("rules")

    def lookup(ticket: str) -> str:
        calls.append("lookup")
        return PLAN_B

    @agenttrace.step(
        failure_modes=[INVALID_OUTPUT],
        retry=agenttrace.Retry(attempts=2),
        fallbacks=[rules, lookup],
    )
    def classify(ticket: str) -> str:
        calls.append("classify")
        raise Boom("classify")

    assert PLAN_B == classify(TICKET)
    assert ["classify", "classify", "rules", "lookup"] == calls
    assert ["retry classify", "fallback rules", "fallback lookup"] == [
        s.name for s in attempt_spans(recorder)
    ]
    span = recorder.one("classify")
    assert (sc.OUTCOME_DEGRADED, "lookup", 4) == (
        attribute(span, sc.OUTCOME),
        attribute(span, sc.SERVED_BY),
        attribute(span, sc.ATTEMPTS),
    )


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_an_undeclared_exception_in_a_fallback_ends_the_call(
    recorder: Recorder, is_async: bool
) -> None:
    """Re-raised untouched, failed; the fallbacks after it never run."""
    calls: list[str] = []
    error = Surprise("rules broke")

    def rules(ticket: str) -> str:
        calls.append("rules")
        raise error

    def lookup(ticket: str) -> str:
        calls.append("lookup")
        return PLAN_B

    decorate = agenttrace.step("classify", failure_modes=[LOW], fallbacks=[rules, lookup])
    if is_async:

        async def classify_async(ticket: str) -> str:
            return BAD

        classify: Callable[..., Any] = decorate(classify_async)
    else:

        def classify_sync(ticket: str) -> str:
            return BAD

        classify = decorate(classify_sync)

    with pytest.raises(Surprise) as caught:
        await call(classify, TICKET)

    assert caught.value is error
    assert ["rules"] == calls
    span = recorder.one("classify")
    assert (sc.OUTCOME_FAILED, f"{__name__}.Surprise", 2) == (
        attribute(span, sc.OUTCOME),
        attribute(span, sc.ERROR_TYPE),
        attribute(span, sc.ATTEMPTS),
    )
    assert [(False, 2)] == [
        (event[sc.FAILURE_DECLARED], event[sc.ATTEMPT])
        for event in failure_events(span)
        if event[sc.ATTEMPT] > 1
    ]
    (attempt,) = attempt_spans(recorder)
    assert ("fallback rules", StatusCode.ERROR) == (attempt.name, attempt.status.status_code)


def test_an_undeclared_exception_in_a_retry_ends_the_call(recorder: Recorder) -> None:
    """A retry that raises what nobody declared: that object is raised, failed, two attempts."""
    error = Surprise("second try")
    raised: list[Exception] = [Boom("first try"), error]

    @agenttrace.step(failure_modes=[INVALID_OUTPUT], retry=agenttrace.Retry(attempts=3))
    def classify(ticket: str) -> str:
        raise raised.pop(0)

    with pytest.raises(Surprise) as caught:
        classify(TICKET)

    assert caught.value is error
    span = recorder.one("classify")
    assert (sc.OUTCOME_FAILED, 2) == (attribute(span, sc.OUTCOME), attribute(span, sc.ATTEMPTS))
    assert [(True, 1), (False, 2)] == [
        (event[sc.FAILURE_DECLARED], event[sc.ATTEMPT]) for event in failure_events(span)
    ]


def test_an_abort_failure_of_a_fallback_raises_a_failure_with_its_value(
    recorder: Recorder,
) -> None:
    """The fallback's value is an abort failure: the call raises, carrying that value."""
    empty = agenttrace.FailureMode("empty", when=lambda value: value == "", handling="abort")

    def rules(ticket: str) -> str:
        return ""

    @agenttrace.step(failure_modes=[LOW, empty], fallbacks=[rules])
    def classify(ticket: str) -> str:
        return BAD

    with pytest.raises(agenttrace.Failure) as caught:
        classify(TICKET)

    assert ("empty", "") == (caught.value.mode, caught.value.value)
    assert sc.OUTCOME_FAILED == attribute(recorder.one("classify"), sc.OUTCOME)


# --- escalation -----------------------------------------------------------------------------


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_escalate_skips_plain_fallbacks_and_the_hand_off_result_is_final(
    recorder: Recorder, is_async: bool
) -> None:
    """An escalate failure goes straight to the human; what the hand-off returns is served,
    even a value that fails when=."""
    refused = agenttrace.FailureMode("refused", handling="escalate")
    calls: list[tuple[Any, ...]] = []

    def plan_b(ticket: str, *, priority: int) -> str:
        calls.append(("plan_b", ticket, priority))
        return PLAN_B

    def page(escalation: agenttrace.Escalation, ticket: str, *, priority: int) -> str:
        calls.append((escalation.mode, escalation.details, ticket, priority))
        return BAD

    async def page_async(escalation: agenttrace.Escalation, ticket: str, *, priority: int) -> str:
        return page(escalation, ticket, priority=priority)

    page_async.__name__ = "page"
    decorate = agenttrace.step(
        "classify",
        failure_modes=[LOW, refused],
        fallbacks=[plan_b, agenttrace.human("triage", handoff=page_async if is_async else page)],
    )

    def refuse(ticket: str, *, priority: int) -> str:
        raise agenttrace.Failure(refused, reason="policy")

    async def refuse_async(ticket: str, *, priority: int) -> str:
        return refuse(ticket, priority=priority)

    classify = decorate(refuse_async if is_async else refuse)

    assert BAD == await call(classify, TICKET, priority=2)
    assert [("refused", {"reason": "policy"}, TICKET, 2)] == calls
    span = recorder.one("classify")
    assert (sc.OUTCOME_ESCALATED, "human:triage", 2) == (
        attribute(span, sc.OUTCOME),
        attribute(span, sc.SERVED_BY),
        attribute(span, sc.ATTEMPTS),
    )
    assert [("escalate triage", sc.ATTEMPT_ESCALATION, "triage", "refused")] == [
        (
            s.name,
            attribute(s, sc.ATTEMPT_TYPE),
            attribute(s, sc.ESCALATION_QUEUE),
            attribute(s, sc.ATTEMPT_REASON),
        )
        for s in attempt_spans(recorder)
    ]
    assert ["refused"] == [event[sc.FAILURE_MODE] for event in failure_events(span)]


def test_a_fallback_failing_an_escalate_mode_goes_on_to_the_human(recorder: Recorder) -> None:
    """During the fallbacks, an escalate failure skips the plain fallbacks still left."""
    refused = agenttrace.FailureMode(
        "refused", when=lambda value: value == "no", handling="escalate"
    )
    calls: list[str] = []

    def rules(ticket: str) -> str:
        calls.append("rules")
        return "no"

    def lookup(ticket: str) -> str:
        calls.append("lookup")
        return PLAN_B

    @agenttrace.step(
        failure_modes=[LOW, refused], fallbacks=[rules, lookup, agenttrace.human("triage")]
    )
    def classify(ticket: str) -> str:
        return BAD

    escalation: object = classify(TICKET)

    assert isinstance(escalation, agenttrace.Escalation)
    assert ("triage", "refused") == (escalation.queue, escalation.mode)
    assert ["rules"] == calls
    assert ["fallback rules", "escalate triage"] == [s.name for s in attempt_spans(recorder)]


def test_a_hand_off_raising_a_declared_failure_with_nothing_left_fails(recorder: Recorder) -> None:
    """The hand-off raised a declared failure and the chain is used up: that failure is raised."""
    error = agenttrace.Failure(LOW)

    def page(escalation: agenttrace.Escalation, ticket: str) -> str:
        raise error

    @agenttrace.step(failure_modes=[LOW], fallbacks=[agenttrace.human("triage", handoff=page)])
    def classify(ticket: str) -> str:
        return BAD

    with pytest.raises(agenttrace.Failure) as caught:
        classify(TICKET)

    assert caught.value is error
    assert (sc.OUTCOME_FAILED, 2) == (
        attribute(recorder.one("classify"), sc.OUTCOME),
        attribute(recorder.one("classify"), sc.ATTEMPTS),
    )


# --- retry backoff ----------------------------------------------------------------------------


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_retries_wait_the_backoff(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch, is_async: bool
) -> None:
    """Retry(attempts=3, backoff=0.01, jitter=False) waits 0.01 then 0.02 seconds."""
    delays: list[float] = []

    async def fake_async_sleep(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr("agenttrace._handling.time.sleep", delays.append)
    monkeypatch.setattr("agenttrace._handling.asyncio.sleep", fake_async_sleep)
    tries: Iterator[Exception | str] = iter([Boom("1"), Boom("2"), GOOD])

    def attempt(ticket: str) -> str:
        outcome = next(tries)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def attempt_async(ticket: str) -> str:
        return attempt(ticket)

    classify = agenttrace.step(
        "classify",
        failure_modes=[INVALID_OUTPUT],
        retry=agenttrace.Retry(attempts=3, backoff=0.01, jitter=False),
    )(attempt_async if is_async else attempt)

    assert GOOD == await call(classify, TICKET)
    assert [0.01, 0.02] == delays
    assert sc.OUTCOME_RECOVERED == attribute(recorder.one("classify"), sc.OUTCOME)


async def test_cancelled_during_a_backoff_the_operation_still_ends(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled while waiting to retry: CancelledError reaches the caller; the span ends failed."""
    waiting = asyncio.Event()

    async def wait_forever(delay: float) -> None:
        waiting.set()
        await asyncio.Event().wait()

    monkeypatch.setattr("agenttrace._handling.asyncio.sleep", wait_forever)

    @agenttrace.step(
        failure_modes=[INVALID_OUTPUT], retry=agenttrace.Retry(attempts=3, backoff=5.0)
    )
    async def classify(ticket: str) -> str:
        raise Boom(ticket)

    task = asyncio.create_task(classify(TICKET))
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    span = recorder.one("classify")
    assert (sc.OUTCOME_FAILED, "asyncio.exceptions.CancelledError") == (
        attribute(span, sc.OUTCOME),
        attribute(span, sc.ERROR_TYPE),
    )


def test_interrupted_during_a_backoff_the_operation_still_ends(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KeyboardInterrupt while waiting to retry reaches the caller; the span ends failed."""
    interrupt = KeyboardInterrupt()

    def interrupted_sleep(delay: float) -> None:
        raise interrupt

    monkeypatch.setattr("agenttrace._handling.time.sleep", interrupted_sleep)

    @agenttrace.step(
        failure_modes=[INVALID_OUTPUT], retry=agenttrace.Retry(attempts=3, backoff=5.0)
    )
    def classify(ticket: str) -> str:
        raise Boom(ticket)

    with pytest.raises(KeyboardInterrupt) as caught:
        classify(TICKET)

    assert caught.value is interrupt
    span = recorder.one("classify")
    assert (sc.OUTCOME_FAILED, "KeyboardInterrupt") == (
        attribute(span, sc.OUTCOME),
        attribute(span, sc.ERROR_TYPE),
    )


# --- a when= predicate that raises ------------------------------------------------------------


def test_a_when_predicate_that_raises_keeps_the_value(recorder: Recorder) -> None:
    """The value is returned as ok; the broken predicate is counted as a usage error."""

    def broken(value: str) -> bool:
        raise KeyError(value)

    def plan_b(ticket: str) -> str:
        return PLAN_B

    @agenttrace.step(
        failure_modes=[agenttrace.FailureMode("odd", when=broken, handling="fallback")],
        fallbacks=[plan_b],
    )
    def classify(ticket: str) -> str:
        return GOOD

    assert GOOD == classify(TICKET)
    span = recorder.one("classify")
    assert (sc.OUTCOME_OK, None, ()) == (
        attribute(span, sc.OUTCOME),
        attribute(span, sc.SERVED_BY),
        tuple(span.events),
    )
    assert 1 == agenttrace.stats().usage_errors["when_raised"]


# --- handling runs whether or not anything is recorded ------------------------------------------


def scenario(is_async: bool) -> tuple[Callable[..., Any], list[str]]:
    """A classify step that raises, then records low_confidence; plan_b serves."""
    low = agenttrace.FailureMode("low_confidence", handling="fallback")
    calls: list[str] = []

    def plan_b(ticket: str) -> str:
        calls.append("plan_b")
        return PLAN_B

    def attempt(ticket: str) -> str:
        calls.append("classify")
        if len(calls) == 1:
            raise Boom(ticket)
        agenttrace.current().record_failure(low, score=0.2)
        return BAD

    async def attempt_async(ticket: str) -> str:
        return attempt(ticket)

    decorate = agenttrace.step(
        "classify",
        failure_modes=[INVALID_OUTPUT, low],
        retry=agenttrace.Retry(attempts=3),
        fallbacks=[plan_b],
    )
    return decorate(attempt_async if is_async else attempt), calls


def stop_recording(how: str) -> None:
    """Make the rest of the test record nothing (the recorder fixture restores everything)."""
    if how == "always_off":
        _runtime.use_tracer_provider(TracerProvider(sampler=ALWAYS_OFF))
    else:
        apply(disabled=True)


@pytest.mark.parametrize("how", ["always_off", "disabled"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_handling_runs_when_nothing_is_recorded(
    recorder: Recorder, is_async: bool, how: str
) -> None:
    """Retries and fallbacks happen, and give the same result, recorded or not."""
    classify, calls = scenario(is_async)
    recorded = (await call(classify, TICKET), list(calls))
    assert ["classify", "fallback plan_b", "retry classify"] == sorted(recorder.names())

    stop_recording(how)
    recorder.exporter.clear()
    classify, calls = scenario(is_async)
    unrecorded = (await call(classify, TICKET), list(calls))

    assert (PLAN_B, ["classify", "classify", "plan_b"]) == recorded == unrecorded
    assert () == recorder.spans


@pytest.mark.parametrize("how", ["always_off", "disabled"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_unrecorded_failures_raise_and_escalate_the_same(is_async: bool, how: str) -> None:
    """Unrecorded: an abort value failure still raises Failure; an escalation has no ids."""
    stop_recording(how)
    empty = agenttrace.FailureMode("empty", when=lambda value: value == "", handling="abort")
    refused = agenttrace.FailureMode("refused", handling="escalate")

    def attempt(ticket: str) -> str:
        if ticket == "refuse":
            agenttrace.current().record_failure(refused, why="policy")
            return BAD
        return ""

    async def attempt_async(ticket: str) -> str:
        return attempt(ticket)

    classify = agenttrace.step(
        "classify", failure_modes=[empty, refused], fallbacks=[agenttrace.human("triage")]
    )(attempt_async if is_async else attempt)

    with pytest.raises(agenttrace.Failure) as caught:
        await call(classify, TICKET)
    assert ("empty", "", "classify") == (
        caught.value.mode,
        caught.value.value,
        caught.value.operation,
    )
    assert agenttrace.Escalation(
        queue="triage", operation="classify", mode="refused", details={"why": "policy"}
    ) == await call(classify, "refuse")


# --- methods --------------------------------------------------------------------------------

UNSURE = agenttrace.FailureMode("unsure", when=lambda value: value == BAD, handling="fallback")
received: list[tuple[Any, ...]] = []


def rules(*args: Any) -> str:
    received.append(args)
    return PLAN_B


class Classifier:
    @agenttrace.step(failure_modes=[UNSURE], fallbacks=[rules])
    def method(self, ticket: str) -> str:
        return BAD

    @agenttrace.step(failure_modes=[UNSURE], fallbacks=[rules])
    async def async_method(self, ticket: str) -> str:
        return BAD

    @agenttrace.step(failure_modes=[UNSURE], fallbacks=[rules])
    @classmethod
    def step_on_classmethod(cls, ticket: str) -> str:
        return BAD

    @classmethod
    @agenttrace.step(failure_modes=[UNSURE], fallbacks=[rules])
    def classmethod_on_step(cls, ticket: str) -> str:
        return BAD

    @agenttrace.step(failure_modes=[UNSURE], fallbacks=[rules])
    @staticmethod
    def step_on_staticmethod(ticket: str) -> str:
        return BAD

    @staticmethod
    @agenttrace.step(failure_modes=[UNSURE], fallbacks=[rules])
    def staticmethod_on_step(ticket: str) -> str:
        return BAD


INSTANCE = Classifier()


@pytest.mark.parametrize(
    ("method", "through", "args", "received_args"),
    [
        pytest.param("method", INSTANCE, (TICKET,), (INSTANCE, TICKET), id="method"),
        pytest.param(
            "method", Classifier, (INSTANCE, TICKET), (INSTANCE, TICKET), id="method-unbound"
        ),
        pytest.param("async_method", INSTANCE, (TICKET,), (INSTANCE, TICKET), id="async-method"),
        pytest.param(
            "step_on_classmethod",
            INSTANCE,
            (TICKET,),
            (Classifier, TICKET),
            id="step-on-classmethod-via-instance",
        ),
        pytest.param(
            "step_on_classmethod",
            Classifier,
            (TICKET,),
            (Classifier, TICKET),
            id="step-on-classmethod",
        ),
        pytest.param(
            "classmethod_on_step",
            Classifier,
            (TICKET,),
            (Classifier, TICKET),
            id="classmethod-on-step",
        ),
        pytest.param(
            "step_on_staticmethod",
            INSTANCE,
            (TICKET,),
            (TICKET,),
            id="step-on-staticmethod-via-instance",
        ),
        pytest.param(
            "step_on_staticmethod", Classifier, (TICKET,), (TICKET,), id="step-on-staticmethod"
        ),
        pytest.param(
            "staticmethod_on_step", Classifier, (TICKET,), (TICKET,), id="staticmethod-on-step"
        ),
    ],
)
async def test_a_method_fallback_gets_the_method_arguments(
    recorder: Recorder,
    method: str,
    through: object,
    args: tuple[Any, ...],
    received_args: tuple[Any, ...],
) -> None:
    """A fallback has the decorated function's signature: self or cls first, else nothing."""
    received.clear()

    assert PLAN_B == await call(getattr(through, method), *args)
    assert [received_args] == received
    span = recorder.one(method)
    assert (sc.OUTCOME_DEGRADED, "rules") == (
        attribute(span, sc.OUTCOME),
        attribute(span, sc.SERVED_BY),
    )


# --- the happy path -------------------------------------------------------------------------


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_first_try_that_works_is_one_plain_span(recorder: Recorder, is_async: bool) -> None:
    """Three modes and a fallback declared, first try fine: one span, ok, no event, no served_by."""
    empty = agenttrace.FailureMode("empty", when=lambda value: value == "", handling="accept")

    def plan_b(ticket: str) -> str:
        return PLAN_B

    def attempt(ticket: str) -> str:
        return GOOD

    async def attempt_async(ticket: str) -> str:
        return GOOD

    classify = agenttrace.step(
        "classify",
        failure_modes=[LOW, INVALID_OUTPUT, empty],
        retry=agenttrace.Retry(attempts=2),
        fallbacks=[plan_b],
    )(attempt_async if is_async else attempt)

    assert GOOD == await call(classify, TICKET)
    (span,) = recorder.spans
    assert ("classify", sc.OUTCOME_OK, None, None, (), StatusCode.UNSET) == (
        span.name,
        attribute(span, sc.OUTCOME),
        attribute(span, sc.SERVED_BY),
        attribute(span, sc.ATTEMPTS),
        tuple(span.events),
        span.status.status_code,
    )
