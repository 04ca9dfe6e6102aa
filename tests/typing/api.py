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
    del text, mapping, answers, reply, numbers, more, current, also, total
