"""agenttrace's own settings: a frozen pydantic model read from ``AGENTTRACE_*`` variables.

A bad value is one :class:`~agenttrace.exceptions.ConfigurationError` that names the
variable, the value and what is accepted. Settings are read once, lazily, the first time a
decorated operation runs; when they are read that way (not through an explicit call) a bad
value is logged once and the defaults are used instead, so a typo in the environment never
breaks the host application at run time.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import environment_variables as env
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

_logger: Final = logging.getLogger("agenttrace")

_BOOL_WORDS: Final = "true, false, 1, 0, yes, no, on, off"


class Settings(BaseModel):
    """agenttrace's settings. Each field has an ``AGENTTRACE_*`` variable of the same name."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    disabled: bool = False
    """Decorators call straight through (``AGENTTRACE_DISABLED``)."""
    capture_content: bool = False
    """Record arguments and return values (``AGENTTRACE_CAPTURE_CONTENT``)."""
    capture_max_value_chars: int = Field(default=2048, ge=64, le=1_048_576)
    """Characters kept of one captured value (``AGENTTRACE_CAPTURE_MAX_VALUE_CHARS``)."""
    capture_max_span_chars: int = Field(default=16384, ge=256, le=16_777_216)
    """Characters kept of all captured values of a span (``AGENTTRACE_CAPTURE_MAX_SPAN_CHARS``)."""
    strict: bool = False
    """Internal errors raise (``AGENTTRACE_STRICT``)."""


_ENV_BY_FIELD: Final = {
    "disabled": env.AGENTTRACE_DISABLED,
    "capture_content": env.AGENTTRACE_CAPTURE_CONTENT,
    "capture_max_value_chars": env.AGENTTRACE_CAPTURE_MAX_VALUE_CHARS,
    "capture_max_span_chars": env.AGENTTRACE_CAPTURE_MAX_SPAN_CHARS,
    "strict": env.AGENTTRACE_STRICT,
}


def _accepted(field: str) -> str:
    info = Settings.model_fields[field]
    if info.annotation is bool:
        return _BOOL_WORDS
    low = high = None
    for meta in info.metadata:
        low = getattr(meta, "ge", low)
        high = getattr(meta, "le", high)
    return f"a whole number from {low} to {high}"


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``AGENTTRACE_*`` variables.

    Args:
        environ: The environment to read; ``os.environ`` by default.

    Returns:
        The validated settings; unset variables take their defaults.

    Raises:
        ConfigurationError: A variable has a value that is not accepted.
    """
    environ = os.environ if environ is None else environ
    raw = {
        field: environ[name].strip()
        for field, name in _ENV_BY_FIELD.items()
        if environ.get(name, "").strip()
    }
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0])
        name = _ENV_BY_FIELD[field]
        raise ConfigurationError(
            f"{name}={raw.get(field)!r} is not accepted: {first['msg']}. "
            f"Accepted: {_accepted(field)}."
        ) from None


def settings_or_defaults() -> Settings:
    """Read the settings from the environment, logging a bad value once and using defaults."""
    try:
        return settings_from_env()
    except ConfigurationError as exc:
        _logger.error("agenttrace: %s Using the defaults for every setting.", exc)  # noqa: TRY400
        return Settings()
