"""agenttrace: OpenTelemetry tracing for AI agents.

Decorate agents, steps, tools and model calls; each call becomes an OpenTelemetry span in
the GenAI semantic conventions, with agenttrace's outcome on top. See ``docs/`` for the
whole story.
"""

from ._config import configure, force_flush, shutdown
from ._decorators import agent, model_call, step, tool
from ._internal import InternalError
from ._operation import Kind, Operation, OperationScope, current, span
from ._propagation import bind
from ._stats import Stats, stats
from ._version import __version__
from .exceptions import ConfigurationError

__all__ = [
    "ConfigurationError",
    "InternalError",
    "Kind",
    "Operation",
    "OperationScope",
    "Stats",
    "__version__",
    "agent",
    "bind",
    "configure",
    "current",
    "force_flush",
    "model_call",
    "shutdown",
    "span",
    "stats",
    "step",
    "tool",
]
