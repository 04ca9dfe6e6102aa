"""A fake OTLP/HTTP collector on loopback that misbehaves on request.

Modes (switchable while running):

- ``up``: answers 200 and counts the spans.
- ``refused``: nothing listens on the port (the server is stopped, the port kept in mind).
- ``blackhole``: accepts connections, never reads, never answers.
- ``slow``: reads the request, waits ``delay`` seconds, then answers 200 and counts the
  spans, unless the client hung up meanwhile (then nothing was delivered).
- ``status``: answers ``status`` (with ``Retry-After`` when ``retry_after`` is set).
- ``reset``: closes the connection without an answer.
- ``partial``: answers 200 with ``partial_success.rejected_spans = rejected``.

Requests to other paths than ``/v1/traces`` (logs, metrics) are answered ``other_status``
(200) in every mode that reads them, and only listed in ``others``.

``flap(up, down)`` alternates ``up`` and ``reset`` on a timer.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


class Collector:
    """A loopback OTLP/HTTP endpoint whose behaviour tests choose."""

    def __init__(self, mode: str = "up") -> None:
        self.mode = mode
        self.delay = 0.0
        self.status = 503
        self.retry_after: str | None = None
        self.rejected = 0
        self.lock = threading.Lock()
        self.received = 0
        """Spans answered with success (what a real backend would have stored)."""
        self.requests = 0
        self.request_times: list[float] = []
        self.names: list[str] = []
        self.others: list[str] = []
        """Paths of the requests that were not traces (logs, metrics), whatever the mode."""
        self.other_status = 200
        """The answer to those requests (405: a collector that takes traces only)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._blackhole: socket.socket | None = None
        self._held: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._flapping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Collector:
        if self.mode == "refused":
            self._server.server_close()  # the port stays known and refuses connections
        elif self.mode == "blackhole":
            self._server.server_close()
            self._start_blackhole()
        else:
            self._spawn(self._server.serve_forever)
        return self

    def _spawn(self, target: object) -> None:
        thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _start_blackhole(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        sock.settimeout(0.1)
        self._blackhole = sock

        def hold() -> None:
            while not self._stop.is_set():
                with contextlib.suppress(OSError):
                    conn, _ = sock.accept()
                    self._held.append(conn)

        self._spawn(hold)

    def flap(self, up: float, down: float) -> None:
        """Alternate between answering and dropping connections."""

        done = threading.Event()
        self._flapping = done

        def run() -> None:
            while not done.is_set() and not self._stop.is_set():
                self.mode = "up"
                if done.wait(up) or self._stop.is_set():
                    break
                self.mode = "reset"
                done.wait(down)
            self.mode = "up"

        self._spawn(run)

    def steady(self) -> None:
        """Stop flapping and stay up."""
        self._flapping.set()
        self._threads[-1].join(5)

    def stop(self) -> None:
        self._stop.set()
        if self.mode not in {"refused", "blackhole"}:
            self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:  # first, so nothing is accepted after the closing
            thread.join(5)
        if self._blackhole is not None:
            self._blackhole.close()
        for conn in self._held:
            conn.close()

    def _count(self, body: bytes) -> int:
        request = ExportTraceServiceRequest.FromString(body)
        spans = [
            span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans
        ]
        with self.lock:
            self.names += [span.name for span in spans]
        return len(spans)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                del format, args

            def do_POST(self) -> None:
                if not self.path.endswith("/v1/traces"):
                    self._other()
                    return
                with collector.lock:
                    collector.requests += 1
                    collector.request_times.append(time.monotonic())
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                mode = collector.mode
                if mode == "reset":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if mode == "status":
                    self.send_response(collector.status)
                    if collector.retry_after is not None:
                        self.send_header("Retry-After", collector.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if mode == "slow" and self._client_left(collector.delay):
                    self.close_connection = True
                    return
                spans = collector._count(body)
                answer = ExportTraceServiceResponse()
                rejected = min(collector.rejected, spans) if mode == "partial" else 0
                answer.partial_success.rejected_spans = rejected
                payload = answer.SerializeToString()
                with collector.lock:
                    collector.received += spans - rejected
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _other(self) -> None:
                """Logs and metrics: read, answered 200, counted apart from the spans."""
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with collector.lock:
                    collector.others.append(self.path)
                self.send_response(collector.other_status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _client_left(self, delay: float) -> bool:
                """Wait ``delay`` seconds; ``True`` if the client closed meanwhile."""
                end = time.monotonic() + delay
                while (remaining := end - time.monotonic()) > 0:
                    readable, _, _ = select.select([self.connection], [], [], min(remaining, 0.02))
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):
                        return True
                return False

        return Handler


@contextlib.contextmanager
def running(mode: str = "up", **options: object) -> Iterator[Collector]:
    """A started collector, stopped at the end."""
    collector = Collector(mode)
    for name, value in options.items():
        setattr(collector, name, value)
    collector.start()
    try:
        yield collector
    finally:
        collector.stop()
