"""A process exits promptly and quietly whatever the collector does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.collector import running

SCENARIO = Path(__file__).with_name("exit_scenario.py")
ROOT = Path(__file__).parents[1]


def start(endpoint: str, how: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("AGENTTRACE_STRICT", None)
    return subprocess.Popen(
        [sys.executable, str(SCENARIO), endpoint, how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def signal_when_ready(process: subprocess.Popen[str]) -> float:
    """Wait for the program's ``ready``, send SIGTERM; the monotonic time it was sent."""
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    return signalled


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str, float]:
    """Wait for the exit: (code, stdout, stderr, monotonic time of the exit)."""
    try:
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    return process.returncode, out, err, time.monotonic()


@pytest.mark.parametrize("mode", ["up", "refused", "blackhole"])
@pytest.mark.parametrize(("how", "code"), [("return", 0), ("sys_exit", 3)])
def test_exit_comes_within_2_5_seconds_of_main_returning(mode: str, how: str, code: int) -> None:
    """Normal exit and sys.exit: the exit code is the program's, exit comes by 2.5 s after
    main returned, and stderr has no traceback; with a dead collector one summary line."""
    with running(mode) as collector:
        returncode, out, err, exited = finish(start(collector.url, how))
        received = collector.received

    returned = float(out.split("main returned at ")[1])
    assert (returncode, exited - returned < 2.5) == (code, True), (exited - returned, err)
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    if mode == "up":
        assert (received, err) == (1000, "")
    else:
        assert err.count("spans were not delivered") == 1, err


@pytest.mark.parametrize("mode", ["up", "blackhole"])
def test_sigterm_with_the_applications_handler_exits_in_time(mode: str) -> None:
    """SIGTERM handled by the application (sys.exit): queued spans are flushed (collector
    up) or given up on at the deadline (blackhole); no traceback."""
    with running(mode) as collector:
        process = start(collector.url, "sigterm")
        signalled = signal_when_ready(process)
        returncode, _, err, exited = finish(process)
        received = collector.received

    assert (returncode, exited - signalled < 2.5) == (143, True), (exited - signalled, err)
    assert "Traceback" not in err
    assert received == (1000 if mode == "up" else 0)


def test_sigterm_without_a_handler_ends_the_process_at_once() -> None:
    """With Python's default SIGTERM disposition the process dies at once: no flush (see
    docs/reliability.md for installing a handler)."""
    with running("up") as collector:
        process = start(collector.url, "sigterm_default")
        signalled = signal_when_ready(process)
        returncode, _, _, exited = finish(process)

    assert (returncode, exited - signalled < 0.5) == (-signal.SIGTERM, True)
