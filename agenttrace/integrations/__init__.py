"""Client integrations: every call of an official model client becomes a model-call span.

- :mod:`agenttrace.integrations.openai`: the ``openai`` package (``agenttrace[openai]``).
- :mod:`agenttrace.integrations.anthropic`: the ``anthropic`` package
  (``agenttrace[anthropic]``).

Each has ``instrument()`` and ``uninstrument()``. See ``docs/integrations/``.
"""
