"""The ``openai`` client library: each call becomes a model-call span, without a decorator.

Patched, sync and async: ``chat.completions.create`` (and the ``stream()`` helper, which calls
it), ``chat.completions.parse``, ``responses.create`` (and ``responses.stream()``),
``responses.parse`` and ``embeddings.create``. Inside a function decorated with
``@agenttrace.model_call``, a call enriches that span instead of making its own.

Example:
    >>> from agenttrace.integrations import openai as openai_integration
    >>> openai_integration.instrument()
    >>> openai_integration.uninstrument()

The supported versions are the ``openai`` extra's range (``pip install "agenttrace[openai]"``).
"""

from __future__ import annotations

from ._patch import Integration, Target

__all__ = ["instrument", "instrumented", "uninstrument"]

_CHAT = "openai.resources.chat.completions.completions"
_RESPONSES = "openai.resources.responses.responses"
_EMBEDDINGS = "openai.resources.embeddings"

_INTEGRATION = Integration(
    "openai",
    "openai",
    [
        Target(_CHAT, "Completions", "create", "openai.chat.completions", "chat"),
        Target(
            _CHAT, "AsyncCompletions", "create", "openai.chat.completions", "chat", is_async=True
        ),
        Target(_CHAT, "Completions", "parse", "openai.chat.completions", "chat"),
        Target(
            _CHAT, "AsyncCompletions", "parse", "openai.chat.completions", "chat", is_async=True
        ),
        Target(_RESPONSES, "Responses", "create", "openai.responses", "chat"),
        Target(_RESPONSES, "AsyncResponses", "create", "openai.responses", "chat", is_async=True),
        Target(_RESPONSES, "Responses", "parse", "openai.responses", "chat"),
        Target(_RESPONSES, "AsyncResponses", "parse", "openai.responses", "chat", is_async=True),
        Target(_EMBEDDINGS, "Embeddings", "create", "openai.embeddings", "embeddings"),
        Target(
            _EMBEDDINGS,
            "AsyncEmbeddings",
            "create",
            "openai.embeddings",
            "embeddings",
            is_async=True,
        ),
    ],
)


def instrument() -> None:
    """Record every call of the ``openai`` client; calling it again does nothing.

    Raises:
        ImportError: ``openai`` is not installed.
    """
    _INTEGRATION.instrument()


def uninstrument() -> None:
    """Restore the ``openai`` client's original methods."""
    _INTEGRATION.uninstrument()


def instrumented() -> bool:
    """Whether the ``openai`` client is instrumented now."""
    return _INTEGRATION.instrumented
