"""agenttrace: OpenTelemetry tracing for AI agents.

Decorate agents, steps, tools and model calls; each call becomes an OpenTelemetry span in
the GenAI semantic conventions, with agenttrace's outcome on top. See ``docs/`` for the
whole story.
"""

from ._config import configure, force_flush, shutdown
from ._contracts import Contract, ModeContract, contracts
from ._decorators import agent, model_call, step, tool
from ._failures import Escalation, Failure, FailureMode, Human, Outcome, Retry, human
from ._internal import InternalError
from ._models import ModelResponse, ToolCall, Usage
from ._operation import Kind, Operation, OperationScope, current, span
from ._propagation import bind
from ._stats import Stats, stats
from ._version import __version__
from .exceptions import ConfigurationError

__all__ = [
    "ConfigurationError",
    "Contract",
    "Escalation",
    "Failure",
    "FailureMode",
    "Human",
    "InternalError",
    "Kind",
    "ModeContract",
    "ModelResponse",
    "Operation",
    "OperationScope",
    "Outcome",
    "Retry",
    "Stats",
    "ToolCall",
    "Usage",
    "__version__",
    "agent",
    "bind",
    "configure",
    "contracts",
    "current",
    "force_flush",
    "human",
    "model_call",
    "shutdown",
    "span",
    "stats",
    "step",
    "tool",
]
