"""Fixtures for the tests that run against Phoenix, a real OTLP backend."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class PhoenixClient:
    """Where to send spans, and a bounded way to read them back."""

    http_url: str
    grpc_endpoint: str

    @property
    def otlp_http_endpoint(self) -> str:
        return f"{self.http_url}/v1/traces"

    def spans(
        self, project: str, *, trace_id: str | None = None, expect: int = 1, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Poll until at least ``expect`` spans of ``project`` are stored."""
        query = {"limit": "1000", **({"trace_id": trace_id} if trace_id else {})}
        url = f"{self.http_url}/v1/projects/{project}/spans?{urllib.parse.urlencode(query)}"
        found: list[dict[str, Any]] = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310
                    found = json.load(answer)["data"]
            except urllib.error.HTTPError as error:
                if error.code != 404:
                    raise
            if len(found) >= expect:
                return found
            time.sleep(0.2)
        msg = f"expected {expect} spans in project {project!r}, got {len(found)}: {found}"
        raise AssertionError(msg)


@pytest.fixture(scope="session")
def phoenix() -> PhoenixClient:
    url = os.environ.get("AGENTTRACE_E2E_PHOENIX_URL")
    grpc = os.environ.get("AGENTTRACE_E2E_PHOENIX_GRPC")
    if not url or not grpc:
        message = "Phoenix is not running (nox -s test starts it; AGENTTRACE_E2E=0 skips it)"
        if os.environ.get("AGENTTRACE_E2E_REQUIRED") == "1":
            pytest.fail(message + ", and AGENTTRACE_E2E_REQUIRED=1")
        pytest.skip(message)
    return PhoenixClient(url, grpc)


@pytest.fixture
def phoenix_project() -> str:
    return f"t-{uuid.uuid4().hex}"
