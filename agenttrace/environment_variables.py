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

AGENTTRACE_CONSOLE: Final = "AGENTTRACE_CONSOLE"
"""``true`` prints each finished agent run as a compact tree on stderr. Default ``false``."""

AGENTTRACE_DIR: Final = "AGENTTRACE_DIR"
"""The directory of the local trace file ``traces.jsonl``, written when no OTLP endpoint is set.

Relative paths are resolved against the working directory when ``configure()`` runs.
Default ``.agenttrace``.
"""

AGENTTRACE_FILE_MAX_BYTES: Final = "AGENTTRACE_FILE_MAX_BYTES"
"""The local trace file's size cap in bytes; past it the file is rotated (65 536 to 1 TiB).

Default 16 777 216 (16 MiB).
"""

AGENTTRACE_FILE_BACKUPS: Final = "AGENTTRACE_FILE_BACKUPS"
"""How many rotated trace files are kept (``traces.1.jsonl`` …), 0 to 100. Default 3."""

AGENTTRACE_SHUTDOWN_TIMEOUT: Final = "AGENTTRACE_SHUTDOWN_TIMEOUT"
"""Seconds ``shutdown()`` and ``force_flush()`` may take at most (0 to 60). Default 2.

Exit waits this long at most for undelivered spans, whatever the collector does.
"""

AGENTTRACE_QUEUE_MAX_BYTES: Final = "AGENTTRACE_QUEUE_MAX_BYTES"
"""Estimated bytes of finished spans that may wait for export (1 MiB to 1 GiB).

Past it, new spans are dropped and counted. Default 33 554 432 (32 MiB).
"""

AGENTTRACE_SPAN_MAX_BYTES: Final = "AGENTTRACE_SPAN_MAX_BYTES"
"""Estimated size above which a finished span is dropped as too large (4 KiB to 64 MiB).

Also the most one export request carries. Default 4 194 304 (4 MiB).
"""
