"""Failure handling composes up the tree: a child's unrecovered declared failure is handled
by the nearest enclosing operation that declares a mode of the same name."""

from __future__ import annotations

from typing import Any

import pytest

import agenttrace
from agenttrace import _semconv as sc
from tests.conftest import Recorder

TIMEOUT = agenttrace.FailureMode("timeout", on=(TimeoutError,))  # abort: declared, not handled


def failures(recorder: Recorder, name: str) -> list[dict[str, Any]]:
    return [
        dict(event.attributes or {})
        for event in recorder.one(name).events
        if event.name == sc.FAILURE_EVENT
    ]


def test_a_tool_timeout_is_handled_by_the_step_that_declares_it(recorder: Recorder) -> None:
    """The tool aborts with its declared timeout (the very TimeoutError); the step declares
    timeout with a fallback and serves from it."""
    raised: list[TimeoutError] = []

    @agenttrace.tool(failure_modes=[TIMEOUT])
    def lookup(order: str) -> str:
        raised.append(TimeoutError("slow backend"))
        raise raised[-1]

    def cached(order: str) -> str:
        return "cached"

    caught: list[BaseException] = []

    @agenttrace.step(
        failure_modes=[agenttrace.FailureMode("timeout", handling="fallback")],
        fallbacks=[cached],
    )
    def status(order: str) -> str:
        try:
            return lookup(order)
        except TimeoutError as error:
            caught.append(error)
            raise

    assert status("A-1") == "cached"
    assert caught[0] is raised[0]  # the tool re-raised the object itself
    tool, step = recorder.one("execute_tool lookup"), recorder.one("status")
    assert ("failed", "degraded", "cached") == (
        tool.attributes[sc.OUTCOME],  # type: ignore[index]
        step.attributes[sc.OUTCOME],  # type: ignore[index]
        step.attributes[sc.SERVED_BY],  # type: ignore[index]
    )
    assert {"timeout": True} == {
        tool.attributes[sc.FAILURE_MODE]: tool.attributes[sc.FAILURE_DECLARED]  # type: ignore[index]
    }
    event = failures(recorder, "status")[0]
    assert ("timeout", True, "fallback", "propagated", "lookup") == (
        event[sc.FAILURE_MODE],
        event[sc.FAILURE_DECLARED],
        event[sc.FAILURE_HANDLING],
        event[sc.FAILURE_SOURCE],
        event[sc.FAILURE_ORIGIN],
    )


def test_a_value_failure_of_a_model_call_propagates_as_failure(recorder: Recorder) -> None:
    """A model call whose value is truncated (when=, abort) raises agenttrace.Failure with the
    value; the step declares truncated with retry and recovers."""
    replies = iter(["cut off", "complete answer"])
    truncated = agenttrace.FailureMode("truncated", when=lambda text: text == "cut off")

    @agenttrace.model_call(provider="openai", model="m", failure_modes=[truncated])
    def complete() -> str:
        return next(replies)

    seen: list[agenttrace.Failure] = []

    @agenttrace.step(
        failure_modes=[agenttrace.FailureMode("truncated", handling="retry")],
        retry=agenttrace.Retry(attempts=2),
    )
    def answer() -> str:
        try:
            return complete()
        except agenttrace.Failure as failure:
            seen.append(failure)
            raise

    assert answer() == "complete answer"
    assert ("truncated", "cut off", "complete") == (
        seen[0].mode,
        seen[0].value,
        seen[0].operation,
    )
    assert "recovered" == recorder.one("answer").attributes[sc.OUTCOME]  # type: ignore[index]


def test_across_tool_step_agent_the_nearest_declaring_operation_handles(
    recorder: Recorder,
) -> None:
    """tool → step → agent: the step does not declare the tool's mode (for it, a surprise:
    declared=false, re-raised), the agent does and falls back."""

    @agenttrace.tool(failure_modes=[TIMEOUT])
    def lookup() -> str:
        raise TimeoutError

    @agenttrace.step
    def gather() -> str:
        return lookup()

    def apologise() -> str:
        return "sorry"

    @agenttrace.agent(
        "bot",
        failure_modes=[agenttrace.FailureMode("timeout", handling="fallback")],
        fallbacks=[apologise],
    )
    def bot() -> str:
        return gather()

    assert bot() == "sorry"
    assert ["failed", "failed", "degraded"] == [
        (recorder.one(name).attributes or {})[sc.OUTCOME]
        for name in ("execute_tool lookup", "gather", "invoke_agent bot")
    ]
    step_event = failures(recorder, "gather")[0]
    assert ("timeout", False) == (step_event[sc.FAILURE_MODE], step_event[sc.FAILURE_DECLARED])
    agent_event = failures(recorder, "invoke_agent bot")[0]
    assert ("timeout", True, "propagated") == (
        agent_event[sc.FAILURE_MODE],
        agent_event[sc.FAILURE_DECLARED],
        agent_event[sc.FAILURE_SOURCE],
    )


def test_a_failure_nobody_declares_passes_through_untouched(recorder: Recorder) -> None:
    """A raised Failure of a mode no operation declares ends every operation failed, is the
    same object at the top, and names the operation it first left."""
    raised = agenttrace.Failure("mystery", code=7)

    @agenttrace.tool
    def lookup() -> str:
        raise raised

    @agenttrace.agent("bot")
    def bot() -> str:
        return lookup()

    with pytest.raises(agenttrace.Failure) as caught:
        bot()

    assert caught.value is raised
    assert "lookup" == raised.operation
    assert ["failed", "failed"] == [(s.attributes or {})[sc.OUTCOME] for s in recorder.spans]
    event = failures(recorder, "invoke_agent bot")[0]
    assert ("mystery", False, 7) == (
        event[sc.FAILURE_MODE],
        event[sc.FAILURE_DECLARED],
        event[sc.FAILURE_DETAIL_PREFIX + "code"],
    )


async def test_composition_works_across_async_operations(recorder: Recorder) -> None:
    """The same with coroutines: an async tool's timeout, an async step's async fallback."""

    @agenttrace.tool(failure_modes=[TIMEOUT])
    async def lookup() -> str:
        raise TimeoutError

    async def cached() -> str:
        return "cached"

    @agenttrace.step(
        failure_modes=[agenttrace.FailureMode("timeout", handling="fallback")],
        fallbacks=[cached],
    )
    async def status() -> str:
        return await lookup()

    assert await status() == "cached"
    assert "degraded" == recorder.one("status").attributes[sc.OUTCOME]  # type: ignore[index]


def test_a_decorated_fallback_is_its_own_operation_under_the_attempt(recorder: Recorder) -> None:
    """A fallback that is itself a decorated step: named by its operation name, traced as a
    child of the fallback attempt span."""

    @agenttrace.step("keyword-rules")
    def rules(ticket: str) -> str:
        return "rules"

    @agenttrace.step(
        failure_modes=[agenttrace.FailureMode("empty", when=lambda v: not v, handling="fallback")],
        fallbacks=[rules],
    )
    def classify(ticket: str) -> str:
        return ""

    assert classify("t") == "rules"
    attempt = recorder.one("fallback keyword-rules")
    inner = recorder.one("keyword-rules")
    assert inner.parent is not None and attempt.context is not None
    assert inner.parent.span_id == attempt.context.span_id
    assert "keyword-rules" == recorder.one("classify").attributes[sc.SERVED_BY]  # type: ignore[index]
