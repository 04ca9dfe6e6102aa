"""The ``AGENTTRACE_*`` environment variables, one constant each.

Each constant's value is the variable's name. ``docs/configuration.md`` lists them with
their accepted values and defaults; a bad value is reported naming the variable.
"""

from __future__ import annotations

from typing import Final

AGENTTRACE_DISABLED: Final = "AGENTTRACE_DISABLED"
"""``true`` makes every decorator call straight through to the function. Default ``false``."""

AGENTTRACE_CAPTURE_CONTENT: Final = "AGENTTRACE_CAPTURE_CONTENT"
"""``true`` records arguments and return values on spans (redacted, bounded). Default ``false``.

A decorator's ``capture=`` option overrides it for that operation.
"""

AGENTTRACE_CAPTURE_MAX_VALUE_CHARS: Final = "AGENTTRACE_CAPTURE_MAX_VALUE_CHARS"
"""The most characters one captured value may keep (64 to 1 048 576). Default 2048."""

AGENTTRACE_CAPTURE_MAX_SPAN_CHARS: Final = "AGENTTRACE_CAPTURE_MAX_SPAN_CHARS"
"""The most characters all captured values of one span may keep together (256 to 16 777 216).

Default 16384.
"""

AGENTTRACE_STRICT: Final = "AGENTTRACE_STRICT"
"""``true`` makes agenttrace's own internal errors raise instead of being counted and logged.

For agenttrace's tests and for staging environments. Default ``false``.
"""
