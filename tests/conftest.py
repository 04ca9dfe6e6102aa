"""Every test records into its own in-memory exporter, in strict mode."""

from __future__ import annotations

import logging
import os
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


@pytest.fixture(autouse=True)
def recorder() -> Iterator[Recorder]:
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


@pytest.fixture
def otel_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything OpenTelemetry's own loggers say, at every level."""
    caplog.set_level(logging.DEBUG, logger="opentelemetry")
    return caplog
