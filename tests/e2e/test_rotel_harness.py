"""The end-to-end harness itself: Rotel starts and stops, takes OTLP and prints it back."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from pathlib import Path

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider

from tests.e2e.conftest import RotelCollector
from tests.e2e.rotel import VERSION, blocks, installed, running, wait_for

# What `nox -s test` installs; the tests here never install it themselves.
NOX_VENV = Path(__file__).parents[2] / ".nox" / f"rotel-{VERSION}"

# Rotel's debug dump of one log record, one span and one metric with two data points (shortened).
DUMP = """\
2026-11-30T14:20:25.377921Z  INFO Starting Rotel. grpc_endpoint="127.0.0.1:4317"
ResourceLog #0
Resource SchemaURL:
Resource attributes:
     -> service.name: Str(checkout)
ScopeLogs #0
ScopeLogs SchemaURL:
InstrumentationScope tests.e2e
LogRecord #0
SeverityText: INFO
Body: Str(hello log-nonce)
Attributes:
     -> n.i: Int(3)
    Trace ID       : e7182862140922388ae72db262fed3b6
    Span ID        : 85a7f5816ba4e214
Flags: 1
ResourceSpans #0
Resource attributes:
     -> service.name: Str(checkout)
ScopeSpans #0
InstrumentationScope tests.e2e
Span #0
    Trace ID       : e7182862140922388ae72db262fed3b6
    ID             : 85a7f5816ba4e214
    Name           : span-nonce
ResourceMetrics #0
Resource attributes:
     -> service.name: Str(checkout)
ScopeMetrics #0
InstrumentationScope tests.e2e
Metric #0
Descriptor:
     -> Name: calls
     -> DataType: Sum
NumberDataPoints #0
Data point attributes:
     -> nonce: Str(metric-nonce)
Value: 5
NumberDataPoints #1
Data point attributes:
     -> nonce: Str(other)
Value: 7
2026-11-30T14:20:26.364453Z  INFO Shutdown signal received.
"""


def test_a_log_record_sent_by_the_plain_sdk_is_printed_with_its_trace(
    rotel: RotelCollector,
) -> None:
    """A log record emitted inside a span comes back by its nonce, with that span's ids."""
    nonce = uuid.uuid4().hex
    logs = LoggerProvider()
    logs.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=rotel.logs_endpoint))
    )
    traces = TracerProvider()  # no exporter: the span is there for its ids
    try:
        with traces.get_tracer("tests.e2e").start_as_current_span("harness") as span:
            context = span.get_span_context()
            logs.get_logger("tests.e2e").emit(
                severity_number=SeverityNumber.WARN,
                severity_text="WARNING",
                body=f"harness log {nonce}",
                attributes={"harness.nonce": nonce, "harness.count": 3},
            )
    finally:
        logs.shutdown()
        traces.shutdown()

    [record] = rotel.records(nonce)

    expected = [
        "SeverityNumber: SEVERITY_NUMBER_WARN(13)",
        f"Body: Str(harness log {nonce})",
        f"-> harness.nonce: Str({nonce})",
        "-> harness.count: Int(3)",
        f"Trace ID       : {context.trace_id:032x}",
        f"Span ID        : {context.span_id:016x}",
    ]
    assert [] == [line for line in expected if line not in record], record


def test_a_metric_sent_by_the_plain_sdk_is_printed_with_its_value(
    rotel: RotelCollector,
) -> None:
    """A counter's data point comes back by its nonce, with the counter's name, unit and sum."""
    nonce = uuid.uuid4().hex
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=rotel.metrics_endpoint), export_interval_millis=3_600_000
    )
    metrics = MeterProvider(metric_readers=[reader])
    try:
        counter = metrics.get_meter("tests.e2e").create_counter(
            "harness.calls", unit="{call}", description="Calls of the harness test"
        )
        counter.add(2, {"harness.nonce": nonce})
        counter.add(3, {"harness.nonce": nonce})
    finally:
        metrics.shutdown()  # collects and exports once

    [point] = rotel.records(nonce)

    expected = [
        "-> Name: harness.calls",
        "-> Unit: {call}",
        "-> DataType: Sum",
        "NumberDataPoints #0",
        f"-> harness.nonce: Str({nonce})",
        "Value: 5",
    ]
    assert [] == [line for line in expected if line not in point], point


def test_the_collector_starts_on_free_loopback_ports_and_stops_with_its_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both ports accept connections while it runs; afterwards the process and ports are gone."""
    if installed(NOX_VENV) is None:
        pytest.skip(f"rotel {VERSION} is not installed in {NOX_VENV} (`nox -s test` installs it)")

    with running(NOX_VENV, tmp_path) as collector:
        ports = [
            int(collector.http_endpoint.rsplit(":", 1)[1]),
            int(collector.grpc_endpoint.rsplit(":", 1)[1]),
        ]
        for port in ports:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        assert os.getpgid(collector.pid) == collector.pid

    with pytest.raises(ProcessLookupError):
        os.kill(collector.pid, 0)
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
    assert "Starting Rotel." in collector.output_path.read_text()
    assert "rotel: stopped (SIGTERM)" in capsys.readouterr().out
    assert {
        "AGENTTRACE_E2E_ROTEL_HTTP": collector.http_endpoint,
        "AGENTTRACE_E2E_ROTEL_GRPC": collector.grpc_endpoint,
        "AGENTTRACE_E2E_ROTEL_OUTPUT": str(collector.output_path),
    } == collector.environment()


def test_a_collector_that_exits_while_starting_is_reported_with_its_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The error names the exit code, and the output's last lines are printed."""
    venv = tmp_path / "venv"
    agent = tmp_path / "rotel-agent"
    _script(agent, 'echo "Error: Address already in use" >&2\nexit 3')
    _script(venv / "bin" / "python", f"echo {agent}")

    with (
        pytest.raises(RuntimeError, match="rotel-agent exited with code 3 while starting"),
        running(venv, tmp_path / "work"),
    ):
        pass

    assert "Error: Address already in use" in capsys.readouterr().out


def _script(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_wait_for_returns_the_whole_output_once_the_needle_arrives(tmp_path: Path) -> None:
    output = tmp_path / "rotel.out"
    output.write_text("Starting Rotel.\n")
    arrives = threading.Timer(0.3, lambda: output.write_text("Starting Rotel.\nBody: Str(x1)\n"))
    arrives.start()
    try:
        text = wait_for(output, "x1", timeout=5)
    finally:
        arrives.join()

    assert "Starting Rotel.\nBody: Str(x1)\n" == text


def test_wait_for_gives_up_at_the_timeout_with_the_last_lines(tmp_path: Path) -> None:
    output = tmp_path / "rotel.out"
    output.write_text("Starting Rotel.\nBody: Str(other)\n")

    with pytest.raises(AssertionError, match=r"'absent' not in .* after 0\.3 s") as raised:
        wait_for(output, "absent", timeout=0.3)

    assert "Body: Str(other)" in str(raised.value)


def test_blocks_are_records_with_their_resource_and_scope() -> None:
    """One block per log record, span and data point, headed by the sections it belongs to."""
    log_record = DUMP[DUMP.index("ResourceLog #0") : DUMP.index("ResourceSpans #0")]
    assert [log_record.rstrip("\n")] == blocks(DUMP, "log-nonce")
    assert 1 == len(blocks(DUMP, "span-nonce"))
    [point] = blocks(DUMP, "metric-nonce")
    assert point.startswith("ResourceMetrics #0\n") and point.endswith(
        "Metric #0\nDescriptor:\n     -> Name: calls\n     -> DataType: Sum\n"
        "NumberDataPoints #0\nData point attributes:\n     -> nonce: Str(metric-nonce)\nValue: 5"
    )
    assert 4 == len(blocks(DUMP, "checkout"))
    assert [] == blocks(DUMP, "Shutdown signal")
