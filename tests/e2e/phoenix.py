"""Arize Phoenix, a real OTLP backend, for the end-to-end tests.

``nox -s test`` installs Phoenix into a virtualenv of its own (cached between runs), starts
it on loopback with every outbound feature off, runs pytest against it, and stops it by its
process id whatever happens. The noxfile imports this module from nox's own virtualenv, so
it uses the standard library only, and importing it starts nothing.

Example:
    In a noxfile::

        venv = Path(".nox/phoenix-20.26.1")
        phoenix.ensure_installed(venv)
        with tempfile.TemporaryDirectory() as work, phoenix.running(venv, Path(work)) as server:
            session.run("pytest", env=server.environment())
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

try:  # pytest imports this as tests.e2e.*; the noxfile, with tests/e2e on the path
    from . import _processes
except ImportError:
    import _processes  # type: ignore[no-redef]

VERSION = "20.26.1"
"""The Phoenix release the end-to-end tests run against."""

URL_VARIABLE = "AGENTTRACE_E2E_PHOENIX_URL"
"""Phoenix's HTTP base URL (UI, REST API, OTLP/HTTP at ``/v1/traces``), for the tests."""

GRPC_VARIABLE = "AGENTTRACE_E2E_PHOENIX_GRPC"
"""Phoenix's OTLP/gRPC ``host:port``, for the tests."""

READY_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
_POLL_INTERVAL = 0.25
_MARKER = "installed-version"

# No telemetry, no external fonts or scripts in the UI, no in-app AI helper (it can run shell
# commands) and no docs MCP server: with these Phoenix makes no connection off the machine.
OFFLINE = {
    "PHOENIX_HOST": "127.0.0.1",
    "PHOENIX_TELEMETRY_ENABLED": "false",
    "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
    "PHOENIX_ENABLE_MCP_SERVER": "false",
}

# Phoenix is reached over loopback; a proxy from the environment must not get in between.
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Phoenix:
    """A running Phoenix server.

    Attributes:
        http_url: Base URL of the UI, the REST API and OTLP/HTTP, ``http://127.0.0.1:PORT``.
        grpc_endpoint: OTLP/gRPC address, ``127.0.0.1:PORT``.
        pid: Process id of the server, also the id of its process group.
        log_path: File that receives the server's output.
    """

    http_url: str
    grpc_endpoint: str
    pid: int
    log_path: Path

    def environment(self) -> dict[str, str]:
        """The variables the end-to-end tests read to find this server.

        Returns:
            ``AGENTTRACE_E2E_PHOENIX_URL`` and ``AGENTTRACE_E2E_PHOENIX_GRPC``.
        """
        return {URL_VARIABLE: self.http_url, GRPC_VARIABLE: self.grpc_endpoint}


def ensure_installed(venv: Path) -> Path:
    """Install ``arize-phoenix`` into a virtualenv of its own, unless it is there already.

    The install counts as done once the marker file written after it names ``VERSION``;
    anything else (no marker, another version, a broken install) rebuilds the virtualenv.

    Args:
        venv: Where the virtualenv lives, created if needed.

    Returns:
        The path of the ``phoenix`` executable.
    """
    marker = venv / _MARKER
    executable = venv / "bin" / "phoenix"
    if executable.exists() and marker.exists() and marker.read_text().strip() == VERSION:
        print(f"phoenix {VERSION}: installed already in {venv}")  # noqa: T201
        return executable
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, f"arize-phoenix=={VERSION}"], check=True)
    marker.write_text(f"{VERSION}\n")
    print(f"phoenix {VERSION}: installed in {time.monotonic() - started:.1f} s into {venv}")  # noqa: T201
    return executable


@contextlib.contextmanager
def running(venv: Path, workdir: Path) -> Iterator[Phoenix]:
    """Run Phoenix on free loopback ports with a fresh database, and stop it on the way out.

    The server gets its own process group; leaving the block (normally, on an exception, on
    Ctrl-C, SIGTERM or SIGHUP) sends the group SIGTERM, then SIGKILL after ``STOP_TIMEOUT``.

    Args:
        venv: A virtualenv prepared by `ensure_installed`.
        workdir: Directory for the server's data and log (a fresh subdirectory each time).

    Yields:
        The server, once ``GET /healthz`` answers.

    Raises:
        RuntimeError: The server exited or was not ready within ``READY_TIMEOUT`` seconds.
    """
    http_port, grpc_port = _free_ports()
    workdir.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="phoenix-", dir=workdir))
    log_path = data / "phoenix.log"
    # Phoenix settings from the caller's environment (a database URL, say) must not apply.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
    environment = {
        **inherited,
        **OFFLINE,
        "PHOENIX_PORT": str(http_port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_WORKING_DIR": str(data),
    }
    with _processes.signals_interrupt():
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(venv / "bin" / "phoenix"), "serve"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,
            )
        try:
            server = Phoenix(
                http_url=f"http://127.0.0.1:{http_port}",
                grpc_endpoint=f"127.0.0.1:{grpc_port}",
                pid=process.pid,
                log_path=log_path,
            )
            _wait_until_ready(process, server)
            yield server
        except Exception:
            _processes.print_tail("phoenix", log_path)
            raise
        finally:
            _processes.stop(process, "phoenix", STOP_TIMEOUT)


def _free_ports() -> tuple[int, int]:
    """Two distinct free ports, one for HTTP and one for gRPC."""
    # Both probes stay open until both ports are chosen, so the two differ. The gRPC port is
    # probed on every interface because Phoenix binds its gRPC server to [::]:PORT (all
    # interfaces) whatever PHOENIX_HOST says; only HTTP follows PHOENIX_HOST=127.0.0.1.
    with _processes.probe(socket.AF_INET, "127.0.0.1") as http, _probe_every_interface() as grpc:
        return int(http.getsockname()[1]), int(grpc.getsockname()[1])


def _probe_every_interface() -> socket.socket:
    with contextlib.suppress(OSError):
        return _processes.probe(socket.AF_INET6, "::")  # dual-stack: covers IPv4 as well
    return _processes.probe(socket.AF_INET, "")


def _wait_until_ready(process: subprocess.Popen[bytes], server: Phoenix) -> None:
    started = time.monotonic()
    while time.monotonic() - started < READY_TIMEOUT:
        if process.poll() is not None:
            msg = f"phoenix exited with code {process.returncode} while starting"
            raise RuntimeError(msg)
        if _healthy(server.http_url):
            print(  # noqa: T201
                f"phoenix {VERSION}: ready in {time.monotonic() - started:.1f} s at"
                f" {server.http_url}, gRPC {server.grpc_endpoint} (pid {server.pid})"
            )
            return
        time.sleep(_POLL_INTERVAL)
    msg = f"phoenix was not ready after {READY_TIMEOUT:.0f} s"
    raise RuntimeError(msg)


def _healthy(url: str) -> bool:
    try:
        with _LOOPBACK.open(f"{url}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False
