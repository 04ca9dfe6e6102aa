"""The OpenAI and Anthropic integrations, driven through the real client libraries.

Every call goes to the local fake model server (``examples/fake_model.py``) on 127.0.0.1,
which answers in each vendor's wire format, JSON or streamed, as a directive in the last user
message scripts it.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import anthropic
import openai
import pytest
import wrapt
from openai.resources.chat.completions.completions import AsyncCompletions, Completions
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

import agenttrace
from agenttrace import _semconv as sc
from agenttrace._settings import load
from agenttrace.integrations import anthropic as anthropic_integration
from agenttrace.integrations import openai as openai_integration
from agenttrace.integrations._patch import Integration
from tests.conftest import Recorder, apply

EXAMPLES = Path(__file__).parent.parent / "examples"
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
}
ANTHROPIC_LOOKUP = {
    "name": "lookup_order",
    "input_schema": LOOKUP["function"]["parameters"],  # type: ignore[index]
}
CLAUDE = "claude-haiku-4-5"


def _fake_model() -> ModuleType:
    if "fake_model" not in sys.modules:
        spec = importlib.util.spec_from_file_location("fake_model", EXAMPLES / "fake_model.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["fake_model"] = module
        spec.loader.exec_module(module)
    return sys.modules["fake_model"]


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with _fake_model().FakeModelServer() as running:
        yield running


@pytest.fixture(autouse=True)
def instrumented() -> Iterator[None]:
    openai_integration.instrument()
    anthropic_integration.instrument()
    yield
    openai_integration.uninstrument()
    anthropic_integration.uninstrument()


@pytest.fixture
def client(server: Any) -> Iterator[openai.OpenAI]:
    """An OpenAI client closed after the test (a stream left early keeps its connection)."""
    with server.client() as opened:
        yield opened


def model_spans(recorder: Recorder) -> list[ReadableSpan]:
    return [s for s in recorder.spans if (s.attributes or {}).get(sc.KIND) == "model_call"]


def only(recorder: Recorder) -> dict[str, Any]:
    """The attributes of the one model-call span."""
    [span] = model_spans(recorder)
    return dict(span.attributes or {})


def failures(span: ReadableSpan) -> list[str]:
    return [
        str((e.attributes or {})[sc.FAILURE_MODE])
        for e in span.events
        if e.name == sc.FAILURE_EVENT
    ]


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# --- every scripted behaviour, non-streamed ------------------------------------------------

OPENAI_CASES = [
    ("ok", None, {sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",)}),
    ("truncated", "truncated", {sc.GEN_AI_RESPONSE_FINISH_REASONS: ("length",)}),
    ("refusal", "refused", {}),
    ("filtered", "content_filtered", {sc.GEN_AI_RESPONSE_FINISH_REASONS: ("content_filter",)}),
    ("model=gpt-3.5-turbo", "model_substituted", {sc.GEN_AI_RESPONSE_MODEL: "gpt-3.5-turbo"}),
    ("tool=lookup_order", None, {sc.TOOL_CALLS: ("lookup_order",)}),
    ("tool=cancel_order", "unknown_tool", {sc.TOOL_CALLS: ("cancel_order",)}),
    ("bad-args", "invalid_tool_arguments", {sc.TOOL_CALLS: ("lookup_order",)}),
    ("empty", "empty_output", {}),
]


@pytest.mark.parametrize(("directive", "detector", "expected"), OPENAI_CASES)
def test_openai_chat_behaviours(
    recorder: Recorder, server: Any, directive: str, detector: str | None, expected: dict[str, Any]
) -> None:
    """Each scripted chat answer gives its attributes and fires its detector (or none)."""
    server.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=ask(f"Where is order A-1? [fake-model: {directive}]"),
        tools=[LOOKUP],
        temperature=0.2,
        max_tokens=40,
    )

    [span] = model_spans(recorder)
    got = dict(span.attributes or {})
    assert span.name == "chat gpt-4o-mini"
    assert got[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert got[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert got[sc.GEN_AI_REQUEST_MAX_TOKENS] == 40
    assert got[sc.REQUEST_TOOLS] == ("lookup_order",)
    assert str(got[sc.GEN_AI_RESPONSE_ID]).startswith("chatcmpl-fake-")
    assert isinstance(got[sc.GEN_AI_USAGE_INPUT_TOKENS], int)
    for key, value in expected.items():
        assert got[key] == value
    assert failures(span) == ([detector] if detector else [])
    assert got[sc.OUTCOME] == ("degraded" if detector else "ok")


ANTHROPIC_CASES = [
    ("ok", None, ("end_turn",)),
    ("truncated", "truncated", ("max_tokens",)),
    ("refusal", "refused", ("refusal",)),
    (f"model={CLAUDE}-20990101", None, ("end_turn",)),  # a dated version is no substitution
    ("model=claude-opus-4-1", "model_substituted", ("end_turn",)),
    ("tool=lookup_order", None, ("tool_use",)),
    ("bad-args", "invalid_tool_arguments", ("tool_use",)),
    ("empty", "empty_output", ("end_turn",)),
]


@pytest.mark.parametrize(("directive", "detector", "reasons"), ANTHROPIC_CASES)
def test_anthropic_message_behaviours(
    recorder: Recorder, server: Any, directive: str, detector: str | None, reasons: tuple[str]
) -> None:
    """Each scripted message gives its stop reason and fires its detector (or none)."""
    server.anthropic_client().messages.create(
        model=CLAUDE,
        max_tokens=40,
        messages=ask(f"Where is order A-1? [fake-model: {directive}]"),
        tools=[ANTHROPIC_LOOKUP],
    )

    [span] = model_spans(recorder)
    got = dict(span.attributes or {})
    assert span.name == f"chat {CLAUDE}"
    assert got[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert got[sc.GEN_AI_RESPONSE_FINISH_REASONS] == reasons
    assert str(got[sc.GEN_AI_RESPONSE_ID]).startswith("msg_fake_")
    assert failures(span) == ([detector] if detector else [])


@pytest.mark.parametrize(
    ("status", "error"), [(429, "RateLimitError"), (500, "InternalServerError")]
)
def test_http_errors_fail_the_span_and_reach_the_caller(
    recorder: Recorder, server: Any, status: int, error: str
) -> None:
    with pytest.raises(openai.APIStatusError) as raised:
        server.client().chat.completions.create(
            model="gpt-4o-mini", messages=ask(f"hi [fake-model: error={status}]")
        )

    assert type(raised.value).__name__ == error
    [span] = model_spans(recorder)
    assert not span.status.is_ok
    assert (span.attributes or {})[sc.ERROR_TYPE] == f"openai.{error}"


def test_responses_and_embeddings(recorder: Recorder, client: openai.OpenAI) -> None:
    """The Responses API is a chat call; embeddings are their own operation, never empty."""
    client.responses.create(model="gpt-4o-mini", input="hi [fake-model: truncated]")
    client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])

    responses, embeddings = model_spans(recorder)
    assert responses.name == "chat gpt-4o-mini"
    assert failures(responses) == ["truncated"]
    assert embeddings.name == "embeddings text-embedding-3-small"
    assert (embeddings.attributes or {})[sc.GEN_AI_OPERATION_NAME] == "embeddings"
    assert failures(embeddings) == []


# --- streams -------------------------------------------------------------------------------


def stream(client: openai.OpenAI, text: str = "Tell me a long story") -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini",
        messages=ask(text),
        stream=True,
        stream_options={"include_usage": True},
    )


def test_a_stream_read_to_the_end(recorder: Recorder, client: openai.OpenAI) -> None:
    chunks = stream(client)
    assert isinstance(chunks, openai.Stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    got = only(recorder)
    assert text
    assert got[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0  # type: ignore[operator]
    assert got[sc.STREAM_CHUNKS] > 2  # type: ignore[operator]
    assert got[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert isinstance(got[sc.GEN_AI_USAGE_OUTPUT_TOKENS], int)
    assert got[sc.OUTCOME] == "ok"
    assert sc.ABANDONED not in got


def test_a_stream_left_by_break_ends_when_collected(
    recorder: Recorder, client: openai.OpenAI
) -> None:
    chunks = stream(client)
    for _ in chunks:
        break
    assert model_spans(recorder) == []  # still open: the caller holds the stream
    del chunks
    gc.collect()

    got = only(recorder)
    assert got[sc.ABANDONED] is True
    assert got[sc.STREAM_CHUNKS] == 1
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in got
    assert got[sc.OUTCOME] == "ok"  # a part is no answer to judge: no detector ran


def test_a_closed_stream_ends_once(recorder: Recorder, client: openai.OpenAI) -> None:
    chunks = stream(client)
    next(chunks)
    chunks.close()
    chunks.close()
    del chunks
    gc.collect()

    assert only(recorder)[sc.ABANDONED] is True


def test_a_stream_in_a_with_block(recorder: Recorder, client: openai.OpenAI) -> None:
    with stream(client) as chunks:
        for _ in chunks:
            pass

    got = only(recorder)
    assert got[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert sc.ABANDONED not in got


def test_an_exception_in_the_reading_loop(recorder: Recorder, client: openai.OpenAI) -> None:
    def read() -> None:
        for _ in stream(client):
            raise KeyError("consumer")

    with pytest.raises(KeyError):
        read()
    gc.collect()

    assert only(recorder)[sc.ABANDONED] is True


def test_an_error_from_the_stream_fails_the_span(recorder: Recorder) -> None:
    """A stream that raises mid-way ends its span failed by that error."""

    @agenttrace.model_call(provider="custom", model="m")
    def chunks() -> Iterator[str]:
        def produce() -> Iterator[str]:
            yield "one"
            raise ConnectionError("lost")

        return produce()

    got = chunks()
    with pytest.raises(ConnectionError):
        list(got)

    [span] = model_spans(recorder)
    assert not span.status.is_ok
    assert (span.attributes or {})[sc.ERROR_TYPE] == "ConnectionError"
    assert (span.attributes or {})[sc.STREAM_CHUNKS] == 1


def test_detectors_judge_a_whole_stream(recorder: Recorder, client: openai.OpenAI) -> None:
    for _ in stream(client, "A story [fake-model: truncated]"):
        pass

    [span] = model_spans(recorder)
    assert failures(span) == ["truncated"]
    assert (span.attributes or {})[sc.OUTCOME] == "degraded"


def test_openai_stream_helper(recorder: Recorder, client: openai.OpenAI) -> None:
    """``chat.completions.stream()`` goes through ``create``: one span, ended by the block."""
    with client.chat.completions.stream(model="gpt-4o-mini", messages=ask("hi there")) as events:
        final = events.get_final_completion()
    gc.collect()

    got = only(recorder)
    assert final.choices[0].message.content
    assert got[sc.STREAM_CHUNKS] > 1  # type: ignore[operator]
    assert got[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_anthropic_raw_stream(recorder: Recorder, server: Any) -> None:
    events = server.anthropic_client().messages.create(
        model=CLAUDE, max_tokens=100, messages=ask("hi there"), stream=True
    )
    assert isinstance(events, anthropic.Stream)
    for _ in events:
        pass

    got = only(recorder)
    assert got[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert got[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0  # type: ignore[operator]
    assert got[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0  # type: ignore[operator]


def test_anthropic_stream_helper_text_stream_and_final_message(
    recorder: Recorder, server: Any
) -> None:
    """The manager's stream keeps its methods; the span sees every event they read."""
    with server.anthropic_client().messages.stream(
        model=CLAUDE, max_tokens=100, messages=ask("hi there [fake-model: truncated]")
    ) as events:
        text = "".join(events.text_stream)
        message = events.get_final_message()

    got = only(recorder)
    assert text
    assert message.stop_reason == "max_tokens"
    assert got[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("max_tokens",)
    assert got[sc.STREAM_CHUNKS] > 3  # type: ignore[operator]
    assert failures(model_spans(recorder)[0]) == ["truncated"]


def test_anthropic_stream_helper_left_early(recorder: Recorder, server: Any) -> None:
    with server.anthropic_client().messages.stream(
        model=CLAUDE, max_tokens=100, messages=ask("hi there")
    ) as events:
        next(iter(events))

    got = only(recorder)
    assert got[sc.ABANDONED] is True


def test_the_callers_exception_in_a_with_block_abandons_the_stream(
    recorder: Recorder, client: openai.OpenAI, server: Any
) -> None:
    """The stream did not fail, the reading code did: both kinds of stream end abandoned."""

    def read_openai() -> None:
        with stream(client) as chunks:
            next(iter(chunks))
            raise KeyError("consumer")

    def read_anthropic() -> None:
        with server.anthropic_client().messages.stream(
            model=CLAUDE, max_tokens=100, messages=ask("hi there")
        ) as events:
            next(iter(events))
            raise KeyError("consumer")

    with pytest.raises(KeyError):
        read_openai()
    with pytest.raises(KeyError):
        read_anthropic()

    spans = model_spans(recorder)
    assert len(spans) == 2
    for span in spans:
        assert (span.attributes or {})[sc.ABANDONED] is True
        assert span.status.status_code is StatusCode.UNSET
        assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in (span.attributes or {})


async def test_async_openai_call_and_stream(recorder: Recorder, server: Any) -> None:
    client = server.async_client()
    await client.chat.completions.create(
        model="gpt-4o-mini", messages=ask("hi [fake-model: model=gpt-3.5-turbo]")
    )
    chunks = await client.chat.completions.create(
        model="gpt-4o-mini", messages=ask("hi"), stream=True
    )
    assert isinstance(chunks, openai.AsyncStream)
    async for _ in chunks:
        break
    await chunks.close()
    await client.close()

    call, streamed = model_spans(recorder)
    assert failures(call) == ["model_substituted"]
    assert (streamed.attributes or {})[sc.ABANDONED] is True
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in (streamed.attributes or {})


async def test_async_anthropic_create_and_stream_helper(recorder: Recorder, server: Any) -> None:
    client = server.async_anthropic_client()
    await client.messages.create(model=CLAUDE, max_tokens=50, messages=ask("hi"))
    async with client.messages.stream(
        model=CLAUDE, max_tokens=50, messages=ask("hi [fake-model: refusal]")
    ) as events:
        message = await events.get_final_message()
    await client.close()

    call, streamed = model_spans(recorder)
    assert failures(call) == []
    assert message.stop_reason == "refusal"
    assert failures(streamed) == ["refused"]
    assert (streamed.attributes or {})[sc.STREAM_CHUNKS] > 1  # type: ignore[operator]


# --- decorator and integration together ----------------------------------------------------


def test_a_decorated_call_and_its_client_call_make_one_span(
    recorder: Recorder, server: Any
) -> None:
    client = server.client()

    @agenttrace.model_call("answer", provider="openai")
    def answer(question: str) -> str:
        response = client.chat.completions.create(
            model="gpt-4o", messages=ask(question), temperature=0.5
        )
        return str(response.choices[0].message.content)

    answer("hi [fake-model: truncated]")

    [span] = model_spans(recorder)
    got = dict(span.attributes or {})
    assert span.name == "chat gpt-4o"  # the model, learnt from the client call
    assert got[sc.OPERATION] == "answer"
    assert got[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert got[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)
    assert failures(span) == ["truncated"]


def test_a_redeclared_detector_falls_back_on_a_client_response(
    recorder: Recorder, server: Any
) -> None:
    client = server.client()

    def backup(question: str) -> str:
        response = client.chat.completions.create(model="gpt-4o-mini", messages=ask("hi"))
        return str(response.choices[0].message.content)

    @agenttrace.model_call(
        "answer",
        provider="openai",
        model="gpt-4o",
        failure_modes=[agenttrace.FailureMode("model_substituted", handling="fallback")],
        fallbacks=[backup],
    )
    def answer(question: str) -> str:
        response = client.chat.completions.create(model="gpt-4o", messages=ask(question))
        return str(response.choices[0].message.content)

    assert answer("hi [fake-model: model=gpt-3.5-turbo]")

    [span] = model_spans(recorder)
    got = dict(span.attributes or {})
    assert (got[sc.OUTCOME], got[sc.SERVED_BY]) == ("degraded", "backup")
    assert failures(span) == ["model_substituted"]
    assert recorder.one("fallback backup")  # the fallback's client call is in its attempt


def test_a_fallback_client_call_is_recorded_on_its_attempt(recorder: Recorder, server: Any) -> None:
    """The fallback's request is its own (judged on its own tools), and its tokens add up."""
    client = server.client()
    with_tool = [LOOKUP]

    def backup(question: str) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=ask("x [fake-model: tool=refund_order]"), max_tokens=99
        )

    @agenttrace.model_call(
        "answer",
        provider="openai",
        failure_modes=[agenttrace.FailureMode("truncated", handling="fallback")],
        fallbacks=[backup],
    )
    def answer(question: str) -> Any:
        return client.chat.completions.create(
            model="gpt-4o", messages=ask(question), tools=with_tool, temperature=0.5
        )

    first = client.chat.completions.create(
        model="gpt-4o", messages=ask("y [fake-model: truncated]")
    )
    second = client.chat.completions.create(
        model="gpt-4o-mini", messages=ask("x [fake-model: tool=refund_order]"), max_tokens=99
    )
    recorder.exporter.clear()  # the spans of the two calls above
    answer("y [fake-model: truncated]")

    [span] = model_spans(recorder)
    got = dict(span.attributes or {})
    # The operation's request is its first try's; the response is the one that served.
    assert span.name == "chat gpt-4o"
    assert (got[sc.GEN_AI_REQUEST_TEMPERATURE], got[sc.REQUEST_TOOLS]) == (0.5, ("lookup_order",))
    assert sc.GEN_AI_REQUEST_MAX_TOKENS not in got
    assert got[sc.GEN_AI_RESPONSE_MODEL] == second.model
    assert got[sc.TOOL_CALLS] == ("refund_order",)
    assert (got[sc.OUTCOME], got[sc.SERVED_BY]) == ("degraded", "backup")
    # Both attempts' tokens, each counted once.
    assert first.usage is not None
    assert second.usage is not None
    assert (
        got[sc.GEN_AI_USAGE_INPUT_TOKENS] == first.usage.prompt_tokens + second.usage.prompt_tokens
    )
    assert got[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == (
        first.usage.completion_tokens + second.usage.completion_tokens
    )
    # The backup offered no refund_order tool: judged on its own request, that is unknown.
    assert failures(span) == ["truncated", "unknown_tool"]
    attempt = dict(recorder.one("fallback backup").attributes or {})
    assert attempt[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert attempt[sc.GEN_AI_REQUEST_MAX_TOKENS] == 99
    assert sc.REQUEST_TOOLS not in attempt
    assert attempt[sc.GEN_AI_RESPONSE_MODEL] == second.model
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attempt


def test_a_decorated_call_returning_the_client_stream(recorder: Recorder, server: Any) -> None:
    client = server.client()

    @agenttrace.model_call("answer", provider="openai")
    def answer(question: str) -> Any:
        return client.chat.completions.create(model="gpt-4o", messages=ask(question), stream=True)

    chunks = answer("hi")
    assert model_spans(recorder) == []
    for _ in chunks:
        pass

    got = only(recorder)
    assert got[sc.OPERATION] == "answer"
    assert got[sc.STREAM_CHUNKS] > 1  # type: ignore[operator]
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in got


async def test_an_async_decorated_call_makes_one_span(recorder: Recorder, server: Any) -> None:
    client = server.async_anthropic_client()

    @agenttrace.model_call("answer", provider="anthropic")
    async def answer(question: str) -> Any:
        return await client.messages.create(model=CLAUDE, max_tokens=30, messages=ask(question))

    await answer("hi [fake-model: truncated]")
    await client.close()

    [span] = model_spans(recorder)
    assert span.name == f"chat {CLAUDE}"
    assert failures(span) == ["truncated"]


# --- instrument and uninstrument -----------------------------------------------------------


def test_uninstrument_restores_the_originals(recorder: Recorder, server: Any) -> None:
    openai_integration.instrument()  # again: nothing more is wrapped
    assert isinstance(Completions.__dict__["create"], wrapt.FunctionWrapper)
    assert Completions.__dict__["create"].__wrapped__.__qualname__ == "Completions.create"
    assert openai_integration.instrumented()

    openai_integration.uninstrument()
    anthropic_integration.uninstrument()

    assert not openai_integration.instrumented()
    assert not isinstance(Completions.__dict__["create"], wrapt.FunctionWrapper)
    assert Completions.__dict__["create"].__qualname__ == "Completions.create"
    assert not isinstance(AsyncCompletions.__dict__["create"], wrapt.FunctionWrapper)
    server.client().chat.completions.create(model="gpt-4o-mini", messages=ask("hi"))
    assert model_spans(recorder) == []


def test_a_missing_library_is_a_clear_error() -> None:
    with pytest.raises(ImportError, match=r'pip install "agenttrace\[nowhere\]"'):
        Integration("nowhere", "agenttrace_no_such_package", []).instrument()


def test_a_version_outside_the_range_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    openai_integration.uninstrument()
    monkeypatch.setattr("importlib.metadata.version", lambda _name: "0.9.0")
    with caplog.at_level(logging.WARNING, logger="agenttrace"):
        openai_integration.instrument()

    assert "openai 0.9.0 is outside the supported range" in caplog.text
    assert openai_integration.instrumented()


# --- content -------------------------------------------------------------------------------


def test_content_is_absent_unless_enabled(recorder: Recorder, server: Any) -> None:
    server.client().chat.completions.create(model="gpt-4o-mini", messages=ask("my secret plan"))

    got = only(recorder)
    assert not {sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES} & set(got)
    assert "secret plan" not in json.dumps(got, default=str)


def test_content_when_enabled_is_captured_and_redacted(recorder: Recorder, server: Any) -> None:
    apply(capture_content=True)
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz123456"
    server.anthropic_client().messages.create(
        model=CLAUDE, max_tokens=60, system="Be brief.", messages=ask(f"my key is {key}")
    )

    got = only(recorder)
    [sent] = json.loads(str(got[sc.GEN_AI_INPUT_MESSAGES]))
    [output] = json.loads(str(got[sc.GEN_AI_OUTPUT_MESSAGES]))
    assert sent["parts"][0]["content"].startswith("my key is [REDACTED:")
    assert key not in json.dumps(got, default=str)
    assert output["role"] == "assistant"
    assert output["parts"][0]["type"] == "text"
    assert json.loads(str(got[sc.GEN_AI_SYSTEM_INSTRUCTIONS])) == [
        {"type": "text", "content": "Be brief."}
    ]


@pytest.mark.parametrize(
    ("value", "captured"),
    [("true", True), ("SPAN_ONLY", True), ("span_and_event", True), ("NO_CONTENT", False)],
)
def test_the_genai_content_variable_is_honoured(value: str, captured: bool) -> None:
    loaded = load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value})
    assert loaded.settings.capture_content is captured
    both = load(
        {
            "AGENTTRACE_CAPTURE_CONTENT": "false",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value,
        }
    )
    assert both.settings.capture_content is False  # agenttrace's own variable comes first
