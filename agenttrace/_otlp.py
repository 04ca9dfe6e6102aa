"""OTLP on the wire: encoding, the JSON-lines file format, and a small HTTP sender.

agenttrace sends OTLP/HTTP with its own sender rather than the SDK's exporter because it
must send requests it did not build (``agenttrace export`` replays files), report what a
collector rejected (``partial_success``), stop at the pipeline's deadline, and keep its
warnings rate-limited: the SDK exporter logs every failed batch. The rules are the OTLP
specification's: retry 429, 502, 503 and 504 and connection failures with exponential
back-off and jitter, honour ``Retry-After``, never retry anything else, never go past the
deadline.

The file format is the OpenTelemetry file exporter's: one ``ExportTraceServiceRequest`` per
line in the OTLP/JSON encoding (camelCase keys, enums as numbers, ids as hex).
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.util.re import parse_env_headers

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from opentelemetry.sdk.trace import ReadableSpan

TRACES_PATH: Final = "/v1/traces"
LOGS_PATH: Final = "/v1/logs"
METRICS_PATH: Final = "/v1/metrics"
RETRYABLE_STATUS: Final = frozenset({429, 502, 503, 504})
MAX_BACKOFF_SECONDS: Final = 30.0
_ID_KEYS: Final = frozenset({"traceId", "spanId", "parentSpanId"})


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one export request."""

    delivered: int
    """Spans the backend accepted."""
    failed: int
    """Spans not delivered: refused, rejected, timed out."""
    reason: str | None = None
    """Why some failed, in a few words that never quote a secret."""


def encode(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """The OTLP request for ``spans`` (the OpenTelemetry encoder)."""
    return encode_spans(spans)


def count_spans(request: ExportTraceServiceRequest) -> int:
    """How many spans a request carries."""
    return sum(len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans)


def _convert_ids(node: Any, convert: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                node[key] = convert(value)
            else:
                _convert_ids(value, convert)
    elif isinstance(node, list):
        for item in node:
            _convert_ids(item, convert)


def _b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def _hex_to_b64(value: str) -> str:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return value  # base64 already (protobuf's own JSON mapping)
    return base64.b64encode(raw).decode("ascii")


def to_json_line(request: ExportTraceServiceRequest) -> str:
    """One line of the file format: the request in OTLP/JSON, without a newline."""
    data = json_format.MessageToDict(request, use_integers_for_enums=True)
    _convert_ids(data, _b64_to_hex)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def from_json_line(line: str) -> ExportTraceServiceRequest:
    """Parse one line of the file format.

    Raises:
        ValueError: The line is not an OTLP/JSON ``ExportTraceServiceRequest``.
    """
    try:
        data = json.loads(line)
        _convert_ids(data, _hex_to_b64)
        request = ExportTraceServiceRequest()
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except (json_format.ParseError, json.JSONDecodeError, TypeError, AttributeError) as exc:
        msg = f"not an OTLP/JSON trace request ({type(exc).__name__})"
        raise ValueError(msg) from None
    return request


def traces_url(endpoint: str) -> str:
    """The traces URL for a base endpoint: ``/v1/traces`` appended, unless already there."""
    return signal_url(endpoint, TRACES_PATH)


def signal_url(endpoint: str, signal_path: str) -> str:
    """The URL of one signal (``/v1/traces``, ``/v1/logs``, ``/v1/metrics``) for a base endpoint.

    The path is appended unless the endpoint already ends with it.
    """
    parts = urlsplit(endpoint)
    path = parts.path.rstrip("/")
    if not path.endswith(signal_path):
        path += signal_path
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def safe_url(url: str) -> str:
    """``url`` without user, password and query, fit for logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def parse_headers(value: str | None) -> dict[str, str]:
    """Headers from the ``OTEL_EXPORTER_OTLP_HEADERS`` format (``name=value``, URL-encoded)."""
    return dict(parse_env_headers(value or "", liberal=True))


def format_headers(headers: Mapping[str, str]) -> str:
    """``headers`` in the ``OTEL_EXPORTER_OTLP_HEADERS`` format."""
    return ",".join(
        f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in headers.items()
    )


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def rejected_spans(content: bytes) -> int:
    """Spans a 2xx response body says the collector rejected (``partial_success``)."""
    answer = ExportTraceServiceResponse.FromString(content)
    return int(answer.partial_success.rejected_spans)


def rejected_log_records(content: bytes) -> int:
    """Log records a 2xx response body says the collector rejected (``partial_success``)."""
    answer = ExportLogsServiceResponse.FromString(content)
    return int(answer.partial_success.rejected_log_records)


def _rejected(response: requests.Response, read: Callable[[bytes], int]) -> int:
    if not response.content:
        return 0
    try:
        return read(response.content)
    except Exception:
        return 0


class HttpSender:
    """Sends encoded OTLP requests to one URL, within a deadline.

    ``rejected`` reads a successful response's ``partial_success`` for the signal sent:
    :func:`rejected_spans` (the default) or :func:`rejected_log_records`.

    Example:
        >>> sender = HttpSender("http://127.0.0.1:4318/v1/traces", timeout=2.0)
        >>> sender.url
        'http://127.0.0.1:4318/v1/traces'
        >>> sender.shutdown()
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        gzip: bool = False,
        verify: str | bool = True,
        cert: tuple[str, str] | str | None = None,
        rejected: Callable[[bytes], int] = rejected_spans,
    ) -> None:
        self.url = url
        self._read_rejected = rejected
        self._timeout = timeout
        self._gzip = gzip
        self._verify = verify
        self._cert = cert
        self._session = self._new_session()
        self._headers = {"Content-Type": "application/x-protobuf", **(headers or {})}
        if gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._cap = float("inf")

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.verify = self._verify
        session.cert = self._cert
        return session

    def after_fork(self) -> None:
        """In a forked child: new connections, never the parent's sockets."""
        self._session = self._new_session()

    def limit(self, deadline: float) -> None:
        """From now on, never wait past ``deadline`` (a ``time.monotonic()`` value).

        A request waiting to be retried gives up at once when its retry would come later.
        """
        self._cap = deadline
        self._wake.set()

    def send(self, body: bytes, spans: int, deadline: float | None = None) -> Delivery:
        """POST one encoded request, retrying what the specification says to retry.

        Args:
            body: A serialised export request (traces or logs).
            spans: How many spans or log records it carries, for the result.
            deadline: A ``time.monotonic()`` value not to go past; the exporter timeout
                applies anyway.

        Returns:
            How many spans were delivered, how many not, and why.
        """
        end = time.monotonic() + self._timeout
        if deadline is not None:
            end = min(end, deadline)
        data = gzip.compress(body) if self._gzip else body
        retries = 0
        reconnected = False
        while True:
            end = min(end, self._cap)
            remaining = end - time.monotonic()
            if remaining <= 0:
                return Delivery(0, spans, "timed out")
            wait, reason = self._attempt(data, spans, remaining)
            if isinstance(wait, Delivery):
                return wait
            # A failed connection is retried at once the first time: a pooled connection
            # the server had closed fails like that.
            if wait is None and reason == "cannot connect" and not reconnected:
                wait, reconnected = 0.0, True
            elif wait is None:
                wait = _backoff(retries)
                retries += 1
            if time.monotonic() + wait >= end or not self._sleep(wait):
                return Delivery(0, spans, reason)

    def _sleep(self, seconds: float) -> bool:
        """Wait before a retry; ``False`` when a shutdown or a new limit cuts the wait short."""
        until = time.monotonic() + seconds
        while (remaining := until - time.monotonic()) > 0:
            if self._wake.wait(remaining):
                if self._stopping.is_set() or until >= self._cap:
                    return False
                self._wake.clear()
        return True

    def _attempt(self, data: bytes, spans: int, remaining: float) -> tuple[Any, str]:
        """One POST: a final :class:`Delivery`, or (the wait before retrying, the reason)."""
        try:
            response = self._session.post(
                self.url, data=data, headers=self._headers, timeout=remaining
            )
        except requests.Timeout:
            return None, "timed out"
        except requests.ConnectionError:
            return None, "cannot connect"
        except requests.RequestException as exc:
            return Delivery(0, spans, type(exc).__name__), ""
        with response:
            status = response.status_code
            if 200 <= status < 300:  # noqa: PLR2004
                rejected = min(_rejected(response, self._read_rejected), spans)
                reason = "rejected by the collector" if rejected else None
                return Delivery(spans - rejected, rejected, reason), ""
            reason = f"HTTP {status}"
            if status not in RETRYABLE_STATUS:
                return Delivery(0, spans, reason), ""
            return _retry_after(response), reason

    def shutdown(self) -> None:
        """Stop waiting between retries and close the connections."""
        self._stopping.set()
        self._wake.set()
        self._session.close()


def _backoff(attempt: int) -> float:
    # The jitter spreads clients that failed together; not a security measure.
    return float(min(2.0**attempt, MAX_BACKOFF_SECONDS) * random.uniform(0.8, 1.2))  # noqa: S311


class HttpSink:
    """Exports finished spans (or, given the logs encoder, log records) over OTLP/HTTP."""

    def __init__(self, sender: HttpSender, encoder: Callable[[Any], Any] = encode) -> None:
        self.sender = sender
        self._encode = encoder
        self.name = f"otlp http/protobuf {safe_url(sender.url)}"

    def export(self, spans: Sequence[Any], deadline: float | None = None) -> Delivery:
        """Encode and send ``spans`` as one request."""
        if not spans:
            return Delivery(0, 0)
        body = self._encode(spans).SerializeToString()
        return self.sender.send(body, len(spans), deadline)

    def limit(self, deadline: float) -> None:
        """Never wait past ``deadline`` from now on (shutdown has begun)."""
        self.sender.limit(deadline)

    def after_fork(self) -> None:
        """New connections in a forked child."""
        self.sender.after_fork()

    def shutdown(self) -> None:
        """Stop the sender."""
        self.sender.shutdown()


class GrpcSink:
    """Exports spans or log records over OTLP/gRPC with an OpenTelemetry exporter (an extra)."""

    def __init__(self, exporter: Any, endpoint: str) -> None:
        self._exporter = exporter
        self.name = f"otlp grpc {safe_url(endpoint)}"

    def export(self, spans: Sequence[Any], deadline: float | None = None) -> Delivery:
        """Export ``spans``; the exporter's own timeout bounds the call."""
        del deadline  # the exporter has no per-call deadline; its timeout bounds it
        if not spans:
            return Delivery(0, 0)
        result = self._exporter.export(spans)
        if getattr(result, "name", "") == "SUCCESS":
            return Delivery(len(spans), 0)
        return Delivery(0, len(spans), "gRPC export failed")

    def limit(self, deadline: float) -> None:
        """Nothing to do: the exporter's own timeout bounds each call."""
        del deadline

    def after_fork(self) -> None:
        """Nothing to do: gRPC handles forks itself (``GRPC_ENABLE_FORK_SUPPORT``)."""

    def shutdown(self) -> None:
        """Shut the exporter down."""
        self._exporter.shutdown()
