"""The built-in failure modes of model calls, for reading and for redeclaring.

Each is handled ``accept`` by default (recorded, outcome ``degraded``, nothing raised).
Declare a mode of the same name on a ``model_call`` to handle it otherwise::

    @agenttrace.model_call(
        provider="openai",
        model="gpt-4o-mini",
        failure_modes=[agenttrace.FailureMode("truncated", handling="retry")],
        retry=agenttrace.Retry(attempts=2),
    )
    def complete(messages): ...
"""

from __future__ import annotations

from ._models._detectors import (
    CONTENT_FILTERED,
    DETECTORS,
    EMPTY_OUTPUT,
    INVALID_OUTPUT,
    INVALID_TOOL_ARGUMENTS,
    MODEL_SUBSTITUTED,
    REFUSED,
    TRUNCATED,
    UNKNOWN_TOOL,
)

__all__ = [
    "CONTENT_FILTERED",
    "DETECTORS",
    "EMPTY_OUTPUT",
    "INVALID_OUTPUT",
    "INVALID_TOOL_ARGUMENTS",
    "MODEL_SUBSTITUTED",
    "REFUSED",
    "TRUNCATED",
    "UNKNOWN_TOOL",
]
