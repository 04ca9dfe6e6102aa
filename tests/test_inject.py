"""Fault injection: a declared failure mode fires on demand and drives the declared handling."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

import agenttrace
from agenttrace import _runtime
from agenttrace.testing import InjectionError, inject
from tests.conftest import Recorder
from tests.scripted import in_turn

# Each mode's detection never fires by itself here: only an injection can fire it.
NEVER = {"when": lambda value: False}
FLAKY = agenttrace.FailureMode("flaky", handling="retry", **NEVER)
LOW = agenttrace.FailureMode("low_confidence", handling="fallback", **NEVER)
REFUSED = agenttrace.FailureMode("refused_answer", handling="escalate", **NEVER)
VAGUE = agenttrace.FailureMode("vague", handling="accept", **NEVER)
BROKEN = agenttrace.FailureMode("broken", handling="abort", **NEVER)


def rules(ticket: str) -> str:
    return f"rules:{ticket}"


def backup(ticket: str) -> str:
    return f"backup:{ticket}"


calls: list[str] = []


@agenttrace.step(
    failure_modes=[FLAKY, LOW, REFUSED, VAGUE, BROKEN],
    retry=agenttrace.Retry(attempts=2),
    fallbacks=[rules, backup, agenttrace.human("triage")],
)
def classify(ticket: str) -> str:
    calls.append(ticket)
    return f"model:{ticket}"


@pytest.fixture(autouse=True)
def fresh() -> None:
    calls.clear()


def attempt_types(recorder: Recorder) -> list[object]:
    return [
        s.attributes.get("agenttrace.attempt.type")
        for s in recorder.spans
        if s.attributes and s.attributes.get("agenttrace.kind") == "attempt"
    ]


def test_without_an_injection_nothing_fires(recorder: Recorder) -> None:
    assert classify("t") == "model:t"
    assert recorder.one("classify").attributes["agenttrace.outcome"] == "ok"


def test_a_retry_mode_retries(recorder: Recorder) -> None:
    with inject("classify", "flaky") as injection:
        assert classify("t") == "model:t"
    assert injection.fired == 1
    assert calls == ["t", "t"]
    assert attempt_types(recorder) == ["retry"]
    assert recorder.one("classify").attributes["agenttrace.outcome"] == "recovered"


def test_a_fallback_mode_goes_down_the_chain(recorder: Recorder) -> None:
    with inject("classify", "low_confidence", times=2):
        assert classify("t") == "backup:t"
    assert attempt_types(recorder) == ["fallback", "fallback"]
    span = recorder.one("classify")
    assert span.attributes["agenttrace.served_by"] == "backup"


def test_an_escalate_mode_goes_to_the_human(recorder: Recorder) -> None:
    with inject("classify", "refused_answer"):
        escalation = classify("t")
    assert isinstance(escalation, agenttrace.Escalation)
    assert escalation.queue == "triage"
    assert attempt_types(recorder) == ["escalation"]
    assert recorder.one("classify").attributes["agenttrace.outcome"] == "escalated"


def test_an_accept_mode_keeps_the_value(recorder: Recorder) -> None:
    with inject("classify", "vague", details={"why": "short"}):
        assert classify("t") == "model:t"
    span = recorder.one("classify")
    assert span.attributes["agenttrace.outcome"] == "degraded"
    [event] = [e for e in span.events if e.name == "agenttrace.failure"]
    assert event.attributes is not None
    assert event.attributes["agenttrace.failure.source"] == "injected"
    assert event.attributes["agenttrace.failure.detail.why"] == "short"


def test_an_abort_mode_raises_a_failure(recorder: Recorder) -> None:
    with inject("classify", "broken"), pytest.raises(agenttrace.Failure) as raised:
        classify("t")
    assert raised.value.mode == "broken"
    assert raised.value.value == "model:t"
    assert recorder.one("classify").attributes["agenttrace.outcome"] == "failed"


def test_the_log_event_says_injected() -> None:
    with capture_logs() as logs, inject("classify", "flaky"):
        classify("t")
    [failure] = [e for e in logs if e["event"] == "agenttrace.failure"]
    assert (failure["mode"], failure["source"], failure["handling"]) == (
        "flaky",
        "injected",
        "retry",
    )


def test_times_none_fires_on_every_attempt_inside_the_block() -> None:
    with inject("classify", "low_confidence", times=None) as injection:
        escalation = classify("t")
    # both fallbacks failed too; then the human: the chain's end
    assert isinstance(escalation, agenttrace.Escalation)
    assert injection.fired == 3


def test_an_attempt_that_raises_does_not_use_the_injection() -> None:
    attempt = in_turn(ValueError("bad"), "ok")
    boom = agenttrace.FailureMode("boom", on=(ValueError,), handling="retry")

    @agenttrace.step(failure_modes=[boom, FLAKY], retry=agenttrace.Retry(attempts=3))
    def flaky() -> str:
        return attempt()

    with inject("flaky", "flaky") as injection, pytest.raises(StopIteration):
        flaky()
    assert injection.fired == 1


async def test_a_coroutine_is_injected_too() -> None:
    @agenttrace.step(failure_modes=[LOW], fallbacks=[rules])
    async def answer(ticket: str) -> str:
        return f"model:{ticket}"

    with inject("answer", "low_confidence"):
        assert await answer("t") == "rules:t"
    assert await answer("t") == "model:t"


def test_a_model_calls_detectors_can_be_injected(recorder: Recorder) -> None:
    @agenttrace.model_call(provider="openai", model="gpt-5")
    def complete(prompt: str) -> agenttrace.ModelResponse:
        return agenttrace.ModelResponse(text="fine", finish_reasons=("stop",))

    with inject("complete", "truncated"):
        complete("hi")
    assert recorder.one("chat gpt-5").attributes["agenttrace.outcome"] == "degraded"


def test_it_works_when_nothing_is_recorded(recorder: Recorder) -> None:
    _runtime.use_tracer_provider(None)  # no provider: nothing recorded, handling still runs
    with inject("classify", "low_confidence"):
        assert classify("t") == "rules:t"
    assert recorder.spans == ()


def test_an_unknown_operation_is_a_clear_error() -> None:
    with (
        pytest.raises(InjectionError, match="no decorated operation is named 'nope'"),
        inject("nope", "flaky"),
    ):
        pass


def test_an_undeclared_mode_is_a_clear_error() -> None:
    with (
        pytest.raises(InjectionError, match=r"'classify' does not declare 'other'.*flaky"),
        inject("classify", "other"),
    ):
        pass


def test_times_below_one_is_an_error() -> None:
    with pytest.raises(ValueError, match="times"), inject("classify", "flaky", times=0):
        pass


def test_a_same_named_operation_that_does_not_declare_the_mode_is_left_alone(
    recorder: Recorder,
) -> None:
    """Two modules may each have a "classify": only the one declaring the mode fires."""

    @agenttrace.step("classify", failure_modes=[VAGUE])
    def other_classify(ticket: str) -> str:
        return f"other:{ticket}"

    with inject("classify", "low_confidence") as injection:
        assert other_classify("t") == "other:t"
        assert injection.fired == 0
        assert classify("t") == "rules:t"
    assert injection.fired == 1
