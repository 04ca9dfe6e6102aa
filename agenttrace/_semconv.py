"""Every span attribute, event and value that agenttrace writes, as constants.

Keys under ``gen_ai.*`` follow the OpenTelemetry GenAI semantic conventions v1.41;
keys under ``agenttrace.*`` are our own. ``docs/semantic-conventions.md`` lists them all
with their meaning; a test keeps that page and this module in step.
"""

from __future__ import annotations

from typing import Final

# --- OpenTelemetry GenAI semantic conventions (v1.41) ----------------------------------

GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
"""What kind of GenAI operation a span is: ``chat``, ``execute_tool``, ``invoke_agent``…"""
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
"""The model provider, e.g. ``openai`` or ``anthropic``."""
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
"""The model that was asked for."""
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
"""The agent's name, on ``invoke_agent`` spans."""
GEN_AI_AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
"""The agent's description, on ``invoke_agent`` spans when one is given."""
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
"""The tool's name, on ``execute_tool`` spans."""
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
"""The tool's type; agenttrace tools are ``function``."""
GEN_AI_TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
"""The tool's description: the one given, else the first line of its docstring."""
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
"""A tool's arguments as JSON (opt-in content)."""
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
"""A tool's result as JSON (opt-in content)."""
ERROR_TYPE: Final = "error.type"
"""The class of the exception an operation failed with."""
CODE_FUNCTION_NAME: Final = "code.function.name"
"""The decorated function's fully-qualified name."""

OPERATION_CHAT: Final = "chat"
OPERATION_EXECUTE_TOOL: Final = "execute_tool"
OPERATION_INVOKE_AGENT: Final = "invoke_agent"
TOOL_TYPE_FUNCTION: Final = "function"

# --- agenttrace ------------------------------------------------------------------------

KIND: Final = "agenttrace.kind"
"""``agent``, ``step``, ``tool`` or ``model_call``: on every agenttrace span."""
OPERATION: Final = "agenttrace.operation"
"""The operation's name (the decorator's name, else the function's ``__name__``)."""
OUTCOME: Final = "agenttrace.outcome"
"""How the operation ended: ``ok`` or ``failed``."""
INPUT: Final = "agenttrace.input"
"""The operation's arguments as JSON, by parameter name (opt-in content)."""
OUTPUT: Final = "agenttrace.output"
"""The operation's return value as JSON (opt-in content)."""
ABANDONED: Final = "agenttrace.abandoned"
"""``true`` when the consumer stopped a generator before it was exhausted."""
YIELDED: Final = "agenttrace.yielded"
"""How many items a generator operation yielded."""
SERVED_BY: Final = "agenttrace.served_by"
"""The name of the fallback whose result the operation returned (failure handling)."""
FAILURE_EVENT: Final = "agenttrace.failure"
"""An event for each failure an operation met, declared or not (failure handling)."""
FAILURE_MODE: Final = "agenttrace.failure.mode"
"""On ``agenttrace.failure`` events: the failure mode's name."""
EXCEPTION_EVENT: Final = "exception"
"""The OpenTelemetry exception event, written with bounded, redacted fields."""
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"

OUTCOME_OK: Final = "ok"
OUTCOME_FAILED: Final = "failed"
OUTCOME_RECOVERED: Final = "recovered"
OUTCOME_DEGRADED: Final = "degraded"
OUTCOME_ESCALATED: Final = "escalated"
