"""OTLP logs: logging records and structlog events as OpenTelemetry log records."""

from __future__ import annotations

import io
import logging
import logging.config
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

import agenttrace
import agenttrace.processors
from agenttrace import _config, _otel_logs
from agenttrace._settings import load
from tests.collector import running
from tests.conftest import Recorder
from tests.scripted import in_turn

BAD = agenttrace.FailureMode("invalid_output", on=(ValueError,), handling="retry")


class Sent:
    """The log records a test sent, read back from an in-memory exporter."""

    def __init__(self, exporter: InMemoryLogRecordExporter) -> None:
        self.exporter = exporter

    def records(self, body: str | None = None) -> list[Any]:
        found = [r.log_record for r in self.exporter.get_finished_logs()]
        return [r for r in found if body is None or r.body == body]

    def one(self, body: str) -> Any:
        found = self.records(body)
        assert len(found) == 1, f"expected one {body!r}, got {[r.body for r in self.records()]}"
        return found[0]


@pytest.fixture
def sent() -> Iterator[Sent]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    _otel_logs.install(provider)
    saved = structlog.get_config()
    yield Sent(exporter)
    _otel_logs.uninstall()
    structlog.configure(**saved)
    provider.shutdown()


@pytest.fixture
def root_at_info() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    yield
    root.setLevel(level)


def ids(recorder: Recorder, name: str) -> tuple[int, int]:
    context = recorder.one(name).context
    assert context is not None
    return context.trace_id, context.span_id


def test_a_logging_record_inside_an_operation_carries_its_span(
    sent: Sent, recorder: Recorder, root_at_info: None
) -> None:
    @agenttrace.step
    def plan(order: str) -> None:
        logging.getLogger("shop").info("planning %s", order, extra={"order_id": order})

    plan("A-17")

    record = sent.one("planning A-17")
    assert (record.trace_id, record.span_id) == ids(recorder, "plan")
    assert record.severity_number == SeverityNumber.INFO
    assert record.severity_text == "INFO"
    assert record.attributes["order_id"] == "A-17"
    assert record.attributes["code.function.name"] == "plan"
    assert record.attributes["thread.name"] == threading.current_thread().name
    assert "msg" not in record.attributes
    assert "args" not in record.attributes


def test_a_logging_record_outside_an_operation_has_no_span(sent: Sent, root_at_info: None) -> None:
    logging.getLogger("shop").warning("outside")

    record = sent.one("outside")
    assert record.trace_id == 0
    assert record.severity_number == SeverityNumber.WARN


def test_the_root_level_decides_what_goes_out(sent: Sent) -> None:
    logging.getLogger("shop").info("too low")  # the root logger's level is WARNING
    logging.getLogger("shop").error("high enough")

    assert [r.body for r in sent.records()] == ["high enough"]


def test_an_exception_is_recorded_as_exception_attributes(sent: Sent, root_at_info: None) -> None:
    try:
        raise KeyError("order")
    except KeyError:
        logging.getLogger("shop").exception("lookup failed")

    attributes = sent.one("lookup failed").attributes
    assert attributes["exception.type"] == "KeyError"
    assert "raise KeyError" in attributes["exception.stacktrace"]


def test_a_structlog_event_goes_out_with_the_operation_fields(
    sent: Sent, recorder: Recorder
) -> None:
    agenttrace.processors.configure_structlog(json=True)
    log = structlog.get_logger("shop")

    @agenttrace.step
    def plan(order: str) -> None:
        log.warning("planned", order=order, items=["a", "b"], details={"n": 2})

    plan("A-17")

    record = sent.one("planned")
    assert (record.trace_id, record.span_id) == ids(recorder, "plan")
    assert record.severity_number == SeverityNumber.WARN
    assert dict(record.attributes) == {
        "order": "A-17",
        "items": ("a", "b"),
        "details.n": 2,
        "operation": "plan",
        "kind": "step",
        "attempt": 1,
    }


def test_add_to_structlog_adds_both_processors_once() -> None:
    saved = structlog.get_config()
    renderer = structlog.processors.JSONRenderer()
    try:
        structlog.configure(processors=[structlog.processors.add_log_level, renderer])
        agenttrace.processors.add_to_structlog()
        agenttrace.processors.add_to_structlog()
        assert structlog.get_config()["processors"] == [
            structlog.processors.add_log_level,
            agenttrace.processors.add_trace_context,
            agenttrace.processors.send_to_otlp,
            renderer,
        ]
        # Events that go into logging are sent by the root handler, not by the processor.
        structlog.configure(processors=[renderer], logger_factory=structlog.stdlib.LoggerFactory())
        agenttrace.processors.add_to_structlog()
        assert structlog.get_config()["processors"] == [
            agenttrace.processors.add_trace_context,
            renderer,
        ]
    finally:
        structlog.configure(**saved)


def retried_step() -> Callable[[], str]:
    attempt = in_turn(ValueError("bad"), "ok")

    @agenttrace.step(failure_modes=[BAD], retry=agenttrace.Retry(attempts=2))
    def classify() -> str:
        return attempt()

    return classify


@pytest.mark.parametrize("route", ["print", "stdlib"])
def test_each_lifecycle_event_goes_out_once(
    sent: Sent, recorder: Recorder, route: str, root_at_info: None
) -> None:
    """Whether structlog prints (with send_to_otlp) or hands events to logging (where the
    root handler sends them), agenttrace's own events are sent once each."""
    if route == "print":
        agenttrace.processors.configure_structlog(json=True)
    else:
        structlog.configure(
            processors=[structlog.stdlib.render_to_log_kwargs],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=False,
        )

    assert retried_step()() == "ok"

    assert [r.body for r in sent.records()] == [
        "agenttrace.failure",
        "agenttrace.retry",
        "agenttrace.outcome",
    ]
    failure = sent.one("agenttrace.failure")
    assert (failure.trace_id, failure.span_id) == ids(recorder, "classify")
    assert failure.severity_number == SeverityNumber.WARN
    assert failure.attributes["mode"] == "invalid_output"
    assert failure.attributes["handling"] == "retry"
    assert failure.attributes["declared"] is True
    assert failure.attributes["error_type"] == "ValueError"


def test_hostile_values_are_bounded(sent: Sent, root_at_info: None) -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    many = {f"k{n}": n for n in range(_otel_logs.MAX_ATTRIBUTES + 10)}
    logging.getLogger("shop").info(
        "x" * (_otel_logs.MAX_BODY_CHARS + 5), extra={"hostile": Hostile(), "huge": "y" * 10**6}
    )
    structlog.configure(processors=[agenttrace.processors.send_to_otlp, lambda *a: ""])
    structlog.get_logger().info("many", **many)

    [first, second] = sent.records()
    assert len(first.body) < _otel_logs.MAX_BODY_CHARS + 40
    assert first.attributes["hostile"] == "<Hostile>"
    assert len(first.attributes["huge"]) < 2100
    assert len(second.attributes) == _otel_logs.MAX_ATTRIBUTES + 1
    assert second.attributes["agenttrace.log.dropped_attributes"] == 10


def test_records_of_the_export_thread_and_of_opentelemetry_are_not_sent(
    sent: Sent, root_at_info: None
) -> None:
    logging.getLogger("opentelemetry.exporter").warning("export failed")
    worker = threading.Thread(
        target=lambda: logging.getLogger("shop").warning("from the worker"),
        name="agenttrace-export",
    )
    worker.start()
    worker.join()
    logging.getLogger("shop").warning("kept")

    assert [r.body for r in sent.records()] == ["kept"]


def test_nothing_is_sent_without_otlp_export(root_at_info: None) -> None:
    assert not _otel_logs.active()
    assert _otel_logs.send("shop", logging.INFO, "x", {}) is False
    assert not any(isinstance(h, _otel_logs.OtlpHandler) for h in logging.getLogger().handlers)


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    monkeypatch.setenv("AGENTTRACE_STRICT", "true")
    monkeypatch.setattr(_config._state, "set_global", False)
    yield agenttrace.configure
    _config.reset()


def test_configure_with_an_endpoint_exports_logs_and_counts_every_record(
    configure: Callable[..., None], monkeypatch: pytest.MonkeyPatch, root_at_info: None
) -> None:
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "4")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    with running("blackhole") as collector:
        configure(endpoint=collector.url, shutdown_timeout=0.5)
        handlers = [
            h for h in logging.getLogger().handlers if isinstance(h, _otel_logs.OtlpHandler)
        ]
        assert len(handlers) == 1
        for n in range(20):
            logging.getLogger("shop").info("record %d", n)
        stats = agenttrace.stats()
        assert stats.logs_destination == f"otlp http/protobuf {collector.url}/v1/logs"
        assert stats.logs_emitted == 20
        assert stats.logs_dropped["queue_full"] >= 12
        agenttrace.shutdown(0.5)
    stats = agenttrace.stats()
    lost = stats.logs_failed + sum(stats.logs_dropped.values())
    assert stats.logs_queued == 0
    assert stats.logs_exported + lost == stats.logs_emitted == 20
    assert lost == 20
    assert not any(isinstance(h, _otel_logs.OtlpHandler) for h in logging.getLogger().handlers)


def test_logs_and_metrics_follow_the_endpoint_settings() -> None:
    def where(signal: str, **environ: str) -> tuple[str, str] | None:
        return _config.signal_destination(load(environ=environ), signal)

    assert where("logs") is None
    assert where("metrics", OTEL_EXPORTER_OTLP_ENDPOINT="http://c:4318") == (
        "http/protobuf",
        "http://c:4318/v1/metrics",
    )
    assert (
        where("logs", OTEL_EXPORTER_OTLP_ENDPOINT="http://c:4318", OTEL_LOGS_EXPORTER="none")
        is None
    )
    assert where("logs", OTEL_EXPORTER_OTLP_LOGS_ENDPOINT="http://l:1/custom") == (
        "http/protobuf",
        "http://l:1/custom",
    )
    assert where("logs", OTEL_LOGS_EXPORTER="otlp") == (
        "http/protobuf",
        "http://localhost:4318/v1/logs",
    )
    assert where(
        "metrics", OTEL_EXPORTER_OTLP_ENDPOINT="http://c:4317", OTEL_EXPORTER_OTLP_PROTOCOL="grpc"
    ) == ("grpc", "http://c:4317")
    traces_url = "http://c:4318/v1/traces/"  # a base endpoint given as the traces URL
    assert where("logs", OTEL_EXPORTER_OTLP_ENDPOINT=traces_url) == (
        "http/protobuf",
        "http://c:4318/v1/logs",
    )


@pytest.mark.parametrize(
    ("value", "read"),
    [("otlp", "otlp"), ("console,otlp", "otlp"), ("none", "none"), ("prometheus", "other")],
)
def test_any_standard_exporter_value_is_accepted(value: str, read: str) -> None:
    """Values meant for other exporters (opentelemetry-instrument's) are not errors: the
    application's own exporters take that signal."""
    loaded = load(environ={"OTEL_METRICS_EXPORTER": value, "OTEL_LOGS_EXPORTER": value})
    assert (loaded.otel.metrics_exporter, loaded.otel.logs_exporter) == (read, read)
    expected = ("http/protobuf", "http://localhost:4318/v1/logs") if read == "otlp" else None
    assert _config.signal_destination(loaded, "logs") == expected


def test_force_flush_delivers_logs_when_spans_are_not_exported(
    configure: Callable[..., None], monkeypatch: pytest.MonkeyPatch, root_at_info: None
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "60000")
    with running("up") as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
        configure()
        assert agenttrace.stats().destination == ""  # no span pipeline
        logging.getLogger("shop").info("flushed")
        assert agenttrace.force_flush(5)
        assert collector.others == ["/v1/logs"]
        assert agenttrace.stats().logs_exported == 1


def test_warnings_still_reach_stderr_when_logging_has_no_handler(
    sent: Sent, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a handler of the application's, logging prints warnings on stderr (its last
    resort); the OTLP handler on the root logger must not take that away."""
    root = logging.getLogger()
    monkeypatch.setattr(
        root, "handlers", [h for h in root.handlers if isinstance(h, _otel_logs.OtlpHandler)]
    )
    logging.getLogger("shop").warning("disk %s", "full")
    logging.getLogger("shop").info("not printed")
    quiet = logging.getLogger("quiet")
    monkeypatch.setattr(quiet, "handlers", [logging.NullHandler()])
    quiet.warning("handled by the application")

    assert capsys.readouterr().err == "disk full\n"
    assert [r.body for r in sent.records()] == ["disk full", "handled by the application"]


def test_the_applications_logging_set_up_still_works(
    sent: Sent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """basicConfig() does nothing when the root logger has a handler, and dictConfig()
    replaces the root's handlers: both work as without agenttrace, which keeps its own."""
    root = logging.getLogger()
    mine = [h for h in root.handlers if isinstance(h, _otel_logs.OtlpHandler)]
    monkeypatch.setattr(root, "handlers", mine)
    level = root.level
    stream = io.StringIO()
    try:
        logging.basicConfig(stream=stream, level=logging.INFO, format="%(message)s")
        logging.getLogger("shop").info("after basicConfig")
        assert stream.getvalue() == "after basicConfig\n"

        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "handlers": {"mine": {"class": "logging.NullHandler"}},
                "root": {"level": "INFO", "handlers": ["mine"]},
            }
        )
        logging.getLogger("shop").info("after dictConfig")
        assert [type(h).__name__ for h in root.handlers] == ["NullHandler", "OtlpHandler"]
    finally:
        root.setLevel(level)
        for handler in root.handlers:
            if not isinstance(handler, _otel_logs.OtlpHandler):
                handler.close()

    assert [r.body for r in sent.records()] == ["after basicConfig", "after dictConfig"]
    _otel_logs.uninstall()
    assert getattr(logging.basicConfig, "_agenttrace_original", None) is None
    assert getattr(logging.config.dictConfig, "_agenttrace_original", None) is None


def test_a_collector_that_takes_traces_only_gets_a_hint_in_the_warning(
    configure: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    root_at_info: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    with running("up") as collector:
        collector.other_status = 405
        configure(endpoint=collector.url)
        logging.getLogger("shop").warning("refused")
        assert not agenttrace.force_flush(5)
    assert (agenttrace.stats().logs_failed, agenttrace.stats().logs_exported) == (1, 0)
    [warning] = [r.getMessage() for r in caplog.records if "could not deliver" in r.getMessage()]
    assert "(HTTP 405): a collector that takes traces only" in warning
    assert "OTEL_LOGS_EXPORTER=none" in warning


def test_a_handler_left_behind_sends_nothing(sent: Sent, root_at_info: None) -> None:
    """A copy of the handler that outlived its installation (a configuration that saved
    the root's handlers and put them back, say) does not send records twice."""
    stale = _otel_logs.OtlpHandler()
    logging.getLogger().addHandler(stale)
    try:
        logging.getLogger("shop").info("once")
    finally:
        logging.getLogger().removeHandler(stale)
    assert [r.body for r in sent.records()] == ["once"]
