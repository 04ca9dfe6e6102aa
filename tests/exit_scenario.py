"""A program that records spans and exits, for the exit tests (run as a script).

Usage: exit_scenario.py ENDPOINT HOW, where HOW is ``return``, ``sys_exit`` or ``sigterm``
(installs a SIGTERM handler that exits, says ``ready`` and waits to be signalled) or
``sigterm_default`` (the same without a handler).
"""

from __future__ import annotations

import signal
import sys
import time

import agenttrace


@agenttrace.agent("bot")
def run(n: int) -> int:
    return step(n)


@agenttrace.step
def step(n: int) -> int:
    return n


def main(endpoint: str, how: str) -> None:
    agenttrace.configure(endpoint=endpoint)
    for n in range(500):
        run(n)
    if how.startswith("sigterm"):
        if how == "sigterm":
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        print("ready", flush=True)  # noqa: T201
        time.sleep(30)
    print(f"main returned at {time.monotonic()}", flush=True)  # noqa: T201
    if how == "sys_exit":
        sys.exit(3)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
