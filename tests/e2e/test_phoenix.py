"""Spans round-trip through Phoenix, a real OTLP backend, with every attribute intact."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agenttrace
from agenttrace import _config
from agenttrace.cli import main
from tests.e2e.conftest import PhoenixClient
from tests.scripted import in_turn

OURS = ("gen_ai.", "agenttrace.")


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """What agenttrace sent, recorded beside the real exporter."""
    monkeypatch.setenv("AGENTTRACE_STRICT", "true")
    # Phoenix takes traces only (it answers 405 to /v1/logs and /v1/metrics), as the
    # backends page tells its readers.
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    monkeypatch.setattr(_config._state, "set_global", False)
    exporter = InMemorySpanExporter()
    yield exporter
    _config.reset()


def record_sent(exporter: InMemorySpanExporter) -> None:
    installed = _config._state.installed
    assert installed is not None
    installed.provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[attr-defined]


@agenttrace.agent("support-bot", description="answers tickets")
def support(ticket: str) -> str:
    order = lookup_order(ticket)
    return classify(order)


@agenttrace.tool
def lookup_order(order_id: str) -> str:
    """Find an order."""
    return f"order {order_id}"


@agenttrace.step
def classify(text: str) -> str:
    return complete(text)


@agenttrace.model_call(provider="openai", model="gpt-4o-mini")
def complete(prompt: str) -> str:
    return prompt.upper()


def ours(attributes: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(attributes or {}).items() if k.startswith(OURS)}


def assert_round_trip(sent: tuple[ReadableSpan, ...], stored: list[dict[str, Any]]) -> None:
    by_id = {span["context"]["span_id"]: span for span in stored}
    assert len(sent) == len(stored) == 4
    for span in sent:
        assert span.context is not None
        back = by_id[format(span.context.span_id, "016x")]
        assert (back["name"], ours(back["attributes"])) == (span.name, ours(span.attributes))


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_spans_round_trip_over_otlp(
    phoenix: PhoenixClient,
    phoenix_project: str,
    sent: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
    protocol: str,
) -> None:
    """OTLP/HTTP and OTLP/gRPC: every gen_ai.* and agenttrace.* attribute comes back."""
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"openinference.project.name={phoenix_project}")
    endpoint = phoenix.http_url if protocol != "grpc" else f"http://{phoenix.grpc_endpoint}"
    agenttrace.configure(endpoint=endpoint, protocol=protocol)
    record_sent(sent)

    assert support("A-17") == "ORDER A-17"
    assert agenttrace.force_flush(10.0) is True

    assert_round_trip(sent.get_finished_spans(), phoenix.spans(phoenix_project, expect=4))


def test_the_local_file_replays_to_phoenix(
    phoenix: PhoenixClient, phoenix_project: str, sent: InMemorySpanExporter, tmp_path: Path
) -> None:
    """Spans written to the embedded file arrive intact through `agenttrace export`."""
    agenttrace.configure(directory=tmp_path)
    record_sent(sent)
    assert support("B-2") == "ORDER B-2"
    assert agenttrace.shutdown() is True

    code = main(
        [
            "export",
            str(tmp_path / "traces.jsonl"),
            "--endpoint",
            phoenix.http_url,
            "--header",
            f"x-project-name={phoenix_project}",
        ]
    )

    assert code == 0
    assert_round_trip(sent.get_finished_spans(), phoenix.spans(phoenix_project, expect=4))


LOW = agenttrace.FailureMode(
    "low_confidence", when=lambda label: label["confidence"] < 0.7, handling="fallback"
)
BAD = agenttrace.FailureMode("invalid_output", on=(ValueError,), handling="retry")


def test_failure_handling_round_trips_to_phoenix(
    phoenix: PhoenixClient,
    phoenix_project: str,
    sent: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An escalated step keeps, in Phoenix: its outcome and what served, its failure events
    with their modes, and its retry, fallback and escalation spans under it."""
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"openinference.project.name={phoenix_project}")
    attempt = in_turn(ValueError("bad json"), {"label": "billing", "confidence": 0.3})

    def rules(ticket: str) -> dict[str, Any]:
        return {"label": "rules", "confidence": 0.2}

    @agenttrace.step(
        failure_modes=[LOW, BAD],
        retry=agenttrace.Retry(attempts=2),
        fallbacks=[rules, agenttrace.human("triage")],
    )
    def triage(ticket: str) -> dict[str, Any]:
        return attempt()

    agenttrace.configure(endpoint=phoenix.http_url)
    record_sent(sent)
    assert isinstance(triage("T-9"), agenttrace.Escalation)
    assert agenttrace.force_flush(10.0) is True

    stored = {span["name"]: span for span in phoenix.spans(phoenix_project, expect=4)}
    step = stored["triage"]
    assert {
        "agenttrace.outcome": "escalated",
        "agenttrace.served_by": "human:triage",
        "agenttrace.attempts": 4,
        "agenttrace.failure_modes": "low_confidence,invalid_output",
    }.items() <= ours(step["attributes"]).items()
    assert [
        ("agenttrace.failure", "invalid_output", 1),
        ("agenttrace.failure", "low_confidence", 2),
        ("agenttrace.failure", "low_confidence", 3),
    ] == [
        (
            e["name"],
            e["attributes"]["agenttrace.failure.mode"],
            e["attributes"]["agenttrace.attempt"],
        )
        for e in step["events"]
    ]
    children = ["retry triage", "fallback rules", "escalate triage"]
    assert [step["context"]["span_id"]] * 3 == [stored[name]["parent_id"] for name in children]
    assert [2, 3, 4] == [stored[name]["attributes"]["agenttrace.attempt"] for name in children]
