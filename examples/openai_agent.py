"""An order-support agent on the ``openai`` client, recorded by agenttrace's integration.

The agent answers three tickets. The first needs a tool: the model asks for
``lookup_order``, the agent runs it and sends the result back. On the second the provider
answers with another model than the one asked for; on the third the answer is cut off at
``max_tokens``. agenttrace's detectors catch both, and the model call's declared handling
sends each to a fallback: a larger model, with room to finish.

The model is the local fake server (``fake_model.py``), scripted to misbehave on cue and
called through the real ``openai`` client, so this runs offline. Spans go to
``.agenttrace/traces.jsonl`` and each run is printed as a tree.

    python examples/openai_agent.py
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from fake_model import FakeModelServer

import agenttrace
from agenttrace.integrations import openai as openai_integration

if TYPE_CHECKING:
    from openai import OpenAI
    from openai.types.chat import ChatCompletion

MODEL = "gpt-4o"
BACKUP = "gpt-4o-mini"
ORDERS = {"A-1001": {"status": "shipped", "carrier": "DHL", "eta": "2 days"}}
LOOKUP_ORDER = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Find an order by its id.",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
}
# Each ticket with how the fake model behaves on the requests it causes, in order.
TICKETS = [
    ("Where is my order A-1001?", ['tool=lookup_order args={"order_id":"A-1001"}', "ok"]),
    ("Can I change my delivery address?", ["model=gpt-3.5-turbo", "ok"]),
    ("Explain your refund policy in detail.", ["truncated", "ok"]),
]


@agenttrace.tool
def lookup_order(order_id: str) -> dict[str, str]:
    """Find an order by its id."""
    return ORDERS.get(order_id, {"status": "unknown"})


def answer_with_backup(client: OpenAI, messages: list[dict[str, Any]]) -> ChatCompletion:
    """The fallback: a larger model, with room to finish (and no tools: it answers in prose)."""
    return client.chat.completions.create(
        model=BACKUP,
        messages=messages,  # type: ignore[arg-type]
        max_tokens=400,
    )


@agenttrace.model_call(
    "answer",
    provider="openai",
    # Both detectors are built in and accepted by default; declared here, they fall back.
    failure_modes=[
        agenttrace.FailureMode("model_substituted", handling="fallback"),
        agenttrace.FailureMode("truncated", handling="fallback"),
    ],
    fallbacks=[answer_with_backup],
)
def answer(client: OpenAI, messages: list[dict[str, Any]]) -> ChatCompletion:
    # The instrumented client call adds its request and response to this span: one span.
    return client.chat.completions.create(
        model=MODEL,
        messages=messages,  # type: ignore[arg-type]
        tools=[LOOKUP_ORDER],  # type: ignore[list-item]
        max_tokens=60,
    )


@agenttrace.agent("order-agent")
def handle(client: OpenAI, ticket: str) -> tuple[str, str]:
    """Answer a ticket, running the tools the model asks for; the reply and its model."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are an order-support agent. Use the tools."},
        {"role": "user", "content": ticket},
    ]
    for _ in range(4):  # a bounded tool loop
        response = answer(client, messages)
        message = response.choices[0].message
        if not message.tool_calls:
            return message.content or "", response.model
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            result = lookup_order(**json.loads(call.function.arguments))  # type: ignore[union-attr]
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
            )
    return "Sorry, I could not finish that.", response.model


def run(server: FakeModelServer) -> list[tuple[str, str]]:
    """Answer every ticket; the replies, with the model that gave each."""
    replies = []
    with server.client() as client:
        for ticket, behaviours in TICKETS:
            server.script(*behaviours)
            replies.append(handle(client, ticket))
    return replies


def main() -> int:
    agenttrace.configure(service_name="openai-agent", console=True)
    openai_integration.instrument()
    with FakeModelServer() as server:
        replies = run(server)
    for (ticket, _), (reply, model) in zip(TICKETS, replies, strict=True):
        print(f"{ticket}\n  -> [{model}] {reply[:70]}")
    delivered = agenttrace.shutdown()
    return 0 if delivered else 1


if __name__ == "__main__":
    sys.exit(main())
