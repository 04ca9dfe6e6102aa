"""``python -m agenttrace``: the command line, as the ``agenttrace`` command."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
