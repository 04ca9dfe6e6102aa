"""Usage that must type-check under mypy --strict: decorated callables keep their types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import agenttrace


@agenttrace.step
def bare(x: int, *, name: str = "n") -> str:
    return f"{name}{x}"


@agenttrace.tool("lookup", description="Find a thing")
def called(key: str) -> dict[str, int]:
    return {key: 1}


@agenttrace.agent
async def run(question: str) -> list[str]:
    return [question]


@agenttrace.model_call(provider="openai", model="gpt-4o-mini")
def complete(prompt: str) -> str:
    return prompt


@agenttrace.step
def count(n: int) -> Iterator[int]:
    yield from range(n)


@agenttrace.step
async def acount(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


LOW = agenttrace.FailureMode("low_confidence", when=lambda v: v < 0.5, handling="fallback")
BAD = agenttrace.FailureMode("invalid_output", on=(ValueError,), handling="retry")


def rules(ticket: str) -> float:
    return 0.9


def to_human(escalation: agenttrace.Escalation, ticket: str) -> float:
    return 1.0


@agenttrace.step(
    failure_modes=[LOW, BAD],
    retry=agenttrace.Retry(attempts=2, backoff=0.1),
    fallbacks=[rules, agenttrace.human("triage", handoff=to_human)],
)
def classify(ticket: str) -> float:
    if not ticket:
        raise agenttrace.Failure(LOW, confidence=0.1)
    agenttrace.current().record_failure("low_confidence", confidence=0.4)
    return 0.5


async def use() -> None:
    text: str = bare(1, name="x")
    mapping: dict[str, int] = called("k")
    answers: list[str] = await run("q")
    reply: str = complete("hello")
    numbers: list[int] = list(count(3))
    more: list[int] = [i async for i in acount(3)]
    with agenttrace.span("block", kind="tool") as operation:
        operation.set_attribute("k", [1, 2])
        operation.add_event("e", {"n": 1})
    current: agenttrace.Operation = agenttrace.current()
    bound = agenttrace.bind(bare)
    also: str = bound(2)
    total: int = agenttrace.stats().internal_errors_total
    confidence: float = classify("t")
    modes: list[str] = [m.name for c in agenttrace.contracts() for m in c.failure_modes]
    outcome: str = agenttrace.Outcome.DEGRADED.value
    del text, mapping, answers, reply, numbers, more, current, also, total, confidence, modes
    del outcome
