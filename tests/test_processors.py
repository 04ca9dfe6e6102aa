"""Log correlation: the current operation's ids, name, kind and attempt on every log event."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

import agenttrace
from agenttrace import processors
from tests.conftest import Recorder, apply

FIELDS = {"trace_id", "span_id", "operation", "kind", "attempt"}


def context() -> dict[str, Any]:
    return dict(processors.add_trace_context(None, "info", {"event": "e"}))


@pytest.fixture
def structlog_config() -> Iterator[None]:
    """structlog's configuration, restored after the test."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_inside_an_operation_the_event_gets_its_ids_name_kind_and_attempt(
    recorder: Recorder,
) -> None:
    @agenttrace.tool
    def lookup(order_id: str) -> dict[str, Any]:
        return context()

    got = lookup("A-1")

    span = recorder.one("execute_tool lookup")
    assert got == {
        "event": "e",
        "trace_id": format(span.context.trace_id, "032x"),
        "span_id": format(span.context.span_id, "016x"),
        "operation": "lookup",
        "kind": "tool",
        "attempt": 1,
    }


def test_outside_any_operation_nothing_is_added() -> None:
    assert context() == {"event": "e"}


def test_keys_the_event_has_are_kept() -> None:
    @agenttrace.step
    def work() -> Any:
        return processors.add_trace_context(None, "info", {"event": "e", "operation": "mine"})

    assert work()["operation"] == "mine"


def test_a_retry_logs_its_attempt_and_its_attempt_span(recorder: Recorder) -> None:
    seen: list[dict[str, Any]] = []

    @agenttrace.step(
        failure_modes=[agenttrace.FailureMode("flaky", on=(TimeoutError,), handling="retry")],
        retry=agenttrace.Retry(attempts=2, backoff=0),
    )
    def work() -> str:
        seen.append(context())
        if len(seen) == 1:
            raise TimeoutError
        return "ok"

    assert work() == "ok"

    operation_span = recorder.one("work")
    retry_span = recorder.one("retry work")
    assert [(c["attempt"], c["span_id"]) for c in seen] == [
        (1, format(operation_span.context.span_id, "016x")),
        (2, format(retry_span.context.span_id, "016x")),
    ]


def test_an_unrecorded_operation_gives_its_name_but_no_ids() -> None:
    """Sampled out or disabled, the operation still runs: its logs say which it is."""
    apply(disabled=True)

    @agenttrace.step
    def work() -> dict[str, Any]:
        return context()

    assert work() == {"event": "e", "operation": "work", "kind": "step", "attempt": 1}


def test_threads_do_not_inherit_the_operation_but_asyncio_tasks_do() -> None:
    in_thread: list[dict[str, Any]] = []

    @agenttrace.step
    def work() -> None:
        thread = threading.Thread(target=lambda: in_thread.append(context()))
        thread.start()
        thread.join(5)

    work()
    assert in_thread == [{"event": "e"}]

    @agenttrace.agent("bot")
    async def run() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(task(n) for n in range(3))))

    @agenttrace.tool
    async def task(n: int) -> dict[str, Any]:
        await asyncio.sleep(0)
        return context()

    got = asyncio.run(run())
    assert [(c["operation"], c["kind"]) for c in got] == [("task", "tool")] * 3
    assert len({c["span_id"] for c in got}) == 3
    assert len({c["trace_id"] for c in got}) == 1


def test_add_to_structlog_keeps_the_configuration_and_is_idempotent(
    structlog_config: None,
) -> None:
    output = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(output),
        cache_logger_on_first_use=False,
    )
    processors.add_to_structlog()
    processors.add_to_structlog()

    chain = structlog.get_config()["processors"]
    assert chain[0] is structlog.processors.add_log_level
    assert chain[1] is processors.add_trace_context
    assert chain[2] is processors.send_to_otlp
    assert isinstance(chain[3], structlog.processors.JSONRenderer)
    assert len(chain) == 4

    @agenttrace.step
    def work() -> None:
        structlog.get_logger().info("inside", user_key=1)

    work()
    structlog.get_logger().info("outside")
    inside, outside = (json.loads(line) for line in output.getvalue().splitlines())
    assert FIELDS <= set(inside)
    assert (inside["user_key"], inside["level"], inside["operation"]) == (1, "info", "work")
    assert not FIELDS & set(outside)


def test_configure_structlog_writes_json_lines_with_the_context(
    structlog_config: None, capsys: pytest.CaptureFixture[str]
) -> None:
    processors.configure_structlog(json=True)

    @agenttrace.step
    def work() -> None:
        structlog.get_logger().warning("careful", n=2)

    work()
    [line] = capsys.readouterr().err.splitlines()
    event = json.loads(line)
    assert (event["event"], event["level"], event["n"], event["kind"]) == (
        "careful",
        "warning",
        2,
        "step",
    )
    assert FIELDS <= set(event)
    assert "timestamp" in event


def test_logging_records_get_the_fields(recorder: Recorder) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logging.Formatter(
            "%(message)s %(operation)s %(attempt)s %(trace_id)s",
            defaults={"operation": "-", "attempt": "-", "trace_id": "-"},
        )
    )
    root = logging.getLogger()
    root.addHandler(handler)
    log = logging.getLogger("app.orders")
    log.setLevel(logging.INFO)
    try:
        processors.add_to_logging()
        processors.add_to_logging()
        assert sum(isinstance(f, processors.TraceContextFilter) for f in handler.filters) == 1

        @agenttrace.step
        def work() -> None:
            log.info("inside")
            log.info("extra", extra={"operation": "mine"})  # the caller's key is kept

        work()
        log.info("outside")
    finally:
        root.removeHandler(handler)
        log.setLevel(logging.NOTSET)

    trace_id = format(recorder.one("work").context.trace_id, "032x")
    assert stream.getvalue().splitlines() == [
        f"inside work 1 {trace_id}",
        f"extra mine 1 {trace_id}",
        "outside - - -",
    ]
