"""The fake model server speaks the OpenAI and Anthropic APIs well enough for their real clients.

Every test drives the real ``openai`` or ``anthropic`` client against a server of its own on
127.0.0.1 and checks what the client parsed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import anthropic
import openai
import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


def _load_fake_model() -> ModuleType:
    """The example's module, imported once under its own name."""
    if "fake_model" not in sys.modules:
        spec = importlib.util.spec_from_file_location("fake_model", EXAMPLES / "fake_model.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["fake_model"] = module
        spec.loader.exec_module(module)
    return sys.modules["fake_model"]


fake_model = _load_fake_model()
FakeModelServer = fake_model.FakeModelServer
REFUSAL = fake_model.REFUSAL

GPT = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"
ORDER_SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}},
    "required": ["order_id"],
}
CHAT_TOOLS = [
    {"type": "function", "function": {"name": "lookup_order", "parameters": ORDER_SCHEMA}},
    {"type": "function", "function": {"name": "cancel_order", "parameters": ORDER_SCHEMA}},
]
RESPONSES_TOOLS = [{"type": "function", "name": "lookup_order", "parameters": ORDER_SCHEMA}]
CLAUDE_TOOLS = [{"name": "lookup_order", "input_schema": ORDER_SCHEMA}]
ANSWER = "Thanks for reaching out. About 'Where is my order?': it is on its way."


def ask(directive: str = "") -> list[dict[str, Any]]:
    """One user message asking about an order, ending with ``directive`` if any."""
    text = "Where is my order?" + (f" [fake-model: {directive}]" if directive else "")
    return [{"role": "user", "content": text}]


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture
def server():
    with FakeModelServer() as running:
        yield running


@pytest.fixture
def client(server):
    with server.client() as opened:
        yield opened


@pytest.fixture
def claude(server):
    with server.anthropic_client() as opened:
        yield opened


# --- OpenAI Chat Completions ----------------------------------------------------------------


def test_chat_answers_with_the_template_a_dated_model_and_word_counts(client):
    """A plain chat request gets the template answer, finish_reason stop, the requested model
    with a date, the first request's id, and usage counting words."""
    response = client.chat.completions.create(model=GPT, messages=ask())

    [choice] = response.choices
    assert ANSWER == choice.message.content
    assert (None, None) == (choice.message.refusal, choice.message.tool_calls)
    assert "stop" == choice.finish_reason
    assert ("chatcmpl-fake-1", "gpt-4o-mini-2024-07-18") == (response.id, response.model)
    usage = response.usage
    assert (4, words(ANSWER), 4 + words(ANSWER)) == (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.total_tokens,
    )
    assert 0 == usage.prompt_tokens_details.cached_tokens
    assert 0 == usage.completion_tokens_details.reasoning_tokens


def test_chat_usage_reports_cached_and_reasoning_tokens(client):
    """cached=N and reasoning=N add N cached prompt tokens and N reasoning completion tokens."""
    response = client.chat.completions.create(model=GPT, messages=ask("cached=3 reasoning=2"))

    usage = response.usage
    assert (7 + 3, words(ANSWER) + 2) == (usage.prompt_tokens, usage.completion_tokens)
    assert 3 == usage.prompt_tokens_details.cached_tokens
    assert 2 == usage.completion_tokens_details.reasoning_tokens


def test_chat_tool_calls_the_first_offered_tool_with_arguments_from_its_schema(client):
    """``tool`` makes the model call the first tool offered, finish_reason tool_calls."""
    response = client.chat.completions.create(model=GPT, messages=ask("tool"), tools=CHAT_TOOLS)

    [choice] = response.choices
    [call] = choice.message.tool_calls
    assert "tool_calls" == choice.finish_reason
    assert None is choice.message.content
    assert ("call_fake_1_0", "lookup_order", {"order_id": "example"}) == (
        call.id,
        call.function.name,
        json.loads(call.function.arguments),
    )


def test_chat_tool_names_the_tool_and_its_arguments(client):
    """``tool=NAME args=JSON`` calls that tool with exactly those arguments."""
    directive = 'tool=cancel_order args={"order_id":"A-1"}'
    response = client.chat.completions.create(model=GPT, messages=ask(directive), tools=CHAT_TOOLS)

    [call] = response.choices[0].message.tool_calls
    assert ("cancel_order", '{"order_id":"A-1"}') == (call.function.name, call.function.arguments)


def test_chat_tool_calls_several_tools_in_parallel(client):
    """``tool=A,B`` makes one tool call each, in order."""
    directive = "tool=lookup_order,cancel_order"
    response = client.chat.completions.create(model=GPT, messages=ask(directive), tools=CHAT_TOOLS)

    calls = response.choices[0].message.tool_calls
    assert [("call_fake_1_0", "lookup_order"), ("call_fake_1_1", "cancel_order")] == [
        (call.id, call.function.name) for call in calls
    ]


def test_chat_bad_args_are_malformed_json_of_the_wrong_type(client):
    """``bad-args`` makes a tool call whose arguments are cut-off JSON with wrong types."""
    response = client.chat.completions.create(model=GPT, messages=ask("bad-args"), tools=CHAT_TOOLS)

    [call] = response.choices[0].message.tool_calls
    assert "tool_calls" == response.choices[0].finish_reason
    assert '{"order_id": 42' == call.function.arguments
    with pytest.raises(json.JSONDecodeError):
        json.loads(call.function.arguments)


def test_chat_truncated_stops_at_max_tokens_words_with_finish_reason_length(client):
    """``truncated`` cuts the answer to max_tokens words, finish_reason length."""
    response = client.chat.completions.create(model=GPT, messages=ask("truncated"), max_tokens=3)

    [choice] = response.choices
    assert ("length", "Thanks for reaching") == (choice.finish_reason, choice.message.content)
    assert 3 == response.usage.completion_tokens


def test_chat_refusal_sets_the_refusal_field_and_no_content(client):
    """``refusal`` puts the refusal in message.refusal, content null."""
    response = client.chat.completions.create(model=GPT, messages=ask("refusal"))

    [choice] = response.choices
    assert (None, REFUSAL, "stop") == (
        choice.message.content,
        choice.message.refusal,
        choice.finish_reason,
    )


def test_chat_refuse_answers_a_refusal_in_plain_content(client):
    """``refuse`` answers with refusal prose as ordinary content, no refusal field."""
    response = client.chat.completions.create(model=GPT, messages=ask("refuse"))

    [choice] = response.choices
    assert (REFUSAL, None) == (choice.message.content, choice.message.refusal)


@pytest.mark.parametrize(
    ("directive", "finish_reason"), [("filtered", "content_filter"), ("empty", "stop")]
)
def test_chat_filtered_and_empty_answers_have_no_content(client, directive, finish_reason):
    """``filtered`` and ``empty`` answer empty content, finish_reason content_filter or stop."""
    response = client.chat.completions.create(model=GPT, messages=ask(directive))

    [choice] = response.choices
    assert ("", finish_reason) == (choice.message.content, choice.finish_reason)


def test_chat_model_names_another_model(client):
    """``model=NAME`` makes the response name that model."""
    response = client.chat.completions.create(model=GPT, messages=ask("model=gpt-4o-2024-11-20"))

    assert "gpt-4o-2024-11-20" == response.model


def test_chat_json_mode_garbled_once_answers_prose_then_json(client):
    """In JSON mode, ``garbled-once`` answers prose the first time, the label JSON after."""
    messages = ask("garbled-once label=billing confidence=0.4")
    answers = [
        client.chat.completions.create(
            model=GPT, messages=messages, response_format={"type": "json_object"}
        )
        .choices[0]
        .message.content
        for _ in range(2)
    ]

    assert [fake_model.GARBLED, '{"label": "billing", "confidence": 0.4}'] == answers


def test_chat_stream_sends_text_deltas_then_a_usage_chunk(client):
    """A streamed chat answer arrives word by word, then a chunk with usage only."""
    stream = client.chat.completions.create(
        model=GPT, messages=ask(), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert ANSWER == text
    assert ["stop"] == [
        c.choices[0].finish_reason for c in chunks[:-1] if c.choices[0].finish_reason
    ]
    assert ([], words(ANSWER)) == (chunks[-1].choices, chunks[-1].usage.completion_tokens)
    assert {"chatcmpl-fake-1"} == {c.id for c in chunks}


def test_chat_stream_without_include_usage_has_no_usage(client):
    """Without stream_options.include_usage no chunk carries usage."""
    chunks = list(client.chat.completions.create(model=GPT, messages=ask(), stream=True))

    assert [None] == list({c.usage for c in chunks})


def test_chat_stream_helper_accumulates_a_tool_call(client):
    """A streamed tool call accumulates, through the client's stream helper, into one call."""
    with client.chat.completions.stream(
        model=GPT, messages=ask("tool"), tools=CHAT_TOOLS
    ) as stream:
        completion = stream.get_final_completion()

    [choice] = completion.choices
    [call] = choice.message.tool_calls
    assert "tool_calls" == choice.finish_reason
    assert ("call_fake_1_0", "lookup_order", '{"order_id": "example"}') == (
        call.id,
        call.function.name,
        call.function.arguments,
    )


def test_chat_stream_sends_a_refusal_in_refusal_deltas(client):
    """A streamed ``refusal`` arrives in the deltas' refusal field."""
    chunks = list(client.chat.completions.create(model=GPT, messages=ask("refusal"), stream=True))

    assert REFUSAL == "".join(c.choices[0].delta.refusal or "" for c in chunks)
    assert "" == "".join(c.choices[0].delta.content or "" for c in chunks)


async def test_async_chat_stream_ends_truncated_with_finish_reason_length(server):
    """The async client streams a ``truncated`` answer ending with finish_reason length."""
    async with server.async_client() as client:
        stream = await client.chat.completions.create(
            model=GPT, messages=ask("truncated"), stream=True
        )
        chunks = [chunk async for chunk in stream]

    assert "length" == chunks[-1].choices[0].finish_reason
    assert "Thanks for reaching out. About 'Where is" == "".join(
        c.choices[0].delta.content or "" for c in chunks
    )


async def test_async_chat_answers(server):
    """The async client gets the same answer as the sync one."""
    async with server.async_client() as client:
        response = await client.chat.completions.create(model=GPT, messages=ask())

    assert ANSWER == response.choices[0].message.content


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (429, openai.RateLimitError, "rate_limit_exceeded"),
        (500, openai.InternalServerError, None),
    ],
)
def test_chat_error_raises_the_clients_error(client, status, error, code):
    """``error=CODE`` answers that HTTP status with OpenAI's error body."""
    with pytest.raises(error) as raised:
        client.chat.completions.create(model=GPT, messages=ask(f"error={status}"))

    assert (status, code) == (raised.value.status_code, raised.value.code)
    assert "0" == raised.value.response.headers["retry-after"]


def test_chat_error_429_is_retried_at_once(server):
    """A scripted 429 then ok: a client that retries gets the answer without backing off."""
    server.script("error=429", "ok")
    started = time.perf_counter()
    with server.client(max_retries=1) as client:
        response = client.chat.completions.create(model=GPT, messages=ask())

    assert ANSWER == response.choices[0].message.content
    assert 2 == len(server.requests)
    assert time.perf_counter() - started < 0.3


def test_a_tool_call_without_tools_is_a_bad_request(client):
    """``tool`` in a request that offers no tools answers 400."""
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=GPT, messages=ask("tool"))


def test_the_directive_no_longer_applies_after_a_tool_result(client):
    """Once a tool result follows the directive's message, the model answers normally."""
    first = client.chat.completions.create(model=GPT, messages=ask("tool"), tools=CHAT_TOOLS)
    [call] = first.choices[0].message.tool_calls
    messages = [
        *ask("tool"),
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"status": "shipped"}'},
    ]

    second = client.chat.completions.create(model=GPT, messages=messages, tools=CHAT_TOOLS)

    assert ("stop", ANSWER) == (second.choices[0].finish_reason, second.choices[0].message.content)


def test_the_script_queue_scripts_the_next_requests_in_order_over_the_directive(server, client):
    """server.script(...) gives the next requests its behaviours in order, instead of their
    directive; then directives apply again."""
    server.script("truncated", "tool=cancel_order")

    reasons = [
        client.chat.completions.create(model=GPT, messages=ask("refuse"), tools=CHAT_TOOLS)
        .choices[0]
        .finish_reason
        for _ in range(3)
    ]

    assert ["length", "tool_calls", "stop"] == reasons
    assert [] == server.queued
    assert (
        REFUSAL
        == client.chat.completions.create(model=GPT, messages=ask("refuse"))
        .choices[0]
        .message.content
    )


def test_the_server_records_every_request(server, client, claude):
    """server.requests holds each body; server.received adds its path and headers."""
    client.chat.completions.create(model=GPT, messages=ask())
    claude.messages.create(model=CLAUDE, max_tokens=50, messages=ask())

    assert [GPT, CLAUDE] == [body["model"] for body in server.requests]
    assert ["/v1/chat/completions", "/v1/messages"] == [r.path for r in server.received]
    assert ["OpenAI/Python", "Anthropic/Python"] == [
        r.headers["user-agent"].split(" ")[0] for r in server.received
    ]


def test_an_unknown_route_is_not_found(client):
    """A route the server does not serve answers 404."""
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model=GPT, prompt="hello")


# --- OpenAI Responses -----------------------------------------------------------------------


def test_responses_answers_an_output_text_message(client):
    """A Responses request gets a completed message, the dated model and usage in words."""
    response = client.responses.create(model=GPT, input="Where is my order? [fake-model: cached=2]")

    assert ("resp_fake_1", "completed", GPT + "-2024-07-18") == (
        response.id,
        response.status,
        response.model,
    )
    assert ANSWER == response.output_text
    assert (6 + 2, words(ANSWER)) == (response.usage.input_tokens, response.usage.output_tokens)
    assert 2 == response.usage.input_tokens_details.cached_tokens
    assert 0 == response.usage.output_tokens_details.reasoning_tokens


def test_responses_tool_is_a_function_call_item(client):
    """``tool`` answers a function_call item with a call id, name and arguments."""
    response = client.responses.create(model=GPT, input=ask("tool"), tools=RESPONSES_TOOLS)

    [item] = response.output
    assert ("function_call", "call_fake_1_0", "lookup_order", '{"order_id": "example"}') == (
        item.type,
        item.call_id,
        item.name,
        item.arguments,
    )


@pytest.mark.parametrize(
    ("directive", "reason"), [("truncated", "max_output_tokens"), ("filtered", "content_filter")]
)
def test_responses_truncated_and_filtered_are_incomplete(client, directive, reason):
    """``truncated`` and ``filtered`` answer status incomplete, with the reason."""
    response = client.responses.create(model=GPT, input=ask(directive))

    assert ("incomplete", reason) == (response.status, response.incomplete_details.reason)


def test_responses_refusal_is_a_refusal_content_part(client):
    """``refusal`` answers a message whose content is a refusal part."""
    response = client.responses.create(model=GPT, input=ask("refusal"))

    [part] = response.output[0].content
    assert ("refusal", REFUSAL, "") == (part.type, part.refusal, response.output_text)


def test_responses_stream_sends_the_event_sequence(client):
    """A streamed Responses answer sends created, in_progress, the item and text events, then
    completed with the whole response."""
    events = list(client.responses.create(model=GPT, input=ask(), stream=True))

    types = [e.type for e in events]
    assert [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ] == types[:4]
    assert [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ] == types[-4:]
    assert list(range(len(events))) == [e.sequence_number for e in events]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert ANSWER == "".join(deltas) == events[-1].response.output_text


def test_responses_stream_helper_accumulates_a_function_call(client):
    """The client's Responses stream helper ends with the function call as the final output."""
    with client.responses.stream(model=GPT, input=ask("tool"), tools=RESPONSES_TOOLS) as stream:
        deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        response = stream.get_final_response()

    [item] = response.output
    assert '{"order_id": "example"}' == "".join(deltas) == item.arguments


def test_responses_stream_truncated_ends_with_response_incomplete(client):
    """A streamed ``truncated`` answer ends with response.incomplete, which the client's stream
    helper does not count as a final response."""
    with client.responses.stream(model=GPT, input=ask("truncated"), max_output_tokens=2) as stream:
        events = list(stream)
        with pytest.raises(RuntimeError):
            stream.get_final_response()

    assert "response.incomplete" == events[-1].type
    assert ("Thanks for", "max_output_tokens") == (
        events[-1].response.output_text,
        events[-1].response.incomplete_details.reason,
    )


async def test_async_responses_stream(server):
    """The async client's Responses stream helper gets the final response."""
    async with (
        server.async_client() as client,
        client.responses.stream(model=GPT, input=ask()) as stream,
    ):
        response = await stream.get_final_response()

    assert ANSWER == response.output_text


# --- OpenAI Embeddings ----------------------------------------------------------------------


def test_embeddings_are_the_same_as_floats_and_base64(client):
    """Embeddings come as floats or base64 as asked; the client decodes base64 to the same."""
    floats = client.embeddings.create(
        model="text-embedding-3-small", input=["a b", "c"], encoding_format="float"
    )
    decoded = client.embeddings.create(model="text-embedding-3-small", input=["a b", "c"])

    assert [8, 8] == [len(item.embedding) for item in floats.data]
    for exact, packed in zip(floats.data, decoded.data, strict=True):
        assert exact.embedding == pytest.approx(packed.embedding, abs=1e-6)
    assert ("text-embedding-3-small", 3) == (floats.model, floats.usage.prompt_tokens)


def test_embeddings_have_the_dimensions_asked(client):
    """``dimensions`` sets the length of each embedding."""
    response = client.embeddings.create(model="text-embedding-3-small", input="a", dimensions=3)

    assert 3 == len(response.data[0].embedding)


def test_embeddings_error(client):
    """``error=CODE`` applies to embeddings too."""
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="text-embedding-3-small", input="a [fake-model: error=503]")


# --- Anthropic Messages ---------------------------------------------------------------------


def test_messages_answers_a_text_block(claude):
    """A Messages request gets a text block, end_turn, the requested model and word usage."""
    message = claude.messages.create(model=CLAUDE, max_tokens=50, messages=ask())

    assert ("msg_fake_1", "message", "assistant", CLAUDE, "end_turn") == (
        message.id,
        message.type,
        message.role,
        message.model,
        message.stop_reason,
    )
    assert [("text", ANSWER)] == [(block.type, block.text) for block in message.content]
    assert (4, words(ANSWER), 0, 0) == (
        message.usage.input_tokens,
        message.usage.output_tokens,
        message.usage.cache_read_input_tokens,
        message.usage.cache_creation_input_tokens,
    )


def test_messages_usage_reports_cache_reads_and_writes(claude):
    """cached=N and cache-write=N report cache reads and writes besides the input tokens."""
    message = claude.messages.create(
        model=CLAUDE, max_tokens=50, messages=ask("cached=5 cache-write=7")
    )

    assert (7, 5, 7) == (
        message.usage.input_tokens,
        message.usage.cache_read_input_tokens,
        message.usage.cache_creation_input_tokens,
    )


def test_messages_tool_is_a_tool_use_block(claude):
    """``tool`` answers a tool_use block with an input object, stop_reason tool_use."""
    message = claude.messages.create(
        model=CLAUDE, max_tokens=50, messages=ask("tool"), tools=CLAUDE_TOOLS
    )

    [block] = message.content
    assert ("tool_use", "toolu_fake_1_0", "lookup_order", {"order_id": "example"}) == (
        block.type,
        block.id,
        block.name,
        block.input,
    )
    assert "tool_use" == message.stop_reason


def test_messages_bad_args_break_the_schema(claude):
    """``bad-args`` answers a tool_use whose input has the wrong types."""
    message = claude.messages.create(
        model=CLAUDE, max_tokens=50, messages=ask("bad-args"), tools=CLAUDE_TOOLS
    )

    assert {"order_id": 42} == message.content[0].input


@pytest.mark.parametrize(
    ("directive", "stop_reason", "text"),
    [
        ("truncated", "max_tokens", "Thanks for reaching"),
        ("refusal", "refusal", None),
        ("filtered", "refusal", None),
        ("empty", "end_turn", None),
        ("refuse", "end_turn", REFUSAL),
    ],
)
def test_messages_stop_reasons(claude, directive, stop_reason, text):
    """Each behaviour answers its stop_reason, with the text it leaves, if any."""
    message = claude.messages.create(model=CLAUDE, max_tokens=3, messages=ask(directive))

    expected = [text] if text else []
    assert stop_reason == message.stop_reason
    assert expected == [block.text for block in message.content]


def test_messages_stop_sequence_names_the_requests_stop_sequence(claude):
    """``stop-sequence`` stops at the request's first stop sequence."""
    message = claude.messages.create(
        model=CLAUDE, max_tokens=50, messages=ask("stop-sequence"), stop_sequences=["###"]
    )

    assert ("stop_sequence", "###") == (message.stop_reason, message.stop_sequence)


def test_messages_stream_helper_streams_text_and_the_final_message(claude):
    """client.messages.stream streams the text and ends with the whole message and usage."""
    with claude.messages.stream(model=CLAUDE, max_tokens=50, messages=ask()) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()

    assert ANSWER == text == message.content[0].text
    assert ("end_turn", 4, words(ANSWER)) == (
        message.stop_reason,
        message.usage.input_tokens,
        message.usage.output_tokens,
    )


def test_messages_stream_helper_accumulates_tool_input(claude):
    """A streamed tool_use builds its input from input_json_delta events."""
    with claude.messages.stream(
        model=CLAUDE, max_tokens=50, messages=ask("tool"), tools=CLAUDE_TOOLS
    ) as stream:
        message = stream.get_final_message()

    assert ("tool_use", {"order_id": "example"}) == (message.stop_reason, message.content[0].input)


def test_messages_create_stream_sends_the_event_sequence(claude):
    """messages.create(stream=True) yields message_start, the block events, message_delta with
    the stop reason and usage, and message_stop."""
    stream = claude.messages.create(
        model=CLAUDE, max_tokens=2, messages=ask("truncated"), stream=True
    )
    events = list(stream)

    assert [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ] == [e.type for e in events]
    assert ("max_tokens", 2) == (events[-2].delta.stop_reason, events[-2].usage.output_tokens)


async def test_async_messages_stream(server):
    """The async client's stream helper streams the text and ends with the message."""
    async with (
        server.async_anthropic_client() as claude,
        claude.messages.stream(model=CLAUDE, max_tokens=50, messages=ask()) as stream,
    ):
        text = "".join([piece async for piece in stream.text_stream])
        message = await stream.get_final_message()

    assert ANSWER == text == message.content[0].text


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
    ],
)
def test_messages_error_raises_the_clients_error(claude, status, error, kind):
    """``error=CODE`` answers that HTTP status with Anthropic's error body."""
    with pytest.raises(error) as raised:
        claude.messages.create(model=CLAUDE, max_tokens=50, messages=ask(f"error={status}"))

    assert (status, kind) == (raised.value.status_code, raised.value.body["error"]["type"])


def test_messages_answer_normally_after_a_tool_result(claude):
    """Once a tool_result block follows the directive's message, Claude answers normally."""
    messages = [
        *ask("tool"),
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup_order", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "shipped"}],
        },
    ]

    message = claude.messages.create(
        model=CLAUDE, max_tokens=50, messages=messages, tools=CLAUDE_TOOLS
    )

    assert ("end_turn", ANSWER) == (message.stop_reason, message.content[0].text)


def test_messages_args_must_be_a_json_object(claude):
    """``args=`` that is no JSON object cannot be a tool_use input: the answer is 400."""
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(
            model=CLAUDE, max_tokens=50, messages=ask("tool args=[1]"), tools=CLAUDE_TOOLS
        )
