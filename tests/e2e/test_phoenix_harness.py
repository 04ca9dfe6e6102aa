"""The end-to-end harness itself: Phoenix is up, takes OTLP and gives the spans back."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.e2e.conftest import PhoenixClient


def test_a_span_sent_by_the_plain_sdk_is_read_back(
    phoenix: PhoenixClient, phoenix_project: str
) -> None:
    """A span exported over OTLP/HTTP comes back under its project, name and gen_ai.* intact."""
    exporter = OTLPSpanExporter(
        endpoint=phoenix.otlp_http_endpoint, headers={"x-project-name": phoenix_project}
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        tracer = provider.get_tracer("tests.e2e")
        attributes = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "harness-model"}
        with tracer.start_as_current_span("chat harness-model", attributes=attributes) as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        provider.shutdown()

    [stored] = phoenix.spans(phoenix_project, trace_id=trace_id)

    assert ("chat harness-model", "harness-model") == (
        stored["name"],
        stored["attributes"]["gen_ai.request.model"],
    )
