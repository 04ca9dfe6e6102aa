"""Message content in the GenAI semantic conventions' JSON structure (opt-in).

Input messages are read from a call's ``messages=`` (OpenAI chat, Anthropic) or ``input=``
(OpenAI Responses); system instructions from ``system=`` or ``instructions=``; output
messages from the response. Only text, tool calls and tool results are kept; other parts
are named by type. The structures are then captured like any value: bounded, redacted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ._adapters import get

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._records import Response

_MAX_MESSAGES: Final = 128
_FINISH: Final = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "max_output_tokens": "length",
    "tool_calls": "tool_call",
    "tool_use": "tool_call",
    "content_filter": "content_filter",
}


def _parts(content: object) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    if not isinstance(content, (list, tuple)):
        return parts
    for part in content[:_MAX_MESSAGES]:
        kind = get(part, "type")
        if isinstance(part, str):
            parts.append({"type": "text", "content": part})
        elif kind in ("text", "input_text", "output_text"):
            parts.append({"type": "text", "content": get(part, "text")})
        elif kind == "tool_use":
            parts.append(
                {
                    "type": "tool_call",
                    "id": get(part, "id"),
                    "name": get(part, "name"),
                    "arguments": get(part, "input"),
                }
            )
        elif kind == "tool_result":
            parts.append(
                {
                    "type": "tool_call_response",
                    "id": get(part, "tool_use_id"),
                    "response": get(part, "content"),
                }
            )
        elif isinstance(kind, str):
            parts.append({"type": kind})
    return parts


def input_messages(kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The request's messages, or ``None`` when the call has none."""
    messages = kwargs.get("messages", kwargs.get("input"))
    if isinstance(messages, str):
        return [{"role": "user", "parts": [{"type": "text", "content": messages}]}]
    if not isinstance(messages, (list, tuple)):
        return None
    out: list[dict[str, Any]] = []
    for message in messages[:_MAX_MESSAGES]:
        role = get(message, "role")
        if not isinstance(role, str):
            continue
        parts = _parts(get(message, "content"))
        for call in get(message, "tool_calls") or ():
            function = get(call, "function")
            parts.append(
                {
                    "type": "tool_call",
                    "id": get(call, "id"),
                    "name": get(function, "name"),
                    "arguments": get(function, "arguments"),
                }
            )
        if role == "tool":
            parts = [
                {
                    "type": "tool_call_response",
                    "id": get(message, "tool_call_id"),
                    "response": get(message, "content"),
                }
            ]
        out.append({"role": role, "parts": parts})
    return out


def system_instructions(kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """``system=`` (Anthropic) or ``instructions=`` (OpenAI Responses), as parts."""
    system = kwargs.get("system", kwargs.get("instructions"))
    parts = _parts(system)
    return parts or None


def output_messages(response: Response) -> list[dict[str, Any]] | None:
    """The response as one assistant message, or ``None`` when it has no output."""
    parts: list[dict[str, Any]] = []
    if response.text:
        parts.append({"type": "text", "content": response.text})
    if response.refusal:
        parts.append({"type": "refusal", "content": response.refusal})
    parts.extend(
        {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
        for call in response.tool_calls
    )
    if not parts:
        return None
    reason = response.finish_reasons[0] if response.finish_reasons else None
    return [
        {"role": "assistant", "parts": parts, "finish_reason": _FINISH.get(reason or "", reason)}
    ]
