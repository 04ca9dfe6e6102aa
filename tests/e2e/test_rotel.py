"""Logs and metrics through the real OTLP exporters to a Rotel collector, found by a nonce."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator

import pytest
import structlog

import agenttrace
import agenttrace.processors
from agenttrace import _config
from tests.e2e.conftest import RotelCollector
from tests.scripted import in_turn

BAD = agenttrace.FailureMode("invalid_output", on=(ValueError,), handling="retry")


@pytest.fixture
def nonce(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh nonce; agenttrace configured for the test only, logging at INFO."""
    monkeypatch.setattr(_config._state, "set_global", False)
    saved = structlog.get_config()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    yield uuid.uuid4().hex
    _config.reset()
    structlog.configure(**saved)
    root.setLevel(level)


def field(block: str, name: str) -> str:
    """A ``Name : value`` or ``-> name: value`` line's value in a dump block."""
    found = re.search(rf"(?:-> )?{re.escape(name)}\s*:\s*(.*)", block)
    assert found, f"no {name!r} in:\n{block}"
    return found.group(1).strip()


def only(blocks: list[str], *needles: str) -> str:
    found = [b for b in blocks if all(n in b for n in needles)]
    assert len(found) == 1, f"expected one block with {needles}, got {len(found)}:\n" + "\n".join(
        found or blocks
    )
    return found[0]


def arrived(rotel: RotelCollector, nonce: str, *needles: str) -> list[str]:
    """The records with ``nonce``, once some of them hold each of ``needles`` (10 s at most)."""
    deadline = time.monotonic() + 10
    while True:
        records = rotel.records(nonce)
        text = "\n".join(records)
        if all(n in text for n in needles) or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def run_agent(nonce: str) -> tuple[str, str]:
    """A retried step inside an agent, logging with structlog and logging; its trace and
    the step's span id."""
    attempt = in_turn(ValueError("bad"), "ok")
    seen: dict[str, str] = {}
    log = structlog.get_logger("shop")

    @agenttrace.step(f"classify-{nonce}", failure_modes=[BAD], retry=agenttrace.Retry(attempts=2))
    def classify() -> str:
        return attempt()

    @agenttrace.model_call(f"complete-{nonce}", provider="openai", model="gpt-5")
    def complete() -> agenttrace.ModelResponse:
        return agenttrace.ModelResponse(
            text="hi", usage=agenttrace.Usage(input_tokens=11, output_tokens=4)
        )

    @agenttrace.agent(f"bot-{nonce}")
    def bot() -> str:
        seen["trace_id"] = agenttrace.current().trace_id
        seen["span_id"] = agenttrace.current().span_id
        event = f"structlog-{nonce}"
        log.info(event, order="A-17")
        logging.getLogger("shop").warning("logging-%s", nonce)
        complete()
        return classify()

    assert bot() == "ok"
    return seen["trace_id"], seen["span_id"]


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_logs_and_metrics_round_trip(rotel: RotelCollector, nonce: str, protocol: str) -> None:
    endpoint = rotel.http_endpoint if protocol != "grpc" else f"http://{rotel.grpc_endpoint}"
    agenttrace.configure(
        endpoint=endpoint, protocol=protocol, service_name=f"svc-{nonce}", shutdown_timeout=5
    )
    agenttrace.processors.configure_structlog(json=True)

    trace_id, span_id = run_agent(nonce)
    assert agenttrace.force_flush(5)

    records = arrived(rotel, f"svc-{nonce}", "gen_ai.client.operation.duration", "logging-")
    logged = only(records, "LogRecord #", f"Body: Str(logging-{nonce})")
    assert field(logged, "Trace ID") == trace_id
    assert field(logged, "Span ID") == span_id
    assert field(logged, "SeverityText") == "WARNING"

    event = only(records, "LogRecord #", f"Body: Str(structlog-{nonce})")
    assert field(event, "Trace ID") == trace_id
    assert field(event, "order") == "Str(A-17)"
    assert field(event, "operation") == f"Str(bot-{nonce})"

    failure = only(records, "LogRecord #", "Body: Str(agenttrace.failure)")
    assert field(failure, "Trace ID") == trace_id
    assert field(failure, "mode") == "Str(invalid_output)"
    assert field(failure, "handling") == "Str(retry)"
    assert field(failure, "SeverityText") == "WARNING"
    assert only(records, "LogRecord #", "Body: Str(agenttrace.retry)")

    operations = [b for b in records if "-> Name: agenttrace.operations" in b]
    step = only(operations, f"Str(classify-{nonce})")
    assert field(step, "agenttrace.outcome") == "Str(recovered)"
    assert field(step, "Value") == "1"
    retries = only(records, "-> Name: agenttrace.retries")
    assert field(retries, "Value") == "1"
    tokens = only(records, "-> Name: gen_ai.client.token.usage", "Str(input)")
    assert field(tokens, "Sum") == "11"
    assert field(tokens, "gen_ai.request.model") == "Str(gpt-5)"
    duration = only(records, "-> Name: gen_ai.client.operation.duration")
    assert field(duration, "Unit") == "s"
    assert field(duration, "Count") == "1"

    stats = agenttrace.stats()
    assert stats.logs_exported == stats.logs_emitted >= 5
    assert stats.metric_exports >= 1
    assert stats.metric_exports_failed == 0
