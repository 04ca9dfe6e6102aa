"""Rotel, a real OTLP collector, for the end-to-end tests of logs and metrics.

``nox -s test`` installs Rotel (the ``rotel-agent`` binary shipped in the ``rotel`` wheel) into
a virtualenv of its own (cached between runs), starts it on loopback as a sink that receives
traces, logs and metrics over OTLP gRPC and HTTP, exports them nowhere and prints every record
it receives to an output file, runs pytest against it, and stops it by its process group
whatever happens. Tests send records carrying a nonce of their own, then read them back from
that file with `wait_for` and `blocks`. The noxfile imports this module from nox's own
virtualenv, so it uses the standard library only, and importing it starts nothing.

Example:
    In a noxfile::

        venv = Path(".nox/rotel-0.0.1a15")
        rotel.ensure_installed(venv)
        with tempfile.TemporaryDirectory() as work, rotel.running(venv, Path(work)) as collector:
            session.run("pytest", env=collector.environment())
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

try:  # pytest imports this as tests.e2e.*; the noxfile, with tests/e2e on the path
    from . import _processes
except ImportError:
    import _processes  # type: ignore[no-redef]

VERSION = "0.0.1a15"
"""The ``rotel`` release on PyPI the end-to-end tests run against."""

HTTP_VARIABLE = "AGENTTRACE_E2E_ROTEL_HTTP"
"""Rotel's OTLP/HTTP base URL (``/v1/traces``, ``/v1/logs``, ``/v1/metrics``), for the tests."""

GRPC_VARIABLE = "AGENTTRACE_E2E_ROTEL_GRPC"
"""Rotel's OTLP/gRPC ``host:port``, for the tests."""

OUTPUT_VARIABLE = "AGENTTRACE_E2E_ROTEL_OUTPUT"
"""The file Rotel prints every record it receives to, for the tests."""

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_POLL_INTERVAL = 0.05
_WAIT_INTERVAL = 0.1
_MARKER = "installed-version"

# Receive everything, export nothing, print every span, log record and metric in full.
_SINK = [
    "--exporter",
    "blackhole",
    "--debug-log",
    "traces",
    "--debug-log",
    "logs",
    "--debug-log",
    "metrics",
    "--debug-log-verbosity",
    "detailed",
]

_FIND_AGENT = (
    "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))"
)

# The headers of the debug dump, outermost first: a resource, a scope, a metric (the descriptor
# of the data points below it), then a record: a span, a log record or a metric data point.
_HEADERS = (
    re.compile(r"Resource\w* #\d+"),
    re.compile(r"Scope\w* #\d+"),
    re.compile(r"Metric #\d+"),
    re.compile(r"(?:Span|LogRecord|\w*DataPoints) #\d+"),
)
_RECORD = len(_HEADERS) - 1
# Rotel's own log lines ("2026-01-01T00:00:00.000000Z  INFO Starting Rotel. ...").
_OWN_LOG = re.compile(r"(?:\x1b\[[\d;]*m)*\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


@dataclass(frozen=True)
class Rotel:
    """A running Rotel collector.

    Attributes:
        http_endpoint: OTLP/HTTP base URL, ``http://127.0.0.1:PORT``.
        grpc_endpoint: OTLP/gRPC address, ``127.0.0.1:PORT``.
        pid: Process id of the collector, also the id of its process group.
        output_path: File that receives the collector's output, the debug dump included.
    """

    http_endpoint: str
    grpc_endpoint: str
    pid: int
    output_path: Path

    def environment(self) -> dict[str, str]:
        """The variables the end-to-end tests read to find this collector.

        Returns:
            ``AGENTTRACE_E2E_ROTEL_HTTP``, ``AGENTTRACE_E2E_ROTEL_GRPC`` and
            ``AGENTTRACE_E2E_ROTEL_OUTPUT``.
        """
        return {
            HTTP_VARIABLE: self.http_endpoint,
            GRPC_VARIABLE: self.grpc_endpoint,
            OUTPUT_VARIABLE: str(self.output_path),
        }


def installed(venv: Path) -> Path | None:
    """The ``rotel-agent`` binary in ``venv``, if `ensure_installed` put ``VERSION`` there.

    Args:
        venv: A virtualenv, prepared by `ensure_installed` or not.

    Returns:
        The path of the binary, or None when ``venv`` holds no complete install of ``VERSION``.
    """
    marker = venv / _MARKER
    if not marker.exists() or marker.read_text().strip() != VERSION:
        return None
    try:
        agent = _agent(venv)
    except (OSError, subprocess.CalledProcessError):
        return None
    return agent if agent.exists() else None


def ensure_installed(venv: Path) -> Path:
    """Install ``rotel`` into a virtualenv of its own, unless it is there already.

    The install counts as done once the marker file written after it names ``VERSION``;
    anything else (no marker, another version, a broken install) rebuilds the virtualenv.

    Args:
        venv: Where the virtualenv lives, created if needed.

    Returns:
        The path of the ``rotel-agent`` binary inside the installed package.
    """
    agent = installed(venv)
    if agent is not None:
        print(f"rotel {VERSION}: installed already in {venv}")  # noqa: T201
        return agent
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, f"rotel=={VERSION}"], check=True)
    agent = _agent(venv)
    if not agent.exists():
        msg = f"rotel {VERSION} installed in {venv}, but it has no binary at {agent}"
        raise RuntimeError(msg)
    (venv / _MARKER).write_text(f"{VERSION}\n")
    print(f"rotel {VERSION}: installed in {time.monotonic() - started:.1f} s into {venv}")  # noqa: T201
    return agent


@contextlib.contextmanager
def running(venv: Path, workdir: Path) -> Iterator[Rotel]:
    """Run Rotel on free loopback ports as a sink that prints what it gets, and stop it after.

    The collector gets its own process group; leaving the block (normally, on an exception, on
    Ctrl-C, SIGTERM or SIGHUP) sends the group SIGTERM, then SIGKILL after ``STOP_TIMEOUT``.

    Args:
        venv: A virtualenv prepared by `ensure_installed`.
        workdir: Directory for the collector's output (a fresh subdirectory each time).

    Yields:
        The collector, once both its ports accept connections.

    Raises:
        RuntimeError: The collector exited or was not ready within ``READY_TIMEOUT`` seconds.
    """
    agent = _agent(venv)
    http_port, grpc_port = _free_ports()
    workdir.mkdir(parents=True, exist_ok=True)
    output_path = Path(tempfile.mkdtemp(prefix="rotel-", dir=workdir)) / "rotel.out"
    # Every option can come from a ROTEL_* variable: the caller's must not apply.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("ROTEL_")}
    command = [
        str(agent),
        "start",
        "--otlp-grpc-endpoint",
        f"127.0.0.1:{grpc_port}",
        "--otlp-http-endpoint",
        f"127.0.0.1:{http_port}",
        *_SINK,
    ]
    with _processes.signals_interrupt():
        with output_path.open("wb") as output:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**inherited, "NO_COLOR": "1"},
                start_new_session=True,
            )
        try:
            collector = Rotel(
                http_endpoint=f"http://127.0.0.1:{http_port}",
                grpc_endpoint=f"127.0.0.1:{grpc_port}",
                pid=process.pid,
                output_path=output_path,
            )
            _wait_until_ready(process, collector, (http_port, grpc_port))
            yield collector
        except Exception:
            _processes.print_tail("rotel", output_path)
            raise
        finally:
            _processes.stop(process, "rotel", STOP_TIMEOUT)


def wait_for(output_path: Path, needle: str, timeout: float = 10.0) -> str:
    """Wait until ``needle`` shows in Rotel's output, and the output has stopped growing.

    Rotel may write a record in more than one piece; waiting for one quiet poll after
    ``needle`` shows lets the rest of it arrive. Output that never stops growing is returned at
    the deadline.

    Args:
        output_path: The collector's output file, `Rotel.output_path`.
        needle: Text to look for, a nonce of the test's own, say.
        timeout: Seconds to wait before giving up.

    Returns:
        The whole output, ``needle`` in it.

    Raises:
        AssertionError: ``needle`` did not show within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    previous: str | None = None
    while True:
        text = output_path.read_text(errors="replace")
        if needle in text and (text == previous or time.monotonic() > deadline):
            return text
        if time.monotonic() > deadline:
            break
        previous = text
        time.sleep(_WAIT_INTERVAL)
    tail = "\n    ".join(text.splitlines()[-_processes.LOG_TAIL_LINES :])
    msg = f"{needle!r} not in {output_path} after {timeout} s; its last lines:\n    {tail}"
    raise AssertionError(msg)


def blocks(text: str, needle: str) -> list[str]:
    """The records of Rotel's debug dump that contain ``needle``, one block of text each.

    A record is a span, a log record or a metric data point. Its block starts with the lines of
    the resource and the scope it belongs to (a data point's also with its metric's name, type
    and unit), so that ``needle`` and the assertions may be about those too. (The Python SDK
    lowercases instrument names: a nonce in a metric's name must be lowercase.) A log record::

        ResourceLog #0
        Resource attributes:
             -> service.name: Str(checkout)
        ScopeLogs #0
        InstrumentationScope agenttrace
        LogRecord #0
        Body: Str(hello 5f0c...)
            Trace ID       : 0af7651916cd43dd8448eb211c80319c

    Args:
        text: Rotel's output, as `wait_for` returns it.
        needle: Text a block must contain.

    Returns:
        The blocks with ``needle``, in the order received (metrics are printed at each export,
        so a data point may come more than once).
    """
    return [block for block in _records(text) if needle in block]


def _records(text: str) -> Iterator[str]:
    sections: dict[int, list[str]] = {}  # the open sections by level, outermost first
    current: list[str] | None = None  # the section the next plain line belongs to
    for line in text.splitlines():
        level = _level(line)
        if level is None and not _OWN_LOG.match(line):
            if current is not None:
                current.append(line)
            continue
        if _RECORD in sections:
            yield _join(sections)
        # A header closes the open sections of its level and below; a log line of Rotel's own
        # closes the record, and the lines after it belong to no section until the next header.
        closes = _RECORD if level is None else level
        sections = {key: lines for key, lines in sections.items() if key < closes}
        if level is None:
            current = None
        else:
            current = sections[level] = [line]
    if _RECORD in sections:
        yield _join(sections)


def _level(line: str) -> int | None:
    """The level of the section ``line`` opens (an index of ``_HEADERS``), None for none."""
    stripped = line.rstrip()
    return next((i for i, header in enumerate(_HEADERS) if header.fullmatch(stripped)), None)


def _join(sections: dict[int, list[str]]) -> str:
    return "\n".join(line for level in sorted(sections) for line in sections[level])


def _agent(venv: Path) -> Path:
    """The ``rotel-agent`` binary of the ``rotel`` package installed in ``venv``."""
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", _FIND_AGENT],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(found.stdout.strip())


def _free_ports() -> tuple[int, int]:
    """Two distinct free loopback ports, one for HTTP and one for gRPC."""
    # Both probes stay open until both ports are chosen, so the two differ. Rotel binds only
    # the addresses it is given, so probing 127.0.0.1 is enough.
    with (
        _processes.probe(socket.AF_INET, "127.0.0.1") as http,
        _processes.probe(socket.AF_INET, "127.0.0.1") as grpc,
    ):
        return int(http.getsockname()[1]), int(grpc.getsockname()[1])


def _wait_until_ready(
    process: subprocess.Popen[bytes], collector: Rotel, ports: tuple[int, ...]
) -> None:
    started = time.monotonic()
    while time.monotonic() - started < READY_TIMEOUT:
        if process.poll() is not None:
            msg = f"rotel-agent exited with code {process.returncode} while starting"
            raise RuntimeError(msg)
        if all(_accepts(port) for port in ports):
            print(  # noqa: T201
                f"rotel {VERSION}: ready in {time.monotonic() - started:.2f} s at"
                f" {collector.http_endpoint}, gRPC {collector.grpc_endpoint} (pid {collector.pid})"
            )
            return
        time.sleep(_POLL_INTERVAL)
    msg = f"rotel-agent was not ready after {READY_TIMEOUT:.0f} s"
    raise RuntimeError(msg)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
