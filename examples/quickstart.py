"""A small support agent: a step, a tool and a model call, traced with agenttrace.

The model is a local fake OpenAI-compatible server, called through the real ``openai``
client, so this runs offline. With no OTLP endpoint configured, spans go to the local
OTLP/JSON-lines file ``.agenttrace/traces.jsonl``, and the run is printed as a tree.
Set ``OTEL_EXPORTER_OTLP_ENDPOINT`` to send them to a collector instead.

    python examples/quickstart.py
"""

from __future__ import annotations

import sys
from typing import Any

from fake_model import FakeModelServer

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


def main() -> int:
    # No endpoint configured: spans go to .agenttrace/traces.jsonl, and the console
    # renderer prints each finished run as a tree on stderr.
    agenttrace.configure(service_name="quickstart", console=True)
    with FakeModelServer() as server:
        answer = handle(server.client(), "Where is my order A-1001?")
    print(f"agent answered: {answer}")
    delivered = agenttrace.shutdown()
    stats = agenttrace.stats()
    print(f"{stats.spans_exported} spans written to {stats.destination.removeprefix('file ')}")
    return 0 if delivered and stats.spans_exported == 4 else 1


if __name__ == "__main__":
    sys.exit(main())
