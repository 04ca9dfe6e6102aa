"""A model call records what was asked and what the model did, and flags the difference."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from anthropic.types import Message
from openai.types.chat import ChatCompletion
from openai.types.responses import Response
from pydantic import BaseModel

import agenttrace
from agenttrace import _semconv as sc
from tests.conftest import Recorder

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def chat(
    *,
    content: str | None = "It is sunny.",
    finish: str = "stop",
    model: str = "gpt-4o-mini-2024-07-18",
    refusal: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An OpenAI chat completion, as the wire format has it."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": refusal,
                    "tool_calls": tool_calls,
                },
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 5,
            "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }


def call(name: str, arguments: str, call_id: str = "call_1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def model_call(**options: Any) -> Any:
    """A model call that returns whatever it is given as ``reply``."""

    @agenttrace.model_call(provider="openai", **options)
    def complete(*, reply: Any, **request: Any) -> Any:
        return reply

    return complete


def attributes(recorder: Recorder) -> dict[str, Any]:
    [span] = [s for s in recorder.spans if (s.attributes or {}).get(sc.KIND) == "model_call"]
    return dict(span.attributes or {})


def failures(recorder: Recorder) -> list[tuple[str, dict[str, Any]]]:
    [span] = [s for s in recorder.spans if (s.attributes or {}).get(sc.KIND) == "model_call"]
    return [
        (
            str((e.attributes or {})[sc.FAILURE_MODE]),
            {
                k.removeprefix(sc.FAILURE_DETAIL_PREFIX): v
                for k, v in (e.attributes or {}).items()
                if k.startswith(sc.FAILURE_DETAIL_PREFIX)
            },
        )
        for e in span.events
        if e.name == sc.FAILURE_EVENT
    ]


@pytest.mark.parametrize("as_object", [False, True], ids=["dict", "openai object"])
def test_a_chat_completion_is_read(recorder: Recorder, as_object: bool) -> None:
    """Response model and id, finish reasons, usage with cached and reasoning tokens, tool
    calls by name and id; request parameters at the start. The same from a dict."""
    raw = chat(
        content=None, finish="tool_calls", tool_calls=[call("get_weather", '{"city": "Oslo"}')]
    )
    reply = ChatCompletion.model_validate(raw) if as_object else raw

    model_call()(
        reply=reply,
        model="gpt-4o-mini",
        temperature=0.2,
        max_tokens=64,
        stop="\n",
        seed=7,
        tools=[WEATHER_TOOL],
    )

    assert {
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 64,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("\n",),
        sc.GEN_AI_REQUEST_SEED: 7,
        sc.REQUEST_TOOLS: ("get_weather",),
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
        sc.GEN_AI_RESPONSE_ID: "chatcmpl-1",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("tool_calls",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 12,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 4,
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 2,
        sc.TOOL_CALLS: ("get_weather",),
        sc.TOOL_CALL_IDS: ("call_1",),
        sc.OUTCOME: "ok",
    }.items() <= attributes(recorder).items()


def test_a_responses_api_response_is_read(recorder: Recorder) -> None:
    """The Responses API: output text, function calls, usage, an incomplete status as the
    finish reason (and so truncated)."""
    reply = Response.model_validate(
        {
            "id": "resp_1",
            "object": "response",
            "created_at": 1,
            "model": "gpt-4.1-2025-04-14",
            "status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"},
            "output": [
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "incomplete",
                    "content": [{"type": "output_text", "text": "Once upon", "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": 9,
                "output_tokens": 16,
                "total_tokens": 25,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        }
    )

    model_call()(reply=reply, model="gpt-4.1", max_output_tokens=16)

    got = attributes(recorder)
    assert ("resp_1", ("max_output_tokens",), 9, 16, 16, "degraded") == (
        got[sc.GEN_AI_RESPONSE_ID],
        got[sc.GEN_AI_RESPONSE_FINISH_REASONS],
        got[sc.GEN_AI_USAGE_INPUT_TOKENS],
        got[sc.GEN_AI_USAGE_OUTPUT_TOKENS],
        got[sc.GEN_AI_REQUEST_MAX_TOKENS],
        got[sc.OUTCOME],
    )
    assert [("truncated", {"finish_reason": "max_output_tokens", "max_tokens": 16})] == failures(
        recorder
    )


def test_an_anthropic_message_is_read(recorder: Recorder) -> None:
    """Anthropic: stop reason, cache read and creation tokens, tool_use blocks."""
    reply = Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [
                {"type": "text", "text": "Let me look."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Oslo"},
                },
            ],
            "stop_reason": "tool_use",
            "usage": {
                "input_tokens": 20,
                "output_tokens": 8,
                "cache_read_input_tokens": 10,
                "cache_creation_input_tokens": 3,
            },
        }
    )

    @agenttrace.model_call(provider="anthropic")
    def complete(**request: Any) -> Any:
        return reply

    schema = WEATHER_TOOL["function"]["parameters"]  # type: ignore[index]
    complete(model="claude-sonnet-4-5", tools=[{"name": "get_weather", "input_schema": schema}])

    got = attributes(recorder)
    assert (("tool_use",), 10, 3, ("get_weather",), ("toolu_1",), "ok") == (
        got[sc.GEN_AI_RESPONSE_FINISH_REASONS],
        got[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS],
        got[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS],
        got[sc.TOOL_CALLS],
        got[sc.TOOL_CALL_IDS],
        got[sc.OUTCOME],
    )


def test_a_model_response_can_be_returned_by_hand(recorder: Recorder) -> None:
    """For any other provider: return agenttrace.ModelResponse."""
    reply = agenttrace.ModelResponse(
        model="local-llama",
        finish_reasons=("stop",),
        usage=agenttrace.Usage(input_tokens=3, output_tokens=4),
        text="hi",
    )

    model_call()(reply=reply, model="local-llama")

    got = attributes(recorder)
    assert ("local-llama", 3, "ok") == (
        got[sc.GEN_AI_RESPONSE_MODEL],
        got[sc.GEN_AI_USAGE_INPUT_TOKENS],
        got[sc.OUTCOME],
    )


@pytest.mark.parametrize(
    ("reply", "request_", "expected"),
    [
        (chat(finish="length"), {}, [("truncated", {"finish_reason": "length"})]),
        (chat(content=None, refusal="I can't help with that."), {}, [("refused", {})]),
        (
            chat(content="", finish="content_filter"),
            {},
            [("content_filtered", {"finish_reason": "content_filter"})],
        ),
        (chat(content=""), {}, [("empty_output", {})]),
        (
            chat(model="gpt-4o-2024-08-06"),
            {"model": "gpt-4o-mini"},
            [("model_substituted", {"requested": "gpt-4o-mini", "responded": "gpt-4o-2024-08-06"})],
        ),
        (chat(model="gpt-4o-mini-2024-07-18"), {"model": "gpt-4o-mini"}, []),
        (
            chat(tool_calls=[call("delete_account", "{}")]),
            {"tools": [WEATHER_TOOL]},
            [("unknown_tool", {"tool": "delete_account", "offered": 1})],
        ),
        (
            chat(tool_calls=[call("get_weather", '{"city": ')]),
            {"tools": [WEATHER_TOOL]},
            [
                (
                    "invalid_tool_arguments",
                    {"tool": "get_weather", "error": "not JSON: Expecting value at 9"},
                )
            ],
        ),
        (
            chat(tool_calls=[call("get_weather", '{"city": 42}')]),
            {"tools": [WEATHER_TOOL]},
            [
                (
                    "invalid_tool_arguments",
                    {"tool": "get_weather", "error": "city: 42 is not of type 'string'"},
                )
            ],
        ),
        (
            chat(finish="length", model="gpt-4o-2024-08-06"),
            {"model": "gpt-4o-mini", "max_tokens": 5},
            [
                ("truncated", {"finish_reason": "length", "max_tokens": 5}),
                (
                    "model_substituted",
                    {"requested": "gpt-4o-mini", "responded": "gpt-4o-2024-08-06"},
                ),
            ],
        ),
    ],
    ids=[
        "truncated",
        "refused",
        "content_filtered",
        "empty_output",
        "model_substituted",
        "dated_version_is_no_substitution",
        "unknown_tool",
        "arguments_not_json",
        "arguments_against_schema",
        "two_at_once",
    ],
)
def test_each_detector_is_an_accepted_failure_by_default(
    recorder: Recorder, reply: dict[str, Any], request_: dict[str, Any], expected: list[Any]
) -> None:
    """Every detector records its failure with details; the default handling, accept, keeps
    the response and marks the call degraded (ok when nothing was found)."""
    returned = model_call()(reply=reply, **request_)

    assert returned is reply
    assert expected == failures(recorder)
    assert ("degraded" if expected else "ok") == attributes(recorder)[sc.OUTCOME]


class Label(BaseModel):
    label: str
    confidence: float


def test_invalid_output_checks_the_declared_output_type(recorder: Recorder) -> None:
    """With output=Label, text that does not validate is invalid_output."""
    complete = model_call(output=Label)

    complete(reply=chat(content='{"label": "billing", "confidence": 0.9}'))
    complete(reply=chat(content='{"label": "billing"}'))

    spans = [s for s in recorder.spans if (s.attributes or {}).get(sc.KIND) == "model_call"]
    assert ["ok", "degraded"] == [(s.attributes or {})[sc.OUTCOME] for s in spans]
    event = spans[1].events[0].attributes or {}
    assert ("invalid_output", "confidence: Field required") == (
        event[sc.FAILURE_MODE],
        event[sc.FAILURE_DETAIL_PREFIX + "error"],
    )


def retried_on_truncation(replies: list[dict[str, Any]]) -> Any:
    """A model call that declares ``truncated`` with handling retry, answering ``replies``."""
    answers = iter(replies)

    @agenttrace.model_call(
        provider="openai",
        model="gpt-4o-mini",
        failure_modes=[agenttrace.FailureMode("truncated", handling="retry")],
        retry=agenttrace.Retry(attempts=2),
    )
    def complete() -> Any:
        return next(answers)

    return complete


def test_a_redeclared_detector_gets_the_users_handling(recorder: Recorder) -> None:
    """Declaring "truncated" with handling retry re-asks the model; the retry serves."""
    complete = retried_on_truncation([chat(finish="length"), chat()])

    assert complete()["choices"][0]["finish_reason"] == "stop"
    got = attributes(recorder)
    assert ("recovered", "stop") == (got[sc.OUTCOME], got[sc.GEN_AI_RESPONSE_FINISH_REASONS][0])


def test_the_tokens_of_every_attempt_count(recorder: Recorder) -> None:
    """A retried model call spent both attempts' tokens: its span says so, once."""
    complete = retried_on_truncation([chat(finish="length"), chat()])

    complete()
    got = attributes(recorder)
    assert (got[sc.GEN_AI_USAGE_INPUT_TOKENS], got[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (24, 10)
    assert got[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 8
    assert got[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 4
    assert sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS not in got  # given by neither
    retry = dict(recorder.one("retry complete").attributes or {})
    assert retry[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in retry  # counted on the model call only


def test_the_tokens_of_a_failed_call_count(recorder: Recorder) -> None:
    """A call whose retries are spent fails, and still says what it spent."""
    complete = retried_on_truncation([chat(finish="length"), chat(finish="length")])

    with pytest.raises(agenttrace.Failure):
        complete()
    got = attributes(recorder)
    assert (got[sc.GEN_AI_USAGE_INPUT_TOKENS], got[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (24, 10)


def test_detectors_can_be_chosen_or_switched_off(recorder: Recorder) -> None:
    """detect=False records nothing; detect=["refused"] only refusals."""
    model_call(detect=False)(reply=chat(finish="length"))
    model_call(detect=["refused"])(reply=chat(finish="length"))

    outcomes = [
        (s.attributes or {})[sc.OUTCOME]
        for s in recorder.spans
        if (s.attributes or {}).get(sc.KIND) == "model_call"
    ]
    assert ["ok", "ok"] == outcomes


def test_the_contract_lists_the_detectors() -> None:
    """A model call's contract holds the enabled detectors as accept modes."""

    @agenttrace.model_call("contract-model", provider="openai", detect=["truncated", "refused"])
    def complete() -> None:
        return None

    [contract] = [c for c in agenttrace.contracts() if c.operation == "contract-model"]
    assert [("refused", "accept"), ("truncated", "accept")] == [
        (m.name, m.handling) for m in contract.failure_modes
    ]


@pytest.mark.parametrize(
    ("decorate", "message"),
    [
        (lambda: agenttrace.model_call(detect=["sarcasm"]), "unknown detector 'sarcasm'"),
        (lambda: agenttrace.model_call(detect="truncated"), "detect= takes"),
        (lambda: agenttrace.model_call(output=3), "output= must be a type"),
    ],
)
def test_bad_detector_options_fail_at_decoration(decorate: Any, message: str) -> None:
    """Unknown detectors and detect= on other kinds are errors where they are written."""
    with pytest.raises((TypeError, ValueError), match=message):
        decorate()


def test_unknown_objects_are_never_read(recorder: Recorder) -> None:
    """A return value of an unknown type has none of its attributes touched."""

    class Hostile:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"read {name}")

    model_call()(reply=Hostile(), model="m")

    assert "ok" == attributes(recorder)[sc.OUTCOME]
    assert sc.GEN_AI_RESPONSE_MODEL not in attributes(recorder)


def test_reading_responses_imports_no_vendor_package() -> None:
    """Adapters recognise vendor objects without importing the vendors' packages."""
    code = (
        "import sys, agenttrace; from agenttrace._models import read_response; "
        "read_response({'object': 'chat.completion', 'choices': []}); "
        "print('openai' in sys.modules, 'anthropic' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert "False False" == result.stdout.strip()


def test_message_content_is_off_by_default(recorder: Recorder) -> None:
    """Without content capture no message text reaches the span."""
    model_call()(reply=chat(), model="m", messages=[{"role": "user", "content": "my secret plan"}])

    got = attributes(recorder)
    assert not {sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES} & set(got)
    assert "my secret plan" not in str(got)


def test_message_content_when_captured_is_structured_bounded_and_redacted(
    recorder: Recorder,
) -> None:
    """With capture=True: input, system and output messages in the semconv structure; an
    API key in a message is redacted; a huge message is cut."""
    complete = model_call(capture=True)
    complete(
        reply=chat(content="Sure.", tool_calls=[call("get_weather", '{"city": "Oslo"}')]),
        model="m",
        system="Be brief.",
        messages=[
            {
                "role": "user",
                "content": "key sk-proj-abcdefghijklmnopqrstuvwxyz123456 " + "x" * 50_000,
            }
        ],
    )

    got = attributes(recorder)
    import json  # noqa: PLC0415

    system = json.loads(str(got[sc.GEN_AI_SYSTEM_INSTRUCTIONS]))
    output = json.loads(str(got[sc.GEN_AI_OUTPUT_MESSAGES]))
    assert [{"type": "text", "content": "Be brief."}] == system
    assert [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Sure."},
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "get_weather",
                    "arguments": '{"city": "Oslo"}',
                },
            ],
            "finish_reason": "stop",
        }
    ] == output
    sent = str(got[sc.GEN_AI_INPUT_MESSAGES])
    [message] = json.loads(sent)
    assert ("user", "text") == (message["role"], message["parts"][0]["type"])
    assert message["parts"][0]["content"].startswith("key [REDACTED:")
    assert len(sent) < 3_000
