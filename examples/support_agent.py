"""A support agent over 300 tickets, with declared failure modes, retries, fallbacks and hand-offs.

Each ticket is classified by the model (as JSON, validated by a pydantic model), looked up
in the order system when it names an order, and answered by the model. The ways this goes
wrong are declared on the operations, and agenttrace runs the handling:

- ``classify``: a label below 0.7 confidence is ``low_confidence`` (fall back to keyword
  rules, then to the ``triage-queue`` people); a reply that is not a valid label is
  ``invalid_output`` (ask the model once more, then go down the same fallbacks);
- ``answer``: a refusal is ``refused`` (escalate to the ``support-escalations`` people);
- ``lookup_order`` declares nothing: an unknown order id raises ``KeyError``, which the
  agent catches and answers with an apology.

The model is the local fake OpenAI-compatible server of ``fake_model.py``, called through
the real ``openai`` client, so this runs offline; each generated ticket ends with a
directive telling the fake model how to misbehave on it. Spans go to
``.agenttrace/traces.jsonl`` (or to ``OTEL_EXPORTER_OTLP_ENDPOINT`` when set), and
agenttrace's failure, retry, fallback, escalation and outcome events, which it logs with
structlog, go to ``.agenttrace/events.jsonl`` as JSON lines. At the end, ``agenttrace
report`` prints this run's reliability report, read back from the trace files, and writes it
as an HTML page to ``.agenttrace/support-agent-report.html`` (it needs the ``cli`` extra,
which the ``examples`` extra includes).

    python examples/support_agent.py
"""

from __future__ import annotations

import random
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

import structlog
from fake_model import FakeModelServer
from pydantic import BaseModel, Field, ValidationError

import agenttrace as at
from agenttrace.cli import main as agenttrace_command
from agenttrace.integrations import openai as openai_integration

if TYPE_CHECKING:
    from openai import OpenAI

TICKETS = 300
SEED = 7
MODEL = "gpt-4o-mini"
CONFIDENT = 0.7
"""Below this, a label is wrong too often to act on."""

Category = Literal["billing", "order_status", "technical", "account", "general", "needs_human"]


class Label(BaseModel):
    """What ``classify`` decides about a ticket."""

    label: Category
    confidence: float = Field(ge=0.0, le=1.0)
    source: Literal["model", "rules", "human"] = "model"


@dataclass(frozen=True)
class Ticket:
    """A customer's message."""

    id: str
    text: str


@dataclass(frozen=True)
class Reply:
    """What the agent sends back, with the trace that shows how it was made."""

    ticket_id: str
    text: str
    trace_id: str


# --- the order system ---------------------------------------------------------------------

ORDERS: dict[str, dict[str, str]] = {
    f"A-{number}": {"status": ("processing", "shipped", "delivered")[number % 3]}
    for number in range(1000, 1100)
}
ORDER_ID = re.compile(r"\bA-\d{4}\b")


@at.tool
def lookup_order(order_id: str) -> dict[str, str]:
    """Find an order by its id."""
    # No failure mode is declared: an unknown id is the caller's to handle, so the KeyError
    # leaves the tool as it is and its span says failed.
    return dict(ORDERS[order_id])


# --- model calls ----------------------------------------------------------------------------

CLASSIFY_PROMPT = (
    "Classify the customer's support ticket as one of billing, order_status, technical, "
    'account or general. Reply with JSON only: {"label": ..., "confidence": 0..1}.'
)


@at.model_call(provider="openai", model=MODEL)
def complete_label(client: OpenAI, ticket: Ticket) -> str:
    """Ask the model for a label, in JSON mode."""
    response = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": CLASSIFY_PROMPT},
            {"role": "user", "content": f"Ticket {ticket.id}: {ticket.text}"},
        ],
        response_format={"type": "json_object"},
        temperature=0,
    )
    return response.choices[0].message.content or ""


@at.model_call(provider="openai", model=MODEL)
def complete_answer(
    client: OpenAI, ticket: Ticket, label: Label, order: dict[str, str] | None
) -> str:
    """Ask the model to answer the ticket."""
    context = f"Category: {label.label}. Order: {order or 'none'}."
    response = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": f"You are a support agent. {context}"},
            {"role": "user", "content": f"Ticket {ticket.id}: {ticket.text}"},
        ],
        temperature=0.2,
    )
    return response.choices[0].message.content or ""


# --- classify: model, then keyword rules, then people ---------------------------------------


def is_unsure(label: Label) -> bool:
    """Whether a label is too unsure to act on."""
    return label.confidence < CONFIDENT


LOW_CONFIDENCE = at.FailureMode(
    "low_confidence",
    when=is_unsure,
    handling="fallback",
    description="the classifier is unsure; try the keyword rules, then a person",
)
INVALID_OUTPUT = at.FailureMode(
    "invalid_output",
    on=(ValidationError,),
    handling="retry",
    description="the model's reply is not a valid label; ask once more, then fall back",
)

# Whole words only, so that an order id or a quoted label never counts as a keyword.
RULES: dict[Category, re.Pattern[str]] = {
    "billing": re.compile(r"\b(charged|refund|invoice|payment)\b"),
    "order_status": re.compile(r"\b(parcel|delivery|tracking|shipped|arrived)\b"),
    "technical": re.compile(r"\b(crash(es)?|error|bug)\b"),
    "account": re.compile(r"\b(password|login|locked)\b"),
}


def keyword_rules(client: OpenAI, ticket: Ticket) -> Label:
    """Classify by keywords: confident only when exactly one category's words appear.

    A fallback of ``classify``, so it takes the same arguments (the client goes unused).
    """
    text = ticket.text.lower()
    hits = [category for category, words in RULES.items() if words.search(text)]
    if len(hits) == 1:
        return Label(label=hits[0], confidence=0.8, source="rules")
    return Label(label=hits[0] if hits else "general", confidence=0.3, source="rules")


def to_triage(escalation: at.Escalation, client: OpenAI, ticket: Ticket) -> Label:
    """Put the ticket in the triage queue; people label it from there.

    A real hand-off would create a task carrying ``escalation.trace_id``, so whoever picks
    it up can open the trace that shows why it came to them.
    """
    # Certain, in the sense that matters to the agent: it must not answer this ticket.
    return Label(label="needs_human", confidence=1.0, source="human")


@at.step(
    failure_modes=[LOW_CONFIDENCE, INVALID_OUTPUT],
    retry=at.Retry(attempts=2),
    fallbacks=[keyword_rules, at.human("triage-queue", handoff=to_triage)],
)
def classify(client: OpenAI, ticket: Ticket) -> Label:
    """Label a ticket with the model; a malformed reply raises ValidationError."""
    return Label.model_validate_json(complete_label(client, ticket))


# --- answer: the model, or people when it refuses -------------------------------------------

REFUSALS = ("i can't help", "i cannot help", "i'm unable to help")


def is_refusal(text: str) -> bool:
    """Whether the model declined to answer."""
    lowered = text.lower()
    return any(phrase in lowered for phrase in REFUSALS)


REFUSED = at.FailureMode(
    "refused",
    when=is_refusal,
    handling="escalate",
    description="the model refused to answer; a support agent takes over",
)


def hand_to_support(
    escalation: at.Escalation,
    client: OpenAI,
    ticket: Ticket,
    label: Label,
    order: dict[str, str] | None,
) -> str:
    """Queue the ticket for a support agent, and tell the customer so."""
    reference = (escalation.trace_id or "")[:8]
    return f"Thanks for your patience: a support agent will get back to you (ref {reference})."


@at.step(
    failure_modes=[REFUSED], fallbacks=[at.human("support-escalations", handoff=hand_to_support)]
)
def answer(client: OpenAI, ticket: Ticket, label: Label, order: dict[str, str] | None) -> str:
    """Write the reply to a classified ticket."""
    return complete_answer(client, ticket, label, order)


# --- the agent ------------------------------------------------------------------------------

TRIAGED = "Thanks: your ticket is with our team, and someone will reply shortly."


@at.agent("support-bot")
def handle(client: OpenAI, ticket: Ticket) -> Reply:
    """Classify a ticket, look up the order it names, and answer it."""
    trace_id = at.current().trace_id
    label = classify(client, ticket)
    if label.label == "needs_human":
        return Reply(ticket.id, TRIAGED, trace_id)
    order = None
    found = ORDER_ID.search(ticket.text)
    if found is not None and label.label in ("billing", "order_status"):
        try:
            order = lookup_order(found.group())
        except KeyError:
            text = f"Sorry, we cannot find order {found.group()}; please check the number."
            return Reply(ticket.id, text, trace_id)
    return Reply(ticket.id, answer(client, ticket, label, order), trace_id)


# --- the tickets ----------------------------------------------------------------------------

TEMPLATES: dict[str, tuple[str, ...]] = {
    "billing": (
        "I was charged twice for order {order}, please refund one payment.",
        "The invoice for order {order} shows the wrong amount.",
        "Can I get a refund for order {order}? It was a gift nobody wanted.",
    ),
    "order_status": (
        "Where is my parcel? Order {order} has not arrived yet.",
        "The tracking page for order {order} has not changed in a week.",
        "Order {order} was shipped to my old delivery address.",
    ),
    "technical": (
        "The app crashes when I open the settings page.",
        "I get an error every time I upload a photo.",
        "Search shows nothing since yesterday: looks like a bug.",
    ),
    "account": (
        "I forgot my password and the reset link has expired.",
        "My login stopped working after I changed my email address.",
        "I am locked out after too many attempts.",
    ),
}
VAGUE = (
    "Hi, something is not right, can someone look into it?",
    "Hello, I have a question about the thing from last week.",
    "Not happy. Please call me back.",
)

# How many tickets script each misbehaviour of the fake model; the rest go smoothly.
SCENARIOS: dict[str, int] = {
    "garbled-once": 20,  # malformed JSON, then a valid label: classify recovered
    "garbled": 5,  # malformed JSON twice: retries spent, the keyword rules serve
    "unsure": 25,  # low confidence, clear keywords: the rules serve (degraded)
    "unsure-vague": 15,  # low confidence, no keywords: the triage queue serves (escalated)
    "refuse": 20,  # the model refuses to answer: escalated to support
    "unknown-order": 10,  # an order id the order system does not know: the tool fails
}


def make_ticket(rng: random.Random, number: int, scenario: str) -> Ticket:
    """One ticket of ``scenario``, ending with the fake model's directive for it."""
    if scenario == "unsure-vague":
        text, directive = rng.choice(VAGUE), "label=general confidence=0.41"
    elif scenario == "unknown-order":
        template = rng.choice(TEMPLATES["order_status"])
        text = template.format(order=f"A-{rng.randrange(9000, 10000)}")
        directive = "label=order_status"
    else:
        category = rng.choice(sorted(TEMPLATES))
        text = rng.choice(TEMPLATES[category]).format(order=rng.choice(sorted(ORDERS)))
        extra = {"normal": "", "unsure": "confidence=0.52"}.get(scenario, scenario)
        directive = f"label={category} {extra}".strip()
    return Ticket(f"T-{number:04d}", f"{text} [fake-model: {directive}]")


def make_tickets(rng: random.Random, count: int) -> list[Ticket]:
    """``count`` tickets: every scenario as often as planned, in a shuffled order."""
    plan = [name for name, times in SCENARIOS.items() for _ in range(times)]
    plan += ["normal"] * (count - len(plan))
    rng.shuffle(plan)
    return [make_ticket(rng, number, scenario) for number, scenario in enumerate(plan, 1)]


# --- the run --------------------------------------------------------------------------------


def log_to(events: TextIO) -> None:
    """Send structlog's events, agenttrace's included, to ``events`` as JSON lines.

    structlog prints to stdout by default, and 300 tickets' worth of failure events would
    bury the summary.
    """
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.WriteLoggerFactory(file=events),
    )


def main() -> int:
    started = time.perf_counter()
    began = datetime.now(timezone.utc)
    at.configure(service_name="support-agent")
    # The model calls' spans get what the client saw: the model that answered, the tokens.
    openai_integration.instrument()
    destination = at.stats().destination
    local = destination.startswith("file ")
    trace_file = Path(destination.removeprefix("file "))
    events_file = (trace_file.parent if local else Path(".agenttrace").resolve()) / "events.jsonl"
    events_file.parent.mkdir(parents=True, exist_ok=True)

    with events_file.open("a", encoding="utf-8") as events:
        log_to(events)
        tickets = make_tickets(random.Random(SEED), TICKETS)
        with FakeModelServer() as server:
            client = server.client()
            replies = [handle(client, ticket) for ticket in tickets]
        openai_integration.uninstrument()
        delivered = at.shutdown()
        structlog.reset_defaults()
    exported = at.stats().spans_exported
    print(f"support-bot answered {len(replies)} tickets in {time.perf_counter() - started:.2f} s")
    if not delivered:
        print("agenttrace.shutdown() could not deliver every span", file=sys.stderr)

    if not local:
        print(f"{exported} spans sent to {destination}")
        print(f"agenttrace's events logged as JSON lines to {events_file}")
        return 0 if delivered else 1
    print(f"{exported} spans written to {trace_file}")
    print(
        "failure, retry, fallback, escalation and outcome events logged as JSON lines "
        f"to {events_file}"
    )
    # The reliability report of this run: the trace directory may hold earlier runs (and
    # rotated files), so keep the operations that started since this one began.
    print()
    html = trace_file.parent / "support-agent-report.html"
    since = ["--since", began.isoformat()]
    status = agenttrace_command(["report", str(trace_file.parent), *since, "--html", str(html)])
    return status if delivered else 1


if __name__ == "__main__":
    sys.exit(main())
