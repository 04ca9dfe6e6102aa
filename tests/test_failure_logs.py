"""Every failure, retry, fallback, escalation and handled outcome is one structlog event,
correlated to the operation's span."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

import agenttrace
from tests.conftest import Recorder
from tests.scripted import in_turn

LOW = agenttrace.FailureMode("low_confidence", when=lambda v: v < 0.5, handling="fallback")
BAD = agenttrace.FailureMode("invalid_output", on=(ValueError,), handling="retry")


def test_a_handled_failure_logs_failure_retry_fallback_and_outcome(recorder: Recorder) -> None:
    """invalid_output (retry), then low_confidence (fallback): five events in order, with
    stable keys, levels, and the operation's trace and span ids."""
    attempt = in_turn(ValueError("bad"), 0.1)

    def rules(ticket: str) -> float:
        return 0.9

    @agenttrace.step(
        failure_modes=[LOW, BAD], retry=agenttrace.Retry(attempts=2), fallbacks=[rules]
    )
    def classify(ticket: str) -> float:
        return attempt()

    with capture_logs() as logs:
        assert classify("t") == 0.9

    span = recorder.one("classify").context
    assert span is not None
    ids = {"trace_id": format(span.trace_id, "032x"), "span_id": format(span.span_id, "016x")}
    common = {"operation": "classify", "kind": "step", **ids}
    assert [
        {
            "event": "agenttrace.failure",
            "log_level": "warning",
            **common,
            "attempt": 1,
            "mode": "invalid_output",
            "declared": True,
            "handling": "retry",
            "severity": "warning",
            "source": "exception",
            "error_type": "ValueError",
        },
        {
            "event": "agenttrace.retry",
            "log_level": "info",
            **common,
            "attempt": 2,
            "reason": "invalid_output",
        },
        {
            "event": "agenttrace.failure",
            "log_level": "warning",
            **common,
            "attempt": 2,
            "mode": "low_confidence",
            "declared": True,
            "handling": "fallback",
            "severity": "warning",
            "source": "value",
        },
        {
            "event": "agenttrace.fallback",
            "log_level": "info",
            **common,
            "attempt": 3,
            "reason": "low_confidence",
            "fallback": "rules",
        },
        {
            "event": "agenttrace.outcome",
            "log_level": "warning",
            **common,
            "outcome": "degraded",
            "served_by": "rules",
            "attempts": 3,
        },
    ] == logs


def test_an_undeclared_exception_is_logged_once_however_deep(recorder: Recorder) -> None:
    """A KeyError passing through tool, step and agent fails all three spans but is one
    error event, at the tool where it first failed."""

    @agenttrace.tool
    def lookup() -> None:
        raise KeyError("order")

    @agenttrace.step
    def gather() -> None:
        lookup()

    @agenttrace.agent("bot")
    def bot() -> None:
        gather()

    with capture_logs() as logs, pytest.raises(KeyError):
        bot()

    assert [("agenttrace.failure", "error", "lookup", False)] == [
        (e["event"], e["log_level"], e["operation"], e["declared"]) for e in logs
    ]
    assert 3 == sum(
        1 for s in recorder.spans if (s.attributes or {})["agenttrace.outcome"] == "failed"
    )


def test_failures_are_logged_when_the_span_is_not_recorded() -> None:
    """Sampled out, the log is the safety net: the failure is logged without ids."""
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF  # noqa: PLC0415

    from agenttrace import _runtime  # noqa: PLC0415

    _runtime.use_tracer_provider(TracerProvider(sampler=ALWAYS_OFF))

    def rules() -> float:
        return 0.9

    @agenttrace.step(failure_modes=[LOW], fallbacks=[rules])
    def classify() -> float:
        return 0.1

    with capture_logs() as logs:
        assert classify() == 0.9

    events: list[dict[str, Any]] = logs
    assert ["agenttrace.failure", "agenttrace.fallback", "agenttrace.outcome"] == [
        e["event"] for e in events
    ]
    assert not [e for e in events if "trace_id" in e]


def test_a_broken_log_pipeline_costs_logs_only(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A structlog processor that raises is counted as an internal error; the call returns
    its fallback's value all the same."""
    from agenttrace import _internal, _logs  # noqa: PLC0415

    class Broken:
        def __getattr__(self, name: str) -> Any:
            def log(*args: object, **kwargs: object) -> None:
                raise RuntimeError("log sink down")

            return log

    monkeypatch.setattr(_logs, "logger", Broken())
    _internal.set_strict(False)

    def rules() -> float:
        return 0.9

    @agenttrace.step(failure_modes=[LOW], fallbacks=[rules])
    def classify() -> float:
        return 0.1

    assert classify() == 0.9
    assert agenttrace.stats().internal_errors["log"] == 3
    assert "degraded" == (recorder.one("classify").attributes or {})["agenttrace.outcome"]


def test_record_failure_outside_an_operation_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing can handle it: a usage error, logged on the agenttrace logger, never raised."""
    agenttrace.current().record_failure("low_confidence", confidence=0.2)
    agenttrace.current().record_failure(42)  # type: ignore[arg-type]

    assert {"record_failure_outside": 1, "bad_failure": 1} == agenttrace.stats().usage_errors
    assert "outside any operation" in caplog.text


def test_record_failure_on_a_plain_operation_is_undeclared_and_degraded(recorder: Recorder) -> None:
    """An operation without modes keeps its value; the failure is a surprise (declared=false)."""

    @agenttrace.step
    def answer() -> str:
        agenttrace.current().record_failure("truncated", max_tokens=256)
        return "half an ans"

    assert answer() == "half an ans"
    span = recorder.one("answer")
    event = span.events[0].attributes or {}
    assert ("degraded", "answer") == (
        (span.attributes or {})["agenttrace.outcome"],
        (span.attributes or {})["agenttrace.served_by"],
    )
    assert ("truncated", False, "recorded", 256) == (
        event["agenttrace.failure.mode"],
        event["agenttrace.failure.declared"],
        event["agenttrace.failure.source"],
        event["agenttrace.failure.detail.max_tokens"],
    )


def test_record_failure_in_an_unrecorded_plain_child_stays_with_the_child() -> None:
    """With nothing recorded, a failure recorded in a plain child is logged, and does not
    trigger the parent's handling of a mode of the same name."""
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF  # noqa: PLC0415

    from agenttrace import _runtime  # noqa: PLC0415

    _runtime.use_tracer_provider(TracerProvider(sampler=ALWAYS_OFF))

    @agenttrace.tool
    def lookup() -> float:
        agenttrace.current().record_failure("low_confidence")
        return 0.9

    def rules() -> float:
        return 0.0

    @agenttrace.step(failure_modes=[LOW], fallbacks=[rules])
    def classify() -> float:
        return lookup()

    with capture_logs() as logs:
        assert classify() == 0.9
    assert [("lookup", "low_confidence", False)] == [
        (e["operation"], e["mode"], e["declared"]) for e in logs
    ]
