"""An order-support agent on the ``anthropic`` client, recorded by agenttrace's integration.

The agent answers three tickets. The first needs a tool: the model asks for
``lookup_order``, the agent runs it and sends the result back. On the second the provider
answers with another model than the one asked for; on the third the answer stops at
``max_tokens``. agenttrace's detectors catch both, and the model call's declared handling
sends each to a fallback: a larger model, with room to finish.

The model is the local fake server (``fake_model.py``), scripted to misbehave on cue and
called through the real ``anthropic`` client, so this runs offline. Spans go to
``.agenttrace/traces.jsonl`` and each run is printed as a tree.

    python examples/anthropic_agent.py
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from fake_model import FakeModelServer

import agenttrace
from agenttrace.integrations import anthropic as anthropic_integration

if TYPE_CHECKING:
    from anthropic import Anthropic
    from anthropic.types import Message

MODEL = "claude-haiku-4-5"
BACKUP = "claude-opus-4-5"
SYSTEM = "You are an order-support agent. Use the tools."
ORDERS = {"A-1001": {"status": "shipped", "carrier": "DHL", "eta": "2 days"}}
LOOKUP_ORDER = {
    "name": "lookup_order",
    "description": "Find an order by its id.",
    "input_schema": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    },
}
# Each ticket with how the fake model behaves on the requests it causes, in order.
TICKETS = [
    ("Where is my order A-1001?", ['tool=lookup_order args={"order_id":"A-1001"}', "ok"]),
    ("Can I change my delivery address?", ["model=claude-3-haiku-20240307", "ok"]),
    ("Explain your refund policy in detail.", ["truncated", "ok"]),
]


@agenttrace.tool
def lookup_order(order_id: str) -> dict[str, str]:
    """Find an order by its id."""
    return ORDERS.get(order_id, {"status": "unknown"})


def answer_with_backup(client: Anthropic, messages: list[dict[str, Any]]) -> Message:
    """The fallback: a larger model, with room to finish (and no tools: it answers in prose)."""
    return client.messages.create(
        model=BACKUP,
        system=SYSTEM,
        messages=messages,  # type: ignore[arg-type]
        max_tokens=400,
    )


@agenttrace.model_call(
    "answer",
    provider="anthropic",
    # Both detectors are built in and accepted by default; declared here, they fall back.
    failure_modes=[
        agenttrace.FailureMode("model_substituted", handling="fallback"),
        agenttrace.FailureMode("truncated", handling="fallback"),
    ],
    fallbacks=[answer_with_backup],
)
def answer(client: Anthropic, messages: list[dict[str, Any]]) -> Message:
    # The instrumented client call adds its request and response to this span: one span.
    return client.messages.create(
        model=MODEL,
        system=SYSTEM,
        messages=messages,  # type: ignore[arg-type]
        tools=[LOOKUP_ORDER],  # type: ignore[list-item]
        max_tokens=60,
    )


@agenttrace.agent("order-agent")
def handle(client: Anthropic, ticket: str) -> tuple[str, str]:
    """Answer a ticket, running the tools the model asks for; the reply and its model."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": ticket}]
    for _ in range(4):  # a bounded tool loop
        response = answer(client, messages)
        calls = [block for block in response.content if block.type == "tool_use"]
        if not calls:
            text = "".join(block.text for block in response.content if block.type == "text")
            return text, response.model
        messages.append({"role": "assistant", "content": [c.model_dump() for c in calls]})
        results = [
            {
                "type": "tool_result",
                "tool_use_id": call.id,
                "content": json.dumps(lookup_order(**call.input)),  # type: ignore[arg-type]
            }
            for call in calls
        ]
        messages.append({"role": "user", "content": results})
    return "Sorry, I could not finish that.", response.model


def run(server: FakeModelServer) -> list[tuple[str, str]]:
    """Answer every ticket; the replies, with the model that gave each."""
    replies = []
    with server.anthropic_client() as client:
        for ticket, behaviours in TICKETS:
            server.script(*behaviours)
            replies.append(handle(client, ticket))
    return replies


def main() -> int:
    agenttrace.configure(service_name="anthropic-agent", console=True)
    anthropic_integration.instrument()
    with FakeModelServer() as server:
        replies = run(server)
    for (ticket, _), (reply, model) in zip(TICKETS, replies, strict=True):
        print(f"{ticket}\n  -> [{model}] {reply[:70]}")
    delivered = agenttrace.shutdown()
    return 0 if delivered else 1


if __name__ == "__main__":
    sys.exit(main())
