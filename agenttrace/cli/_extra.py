"""The ``cli`` extra: ``report`` and ``diff`` need it, and say how to install it when missing."""

from __future__ import annotations

import importlib.util
import sys
from typing import Final

MODULES: Final = ("rich", "scipy", "ddsketch", "plotly", "orjson")
HINT: Final = "install it with: pip install 'agenttrace[cli]'"


def missing() -> list[str]:
    """The modules of the ``cli`` extra that cannot be imported."""
    return [name for name in MODULES if importlib.util.find_spec(name) is None]


def require(command: str) -> bool:
    """Whether the ``cli`` extra is installed; if not, say what is missing on stderr."""
    absent = missing()
    if absent:
        print(  # noqa: T201 (a command's output)
            f"agenttrace {command} needs the 'cli' extra ({', '.join(absent)} missing); {HINT}",
            file=sys.stderr,
        )
    return not absent
