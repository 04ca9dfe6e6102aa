"""Span names, kinds and attributes follow the GenAI conventions, plus agenttrace's keys."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import agenttrace
from agenttrace import _semconv as sc
from tests.conftest import Recorder


def test_agent_span(recorder: Recorder) -> None:
    """An agent is an INTERNAL ``invoke_agent {name}`` span with gen_ai.agent.name."""

    @agenttrace.agent("support-bot", description="Answers tickets")
    def handle(ticket: str) -> str:
        return "ok " + ticket

    handle("T-1")

    span = recorder.one("invoke_agent support-bot")
    assert span.kind == SpanKind.INTERNAL
    assert {
        sc.KIND: "agent",
        sc.OPERATION: "support-bot",
        sc.OUTCOME: "ok",
        sc.GEN_AI_OPERATION_NAME: "invoke_agent",
        sc.GEN_AI_AGENT_NAME: "support-bot",
        sc.GEN_AI_AGENT_DESCRIPTION: "Answers tickets",
        sc.CODE_FUNCTION_NAME: f"{__name__}.test_agent_span.<locals>.handle",
    } == dict(span.attributes or {})
    assert span.status.status_code == StatusCode.UNSET


def test_step_span(recorder: Recorder) -> None:
    """A step is a span named after the step, with agenttrace.kind=step and no gen_ai keys."""

    @agenttrace.step
    def classify(ticket: str) -> str:
        return "billing"

    classify("T-1")

    attributes = dict(recorder.one("classify").attributes or {})
    assert attributes[sc.KIND] == "step"
    assert attributes[sc.OUTCOME] == "ok"
    assert not [key for key in attributes if key.startswith("gen_ai.")]


def test_tool_span(recorder: Recorder) -> None:
    """A tool is ``execute_tool {name}`` with gen_ai.tool.name, type and docstring description."""

    @agenttrace.tool
    def lookup_order(order_id: str) -> dict[str, str]:
        """Find an order by id.

        More text that is not the description.
        """
        return {"id": order_id}

    lookup_order("A1")

    attributes = dict(recorder.one("execute_tool lookup_order").attributes or {})
    assert {
        sc.GEN_AI_OPERATION_NAME: "execute_tool",
        sc.GEN_AI_TOOL_NAME: "lookup_order",
        sc.GEN_AI_TOOL_TYPE: "function",
        sc.GEN_AI_TOOL_DESCRIPTION: "Find an order by id.",
        sc.KIND: "tool",
    }.items() <= attributes.items()


def test_model_call_span(recorder: Recorder) -> None:
    """A model call is a CLIENT ``chat {model}`` span with operation, provider and model."""

    @agenttrace.model_call(provider="openai", model="gpt-4o-mini")
    def complete(prompt: str) -> str:
        return "hi"

    complete("hello")

    span = recorder.one("chat gpt-4o-mini")
    assert span.kind == SpanKind.CLIENT
    assert {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        sc.KIND: "model_call",
        sc.OPERATION: "complete",
    }.items() <= dict(span.attributes or {}).items()


def test_model_call_takes_the_model_from_the_call(recorder: Recorder) -> None:
    """Without a declared model, a string ``model=`` argument names the span and the model."""

    @agenttrace.model_call(provider="anthropic", operation="text_completion")
    def complete(prompt: str, *, model: str) -> str:
        return prompt

    complete("a", model="claude-sonnet-4")
    complete("b", model="claude-haiku-4")

    assert recorder.names() == ["text_completion claude-sonnet-4", "text_completion claude-haiku-4"]
    assert recorder.spans[1].attributes[sc.GEN_AI_REQUEST_MODEL] == "claude-haiku-4"  # type: ignore[index]


def test_model_call_without_any_model_is_named_by_its_operation(recorder: Recorder) -> None:
    """No model at all: the span is named ``chat`` and the provider defaults to _OTHER."""

    @agenttrace.model_call
    def complete(prompt: str) -> str:
        return prompt

    complete("a")

    assert recorder.one("chat").attributes[sc.GEN_AI_PROVIDER_NAME] == "_OTHER"  # type: ignore[index]


def test_static_attributes_are_added_but_cannot_override_ours(recorder: Recorder) -> None:
    """User attributes appear on the span; agenttrace's own keys keep their values."""

    @agenttrace.step("plan", attributes={"team": "search", sc.KIND: "hijack", "weights": [1, 2]})
    def plan() -> None:
        return None

    plan()

    attributes = recorder.one("plan").attributes or {}
    assert (
        attributes["team"],
        attributes[sc.KIND],
        attributes["weights"],
    ) == ("search", "step", (1, 2))


def test_nested_operations_are_parent_and_child(recorder: Recorder) -> None:
    """An operation called inside another is its child, in the same trace."""

    @agenttrace.tool
    def search(q: str) -> list[str]:
        return [q]

    @agenttrace.step
    def retrieve(q: str) -> list[str]:
        return search(q)

    @agenttrace.agent("bot")
    def run(q: str) -> list[str]:
        return retrieve(q)

    run("x")

    tool, step_, agent_ = (
        recorder.one("execute_tool search"),
        recorder.one("retrieve"),
        recorder.one("invoke_agent bot"),
    )
    assert agent_.parent is None
    assert step_.parent is not None and agent_.context.span_id == step_.parent.span_id
    assert tool.parent is not None and step_.context.span_id == tool.parent.span_id
    assert {agent_.context.trace_id} == {s.context.trace_id for s in recorder.spans}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: agenttrace.step(""), "non-empty string"),
        (lambda: agenttrace.step("x", capture="yes"), "capture must be"),  # type: ignore[call-overload]
        (lambda: agenttrace.step("x", attributes={"k": object()}), "attribute 'k'"),
        (lambda: agenttrace.step("x", attributes={1: "v"}), "keys must be non-empty strings"),  # type: ignore[dict-item]
        (lambda: agenttrace.model_call(provider=""), "provider must be"),
        (lambda: agenttrace.tool(description=3), "description must be"),  # type: ignore[call-overload]
        (lambda: agenttrace.span("x", kind="workflow"), "unknown operation kind 'workflow'"),
        (lambda: agenttrace.span("x", kind="step", model="gpt-4o"), "model_call only"),
        (lambda: agenttrace.step(42), "decorates a function"),  # type: ignore[call-overload]
        (lambda: agenttrace.tool(type("Widget", (), {})), "not type"),
    ],
)
def test_misuse_is_reported_when_the_decorator_is_applied(make: object, message: str) -> None:
    """Bad options raise a clear TypeError/ValueError at decoration, not at call time."""
    with pytest.raises((TypeError, ValueError), match=message):
        make()  # type: ignore[operator]
