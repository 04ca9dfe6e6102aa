"""A small support agent: a step, a tool and a model call, traced with agenttrace.

The model is a local fake OpenAI-compatible server, called through the real ``openai``
client, so this runs offline. Spans go to a JSON file under ``.agenttrace/``, and a
compact tree of the run is printed.

    python examples/quickstart.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from fake_model import FakeModelServer
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agenttrace

ORDERS = {"A-1001": {"status": "shipped", "carrier": "DHL"}}


@agenttrace.step
def classify(ticket: str) -> str:
    """Route a ticket by keyword."""
    return "order_status" if "order" in ticket.lower() else "general"


@agenttrace.tool
def lookup_order(order_id: str) -> dict[str, str]:
    """Find an order by its id."""
    return ORDERS.get(order_id, {"status": "unknown"})


@agenttrace.model_call(provider="openai", model="gpt-4o-mini")
def complete(client: Any, messages: list[dict[str, str]]) -> Any:
    return client.chat.completions.create(model="gpt-4o-mini", messages=messages)


@agenttrace.agent("support-bot")
def handle(client: Any, ticket: str) -> str:
    category = classify(ticket)
    context = lookup_order("A-1001") if category == "order_status" else {}
    response = complete(
        client,
        [
            {"role": "system", "content": f"You are a support agent. Order: {context}"},
            {"role": "user", "content": ticket},
        ],
    )
    return str(response.choices[0].message.content)


def print_tree(spans: tuple[ReadableSpan, ...]) -> None:
    """Each span under its parent: name, outcome, duration."""
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        children.setdefault(span.parent.span_id if span.parent else None, []).append(span)

    def show(parent: int | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_time or 0):
            attributes = span.attributes or {}
            millis = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
            name = f"{'  ' * depth}{span.name}"
            outcome = attributes.get("agenttrace.outcome")
            print(f"  {name:<34} {outcome!s:<7} {millis:7.2f} ms")
            show(span.context.span_id, depth + 1)

    show(None, 0)


def main() -> int:
    out = Path(".agenttrace") / "quickstart-spans.json"
    out.parent.mkdir(exist_ok=True)
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "quickstart"}))
    with out.open("w", encoding="utf-8") as file:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=file)))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        trace.set_tracer_provider(provider)
        with FakeModelServer() as server:
            answer = handle(server.client(), "Where is my order A-1001?")
        provider.shutdown()
    spans = memory.get_finished_spans()
    print(f"agent answered: {answer}")
    print(f"{len(spans)} spans:")
    print_tree(spans)
    print(f"traces written to {out.resolve()}")
    return 0 if len(spans) == 4 else 1


if __name__ == "__main__":
    sys.exit(main())
