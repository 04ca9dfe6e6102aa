"""Export through configure(): deadlines, a misbehaving collector, and exact accounting."""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import agenttrace
from agenttrace import _config
from agenttrace._export import Pipeline
from agenttrace._otlp import Delivery
from tests.collector import Collector, running

Configure = Callable[..., None]


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    """``agenttrace.configure`` in strict mode, not global, undone after the test."""
    monkeypatch.setenv("AGENTTRACE_STRICT", "true")
    monkeypatch.setattr(_config._state, "set_global", False)
    yield agenttrace.configure
    _config.reset()


@agenttrace.agent("bot")
def run(n: int) -> int:
    return work(n)


@agenttrace.step
def work(n: int) -> int:
    return n + 1


def calls(count: int) -> None:
    """``count`` agent runs, two spans each; every result checked."""
    for n in range(count):
        assert run(n) == n + 1


def settled(stats: agenttrace.Stats) -> int:
    """Every started span accounted for (the invariant's right-hand side)."""
    return (
        stats.spans_open
        + stats.spans_queued
        + stats.spans_exported
        + stats.spans_failed
        + sum(stats.spans_dropped.values())
    )


def timed(action: Callable[[], object]) -> tuple[object, float]:
    start = time.monotonic()
    result = action()
    return result, time.monotonic() - start


def test_spans_reach_a_working_collector(configure: Configure) -> None:
    """With a collector up, force_flush returns True and the collector has every span."""
    with running("up") as collector:
        configure(endpoint=collector.url)
        calls(50)

        assert agenttrace.force_flush() is True
        stats = agenttrace.stats()
        assert (100, 100, 100) == (collector.received, stats.spans_exported, stats.spans_started)
        assert stats.destination == f"otlp http/protobuf {collector.url}/v1/traces"


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("refused", {}),
        ("blackhole", {}),
        ("slow", {"delay": 5.0}),
        ("status", {"status": 503, "retry_after": "1"}),
    ],
)
def test_a_dead_or_slow_collector_never_reaches_the_caller(
    configure: Configure,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    options: dict[str, object],
) -> None:
    """Calls return normally; force_flush(1.0) is False by 1.2 s; shutdown returns by 2.5 s;
    the counters add up to exactly the spans the collector did not take."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
    with running(mode, **options) as collector:
        configure(endpoint=collector.url)
        calls(1000)

        flushed, flush_seconds = timed(lambda: agenttrace.force_flush(1.0))
        assert (flushed, flush_seconds < 1.2) == (False, True), flush_seconds
        calls(1000)
        delivered, shutdown_seconds = timed(agenttrace.shutdown)
        assert (delivered, shutdown_seconds < 2.5) == (False, True), shutdown_seconds

        stats = agenttrace.stats()
        assert (4000, 4000, 0, 0) == (
            stats.spans_started,
            settled(stats),
            stats.spans_open,
            stats.spans_queued,
        )
        assert (collector.received, stats.spans_lost) == (
            stats.spans_exported,
            4000 - collector.received,
        )


def test_a_flapping_collector_gets_what_was_exported(
    configure: Configure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up 0.3 s, down 0.3 s for 2 s, then up: nothing reaches the caller, export resumes (a
    flush after the recovery delivers), the collector's count is exactly spans_exported and
    the rest is counted; shutdown keeps its deadline."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    with running("up") as collector:
        collector.flap(up=0.3, down=0.3)
        configure(endpoint=collector.url)
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            calls(10)
            time.sleep(0.05)
        collector.steady()
        calls(10)

        assert agenttrace.force_flush(10.0) is True
        calls(10)
        delivered, shutdown_seconds = timed(agenttrace.shutdown)
        stats = agenttrace.stats()
        assert (delivered, shutdown_seconds < 2.5) == (True, True)
        assert (stats.spans_started, stats.spans_open, stats.spans_queued) == (settled(stats), 0, 0)
        assert (collector.received, collector.received) == (
            stats.spans_exported,
            stats.spans_started - stats.spans_lost,
        )


def test_rejected_spans_count_as_failed(configure: Configure) -> None:
    """A collector's partial_success.rejected_spans are counted as failed, not exported."""
    with running("partial", rejected=3) as collector:
        configure(endpoint=collector.url)
        calls(5)
        assert agenttrace.force_flush() is False

        stats = agenttrace.stats()
        assert (7, 3, {"rejected by the collector": 3}) == (
            stats.spans_exported,
            stats.spans_failed,
            stats.export_failures,
        )


def test_retry_after_is_honoured(configure: Configure) -> None:
    """A 503 with Retry-After: 1 is retried no sooner than a second later, then delivered."""
    with running("status", status=503, retry_after="1") as collector:
        configure(endpoint=collector.url)
        calls(1)
        threading.Timer(0.5, lambda: setattr(collector, "mode", "up")).start()

        assert agenttrace.force_flush(5.0) is True
        first, second = collector.request_times[:2]
        assert second - first >= 1.0
        assert collector.received == 2


def test_non_retryable_status_is_sent_once(configure: Configure) -> None:
    """A 400 is not retried: one request, the batch failed with the status as reason."""
    with running("status", status=400) as collector:
        configure(endpoint=collector.url)
        calls(1)

        assert agenttrace.force_flush(5.0) is False
        assert (1, {"HTTP 400": 2}) == (collector.requests, agenttrace.stats().export_failures)


@pytest.mark.parametrize("mode", ["refused", "blackhole"])
def test_memory_stays_flat_over_100k_calls(
    configure: Configure, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """100 000 calls against a dead collector: memory is bounded by the queue while it runs,
    and nothing is left behind once it shut down."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
    with running(mode) as collector:
        configure(endpoint=collector.url)
        calls(100)
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            samples = []
            for _ in range(10):
                calls(10_000)
                samples.append(tracemalloc.get_traced_memory()[0] - baseline)
            agenttrace.shutdown()
            gc.collect()
            left = tracemalloc.get_traced_memory()[0] - baseline
        finally:
            tracemalloc.stop()

        stats = agenttrace.stats()
        assert max(samples) < 16_000_000, samples  # the 2048-span queue and the batch in flight
        assert left < 500_000, left
        assert (200_200, 200_200) == (stats.spans_started, settled(stats))


def test_warnings_about_a_dead_collector_are_rate_limited(
    configure: Configure, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Hundreds of failed batches and thousands of dropped spans give a handful of warnings,
    then one summary at shutdown."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "1")
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "16")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4")
    caplog.set_level(logging.WARNING, logger="agenttrace")
    with running("status", status=400) as collector:
        configure(endpoint=collector.url)
        for _ in range(200):
            calls(20)
            time.sleep(0.001)
        agenttrace.shutdown()

    stats = agenttrace.stats()
    messages = [r.getMessage() for r in caplog.records if r.name == "agenttrace"]
    assert stats.spans_failed > 100
    assert stats.spans_dropped["queue_full"] > 100
    assert len(messages) == 3, messages  # one per kind (export, queue full), one summary
    assert messages[-1].startswith(f"agenttrace: {stats.spans_lost} of 8000 spans were not")


def test_spans_ending_after_shutdown_are_counted(configure: Configure) -> None:
    """After shutdown, decorated calls still return; their spans count as after_shutdown."""
    with running("up") as collector:
        configure(endpoint=collector.url)
        calls(2)
        assert agenttrace.shutdown() is True
        calls(3)

        stats = agenttrace.stats()
        assert (4, 6) == (collector.received, stats.spans_dropped["after_shutdown"])
        assert stats.spans_started == settled(stats)


def test_concurrent_shutdowns_all_return_in_time(
    configure: Configure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight threads shutting down at once against a blackhole: none waits past the deadline."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
    with running("blackhole") as collector:
        configure(endpoint=collector.url)
        calls(10)
        results: list[float] = []

        def stop() -> None:
            results.append(timed(agenttrace.shutdown)[1])

        threads = [threading.Thread(target=stop) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)

        assert len(results) == 8
        assert max(results) < 2.5, results


def test_nothing_goes_on_exporting_after_a_shutdown_that_ran_out_of_time(
    configure: Configure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spans use up shutdown's 2 s against a blackhole; the metric reader is still told to
    stop, so every thread configure started (export, metrics, shutdown) ends within one
    more export timeout instead of living on."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
    with running("blackhole") as collector:
        before = set(threading.enumerate())
        configure(endpoint=collector.url)
        calls(100)
        started = [
            thread
            for thread in threading.enumerate()
            if thread not in before and thread.name.startswith(("Otel", "agenttrace"))
        ]
        assert "OtelPeriodicExportingMetricReader" in [thread.name for thread in started]

        delivered, seconds = timed(agenttrace.shutdown)
        assert (delivered, seconds < 2.5) == (False, True), seconds
        for thread in started:
            thread.join(5.0)
        assert [thread.name for thread in started if thread.is_alive()] == []


def test_too_large_spans_are_dropped_and_counted(
    configure: Configure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A span estimated above AGENTTRACE_SPAN_MAX_BYTES is dropped as too_large; others go."""
    monkeypatch.setenv("AGENTTRACE_SPAN_MAX_BYTES", "8192")
    with running("up") as collector:
        configure(endpoint=collector.url)
        with agenttrace.span("big") as op:
            for n in range(5):
                op.set_attribute(f"blob.{n}", "x" * 2000)
        calls(1)
        agenttrace.force_flush()

        stats = agenttrace.stats()
        assert (2, 1) == (collector.received, stats.spans_dropped["too_large"])


def test_collector_sees_the_queue_bounded_in_bytes(
    configure: Configure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue holds at most AGENTTRACE_QUEUE_MAX_BYTES of spans; more are queue_full."""
    monkeypatch.setenv("AGENTTRACE_QUEUE_MAX_BYTES", str(1024 * 1024))
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    collector = Collector("up").start()
    try:
        configure(endpoint=collector.url)
        for _ in range(300):
            with agenttrace.span("chunk") as op:
                for n in range(5):
                    op.set_attribute(f"blob.{n}", "x" * 2000)

        stats = agenttrace.stats()
        assert 90 <= stats.spans_queued <= 105, stats.spans_queued
        assert stats.spans_dropped["queue_full"] == 300 - stats.spans_queued
    finally:
        agenttrace.shutdown()
        collector.stop()


def test_the_size_estimate_fast_path_matches_the_public_api() -> None:
    """estimate_size reads the SDK's plain dicts when present; the public API gives the same."""
    from types import SimpleNamespace  # noqa: PLC0415

    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
        InMemorySpanExporter,
    )

    from agenttrace._export import estimate_size  # noqa: PLC0415

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span(
        "name", attributes={"a": "xyz", "b": 1}
    ) as s:
        s.set_attribute("c", ("pq", "r"))
        s.add_event("e", {"k": "vv"})
    span = exporter.get_finished_spans()[0]
    public = SimpleNamespace(
        name=span.name, attributes=span.attributes, events=span.events, links=span.links
    )

    # span, name; 8 per attribute + keys + string values; event, its name, its attribute
    expected = 96 + 4 + (8 * 3 + (1 + 3) + 1 + (1 + 2 + 1)) + (48 + 1 + (8 + 1 + 2))
    assert (expected, expected) == (estimate_size(span), estimate_size(public))  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only")
# Python 3.12+ warns about fork() with threads running (the collector's, the worker): the
# gunicorn --preload pattern this test reproduces does exactly that.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_sends_its_own_spans_and_not_the_parents(configure: Configure) -> None:
    """10 spans queued in the parent, fork, 10 in the child, 10 more in the parent: the
    collector gets each of the 30 exactly once (the child starts with an empty queue)."""
    with running("up") as collector:
        configure(endpoint=collector.url)
        for n in range(10):
            with agenttrace.span(f"parent-before-{n}"):
                pass
        pid = os.fork()
        if pid == 0:  # the child: its own spans, its own worker, then straight out
            code = 1
            try:
                for n in range(10):
                    with agenttrace.span(f"child-{n}"):
                        pass
                code = 0 if agenttrace.shutdown() else 1
            finally:
                os._exit(code)
        for n in range(10):
            with agenttrace.span(f"parent-after-{n}"):
                pass
        _, status = os.waitpid(pid, 0)
        assert agenttrace.shutdown() is True

        assert os.waitstatus_to_exitcode(status) == 0
        assert sorted(collector.names) == sorted(
            [f"parent-before-{n}" for n in range(10)]
            + [f"child-{n}" for n in range(10)]
            + [f"parent-after-{n}" for n in range(10)]
        )


class Discard:
    """A sink that takes everything at once."""

    name = "discard"

    def export(self, spans: object, deadline: float | None = None) -> Delivery:
        del deadline
        return Delivery(len(spans), 0)  # type: ignore[arg-type]

    def limit(self, deadline: float) -> None:
        pass

    def after_fork(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


def test_the_worker_keeps_up_with_a_thread_that_writes_as_it_goes() -> None:
    """A thread that works and writes a line per item (an application logging) releases and
    retakes the GIL all the time; without a yield, the waiting worker did not get it back
    for hundreds of milliseconds, and from one item in eight to nearly half were dropped."""
    pipeline = Pipeline(Discard(), max_batch_spans=512, schedule_delay=5.0, size=lambda item: 100)
    lock = threading.Lock()
    with Path(os.devnull).open("w") as log:
        for n in range(20_000):
            for _ in range(10):
                line = json.dumps({"event": "refund issued", "n": n, "items": list(range(20))})
            with lock:
                print(line, file=log, flush=True)
            pipeline.emit(n)
    assert pipeline.close(5.0)
    counts = pipeline.counts()
    assert counts.exported + sum(counts.dropped.values()) == 20_000
    assert counts.dropped["queue_full"] < 400, counts  # 2 %
