"""What the Phoenix and Rotel harnesses share: ports, signals and stopping a server.

Standard library only: the noxfile imports the harnesses from nox's own virtualenv, with
``tests/e2e`` on the path, and pytest imports them as ``tests.e2e.*``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
LOG_TAIL_LINES = 40


def probe(family: socket.AddressFamily, host: str) -> socket.socket:
    """A socket bound to a free port of ``host``; it never listens."""
    sock = socket.socket(family)
    try:
        sock.bind((host, 0))
    except OSError:
        sock.close()
        raise
    return sock


def stop(process: subprocess.Popen[bytes], name: str, timeout: float) -> None:
    """SIGTERM to the server's process group, SIGKILL if it is still there after ``timeout``."""
    if process.poll() is not None:
        return
    started = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
        how = "SIGTERM"
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)
        how = "SIGKILL"
    print(f"{name}: stopped ({how}) in {time.monotonic() - started:.2f} s")  # noqa: T201


def tail(path: Path) -> list[str]:
    """The last lines of a server's output."""
    return path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]


def print_tail(name: str, path: Path) -> None:
    """Show the last lines of a server's output (it failed to start, or a test failed)."""
    print(f"{name}: last lines of {path}:", *tail(path), sep="\n    ")  # noqa: T201


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, so that the server is stopped.

    By default both end the Python process at once, without running ``finally`` blocks,
    which would leave the server behind in its own session.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, interrupt) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
