"""Built-in failure modes of model calls: the gap between what was asked and what was done.

Each detector is a declared failure mode whose default handling is ``accept``: it is
recorded (a failure event, outcome ``degraded``) and nothing else changes, so turning
agenttrace on never changes what a program does. Declare a mode of the same name on the
``model_call`` to give it another handling (``retry``, ``fallback``, ``abort``…), or leave
it out of ``detect=`` to switch it off.
"""

from __future__ import annotations

import functools
import json
import re
from typing import TYPE_CHECKING, Any, Final

from agenttrace._failures import FailureMode

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._records import Request, Response

TRUNCATED: Final = FailureMode(
    "truncated",
    handling="accept",
    description="the model stopped at its token limit (finish reason length, max_tokens): "
    "the output is cut off",
)
REFUSED: Final = FailureMode(
    "refused", handling="accept", description="the model refused to answer"
)
CONTENT_FILTERED: Final = FailureMode(
    "content_filtered",
    handling="accept",
    description="the provider's content filter stopped the output",
)
EMPTY_OUTPUT: Final = FailureMode(
    "empty_output", handling="accept", description="the model returned no text and no tool call"
)
MODEL_SUBSTITUTED: Final = FailureMode(
    "model_substituted",
    handling="accept",
    description="the model that answered is not the one asked for (beyond a dated version)",
)
UNKNOWN_TOOL: Final = FailureMode(
    "unknown_tool", handling="accept", description="the model called a tool it was not offered"
)
INVALID_TOOL_ARGUMENTS: Final = FailureMode(
    "invalid_tool_arguments",
    handling="accept",
    description="a tool call's arguments are not valid JSON, or do not match the tool's schema",
)
INVALID_OUTPUT: Final = FailureMode(
    "invalid_output",
    handling="accept",
    description="the output does not validate as the declared output= type",
)

DETECTORS: Final = (
    REFUSED,
    CONTENT_FILTERED,
    TRUNCATED,
    EMPTY_OUTPUT,
    UNKNOWN_TOOL,
    INVALID_TOOL_ARGUMENTS,
    INVALID_OUTPUT,
    MODEL_SUBSTITUTED,
)
"""Every built-in detector, in the order they are checked (the first found decides the
handling; every one found is recorded)."""
NAMES: Final = tuple(mode.name for mode in DETECTORS)

_TRUNCATED_REASONS: Final = frozenset(
    {"length", "max_tokens", "max_output_tokens", "model_context_window_exceeded"}
)
_FILTERED_REASONS: Final = frozenset({"content_filter", "content_filtered", "safety"})
_VERSION_SUFFIX: Final = re.compile(
    r"(?:[-@_](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})|-latest|-preview)$", re.IGNORECASE
)
_MAX_ERROR: Final = 200


@functools.lru_cache(maxsize=1024)
def base_model(name: str) -> str:
    """A model name without provider prefix, dated version or ``-latest``: the family."""
    name = name.rsplit("/", 1)[-1].lower()
    while True:
        stripped = _VERSION_SUFFIX.sub("", name)
        if stripped == name:
            return name
        name = stripped


def detect(  # noqa: C901, PLR0912 (one check per detector, in order)
    request: Request | None,
    response: Response,
    enabled: frozenset[str],
    validate_output: Callable[[str], str | None] | None,
) -> list[tuple[str, dict[str, Any]]]:
    """The built-in failures in ``response``, each with its details, in detector order."""
    found: list[tuple[str, dict[str, Any]]] = []
    reasons = set(response.finish_reasons)
    if "refused" in enabled and (response.refusal or "refusal" in reasons):
        found.append(("refused", {}))
    if "content_filtered" in enabled and reasons & _FILTERED_REASONS:
        found.append(("content_filtered", {"finish_reason": min(reasons & _FILTERED_REASONS)}))
    if "truncated" in enabled and reasons & _TRUNCATED_REASONS:
        details: dict[str, Any] = {"finish_reason": min(reasons & _TRUNCATED_REASONS)}
        if request is not None and request.max_tokens is not None:
            details["max_tokens"] = request.max_tokens
        found.append(("truncated", details))
    if (
        "empty_output" in enabled
        and response.operation != "embeddings"
        and not response.text
        and not response.tool_calls
        and not found
    ):
        found.append(("empty_output", {}))
    offered = request.tools if request is not None else {}
    for call in response.tool_calls:
        if call.name not in offered:
            if "unknown_tool" in enabled and (request is not None and (offered or request.model)):
                found.append(("unknown_tool", {"tool": call.name, "offered": len(offered)}))
            continue
        if "invalid_tool_arguments" in enabled:
            error = _arguments_error(call.arguments, offered[call.name])
            if error is not None:
                found.append(("invalid_tool_arguments", {"tool": call.name, "error": error}))
    if "invalid_output" in enabled and validate_output is not None and response.text is not None:
        error = validate_output(response.text)
        if error is not None:
            found.append(("invalid_output", {"error": error}))
    requested = request.model if request is not None else None
    if (
        "model_substituted" in enabled
        and requested
        and response.model
        and base_model(requested) != base_model(response.model)
    ):
        found.append(("model_substituted", {"requested": requested, "responded": response.model}))
    return found


def _arguments_error(arguments: str | None, schema: dict[str, object] | None) -> str | None:
    """Why a tool call's arguments are invalid, or ``None`` when they are fine."""
    if arguments is None:
        return None
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError as exc:
        return f"not JSON: {exc.msg} at {exc.pos}"[:_MAX_ERROR]
    if schema is None:
        return None
    return schema_error(value, schema)


def schema_error(value: object, schema: dict[str, object]) -> str | None:
    """Why ``value`` does not match the JSON ``schema``, or ``None``.

    With the ``jsonschema`` package installed (``agenttrace[jsonschema]``) the whole schema
    is checked; without it, that the value is an object holding every required property.
    """
    try:
        import jsonschema  # noqa: PLC0415 (optional)
    except ImportError:
        if schema.get("type") == "object" and not isinstance(value, dict):
            return f"expected an object, got {type(value).__name__}"
        required = schema.get("required")
        if isinstance(value, dict) and isinstance(required, list):
            missing = [key for key in required if isinstance(key, str) and key not in value]
            if missing:
                return f"missing required properties: {', '.join(missing)}"[:_MAX_ERROR]
        return None
    try:
        error = jsonschema.exceptions.best_match(
            jsonschema.validators.validator_for(schema)(schema).iter_errors(value)
        )
    except jsonschema.exceptions.SchemaError:
        return None  # the offered schema itself is broken: nothing to hold the model to
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{where + ': ' if where else ''}{error.message}"[:_MAX_ERROR]
