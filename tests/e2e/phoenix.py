"""Arize Phoenix as a real OTLP backend for the end-to-end tests (standard library only).

The test command (``nox -s test``) installs Phoenix into its own virtualenv, cached between
runs, starts it on loopback with every outbound feature off, runs pytest, and stops it by
its process id whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

VERSION = "20.26.1"
READY_SECONDS = 120.0
STOP_SECONDS = 15.0

OFFLINE = {
    "PHOENIX_HOST": "127.0.0.1",
    "PHOENIX_TELEMETRY_ENABLED": "false",
    "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
    "PHOENIX_ENABLE_MCP_SERVER": "false",
}


def ensure_installed(venv: Path) -> Path:
    """Install ``arize-phoenix`` into ``venv`` unless it is there already; its executable."""
    marker = venv / "installed-version"
    executable = venv / "bin" / "phoenix"
    if marker.exists() and marker.read_text().strip() == VERSION and executable.exists():
        return executable
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, f"arize-phoenix=={VERSION}"], check=True)
    marker.write_text(VERSION)
    print(f"phoenix {VERSION} installed in {time.monotonic() - start:.0f} s")  # noqa: T201
    return executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Phoenix:
    """A running Phoenix server."""

    http_url: str
    grpc_endpoint: str
    pid: int
    log_path: Path

    def environment(self) -> dict[str, str]:
        """The variables the end-to-end tests read."""
        return {
            "AGENTTRACE_E2E_PHOENIX_URL": self.http_url,
            "AGENTTRACE_E2E_PHOENIX_GRPC": self.grpc_endpoint,
        }


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def running(executable: Path, workdir: Path) -> Iterator[Phoenix]:
    """Start Phoenix on free loopback ports; stop it by its process group on the way out."""
    http_port, grpc_port = free_port(), free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / f"phoenix-{os.getpid()}-{http_port}"
    log_path = workdir / "phoenix.log"
    env = {
        **os.environ,
        **OFFLINE,
        "PHOENIX_PORT": str(http_port),
        # Phoenix binds its gRPC server on every interface, whatever PHOENIX_HOST says.
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_WORKING_DIR": str(data),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(executable), "serve"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    phoenix = Phoenix(
        f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", process.pid, log_path
    )
    try:
        _wait_ready(process, phoenix)
        yield phoenix
    finally:
        _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], phoenix: Phoenix) -> None:
    start = time.monotonic()
    while time.monotonic() - start < READY_SECONDS:
        if process.poll() is not None:
            tail = phoenix.log_path.read_text(errors="replace")[-3000:]
            msg = f"phoenix exited with {process.returncode} while starting:\n{tail}"
            raise RuntimeError(msg)
        if _healthy(phoenix.http_url):
            print(f"phoenix ready in {time.monotonic() - start:.1f} s at {phoenix.http_url}")  # noqa: T201
            return
        time.sleep(0.25)
    msg = f"phoenix was not ready after {READY_SECONDS:.0f} s; see {phoenix.log_path}"
    raise RuntimeError(msg)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_SECONDS)
