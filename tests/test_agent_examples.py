"""The OpenAI and Anthropic agent examples: a tool turn, and two misbehaviours caught."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from agenttrace import _semconv as sc
from agenttrace.integrations import anthropic as anthropic_integration
from agenttrace.integrations import openai as openai_integration
from tests.conftest import Recorder

EXAMPLES = Path(__file__).parent.parent / "examples"


def example(name: str) -> ModuleType:
    """Import an example the way it runs: with ``examples/`` on the path."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["openai_agent", "anthropic_agent"])
def agent(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    openai_integration.instrument()
    anthropic_integration.instrument()
    yield example(request.param)
    openai_integration.uninstrument()
    anthropic_integration.uninstrument()


def ours(recorder: Recorder, kind: str) -> list[ReadableSpan]:
    return [s for s in recorder.spans if (s.attributes or {}).get(sc.KIND) == kind]


def test_the_agent_uses_its_tool_and_falls_back_on_each_misbehaviour(
    recorder: Recorder, agent: ModuleType
) -> None:
    with agent.FakeModelServer() as server:
        replies = agent.run(server)

    assert [model for _, model in replies] == [
        f"{agent.MODEL}-2024-07-18" if agent.MODEL.startswith("gpt") else agent.MODEL,
        *[f"{agent.BACKUP}-2024-07-18" if agent.BACKUP.startswith("gpt") else agent.BACKUP] * 2,
    ]
    # One model-call span per decorated call: the client calls add to it, none of their own.
    calls = ours(recorder, "model_call")
    assert [s.attributes[sc.OPERATION] for s in calls] == ["answer"] * 4  # type: ignore[index]
    assert len(ours(recorder, "tool")) == 1
    first, after_tool, substituted, truncated = sorted(calls, key=lambda s: s.start_time or 0)
    assert first.attributes[sc.TOOL_CALLS] == ("lookup_order",)  # type: ignore[index]
    assert first.attributes[sc.OUTCOME] == "ok"  # type: ignore[index]
    assert after_tool.attributes[sc.OUTCOME] == "ok"  # type: ignore[index]
    for span, mode in ((substituted, "model_substituted"), (truncated, "truncated")):
        got = dict(span.attributes or {})
        events = [e for e in span.events if e.name == sc.FAILURE_EVENT]
        assert [e.attributes[sc.FAILURE_MODE] for e in events] == [mode]  # type: ignore[index]
        assert (got[sc.OUTCOME], got[sc.SERVED_BY]) == ("degraded", "answer_with_backup")
        assert got[sc.GEN_AI_REQUEST_MODEL] == agent.MODEL
        assert isinstance(got[sc.GEN_AI_USAGE_OUTPUT_TOKENS], int)
    assert recorder.names().count("fallback answer_with_backup") == 2


@pytest.mark.parametrize("name", ["openai_agent", "anthropic_agent"])
def test_the_example_runs_as_a_script(tmp_path: Path, name: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("  -> [") == 3
    assert result.stderr.count("served by: answer_with_backup") == 2
    assert "failure: model_substituted" in result.stderr
    assert "failure: truncated" in result.stderr
