"""The ``anthropic`` client library: each call becomes a model-call span, without a decorator.

Patched, sync and async: ``messages.create`` (``stream=True`` included) and the
``messages.stream()`` helper, whose span ends when its ``with`` block is left or its stream
is read to the end. Inside a function decorated with ``@agenttrace.model_call``, a call
enriches that span instead of making its own.

Example:
    >>> from agenttrace.integrations import anthropic as anthropic_integration
    >>> anthropic_integration.instrument()
    >>> anthropic_integration.uninstrument()

The supported versions are the ``anthropic`` extra's range
(``pip install "agenttrace[anthropic]"``).
"""

from __future__ import annotations

from ._patch import Integration, Target

__all__ = ["instrument", "instrumented", "uninstrument"]

_MESSAGES = "anthropic.resources.messages.messages"

_INTEGRATION = Integration(
    "anthropic",
    "anthropic",
    [
        Target(_MESSAGES, "Messages", "create", "anthropic.messages", "chat"),
        Target(_MESSAGES, "AsyncMessages", "create", "anthropic.messages", "chat", is_async=True),
        # stream() returns a manager, async or not; the request is made when it is entered.
        Target(_MESSAGES, "Messages", "stream", "anthropic.messages", "chat"),
        Target(_MESSAGES, "AsyncMessages", "stream", "anthropic.messages", "chat"),
    ],
)


def instrument() -> None:
    """Record every call of the ``anthropic`` client; calling it again does nothing.

    Raises:
        ImportError: ``anthropic`` is not installed.
    """
    _INTEGRATION.instrument()


def uninstrument() -> None:
    """Restore the ``anthropic`` client's original methods."""
    _INTEGRATION.uninstrument()


def instrumented() -> bool:
    """Whether the ``anthropic`` client is instrumented now."""
    return _INTEGRATION.instrumented
