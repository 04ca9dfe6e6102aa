"""Metrics: operations by outcome, failures by mode, retries, fallbacks, GenAI histograms."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.metrics import _internal as api
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import agenttrace
from agenttrace import _config, _metrics, _runtime
from tests.conftest import Recorder, apply
from tests.scripted import in_turn

LOW = agenttrace.FailureMode("low_confidence", when=lambda v: v < 0.5, handling="fallback")
BAD = agenttrace.FailureMode("invalid_output", on=(ValueError,), handling="retry")
SECRET = "sk-live-argument-value-0123456789"


class Points:
    """The data points a test recorded, by instrument."""

    def __init__(self, reader: InMemoryMetricReader) -> None:
        self.reader = reader

    def of(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        data = self.reader.get_metrics_data()
        found: list[tuple[dict[str, Any], Any]] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [(dict(p.attributes or {}), p) for p in metric.data.data_points]
        return found

    def counts(self, name: str) -> dict[tuple[tuple[str, Any], ...], int]:
        """A counter's value by attribute set (as sorted pairs)."""
        return {tuple(sorted(a.items())): p.value for a, p in self.of(name)}

    def every_attribute_value(self) -> set[Any]:
        data = self.reader.get_metrics_data()
        return {
            value
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            for point in metric.data.data_points
            for value in (point.attributes or {}).values()
        }


def key(**attributes: Any) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted({f"agenttrace.{k}": v for k, v in attributes.items()}.items()))


@pytest.fixture
def points() -> Iterator[Points]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    _metrics.use_meter_provider(provider)
    _metrics.state.values.clear()
    yield Points(reader)
    _metrics.use_meter_provider(None)
    _metrics.state.values.clear()
    provider.shutdown()


def test_operations_are_counted_by_name_kind_and_outcome(points: Points) -> None:
    @agenttrace.step
    def plan(n: int) -> int:
        if n < 0:
            raise ValueError(n)
        return n

    plan(1)
    plan(2)
    with pytest.raises(ValueError):
        plan(-1)

    assert points.counts(_metrics.OPERATIONS) == {
        key(operation="plan", kind="step", outcome="ok"): 2,
        key(operation="plan", kind="step", outcome="failed"): 1,
    }
    failures = points.counts(_metrics.FAILURES)
    assert failures == {
        (
            ("agenttrace.failure.declared", False),
            ("agenttrace.failure.handling", "none"),
            ("agenttrace.operation", "plan"),
            ("error.type", "ValueError"),
        ): 1
    }


def test_a_retry_and_a_fallback_are_counted_with_their_failures(points: Points) -> None:
    attempt = in_turn(ValueError("bad"), 0.1)

    def rules(ticket: str) -> float:
        return 0.9

    @agenttrace.step(
        failure_modes=[LOW, BAD], retry=agenttrace.Retry(attempts=2), fallbacks=[rules]
    )
    def classify(ticket: str) -> float:
        return attempt()

    assert classify(SECRET) == 0.9

    assert points.counts(_metrics.RETRIES) == {key(operation="classify"): 1}
    assert points.counts(_metrics.FALLBACKS) == {
        (
            ("agenttrace.attempt.type", "fallback"),
            ("agenttrace.fallback.name", "rules"),
            ("agenttrace.operation", "classify"),
        ): 1
    }
    failures = points.counts(_metrics.FAILURES)
    assert failures == {
        (
            ("agenttrace.failure.declared", True),
            ("agenttrace.failure.handling", "retry"),
            ("agenttrace.failure.mode", "invalid_output"),
            ("agenttrace.operation", "classify"),
            ("error.type", "ValueError"),
        ): 1,
        (
            ("agenttrace.failure.declared", True),
            ("agenttrace.failure.handling", "fallback"),
            ("agenttrace.failure.mode", "low_confidence"),
            ("agenttrace.operation", "classify"),
        ): 1,
    }
    assert points.counts(_metrics.OPERATIONS) == {
        key(operation="classify", kind="step", outcome="degraded"): 1
    }
    assert SECRET not in points.every_attribute_value()


def test_an_undeclared_exception_is_one_failure_and_fails_each_operation(points: Points) -> None:
    @agenttrace.tool
    def lookup(order: str) -> str:
        raise KeyError(order)

    @agenttrace.agent
    def bot(order: str) -> str:
        return lookup(order)

    with pytest.raises(KeyError):
        bot(SECRET)

    assert sum(points.counts(_metrics.FAILURES).values()) == 1
    assert points.counts(_metrics.OPERATIONS) == {
        key(operation="lookup", kind="tool", outcome="failed"): 1,
        key(operation="bot", kind="agent", outcome="failed"): 1,
    }
    assert SECRET not in points.every_attribute_value()


def test_a_model_call_records_its_duration_and_tokens(points: Points) -> None:
    @agenttrace.model_call(provider="openai")
    def complete(prompt: str, model: str = "gpt-5") -> agenttrace.ModelResponse:
        return agenttrace.ModelResponse(
            model="gpt-5-2026-01-01",
            text="hi",
            usage=agenttrace.Usage(input_tokens=12, output_tokens=3),
        )

    complete(SECRET, model="gpt-5")

    common = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-5",
        "gen_ai.response.model": "gpt-5-2026-01-01",
    }
    [(attributes, duration)] = points.of(_metrics.DURATION)
    assert attributes == common
    assert duration.count == 1
    assert 0 <= duration.sum < 5
    assert list(duration.explicit_bounds) == list(_metrics.DURATION_BUCKETS)
    tokens = {a["gen_ai.token.type"]: (a, p) for a, p in points.of(_metrics.TOKENS)}
    assert tokens["input"][0] == {**common, "gen_ai.token.type": "input"}
    assert tokens["input"][1].sum == 12
    assert tokens["output"][1].sum == 3
    assert list(tokens["input"][1].explicit_bounds) == list(_metrics.TOKEN_BUCKETS)


def test_a_failed_model_call_has_an_error_type_and_no_tokens(points: Points) -> None:
    @agenttrace.model_call(provider="anthropic", model="claude-opus-4-7")
    def complete(prompt: str) -> str:
        raise TimeoutError

    with pytest.raises(TimeoutError):
        complete("hi")

    [(attributes, duration)] = points.of(_metrics.DURATION)
    assert attributes["error.type"] == "TimeoutError"
    assert attributes["gen_ai.request.model"] == "claude-opus-4-7"
    assert duration.count == 1
    assert points.of(_metrics.TOKENS) == []


def test_model_names_are_capped(points: Points) -> None:
    @agenttrace.model_call(provider="openai")
    def complete(model: str) -> agenttrace.ModelResponse:
        return agenttrace.ModelResponse(model=model, text="x")

    for n in range(_metrics.MAX_VALUES + 40):
        complete(model=f"m-{n}")

    models = {a["gen_ai.request.model"] for a, _ in points.of(_metrics.DURATION)}
    assert len(models) == _metrics.MAX_VALUES + 1
    assert _metrics.OTHER in models
    [(_, other)] = [
        (a, p) for a, p in points.of(_metrics.DURATION) if a["gen_ai.request.model"] == "_OTHER"
    ]
    assert other.count == 40


def test_operations_the_sampler_drops_are_still_counted(points: Points, recorder: Recorder) -> None:
    _runtime.use_tracer_provider(TracerProvider(sampler=ALWAYS_OFF))

    @agenttrace.step
    def plan(n: int) -> int:
        if n < 0:
            raise ValueError(n)
        return n

    @agenttrace.model_call(provider="openai", model="gpt-5")
    def complete(prompt: str) -> agenttrace.ModelResponse:
        return agenttrace.ModelResponse(text="x", usage=agenttrace.Usage(input_tokens=7))

    plan(1)
    with pytest.raises(ValueError):
        plan(-1)
    complete("hi")

    assert recorder.spans == ()
    assert points.counts(_metrics.OPERATIONS) == {
        key(operation="plan", kind="step", outcome="ok"): 1,
        key(operation="plan", kind="step", outcome="failed"): 1,
        key(operation="complete", kind="model_call", outcome="ok"): 1,
    }
    [(_, tokens)] = points.of(_metrics.TOKENS)
    assert tokens.sum == 7


def test_nothing_is_recorded_without_a_meter_provider(points: Points) -> None:
    _metrics.use_meter_provider(None)  # the global one: the API's stand-in here
    assert _metrics.instruments() is None

    @agenttrace.step
    def plan() -> None:
        pass

    plan()
    # no instruments were made on the API's stand-in, and the check per operation is off
    assert (_metrics.maybe_on(), _metrics.state.instruments) == (False, None)


def test_after_stop_nothing_is_recorded(points: Points) -> None:
    _metrics.stop()

    @agenttrace.step
    def plan() -> None:
        pass

    plan()
    assert points.of(_metrics.OPERATIONS) == []


def test_a_global_provider_set_later_is_used(
    points: Points, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The application may set its MeterProvider after agenttrace first looked."""
    _metrics.use_meter_provider(None)
    assert _metrics.instruments() is None
    reader = InMemoryMetricReader()
    monkeypatch.setattr(api, "_METER_PROVIDER", MeterProvider(metric_readers=[reader]))

    @agenttrace.step
    def plan() -> None:
        pass

    plan()
    assert Points(reader).counts(_metrics.OPERATIONS) == {
        key(operation="plan", kind="step", outcome="ok"): 1
    }


def test_nothing_is_counted_while_agenttrace_records_nothing(points: Points) -> None:
    """Disabled: operations that declare failure handling still run their handling, and
    are not counted."""
    attempt = in_turn(ValueError("bad"), "ok")

    @agenttrace.step(failure_modes=[BAD], retry=agenttrace.Retry(attempts=2))
    def classify() -> str:
        return attempt()

    apply(disabled=True)
    assert classify() == "ok"
    assert points.of(_metrics.OPERATIONS) == []
    assert points.of(_metrics.RETRIES) == []


class QuotaError(Exception):
    pass


def test_error_type_is_the_spans(points: Points) -> None:
    @agenttrace.model_call(provider="openai", model="gpt-5")
    def complete() -> str:
        raise QuotaError

    with pytest.raises(QuotaError):
        complete()

    [(attributes, _)] = points.of(_metrics.DURATION)
    assert attributes["error.type"] == f"{__name__}.QuotaError"
    [(attributes, _)] = points.of(_metrics.FAILURES)
    assert attributes["error.type"] == f"{__name__}.QuotaError"


def test_configure_records_on_the_applications_meter_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With an endpoint set, an application's own global MeterProvider is kept: agenttrace
    builds none and records on it."""
    reader = InMemoryMetricReader()
    monkeypatch.setattr(api, "_METER_PROVIDER", MeterProvider(metric_readers=[reader]))
    monkeypatch.setattr(_config._state, "set_global", False)
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    _metrics.use_meter_provider(None)
    try:
        agenttrace.configure(endpoint="http://127.0.0.1:9", shutdown_timeout=0.2)
        assert agenttrace.stats().metrics_destination == ""

        @agenttrace.step
        def plan() -> None:
            pass

        plan()
        assert Points(reader).counts(_metrics.OPERATIONS) == {
            key(operation="plan", kind="step", outcome="ok"): 1
        }
    finally:
        _config.reset()
