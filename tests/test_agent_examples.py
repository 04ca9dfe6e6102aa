"""The OpenAI and Anthropic agent examples: a tool turn, and two misbehaviours each served by a
fallback, recorded as one span per model call."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from agenttrace import _config
from agenttrace import _semconv as sc
from agenttrace.integrations import anthropic as anthropic_integration
from agenttrace.integrations import openai as openai_integration
from tests.conftest import Recorder

EXAMPLES = Path(__file__).parents[1] / "examples"
INTEGRATIONS = {"openai_agent": openai_integration, "anthropic_agent": anthropic_integration}
ANSWERED_BY = {
    "openai_agent": ("gpt-4o-2024-07-18", "gpt-4o-mini-2024-07-18"),
    "anthropic_agent": ("claude-haiku-4-5", "claude-opus-4-7"),
}
"""Each example's first choice and backup, as the fake model's responses name them."""
FALLBACK = "answer_with_backup"


@pytest.fixture(params=sorted(INTEGRATIONS))
def agent(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """An example, imported as it runs (``examples/`` on the path), its client instrumented."""
    name: str = request.param
    monkeypatch.syspath_prepend(str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered while it runs, as a script is: its dataclasses look their module up.
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    INTEGRATIONS[name].instrument()
    yield module
    INTEGRATIONS[name].uninstrument()


def run(agent: ModuleType, recorder: Recorder) -> tuple[list[Any], list[ReadableSpan]]:
    """The example's replies to its tickets, and the spans they made, in the order they began."""
    with agent.FakeModelServer() as server:
        replies = agent.run(server)
    return replies, sorted(recorder.spans, key=lambda span: span.start_time or 0)


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def model_calls(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [span for span in spans if attributes(span).get(sc.KIND) == "model_call"]


def failures(span: ReadableSpan) -> list[Any]:
    """The modes of the span's failure events."""
    return [
        (e.attributes or {}).get(sc.FAILURE_MODE) for e in span.events if e.name == sc.FAILURE_EVENT
    ]


def test_each_model_call_is_one_span(recorder: Recorder, agent: ModuleType) -> None:
    """Four model calls, four model-call spans: the instrumented client calls, the fallback's
    included, add to the decorated call's span and make none of their own."""
    _, spans = run(agent, recorder)

    names = {s.context.span_id: s.name for s in spans if s.context is not None}
    tree = [(s.name, names[s.parent.span_id] if s.parent else None) for s in spans]
    run_agent, chat = "invoke_agent order-agent", f"chat {agent.MODEL}"
    fallback = f"fallback {FALLBACK}"
    assert tree == [
        (run_agent, None),
        (chat, run_agent),
        ("execute_tool lookup_order", run_agent),
        (chat, run_agent),
        *[(run_agent, None), (chat, run_agent), (fallback, chat)] * 2,
    ]


def test_the_tool_turn(recorder: Recorder, agent: ModuleType) -> None:
    """The model asks for lookup_order, the tool runs, and the next model call answers."""
    replies, spans = run(agent, recorder)

    asked, answered = (attributes(span) for span in model_calls(spans)[:2])
    tool = next(s for s in spans if s.name == "execute_tool lookup_order")
    first_choice, _ = ANSWERED_BY[agent.__name__]
    assert (asked[sc.TOOL_CALLS], attributes(tool)[sc.OUTCOME]) == (("lookup_order",), "ok")
    assert [(a[sc.OUTCOME], a[sc.GEN_AI_RESPONSE_MODEL]) for a in (asked, answered)] == [
        ("ok", first_choice),
        ("ok", first_choice),
    ]
    assert sc.TOOL_CALLS not in answered
    assert replies[0].model == first_choice


def test_each_misbehaviour_is_served_by_the_fallback(recorder: Recorder, agent: ModuleType) -> None:
    """The substituted model and the truncation are each a failure event on their model call,
    whose outcome is degraded, served by the fallback, with the backup model's response."""
    replies, spans = run(agent, recorder)

    _, backup = ANSWERED_BY[agent.__name__]
    calls = model_calls(spans)
    assert [failures(span) for span in calls] == [[], [], ["model_substituted"], ["truncated"]]
    for span in calls[2:]:
        got = attributes(span)
        assert (got[sc.OUTCOME], got[sc.SERVED_BY], got[sc.GEN_AI_RESPONSE_MODEL]) == (
            "degraded",
            FALLBACK,
            backup,
        )
    assert [(reply.model, reply.by_backup) for reply in replies[1:]] == [(backup, True)] * 2


def test_every_model_call_records_its_usage(recorder: Recorder, agent: ModuleType) -> None:
    """Each model-call span has the input and output token counts of its response."""
    _, spans = run(agent, recorder)

    usage = [
        (
            attributes(span)[sc.GEN_AI_USAGE_INPUT_TOKENS],
            attributes(span)[sc.GEN_AI_USAGE_OUTPUT_TOKENS],
        )
        for span in model_calls(spans)
    ]
    assert len(usage) == 4
    assert all(isinstance(n, int) and n > 0 for pair in usage for n in pair), usage


def test_main_prints_who_answered_each_ticket_and_writes_the_trace(
    agent: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """main() prints each ticket with its answer and the model that gave it, naming the
    fallback where one served, and writes the run to the local trace file."""
    for variable in list(os.environ):
        if variable.startswith(("OTEL_", "AGENTTRACE_")):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("AGENTTRACE_STRICT", "true")
    monkeypatch.chdir(tmp_path)
    # The process's global tracer provider stays as it is, for the tests that follow.
    monkeypatch.setattr(_config._state, "set_global", False)
    try:
        code = agent.main()
    finally:
        _config.reset()

    first_choice, backup = ANSWERED_BY[agent.__name__]
    summary = capsys.readouterr().out.splitlines()[-9:]
    assert code == 0
    assert summary[0::3] == [ticket for ticket, _ in agent.TICKETS]
    assert all(line.startswith("  Thanks for reaching out.") for line in summary[1::3]), summary
    assert summary[2::3] == [
        f"  answered by {first_choice}",
        f"  answered by {backup} (fallback {FALLBACK})",
        f"  answered by {backup} (fallback {FALLBACK})",
    ]
    written = [
        {item["key"]: next(iter(item["value"].values())) for item in span["attributes"]}
        for line in (tmp_path / ".agenttrace" / "traces.jsonl").read_text().splitlines()
        for resource in json.loads(line)["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    calls = [a for a in written if a.get(sc.KIND) == "model_call"]
    assert sorted((a[sc.OUTCOME], a.get(sc.SERVED_BY)) for a in calls) == [
        ("degraded", FALLBACK),
        ("degraded", FALLBACK),
        ("ok", None),
        ("ok", None),
    ]
