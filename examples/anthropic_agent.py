"""An order-support agent on the ``anthropic`` client, recorded by agenttrace's integration.

The agent answers three tickets. The first needs a tool: the model asks for
``lookup_order``, the agent runs it and sends the result back, and the model answers. On the
second the provider answers with another model than the one asked for; on the third the
answer stops at ``max_tokens``. agenttrace's detectors catch both (``model_substituted`` and
``truncated``), and the handling declared on the model call sends each to a fallback: a
larger model, with room to finish.

The model is the local fake server (``fake_model.py``), scripted to misbehave on cue and
called through the real ``anthropic`` client, so this runs offline. Spans go to
``.agenttrace/traces.jsonl``, each run is printed as a tree on stderr, and a summary of the
replies on stdout. Recent ``anthropic`` versions also make a span of their own for each API
call, shown under the model call; ``open_telemetry=False`` on the client turns it off.

    python examples/anthropic_agent.py
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fake_model import FakeModelServer

import agenttrace
from agenttrace.integrations import anthropic as anthropic_integration

if TYPE_CHECKING:
    from anthropic import Anthropic
    from anthropic.types import Message, ToolParam

MODEL = "claude-haiku-4-5"
BACKUP = "claude-opus-4-7"
SYSTEM = "You are an order-support agent. Look orders up before you answer."
ORDERS = {"A-1001": {"status": "shipped", "carrier": "DHL", "eta": "2 days"}}
LOOKUP_ORDER: ToolParam = {
    "name": "lookup_order",
    "description": "Find an order by its id.",
    "input_schema": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    },
}
# Each ticket, with how the fake model behaves on the requests it causes, in order.
TICKETS = [
    ("Where is my order A-1001?", ['tool=lookup_order args={"order_id":"A-1001"}', "ok"]),
    ("Can I change my delivery address?", ["model=claude-3-haiku-20240307", "ok"]),
    ("Explain your refund policy in detail.", ["truncated", "ok"]),
]


@dataclass(frozen=True)
class Reply:
    """The agent's answer to a ticket, and the model that wrote it."""

    text: str
    model: str

    @property
    def by_backup(self) -> bool:
        return self.model == BACKUP


@agenttrace.tool
def lookup_order(order_id: str) -> dict[str, str]:
    """Find an order by its id."""
    return ORDERS.get(order_id, {"status": "unknown"})


def answer_with_backup(client: Anthropic, messages: list[dict[str, Any]]) -> Message:
    """The fallback: a larger model, with room to finish."""
    # Same tools as the first choice: a conversation holding tool_use blocks needs them.
    return client.messages.create(
        model=BACKUP,
        system=SYSTEM,
        messages=messages,  # type: ignore[arg-type]
        tools=[LOOKUP_ORDER],
        max_tokens=400,
    )


@agenttrace.model_call(
    "answer",
    provider="anthropic",
    # Both detectors are built in and only recorded by default; declared here, they fall back.
    failure_modes=[
        agenttrace.FailureMode("model_substituted", handling="fallback"),
        agenttrace.FailureMode("truncated", handling="fallback"),
    ],
    fallbacks=[answer_with_backup],
)
def answer(client: Anthropic, messages: list[dict[str, Any]]) -> Message:
    # Instrumented, this client call adds its request and response to the span of `answer`
    # (and its detectors judge the response), so each model call is one span, not two.
    return client.messages.create(
        model=MODEL,
        system=SYSTEM,
        messages=messages,  # type: ignore[arg-type]
        tools=[LOOKUP_ORDER],
        max_tokens=60,
    )


@agenttrace.agent("order-agent")
def handle(client: Anthropic, ticket: str) -> Reply:
    """Answer a ticket, running the tools the model asks for."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": ticket}]
    for _ in range(4):  # a model that keeps asking for tools must not loop forever
        response = answer(client, messages)
        calls = [block for block in response.content if block.type == "tool_use"]
        if not calls:
            text = "".join(block.text for block in response.content if block.type == "text")
            return Reply(text, response.model)
        messages.append({"role": "assistant", "content": response.content})
        results = [
            {
                "type": "tool_result",
                "tool_use_id": call.id,
                "content": json.dumps(lookup_order(**call.input)),  # type: ignore[arg-type]
            }
            for call in calls
        ]
        messages.append({"role": "user", "content": results})
    return Reply("Sorry, I could not finish that; a colleague will follow up.", response.model)


def run(server: FakeModelServer) -> list[Reply]:
    """Answer every ticket, scripting the fake model's behaviour for each."""
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
    for (ticket, _), reply in zip(TICKETS, replies, strict=True):
        fallback = f" (fallback {answer_with_backup.__name__})" if reply.by_backup else ""
        print(f"{ticket}\n  {reply.text}\n  answered by {reply.model}{fallback}")
    delivered = agenttrace.shutdown()
    return 0 if delivered else 1


if __name__ == "__main__":
    sys.exit(main())
