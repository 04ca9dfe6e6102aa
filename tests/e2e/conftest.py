"""Fixtures for the tests that run against Phoenix, a real OTLP backend, and Rotel, a collector.

``nox -s test`` starts Phoenix and Rotel and tells the tests where they are through environment
variables (see ``phoenix.py`` and ``rotel.py`` next to this file). Without them the tests skip,
unless ``AGENTTRACE_E2E_REQUIRED=1`` says they must run, as in CI.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.e2e import rotel as _rotel
from tests.e2e.phoenix import GRPC_VARIABLE, URL_VARIABLE

REQUIRED_VARIABLE = "AGENTTRACE_E2E_REQUIRED"

# Phoenix is reached over loopback; a proxy from the environment must not get in between.
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class PhoenixClient:
    """Where to send spans to Phoenix, and a bounded way to read them back.

    Attributes:
        http_url: Base URL, ``http://127.0.0.1:PORT``.
        grpc_endpoint: OTLP/gRPC address, ``127.0.0.1:PORT``.
    """

    http_url: str
    grpc_endpoint: str

    @property
    def otlp_http_endpoint(self) -> str:
        """The OTLP/HTTP traces endpoint, ``{http_url}/v1/traces``."""
        return f"{self.http_url}/v1/traces"

    def spans(
        self, project: str, *, trace_id: str | None = None, expect: int = 1, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """The spans Phoenix stored for ``project``, once at least ``expect`` have arrived.

        Args:
            project: Project name, as sent in ``x-project-name`` or
                ``openinference.project.name``.
            trace_id: Only this trace (32 hex digits).
            expect: How many spans to wait for.
            timeout: Seconds to wait before giving up.

        Returns:
            The spans as Phoenix's REST API returns them (``name``, ``context``,
            ``attributes``, ...).

        Raises:
            AssertionError: Fewer than ``expect`` spans arrived within ``timeout``.
        """
        query = {"limit": "1000"} | ({"trace_id": trace_id} if trace_id else {})
        url = (
            f"{self.http_url}/v1/projects/{urllib.parse.quote(project, safe='')}/spans"
            f"?{urllib.parse.urlencode(query)}"
        )
        deadline = time.monotonic() + timeout
        while True:
            found = _get_spans(url)
            if len(found) >= expect or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if len(found) < expect:
            msg = f"expected {expect} spans in project {project!r} after {timeout} s, got {found}"
            raise AssertionError(msg)
        return found


def _get_spans(url: str) -> list[dict[str, Any]]:
    try:
        with _LOOPBACK.open(url, timeout=5) as answer:
            data: list[dict[str, Any]] = json.load(answer)["data"]
    except urllib.error.HTTPError as error:
        if error.code == 404:  # the project does not exist until its first span arrives
            return []
        raise
    return data


@dataclass(frozen=True)
class RotelCollector:
    """Where to send OTLP to Rotel, and a bounded way to read the records back from its dump.

    The dump is shared by the whole session: a test finds its own records by a nonce.

    Attributes:
        http_endpoint: OTLP/HTTP base URL, ``http://127.0.0.1:PORT``.
        grpc_endpoint: OTLP/gRPC address, ``127.0.0.1:PORT``.
        output_path: The file Rotel prints every record it receives to.
    """

    http_endpoint: str
    grpc_endpoint: str
    output_path: Path

    @property
    def logs_endpoint(self) -> str:
        """The OTLP/HTTP logs endpoint, ``{http_endpoint}/v1/logs``."""
        return f"{self.http_endpoint}/v1/logs"

    @property
    def metrics_endpoint(self) -> str:
        """The OTLP/HTTP metrics endpoint, ``{http_endpoint}/v1/metrics``."""
        return f"{self.http_endpoint}/v1/metrics"

    @property
    def traces_endpoint(self) -> str:
        """The OTLP/HTTP traces endpoint, ``{http_endpoint}/v1/traces``."""
        return f"{self.http_endpoint}/v1/traces"

    def records(self, needle: str, *, timeout: float = 10.0) -> list[str]:
        """The spans, log records and metric data points with ``needle``, once it has arrived.

        Args:
            needle: Text the records must contain, a nonce of the test's own, say.
            timeout: Seconds to wait for ``needle`` before giving up.

        Returns:
            One block of Rotel's debug dump per record, with its resource and scope (see
            ``rotel.blocks``).

        Raises:
            AssertionError: ``needle`` did not arrive within ``timeout``.
        """
        return _rotel.blocks(_rotel.wait_for(self.output_path, needle, timeout), needle)


@pytest.fixture(scope="session")
def phoenix() -> PhoenixClient:
    """The running Phoenix; skips (fails if required) when there is none."""
    url, grpc = os.environ.get(URL_VARIABLE), os.environ.get(GRPC_VARIABLE)
    if not url or not grpc:
        _skip_or_fail(
            f"no Phoenix to test against: {URL_VARIABLE} and {GRPC_VARIABLE} are not set"
            " (`nox -s test` starts Phoenix and sets them)"
        )
    return PhoenixClient(http_url=url, grpc_endpoint=grpc)


@pytest.fixture(scope="session")
def rotel() -> RotelCollector:
    """The running Rotel collector; skips (fails if required) when there is none."""
    names = (_rotel.HTTP_VARIABLE, _rotel.GRPC_VARIABLE, _rotel.OUTPUT_VARIABLE)
    http, grpc, output = (os.environ.get(name) for name in names)
    if not http or not grpc or not output:
        _skip_or_fail(
            f"no Rotel to test against: {', '.join(names)} are not all set"
            " (`nox -s test` starts Rotel and sets them)"
        )
    return RotelCollector(http_endpoint=http, grpc_endpoint=grpc, output_path=Path(output))


def _skip_or_fail(reason: str) -> NoReturn:
    if os.environ.get(REQUIRED_VARIABLE) == "1":
        pytest.fail(f"{reason}, but {REQUIRED_VARIABLE}=1 requires the end-to-end tests")
    pytest.skip(reason)


@pytest.fixture
def phoenix_project() -> str:
    """A project name of the test's own, so it reads back only its own spans."""
    return f"t-{uuid.uuid4().hex}"
