"""Response and request adapters: OpenAI, Anthropic and plain dicts, into one record.

Adapters read objects of the OpenAI and Anthropic client libraries by their fields, the way
the wire format names them, and never import those libraries: an object is recognised by
its class's module (``openai.…``, ``anthropic.…``) and its type marker (``object`` or
``type``). The same code reads a plain dict of the same shape. Anything else is not read at
all: no attribute of an unknown object is ever touched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ._records import Call, ModelResponse, Request, Response, Tokens

_VENDORS: Final = ("openai.", "anthropic.")
_MAX_TOOL_CALLS: Final = 64
_MAX_ITEMS: Final = 256


_MAX_TYPES: Final = 4096
_vendor_types: dict[type, bool] = {}
"""Whether a class is a vendor's, by class: :func:`get` runs a dozen times per response."""


def _is_vendor(cls: type) -> bool:
    known = _vendor_types.get(cls)
    if known is None:
        known = cls.__module__.startswith(_VENDORS)
        if len(_vendor_types) < _MAX_TYPES:
            _vendor_types[cls] = known
    return known


def _readable(value: object) -> bool:
    return _is_vendor(type(value)) or isinstance(value, Mapping)


def get(value: object, key: str) -> Any:
    """``value[key]`` of a dict, or the field of a vendor object; ``None`` when absent."""
    if value is None:
        return None
    cls = type(value)
    if cls is dict:
        return value.get(key)  # type: ignore[attr-defined]
    if _vendor_types.get(cls) or _is_vendor(cls):
        return getattr(value, key, None)
    if isinstance(value, Mapping):
        return value.get(key)
    return None


def _items(value: object) -> list[Any]:
    """A list field, bounded; empty when it is not a list or tuple."""
    return list(value[:_MAX_ITEMS]) if isinstance(value, (list, tuple)) else []


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def read_response(value: object) -> Response | None:  # noqa: PLR0911 (one per shape)
    """What ``value`` says the model did, or ``None`` when it is not a known response.

    Known: an OpenAI chat completion, Responses API response or embeddings list, an
    Anthropic message, a dict of one of those shapes, or a :class:`ModelResponse`.
    """
    if isinstance(value, ModelResponse):
        return Response.of(value)
    if not _readable(value):
        return None
    marker = get(value, "object")
    if marker == "chat.completion":
        return _chat_completion(value)
    if marker == "response":
        return _responses(value)
    if marker == "list" and get(value, "data") is not None:
        return _embeddings(value)
    if get(value, "type") == "message" and get(value, "content") is not None:
        return _anthropic_message(value)
    return None


def _chat_completion(value: object) -> Response:
    reasons: list[str] = []
    texts: list[str] = []
    calls: list[Call] = []
    refusal = None
    for choice in _items(get(value, "choices")):
        reason = _str(get(choice, "finish_reason"))
        if reason:
            reasons.append(reason)
        message = get(choice, "message")
        text = _str(get(message, "content"))
        if text:
            texts.append(text)
        refusal = refusal or _str(get(message, "refusal"))
        for call in _items(get(message, "tool_calls"))[:_MAX_TOOL_CALLS]:
            function = get(call, "function")
            name = _str(get(function, "name"))
            if name:
                calls.append(
                    Call(
                        name=name,
                        id=_str(get(call, "id")),
                        arguments=_str(get(function, "arguments")),
                    )
                )
    usage = get(value, "usage")
    return Response(
        model=_str(get(value, "model")),
        id=_str(get(value, "id")),
        finish_reasons=tuple(reasons),
        usage=Tokens(
            input_tokens=_int(get(usage, "prompt_tokens")),
            output_tokens=_int(get(usage, "completion_tokens")),
            cache_read_input_tokens=_int(get(get(usage, "prompt_tokens_details"), "cached_tokens")),
            reasoning_output_tokens=_int(
                get(get(usage, "completion_tokens_details"), "reasoning_tokens")
            ),
        )
        if usage is not None
        else None,
        tool_calls=tuple(calls),
        text="\n".join(texts) if texts else None,
        refusal=refusal,
        operation="chat",
    )


def _responses(value: object) -> Response:
    texts: list[str] = []
    calls: list[Call] = []
    refusal = None
    for item in _items(get(value, "output")):
        kind = get(item, "type")
        if kind == "message":
            for part in _items(get(item, "content")):
                if get(part, "type") == "output_text" and _str(get(part, "text")):
                    texts.append(get(part, "text"))
                elif get(part, "type") == "refusal":
                    refusal = refusal or _str(get(part, "refusal"))
        elif kind == "function_call" and _str(get(item, "name")) and len(calls) < _MAX_TOOL_CALLS:
            calls.append(
                Call(
                    name=get(item, "name"),
                    id=_str(get(item, "call_id")),
                    arguments=_str(get(item, "arguments")),
                )
            )
    status = get(value, "status")
    if status == "incomplete":
        reason = _str(get(get(value, "incomplete_details"), "reason")) or "incomplete"
    elif status == "failed":
        reason = "error"
    else:
        reason = "tool_calls" if calls else "stop"
    usage = get(value, "usage")
    return Response(
        model=_str(get(value, "model")),
        id=_str(get(value, "id")),
        finish_reasons=(reason,),
        usage=Tokens(
            input_tokens=_int(get(usage, "input_tokens")),
            output_tokens=_int(get(usage, "output_tokens")),
            cache_read_input_tokens=_int(get(get(usage, "input_tokens_details"), "cached_tokens")),
            reasoning_output_tokens=_int(
                get(get(usage, "output_tokens_details"), "reasoning_tokens")
            ),
        )
        if usage is not None
        else None,
        tool_calls=tuple(calls),
        text="".join(texts) if texts else None,
        refusal=refusal,
        operation="chat",
    )


def _embeddings(value: object) -> Response:
    usage = get(value, "usage")
    return Response(
        model=_str(get(value, "model")),
        usage=Tokens(input_tokens=_int(get(usage, "prompt_tokens"))) if usage is not None else None,
        operation="embeddings",
    )


def _anthropic_message(value: object) -> Response:
    texts: list[str] = []
    calls: list[Call] = []
    for block in _items(get(value, "content")):
        kind = get(block, "type")
        if kind == "text" and _str(get(block, "text")):
            texts.append(get(block, "text"))
        elif kind == "tool_use" and _str(get(block, "name")) and len(calls) < _MAX_TOOL_CALLS:
            calls.append(
                Call(
                    name=get(block, "name"),
                    id=_str(get(block, "id")),
                    arguments=_arguments_text(get(block, "input")),
                )
            )
    reason = _str(get(value, "stop_reason"))
    usage = get(value, "usage")
    return Response(
        model=_str(get(value, "model")),
        id=_str(get(value, "id")),
        finish_reasons=(reason,) if reason else (),
        usage=Tokens(
            input_tokens=_int(get(usage, "input_tokens")),
            output_tokens=_int(get(usage, "output_tokens")),
            cache_read_input_tokens=_int(get(usage, "cache_read_input_tokens")),
            cache_creation_input_tokens=_int(get(usage, "cache_creation_input_tokens")),
        )
        if usage is not None
        else None,
        tool_calls=tuple(calls),
        text="".join(texts) if texts else None,
        refusal="refusal" if reason == "refusal" else None,
        operation="chat",
    )


def _arguments_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        try:
            return json.dumps(dict(value), default=str)
        except (TypeError, ValueError):
            return None
    return None


# --- request side ------------------------------------------------------------------------

_NUMBERS: Final = {
    "temperature": "temperature",
    "top_p": "top_p",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}
_INTEGERS: Final = {
    "top_k": "top_k",
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "max_output_tokens": "max_tokens",
    "seed": "seed",
    "n": "choice_count",
}
_NUMERIC_ORDER: Final = (*_NUMBERS, *_INTEGERS)
"""In this order, so the last of ``max_tokens``, ``max_completion_tokens`` and
``max_output_tokens`` wins when several are given."""
_PARAMETERS: Final = frozenset((*_NUMERIC_ORDER, "stop", "stop_sequences", "stream", "tools"))


def read_request(kwargs: Mapping[str, Any]) -> Request | None:
    """The request parameters among a call's keyword arguments; ``None`` when there are none.

    The names are those the OpenAI and Anthropic clients use.
    """
    fields: dict[str, Any] = {}
    model = kwargs.get("model")
    if isinstance(model, str) and model:
        fields["model"] = model
    present = _PARAMETERS.intersection(kwargs)  # many calls give none of them
    if present:
        _parameters(kwargs, present, fields)
    return Request(**fields) if fields else None


def _parameters(kwargs: Mapping[str, Any], present: frozenset[str], fields: dict[str, Any]) -> None:
    """The parameters among ``present``, into ``fields``."""
    for key in _NUMERIC_ORDER:
        if key not in present:
            continue
        value = kwargs[key]
        if key in _NUMBERS:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                fields[_NUMBERS[key]] = float(value)
        elif _int(value) is not None:
            fields[_INTEGERS[key]] = value
    stop = kwargs.get("stop", kwargs.get("stop_sequences"))
    if isinstance(stop, str):
        fields["stop_sequences"] = (stop,)
    elif isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop[:16]):
        fields["stop_sequences"] = tuple(stop[:16])
    stream = kwargs.get("stream")
    if isinstance(stream, bool):
        fields["stream"] = stream
    tools = _tools(kwargs.get("tools"))
    if tools:
        fields["tools"] = tools


def _tools(value: object) -> dict[str, dict[str, object] | None]:
    """Offered tools by name, with their parameters' JSON schema, in any vendor's shape."""
    tools: dict[str, dict[str, object] | None] = {}
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        return tools
    for tool in list(value)[:_MAX_ITEMS]:
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function")
        spec = function if isinstance(function, Mapping) else tool
        name = spec.get("name")
        if not isinstance(name, str):
            continue
        schema = spec.get("parameters", spec.get("input_schema"))
        tools[name] = dict(schema) if isinstance(schema, Mapping) else None
    return tools
