"""configure(): idempotent, polite to an existing provider, strict about bad values."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

import agenttrace
from agenttrace import _config, _settings
from agenttrace import environment_variables as env
from agenttrace.cli import main

ROOT = Path(__file__).parents[1]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("AGENTTRACE_STRICT", "true")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_config._state, "set_global", False)
    yield
    _config.reset()


@agenttrace.step
def work() -> int:
    return 1


def test_zero_arguments_write_the_local_file(tmp_path: Path) -> None:
    """configure() alone: spans go to .agenttrace/traces.jsonl under the working directory."""
    agenttrace.configure()
    work()
    agenttrace.shutdown()

    lines = (tmp_path / ".agenttrace" / "traces.jsonl").read_text().splitlines()
    assert [
        json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] for line in lines
    ] == ["work"]


def test_configure_is_idempotent() -> None:
    """The same settings twice: one provider, one pipeline, each span exported once."""
    agenttrace.configure(service_name="svc")
    first = _config._state.installed
    agenttrace.configure(service_name="svc")
    work()
    agenttrace.force_flush()

    assert _config._state.installed is first
    assert (1, 1) == (agenttrace.stats().spans_started, agenttrace.stats().spans_exported)


def test_other_settings_need_a_shutdown_first() -> None:
    """Different settings raise, naming what differs; after shutdown() they apply."""
    agenttrace.configure(service_name="a")
    with pytest.raises(agenttrace.ConfigurationError, match="other values of: service_name"):
        agenttrace.configure(service_name="b")
    agenttrace.shutdown()
    agenttrace.configure(service_name="b")

    assert _config._state.installed is not None
    assert _config._state.installed.loaded.otel.service_name == "b"


def test_a_given_provider_is_used_as_it_is(caplog: pytest.LogCaptureFixture) -> None:
    """tracer_provider=: spans go through the application's processors, said once at INFO."""
    caplog.set_level(logging.INFO, logger="agenttrace")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    agenttrace.configure(tracer_provider=provider)
    agenttrace.configure(tracer_provider=provider)
    work()

    assert [span.name for span in exporter.get_finished_spans()] == ["work"]
    messages = [r.getMessage() for r in caplog.records if "installed" in r.getMessage()]
    assert len(messages) == 1
    assert messages[0].startswith("agenttrace: using the TracerProvider the application installed")


def test_a_global_provider_is_attached_to_not_replaced() -> None:
    """In a fresh process with a global provider already set, configure() leaves it in place."""
    program = """
import logging, opentelemetry.trace as t
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import agenttrace
logging.basicConfig(level=logging.INFO, format="%(message)s")
mine, exporter = TracerProvider(), InMemorySpanExporter()
mine.add_span_processor(SimpleSpanProcessor(exporter))
t.set_tracer_provider(mine)
agenttrace.configure(endpoint="http://127.0.0.1:9")
with agenttrace.span("x"):
    pass
print(t.get_tracer_provider() is mine, [s.name for s in exporter.get_finished_spans()])
"""
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )

    assert done.stdout.strip() == "True ['x']"
    assert "so these settings are not used: endpoint, traces_exporter" in done.stderr


BAD_VALUES = {
    env.AGENTTRACE_DISABLED: "perhaps",
    env.AGENTTRACE_CAPTURE_CONTENT: "perhaps",
    env.AGENTTRACE_CAPTURE_MAX_VALUE_CHARS: "1",
    env.AGENTTRACE_CAPTURE_MAX_SPAN_CHARS: "many",
    env.AGENTTRACE_STRICT: "2",
    env.AGENTTRACE_CONSOLE: "colour",
    env.AGENTTRACE_FILE_MAX_BYTES: "10",
    env.AGENTTRACE_FILE_BACKUPS: "-1",
    env.AGENTTRACE_SHUTDOWN_TIMEOUT: "61",
    env.AGENTTRACE_QUEUE_MAX_BYTES: "1kb",
    env.AGENTTRACE_SPAN_MAX_BYTES: "0",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318",
    "OTEL_EXPORTER_OTLP_TIMEOUT": "soon",
    "OTEL_TRACES_SAMPLER": "sometimes",
    "OTEL_TRACES_SAMPLER_ARG": "1.5",
    "OTEL_BSP_MAX_QUEUE_SIZE": "0",
    "OTEL_TRACES_EXPORTER": "zipkin",
}


def test_every_agenttrace_variable_has_a_bad_value_case() -> None:
    """The table below covers each AGENTTRACE_* variable but AGENTTRACE_DIR (any path goes)."""
    names = {name for name in dir(env) if name.startswith("AGENTTRACE_")} - {"AGENTTRACE_DIR"}
    assert names == {name for name in BAD_VALUES if name.startswith("AGENTTRACE_")}


@pytest.mark.parametrize(("name", "value"), sorted(BAD_VALUES.items()))
def test_a_bad_value_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """configure() raises one ConfigurationError naming the variable, value and what is
    accepted; `agenttrace check` prints the same and exits 2."""
    monkeypatch.setenv(name, value)
    with pytest.raises(agenttrace.ConfigurationError) as caught:
        agenttrace.configure()

    message = str(caught.value)
    assert message.startswith(f"{name}={value!r} is not accepted: ")
    assert "Accepted: " in message
    assert main(["check"]) == 2


def test_headers_are_never_shown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad header list is reported without its values; check hides good ones too."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer sk-secret,oops")
    with pytest.raises(agenttrace.ConfigurationError) as caught:
        _settings.load()
    assert "sk-secret" not in str(caught.value)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20sk-secret")

    assert main(["check"]) == 0
    assert "sk-secret" not in capsys.readouterr().out


def test_check_prints_values_and_where_they_came_from(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each setting's variable, value and source; the traces-specific variable wins."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "support-bot")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")

    assert main(["check", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {row["setting"]: row for row in report["settings"]}

    assert report["destination"] == {
        "kind": "http/protobuf",
        "where": "http://collector:4318/v1/traces",
    }
    assert report["logs_destination"] == {
        "kind": "http/protobuf",
        "where": "http://collector:4318/v1/logs",
    }
    assert report["metrics_destination"]["where"] == "http://collector:4318/v1/metrics"
    assert rows["service_name"] == {
        "setting": "service_name",
        "variable": "OTEL_SERVICE_NAME",
        "value": "support-bot",
        "source": "environment",
    }
    assert rows["protocol"]["variable"] == "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
    assert (rows["shutdown_timeout"]["value"], rows["shutdown_timeout"]["source"]) == (
        "2.0",
        "default",
    )


def test_otel_sdk_disabled_records_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """OTEL_SDK_DISABLED=true: decorated calls run, nothing is recorded or written."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    agenttrace.configure()
    assert work() == 1
    agenttrace.shutdown()

    assert not (tmp_path / ".agenttrace" / "traces.jsonl").exists()


def test_sampler_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_TRACES_SAMPLER=always_off: no span is started at all."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    agenttrace.configure()
    work()

    assert agenttrace.stats().spans_started == 0


def test_console_setting_prints_runs_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """configure(console=True) prints each decorated run as a tree on stderr."""
    agenttrace.configure(console=True, directory=tmp_path, shutdown_timeout=0.5)

    @agenttrace.agent("bot")
    def bot() -> int:
        return lookup()

    @agenttrace.tool
    def lookup() -> int:
        return 1

    assert bot() == 1
    lines = capsys.readouterr().err.splitlines()

    assert [line.split("  ")[:2] for line in lines] == [
        ["invoke_agent bot", "agent"],
        ["└─ execute_tool lookup", "tool"],
    ]


def test_configure_after_shutdown_builds_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The global provider can be set only once: after shutdown() the one agenttrace built
    is shut down, and a second configure() must not attach to it (its spans would be
    dropped as after_shutdown)."""
    monkeypatch.setattr(_config._state, "set_global", True)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())
    agenttrace.configure(directory=tmp_path / "first")
    assert work() == 1
    assert agenttrace.shutdown()

    agenttrace.configure(directory=tmp_path / "second")
    assert work() == 1
    assert agenttrace.shutdown()
    stats = agenttrace.stats()
    assert (stats.spans_exported, stats.spans_dropped["after_shutdown"]) == (1, 0)
    assert (tmp_path / "second" / "traces.jsonl").exists()
