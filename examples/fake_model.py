"""A local stand-in for the OpenAI and Anthropic model APIs, so examples and tests run offline.

It serves, on 127.0.0.1, in each vendor's wire format, JSON or streamed as server-sent events:

- ``POST /v1/chat/completions`` (OpenAI Chat Completions; ``stream: true`` sends
  ``data: {chunk}`` lines and ``data: [DONE]``, with a final usage chunk when
  ``stream_options.include_usage`` is set);
- ``POST /v1/responses`` (OpenAI Responses; streamed as ``response.created`` …
  ``response.completed`` or ``response.incomplete`` events);
- ``POST /v1/embeddings`` (OpenAI Embeddings, floats or base64 as asked);
- ``POST /v1/messages`` (Anthropic Messages; streamed as ``message_start`` …
  ``message_stop`` events).

so the real ``openai`` and ``anthropic`` client libraries are exercised end to end. Use it as
a context manager; it stops its thread on exit::

    with FakeModelServer() as server:
        client = server.client()  # or async_client(), anthropic_client(), ...

Every answer is deterministic: the text is a template over the last user message (see
:func:`reply_for`), usage counts words, ids count the requests this server received
(``chatcmpl-fake-N``, ``resp_fake_N``, ``msg_fake_N``; tool calls ``call_fake_N_I`` and
``toolu_fake_N_I``), and the response names the requested model, dated for OpenAI chat and
Responses models (``gpt-4o-mini`` answers as ``gpt-4o-mini-2024-07-18``).

**Scripting a reply.** A user message may end with a directive, ``[fake-model: WORD ...]``,
so an example can show a model misbehaving on cue. The words are separated by spaces (so a
JSON value must have none). One *behaviour* word says what kind of answer to give; if several
are given, the first in this list wins:

- ``error=CODE``: an HTTP error with the vendor's error body (``error=429`` carries
  ``retry-after`` headers asking for an immediate retry; clients retry 429 and 5xx);
- ``filtered``: a content-filtered answer: Chat ``finish_reason="content_filter"`` with empty
  content; Responses ``status="incomplete"``, ``incomplete_details.reason="content_filter"``;
  Anthropic ``stop_reason="refusal"`` with no content;
- ``refusal``: a structured refusal: Chat ``message.refusal`` set and ``content`` null;
  Responses a ``refusal`` content part; Anthropic ``stop_reason="refusal"`` with no content;
- ``truncated``: the answer cut short (to ``max_tokens`` words if that is fewer, else to
  half): Chat ``finish_reason="length"``; Responses ``status="incomplete"``,
  ``incomplete_details.reason="max_output_tokens"``; Anthropic ``stop_reason="max_tokens"``;
- ``bad-args``: a tool call whose arguments break the tool's schema: every property of the
  wrong type (``42`` for a string, ``"42"`` otherwise); for OpenAI the JSON text is also cut
  off before its closing brace (``{"order_id": 42``);
- ``tool`` or ``tool=NAME`` (``tool=A,B`` for parallel calls), with ``args=JSON`` optionally:
  the model calls a tool, by default the first one the request offers, with arguments made
  from its schema (each property's first ``examples``, ``default`` or ``enum`` value, else
  ``"example"``, ``1``, ``1.0``, ``true``, ``[]`` or ``{}`` by type): Chat ``tool_calls`` and
  ``finish_reason="tool_calls"``; Responses ``function_call`` items; Anthropic ``tool_use``
  blocks and ``stop_reason="tool_use"``. OpenAI gets ``args`` verbatim; Anthropic needs a
  JSON object;
- ``stop-sequence``: the answer cut to half, stopped by the request's first stop sequence:
  Anthropic ``stop_reason="stop_sequence"``; for OpenAI an ordinary ``stop``;
- ``empty``: no text: Chat content ``""`` and ``finish_reason="stop"``; Responses an empty
  ``output_text``; Anthropic no content blocks and ``stop_reason="end_turn"``;
- ``refuse``: a refusal in plain prose (:data:`REFUSAL`), as an ordinary answer;
- ``ok``: the ordinary answer (also what no behaviour word means).

Other words adjust the answer, whatever its behaviour:

- ``model=NAME``: the response names this model instead;
- ``cached=N``, ``cache-write=N``, ``reasoning=N``: usage reports N cached prompt tokens,
  N tokens written to the prompt cache, N reasoning tokens (added to the word counts);
- ``label=NAME`` and ``confidence=0.42``: the classification a JSON-mode chat request
  (``response_format={"type": "json_object"}``) gets, ``{"label": ..., "confidence": ...}``
  (by default ``general`` and ``0.93``);
- ``garbled``: a JSON-mode chat request gets prose instead of JSON, every time;
- ``garbled-once``: the same, the first time this exact conversation is sent only.

A directive scripts the reply to its own message: once a tool result follows it (a ``tool``
message, a ``function_call_output`` item, a ``tool_result`` block), its behaviour word no
longer applies and the model answers normally.

**Scripting the next requests.** ``server.script("truncated", "tool=lookup args={}", "ok")``
queues behaviours, each written as a directive's words: the next requests, to any endpoint,
take them in order, instead of any directive. Embeddings heed ``error=`` and ``model=`` only.
"""

from __future__ import annotations

import array
import base64
import hashlib
import json
import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import TracebackType

    from anthropic import Anthropic, AsyncAnthropic
    from openai import AsyncOpenAI, OpenAI

DATE_SUFFIX = "-2024-07-18"
RESPONSE_MODEL = "gpt-4o-mini" + DATE_SUFFIX
REFUSAL = "I'm sorry, but I can't help with that request."
GARBLED = "Sure! This one looks like a billing question to me."
CREATED = 1_700_000_000
BEHAVIOURS = (
    "error",
    "filtered",
    "refusal",
    "truncated",
    "bad-args",
    "tool",
    "stop-sequence",
    "empty",
    "refuse",
    "ok",
)
"""The behaviour words, the first present in a directive winning."""

_DIRECTIVE = re.compile(r"\s*\[fake-model:(.*)\]\s*$", re.DOTALL)
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_ROUTES = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/embeddings": "embeddings",
    "/v1/messages": "messages",
}
_CHAT_FINISH = {
    "truncated": "length",
    "filtered": "content_filter",
    "tool": "tool_calls",
    "bad-args": "tool_calls",
}
_INCOMPLETE = {"truncated": "max_output_tokens", "filtered": "content_filter"}
_ANTHROPIC_STOP = {
    "truncated": "max_tokens",
    "refusal": "refusal",
    "filtered": "refusal",
    "tool": "tool_use",
    "bad-args": "tool_use",
    "stop-sequence": "stop_sequence",
}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_SCHEMA_EXAMPLES: dict[str, Any] = {
    "string": "example",
    "integer": 1,
    "number": 1.0,
    "boolean": True,
    "array": [],
    "object": {},
}


class BadDirectiveError(ValueError):
    """A directive the request cannot honour; the server answers 400 with this message."""


# --- reading a request ----------------------------------------------------------------------


def parse_words(text: str) -> dict[str, str]:
    """A directive's words: a bare word maps to ``""``, ``key=value`` maps ``key`` to ``value``."""
    words: dict[str, str] = {}
    for word in text.split():
        key, _, value = word.partition("=")
        words[key] = value
    return words


def split_directive(text: str) -> tuple[str, dict[str, str]]:
    """A message's text without its ending directive, and the directive's words."""
    found = _DIRECTIVE.search(text)
    if found is None:
        return text, {}
    return text[: found.start()], parse_words(found.group(1))


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") in {"text", "input_text", "output_text"}
        )
    return ""


def directive(messages: list[dict[str, Any]]) -> tuple[str, dict[str, str]]:
    """The last user message with text, without its directive, and the directive's words.

    (An Anthropic tool result is a user message without text.)
    """
    texts = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    return split_directive(next((text for text in reversed(texts) if text), ""))


def reply_for(messages: list[dict[str, Any]]) -> str:
    """The fake model's answer: a fixed template over the last user message."""
    return _reply(directive(messages)[0])


def _reply(prompt: str) -> str:
    return f"Thanks for reaching out. About {prompt[:60]!r}: it is on its way."


@dataclass
class Turn:
    """What the fake model reads from one request, whatever its endpoint."""

    endpoint: str
    """``chat``, ``responses``, ``embeddings`` or ``messages``."""
    model: str
    prompt: str
    """The last user message, its directive left out."""
    words: dict[str, str]
    """The words of that message's directive."""
    prompt_words: int
    """Words in everything the request sends: its usage's prompt token count."""
    tools: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Each tool offered: its name and its JSON schema."""
    after_tool_result: bool = False
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    json_mode: bool = False


def read_turn(endpoint: str, request: dict[str, Any]) -> Turn:
    """What ``request``, sent to ``endpoint``, asks the fake model."""
    model = str(request.get("model") or "")
    if endpoint == "embeddings":
        inputs = request.get("input")
        texts = [i if isinstance(i, str) else " ".join(map(str, i)) for i in _listed(inputs)]
        last = texts[-1] if texts else ""
        return Turn(endpoint, model, *split_directive(last), _count(texts))
    if endpoint == "responses":
        items = request.get("input") or []
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        messages = [i for i in items if "role" in i]
        texts = [text_of(i.get("content")) or str(i.get("output") or "") for i in items]
        texts.append(str(request.get("instructions") or ""))
        tools = [(t["name"], t.get("parameters") or {}) for t in request.get("tools") or []]
        after_tool = bool(items) and items[-1].get("type") == "function_call_output"
        max_tokens = request.get("max_output_tokens")
    else:
        messages = request.get("messages") or []
        texts = [text_of(m.get("content")) for m in messages]
        if endpoint == "chat":
            functions = [t.get("function") or t for t in request.get("tools") or []]
            tools = [(f["name"], f.get("parameters") or {}) for f in functions]
            after_tool = bool(messages) and messages[-1].get("role") == "tool"
            max_tokens = request.get("max_completion_tokens") or request.get("max_tokens")
        else:
            texts.append(text_of(request.get("system")))
            tools = [(t["name"], t.get("input_schema") or {}) for t in request.get("tools") or []]
            content = messages[-1].get("content") if messages else None
            after_tool = isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_result" for b in content
            )
            max_tokens = request.get("max_tokens")
    prompt, words = directive(messages)
    stop = request.get("stop_sequences") or request.get("stop") or []
    return Turn(
        endpoint,
        model,
        prompt,
        words,
        _count(texts),
        tools,
        after_tool,
        max_tokens,
        _listed(stop),
        (request.get("response_format") or {}).get("type") == "json_object",
    )


def _listed(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value or [])


def _count(texts: Iterable[str]) -> int:
    return sum(len(text.split()) for text in texts)


# --- the answer -----------------------------------------------------------------------------


@dataclass
class Call:
    """One tool call the fake model makes."""

    name: str
    arguments: str
    """The arguments as OpenAI sends them: JSON text, maybe malformed."""
    input: dict[str, Any] | None
    """The arguments as Anthropic sends them, or None if they are no JSON object."""


@dataclass
class Usage:
    """Token counts, before each vendor's arithmetic."""

    prompt: int
    output: int
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0


@dataclass
class Answer:
    """The fake model's answer to one request, whatever its endpoint."""

    behaviour: str
    model: str
    text: str | None
    refusal: str | None = None
    calls: list[Call] = field(default_factory=list)
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=lambda: Usage(0, 0))


def behaviour_of(words: dict[str, str]) -> str:
    """The behaviour ``words`` script: the first behaviour word among them, else ``ok``."""
    return next((word for word in BEHAVIOURS if word in words), "ok")


def response_model(turn: Turn) -> str:
    """The model a response names by default: OpenAI chat and Responses models get dated."""
    if turn.endpoint in {"chat", "responses"} and not _DATED.search(turn.model):
        return turn.model + DATE_SUFFIX
    return turn.model


def answer_for(turn: Turn, words: dict[str, str], seen_before: bool) -> Answer:
    """The answer to ``turn`` that ``words`` script.

    Args:
        turn: The request, as read.
        words: The scripting words in force (a directive's, or a queued behaviour's).
        seen_before: Whether this exact conversation was sent before (for ``garbled-once``).
    """
    behaviour = behaviour_of(words)
    text: str | None = _scripted_text(turn, words, seen_before)
    answer = Answer(behaviour, words.get("model") or response_model(turn), text)
    if behaviour == "truncated":
        answer.text = _cut(text or "", turn.max_tokens)
    elif behaviour == "stop-sequence":
        answer.text = _cut(text or "", None)
        answer.stop_sequence = turn.stop[0] if turn.stop else "\n\nUser:"
    elif behaviour in {"filtered", "empty"}:
        answer.text = ""
    elif behaviour == "refusal":
        answer.text, answer.refusal = None, REFUSAL
    elif behaviour in {"tool", "bad-args"}:
        answer.text = None
        answer.calls = _calls(turn, words, wrong=behaviour == "bad-args")
    said = [answer.text or "", answer.refusal or ""]
    said += [f"{call.name} {call.arguments}" for call in answer.calls]
    answer.usage = Usage(
        prompt=turn.prompt_words,
        output=_count(said),
        cached=int(words.get("cached") or 0),
        cache_write=int(words.get("cache-write") or 0),
        reasoning=int(words.get("reasoning") or 0),
    )
    return answer


def _scripted_text(turn: Turn, words: dict[str, str], seen_before: bool) -> str:
    if turn.json_mode:
        if "garbled" in words or ("garbled-once" in words and not seen_before):
            return GARBLED
        return json.dumps(
            {
                "label": words.get("label") or "general",
                "confidence": float(words.get("confidence") or 0.93),
            }
        )
    if "refuse" in words:
        return REFUSAL
    return _reply(turn.prompt)


def _cut(text: str, max_tokens: int | None) -> str:
    words = text.split(" ")
    keep = max_tokens if max_tokens is not None and max_tokens < len(words) else len(words) // 2
    return " ".join(words[: max(keep, 1)])


def _calls(turn: Turn, words: dict[str, str], wrong: bool) -> list[Call]:
    if words.get("tool"):
        names = words["tool"].split(",")
    elif turn.tools:
        names = [turn.tools[0][0]]
    else:
        raise BadDirectiveError("the fake model was asked for a tool call, but no tool is offered")
    schemas = dict(turn.tools)
    calls = []
    for name in names:
        properties: dict[str, Any] = schemas.get(name, {}).get("properties") or {}
        if wrong:
            values = {
                key: 42 if spec.get("type") == "string" else "42"
                for key, spec in properties.items()
            }
            values = values or {"unexpected": 42}
            calls.append(Call(name, json.dumps(values)[:-1], values))
        elif "args" in words:
            try:
                parsed = json.loads(words["args"])
            except ValueError:
                parsed = None
            calls.append(Call(name, words["args"], parsed if isinstance(parsed, dict) else None))
        else:
            values = {key: _example(spec) for key, spec in properties.items()}
            calls.append(Call(name, json.dumps(values), values))
    return calls


def _example(spec: dict[str, Any]) -> Any:
    for key in ("examples", "enum"):
        if spec.get(key):
            return spec[key][0]
    if "default" in spec:
        return spec["default"]
    return _SCHEMA_EXAMPLES.get(spec.get("type") or "string", "example")


def _pieces(text: str, size: int = 0) -> list[str]:
    """``text`` in stream deltas: word by word, or in chunks of ``size`` characters."""
    if size:
        return [text[i : i + size] for i in range(0, len(text), size)]
    return re.findall(r"\S+\s*|\s+", text)


# --- OpenAI Chat Completions ----------------------------------------------------------------


def chat_usage(usage: Usage) -> dict[str, Any]:
    """Usage in the Chat Completions format (prompt tokens include cached ones)."""
    prompt = usage.prompt + usage.cached + usage.cache_write
    completion = usage.output + usage.reasoning
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {
            "cached_tokens": usage.cached,
            "cache_write_tokens": usage.cache_write,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_completion(answer: Answer, number: int) -> dict[str, Any]:
    """The ``chat.completion`` object for ``answer``."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer.text,
        "refusal": answer.refusal,
        "annotations": [],
    }
    if answer.calls:
        message["tool_calls"] = [
            {
                "id": f"call_fake_{number}_{i}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for i, call in enumerate(answer.calls)
        ]
    return {
        "id": f"chatcmpl-fake-{number}",
        "object": "chat.completion",
        "created": CREATED,
        "model": answer.model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _CHAT_FINISH.get(answer.behaviour, "stop"),
            }
        ],
        "usage": chat_usage(answer.usage),
    }


def chat_chunks(answer: Answer, number: int, include_usage: bool) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects streaming ``answer``."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        found: dict[str, Any] = {
            "id": f"chatcmpl-fake-{number}",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": answer.model,
            "system_fingerprint": "fp_fake",
            "choices": [choice],
        }
        if include_usage:
            found["usage"] = None
        return found

    yield chunk({"role": "assistant", "content": "" if answer.text is not None else None})
    for piece in _pieces(answer.text or ""):
        yield chunk({"content": piece})
    for piece in _pieces(answer.refusal or ""):
        yield chunk({"refusal": piece})
    for i, call in enumerate(answer.calls):
        function = {"name": call.name, "arguments": ""}
        opened = {"index": i, "id": f"call_fake_{number}_{i}", "type": "function"}
        yield chunk({"tool_calls": [{**opened, "function": function}]})
        for piece in _pieces(call.arguments, 8):
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    yield chunk({}, _CHAT_FINISH.get(answer.behaviour, "stop"))
    if include_usage:
        yield {**chunk({}), "choices": [], "usage": chat_usage(answer.usage)}


# --- OpenAI Responses -----------------------------------------------------------------------


def responses_usage(usage: Usage) -> dict[str, Any]:
    """Usage in the Responses format (input tokens include cached ones)."""
    prompt = usage.prompt + usage.cached + usage.cache_write
    output = usage.output + usage.reasoning
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": usage.cached,
            "cache_write_tokens": usage.cache_write,
        },
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": prompt + output,
    }


def response_output(answer: Answer, number: int) -> list[dict[str, Any]]:
    """The ``output`` items of ``answer``: its message, if any, then a function call per call."""
    items: list[dict[str, Any]] = []
    if answer.refusal is not None:
        part: dict[str, Any] = {"type": "refusal", "refusal": answer.refusal}
    else:
        part = {"type": "output_text", "text": answer.text, "annotations": [], "logprobs": []}
    if answer.text is not None or answer.refusal is not None:
        status = "incomplete" if answer.behaviour in _INCOMPLETE else "completed"
        message = {"type": "message", "role": "assistant", "status": status, "content": [part]}
        items.append({"id": f"msg_fake_{number}", **message})
    items.extend(
        {
            "id": f"fc_fake_{number}_{i}",
            "type": "function_call",
            "call_id": f"call_fake_{number}_{i}",
            "name": call.name,
            "arguments": call.arguments,
            "status": "completed",
        }
        for i, call in enumerate(answer.calls)
    )
    return items


def response_object(
    answer: Answer, number: int, request: dict[str, Any], done: bool = True
) -> dict[str, Any]:
    """The ``response`` object for ``answer``; if not ``done``, as it starts a stream."""
    incomplete = _INCOMPLETE.get(answer.behaviour)
    status = ("incomplete" if incomplete else "completed") if done else "in_progress"
    return {
        "id": f"resp_fake_{number}",
        "object": "response",
        "created_at": CREATED,
        "completed_at": CREATED + 1 if status == "completed" else None,
        "status": status,
        "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete and done else None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": answer.model,
        "output": response_output(answer, number) if done else [],
        "parallel_tool_calls": True,
        "previous_response_id": request.get("previous_response_id"),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": request.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": responses_usage(answer.usage) if done else None,
        "metadata": {},
    }


def response_events(
    answer: Answer, number: int, request: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """The Responses stream events for ``answer``, each with its ``type`` and sequence number."""
    events: list[dict[str, Any]] = []

    def event(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **fields})

    started = response_object(answer, number, request, done=False)
    event("response.created", response=started)
    event("response.in_progress", response=started)
    for index, item in enumerate(response_output(answer, number)):
        empty: dict[str, Any] = {"arguments": ""}
        if item["type"] == "message":
            empty = {"content": []}
        added = {**item, "status": "in_progress", **empty}
        event("response.output_item.added", output_index=index, item=added)
        at = {"item_id": item["id"], "output_index": index}
        if item["type"] == "message":
            [part] = item["content"]
            kind = part["type"]  # output_text or refusal: each names its events
            key = "text" if kind == "output_text" else "refusal"
            more: dict[str, Any] = {"logprobs": []} if kind == "output_text" else {}
            event("response.content_part.added", **at, content_index=0, part={**part, key: ""})
            for piece in _pieces(part[key]):
                event(f"response.{kind}.delta", **at, content_index=0, delta=piece, **more)
            event(f"response.{kind}.done", **at, content_index=0, **{key: part[key]}, **more)
            event("response.content_part.done", **at, content_index=0, part=part)
        else:
            arguments = item["arguments"]
            for piece in _pieces(arguments, 8):
                event("response.function_call_arguments.delta", **at, delta=piece)
            done = {"name": item["name"], "arguments": arguments}
            event("response.function_call_arguments.done", **at, **done)
        event("response.output_item.done", output_index=index, item=item)
    final = response_object(answer, number, request)
    event(f"response.{final['status']}", response=final)
    return iter(events)


# --- OpenAI Embeddings ----------------------------------------------------------------------


def embeddings(turn: Turn, model: str, request: dict[str, Any]) -> dict[str, Any]:
    """The embeddings of each input: ``dimensions`` (8 by default) numbers hashed from it."""
    dimensions = int(request.get("dimensions") or 8)
    data = []
    for index, item in enumerate(_listed(request.get("input"))):
        digest = hashlib.sha256(json.dumps(item).encode()).digest()
        vector = [((digest[i % len(digest)] ^ i) - 127.5) / 127.5 for i in range(dimensions)]
        embedding: Any = vector
        if request.get("encoding_format") == "base64":
            embedding = base64.b64encode(array.array("f", vector).tobytes()).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    usage = {"prompt_tokens": turn.prompt_words, "total_tokens": turn.prompt_words}
    return {"object": "list", "data": data, "model": model, "usage": usage}


# --- Anthropic Messages ---------------------------------------------------------------------


def anthropic_usage(usage: Usage, output_tokens: int | None = None) -> dict[str, Any]:
    """Usage in the Anthropic format (input tokens exclude cache reads and writes)."""
    found: dict[str, Any] = {
        "input_tokens": usage.prompt,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cached,
        "output_tokens": usage.output + usage.reasoning if output_tokens is None else output_tokens,
    }
    if usage.reasoning:
        found["output_tokens_details"] = {"thinking_tokens": usage.reasoning}
    return found


def anthropic_content(answer: Answer, number: int) -> list[dict[str, Any]]:
    """The content blocks of ``answer``: its text if any, then a ``tool_use`` block per call."""
    blocks: list[dict[str, Any]] = []
    if answer.text:
        blocks.append({"type": "text", "text": answer.text})
    for i, call in enumerate(answer.calls):
        if call.input is None:
            raise BadDirectiveError(f"args for {call.name!r} are no JSON object: {call.arguments}")
        blocks.append(
            {
                "type": "tool_use",
                "id": f"toolu_fake_{number}_{i}",
                "name": call.name,
                "input": call.input,
            }
        )
    return blocks


def anthropic_message(answer: Answer, number: int, done: bool = True) -> dict[str, Any]:
    """The ``message`` object for ``answer``; if not ``done``, as it starts a stream."""
    stop_reason = _ANTHROPIC_STOP.get(answer.behaviour, "end_turn")
    message: dict[str, Any] = {
        "id": f"msg_fake_{number}",
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": anthropic_content(answer, number) if done else [],
        "stop_reason": stop_reason if done else None,
        "stop_sequence": answer.stop_sequence if done else None,
        "usage": anthropic_usage(answer.usage, None if done else 1),
    }
    if done and stop_reason == "refusal":
        message["stop_details"] = {"type": "refusal", "category": None, "explanation": None}
    return message


def anthropic_events(answer: Answer, number: int) -> Iterator[dict[str, Any]]:
    """The Messages stream events for ``answer``, each with its ``type``."""
    final = anthropic_message(answer, number)
    yield {"type": "message_start", "message": anthropic_message(answer, number, done=False)}
    yield {"type": "ping"}
    for index, block in enumerate(final["content"]):
        if block["type"] == "text":
            start = {**block, "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in _pieces(block["text"])]
        else:
            start = {**block, "input": {}}
            pieces = ["", *_pieces(json.dumps(block["input"]), 8)]
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
        yield {"type": "content_block_start", "index": index, "content_block": start}
        for delta in deltas:
            yield {"type": "content_block_delta", "index": index, "delta": delta}
        yield {"type": "content_block_stop", "index": index}
    stop = {
        key: final[key] for key in ("stop_reason", "stop_sequence", "stop_details") if key in final
    }
    yield {"type": "message_delta", "delta": stop, "usage": final["usage"]}
    yield {"type": "message_stop"}


# --- errors ---------------------------------------------------------------------------------


def error_body(endpoint: str, status: int, message: str | None = None) -> dict[str, Any]:
    """The vendor's error body for an HTTP ``status``."""
    if endpoint == "messages":
        kind = _ANTHROPIC_ERRORS.get(status, "api_error")
        text = message or f"Fake {kind.replace('_', ' ')}."
        return {"type": "error", "error": {"type": kind, "message": text}}
    if status == 429:
        kind, code = "tokens", "rate_limit_exceeded"
        text = message or "Rate limit reached for the fake model. Please try again in 0s."
    elif status >= 500:
        kind, code = "server_error", None
        text = message or "The server had an error while processing your request."
    else:
        kind, code = "invalid_request_error", None
        text = message or f"Fake error {status}."
    return {"error": {"message": text, "type": kind, "param": None, "code": code}}


# --- the server -----------------------------------------------------------------------------


@dataclass
class Received:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    """The request's headers, their names in lower case."""
    body: dict[str, Any]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        path = self.path.partition("?")[0].rstrip("/")
        endpoint = _ROUTES.get(path, "")
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, error_body(endpoint, 400, "the body is no JSON"))
            return
        if not endpoint:
            self._send(404, error_body(endpoint, 404, f"no route {self.path}"))
            return
        turn = read_turn(endpoint, request)
        headers = {name.lower(): value for name, value in self.headers.items()}
        conversation = json.dumps(request.get("messages", request.get("input")), sort_keys=True)
        with self.server.lock:
            self.server.received.append(Received(path, headers, request))
            self.server.requests.append(request)
            number = len(self.server.requests)
            queued = self.server.queue.popleft() if self.server.queue else None
            seen_before = conversation in self.server.conversations
            self.server.conversations.add(conversation)
        words = turn.words if queued is None else parse_words(queued)
        if queued is None and turn.after_tool_result:
            words = {key: value for key, value in words.items() if key not in BEHAVIOURS}
        try:
            self._answer(turn, words, request, number, seen_before)
        except BadDirectiveError as error:
            self._send(400, error_body(endpoint, 400, str(error)))

    def _answer(
        self,
        turn: Turn,
        words: dict[str, str],
        request: dict[str, Any],
        number: int,
        seen_before: bool,
    ) -> None:
        if "error" in words:
            status = int(words["error"] or 500)
            # The clients read ``retry-after: 0`` as no advice and back off half a second;
            # a positive ``retry-after-ms`` is what makes them retry at once.
            retry = {"retry-after": "0", "retry-after-ms": "1"}
            self._send(status, error_body(turn.endpoint, status), retry)
            return
        if turn.endpoint == "embeddings":
            self._send(200, embeddings(turn, words.get("model") or turn.model, request))
            return
        answer = answer_for(turn, words, seen_before)
        stream = bool(request.get("stream"))
        if turn.endpoint == "chat" and stream:
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            self._stream([*chat_chunks(answer, number, include_usage), "[DONE]"], named=False)
        elif turn.endpoint == "chat":
            self._send(200, chat_completion(answer, number))
        elif turn.endpoint == "responses" and stream:
            self._stream(response_events(answer, number, request))
        elif turn.endpoint == "responses":
            self._send(200, response_object(answer, number, request))
        elif stream:
            self._stream(list(anthropic_events(answer, number)))
        else:
            self._send(200, anthropic_message(answer, number))

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, events: Iterable[dict[str, Any] | str], named: bool = True) -> None:
        """Send ``events`` as server-sent events, named after their type if ``named``."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.end_headers()
        for event in events:
            data = event if isinstance(event, str) else json.dumps(event)
            name = f"event: {event['type']}\n" if named and isinstance(event, dict) else ""
            try:
                self.wfile.write(f"{name}data: {data}\n\n".encode())
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return  # the client stopped reading: a stream left early

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keep the example's output clean."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[dict[str, Any]]
    received: list[Received]
    queue: deque[str]
    conversations: set[str]
    """Every conversation sent so far, as canonical JSON (for ``garbled-once``)."""
    lock: threading.Lock


class FakeModelServer:
    """A fake OpenAI- and Anthropic-compatible model on 127.0.0.1, on a free port."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.requests = []
        self._server.received = []
        self._server.queue = deque()
        self._server.conversations = set()
        self._server.lock = threading.Lock()
        # Poll often, so that leaving the context manager is quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """The server's root, as the Anthropic client wants its ``base_url``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """The OpenAI API root, as the OpenAI client wants its ``base_url``."""
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request body received, as JSON, in order."""
        return self._server.requests

    @property
    def received(self) -> list[Received]:
        """Every request received, with its path and headers, in order."""
        return self._server.received

    @property
    def queued(self) -> list[str]:
        """The scripted behaviours not yet used."""
        with self._server.lock:
            return list(self._server.queue)

    def script(self, *behaviours: str) -> None:
        """Script the next requests: each takes the next of ``behaviours``, in order.

        Each behaviour is written as a directive's words, like ``"truncated"`` or
        ``"tool=lookup_order args={}"``; it replaces whatever directive the request has.
        """
        with self._server.lock:
            self._server.queue.extend(behaviours)

    def client(self, **options: Any) -> OpenAI:
        """An ``openai.OpenAI`` client for this server, ignoring proxy settings.

        ``options`` go to the client; by default it does not retry and times out in 10 s.
        """
        import openai  # noqa: PLC0415

        if "http_client" not in options:
            options["http_client"] = openai.DefaultHttpxClient(trust_env=False)
        return openai.OpenAI(**self._options(self.base_url, options))

    def async_client(self, **options: Any) -> AsyncOpenAI:
        """An ``openai.AsyncOpenAI`` client for this server, like :meth:`client`."""
        import openai  # noqa: PLC0415

        if "http_client" not in options:
            options["http_client"] = openai.DefaultAsyncHttpxClient(trust_env=False)
        return openai.AsyncOpenAI(**self._options(self.base_url, options))

    def anthropic_client(self, **options: Any) -> Anthropic:
        """An ``anthropic.Anthropic`` client for this server, like :meth:`client`."""
        import anthropic  # noqa: PLC0415

        if "http_client" not in options:
            options["http_client"] = anthropic.DefaultHttpxClient(trust_env=False)
        return anthropic.Anthropic(**self._options(self.url, options))

    def async_anthropic_client(self, **options: Any) -> AsyncAnthropic:
        """An ``anthropic.AsyncAnthropic`` client for this server, like :meth:`client`."""
        import anthropic  # noqa: PLC0415

        if "http_client" not in options:
            options["http_client"] = anthropic.DefaultAsyncHttpxClient(trust_env=False)
        return anthropic.AsyncAnthropic(**self._options(self.url, options))

    @staticmethod
    def _options(base_url: str, options: dict[str, Any]) -> dict[str, Any]:
        return {"base_url": base_url, "api_key": "fake", "max_retries": 0, "timeout": 10, **options}

    def __enter__(self) -> FakeModelServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
