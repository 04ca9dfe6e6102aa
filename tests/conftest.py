"""Every test records into its own in-memory exporter, in strict mode."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import settings
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agenttrace import _runtime
from agenttrace._internal import reset_internal_errors
from agenttrace._settings import Settings

# CI runs the same examples every time (a failure there is reproducible); locally each run
# explores new ones. Every failure found is pinned as an explicit example.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


class Recorder:
    """The spans a test produced, with lookups by name."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    @property
    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def one(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans if s.name == name]
        assert len(found) == 1, f"expected one span {name!r}, got {[s.name for s in self.spans]}"
        return found[0]

    def names(self) -> list[str]:
        return [s.name for s in self.spans]


def apply(**settings: object) -> None:
    """Put settings in force for the current test (strict unless said otherwise)."""
    settings.setdefault("strict", True)
    _runtime.apply_settings(Settings.model_validate(settings))


EXPORT_THREADS = ("agenttrace-", "Otel")
"""Name prefixes of the threads that export: ours and the OpenTelemetry SDK's."""


def outlived(threads: set[threading.Thread], seconds: float) -> list[str]:
    """Export threads not in ``threads`` still running after waiting up to ``seconds``."""
    end = time.monotonic() + seconds
    for thread in threading.enumerate():
        if thread not in threads and thread.name.startswith(EXPORT_THREADS):
            thread.join(max(0.0, end - time.monotonic()))
    return [
        thread.name
        for thread in threading.enumerate()
        if thread not in threads and thread.name.startswith(EXPORT_THREADS)
    ]


@pytest.fixture(autouse=True)
def recorder() -> Iterator[Recorder]:
    before = set(threading.enumerate())
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _runtime.use_tracer_provider(provider)
    apply()
    reset_internal_errors()
    yield Recorder(exporter)
    leaked = trace.get_current_span()
    assert not leaked.get_span_context().is_valid, f"a test left a span current: {leaked}"
    _runtime.use_tracer_provider(None)
    apply(strict=False)
    _runtime.state.settings = None
    provider.shutdown()
    # an exporter left running would send, retry and draw random backoff during later tests
    assert outlived(before, 5.0) == [], "export threads outlived the test"


@pytest.fixture
def otel_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything OpenTelemetry's own loggers say, at every level."""
    caplog.set_level(logging.DEBUG, logger="opentelemetry")
    return caplog
