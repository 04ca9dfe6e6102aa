"""``agenttrace export``: replay OTLP/JSON-lines files to an OTLP endpoint."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agenttrace._config import destination
from agenttrace._otlp import (
    Delivery,
    HttpSender,
    count_spans,
    from_json_line,
    parse_headers,
    safe_url,
    traces_url,
)
from agenttrace._settings import load
from agenttrace.exceptions import ConfigurationError

from . import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")


def run_export(
    files: Sequence[str],
    *,
    endpoint: str | None,
    protocol: str | None,
    headers: Sequence[str],
    timeout: float,
) -> int:
    """Send every line of ``files``; report what was delivered."""
    overrides: dict[str, object] = {"endpoint": endpoint, "protocol": protocol}
    if endpoint is not None:
        overrides["traces_exporter"] = "otlp"
    loaded = load(overrides=overrides)
    kind, where = destination(loaded)
    if kind not in {"http/protobuf", "grpc"} or where is None:
        msg = "no OTLP endpoint: give --endpoint URL or set OTEL_EXPORTER_OTLP_ENDPOINT."
        raise ConfigurationError(msg)
    sent_headers = parse_headers(loaded.otel.headers)
    for item in headers:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            msg = f"--header {name.strip() or item!r}: expected NAME=VALUE."
            raise ConfigurationError(msg)
        sent_headers[name.strip().lower()] = value.strip()
    if kind == "grpc":
        send = _grpc_sender(where, sent_headers, timeout)
        shown = safe_url(where)
    else:
        url = where if loaded.source("traces_endpoint") != "default" else traces_url(where)
        sender = HttpSender(url, headers=sent_headers, timeout=timeout)
        shown = safe_url(url)

        def send(request: ExportTraceServiceRequest, spans: int) -> Delivery:
            return sender.send(request.SerializeToString(), spans)

    totals = _Totals()
    for file in files:
        _send_file(file, send, totals)
    _say(
        f"agenttrace export: {totals.delivered} spans delivered to {shown} in "
        f"{totals.requests} requests; {totals.failed} not delivered; "
        f"{totals.unreadable} unreadable lines or files."
    )
    return EXIT_OK if not totals.failed and not totals.unreadable else EXIT_FAILED


@dataclass
class _Totals:
    delivered: int = 0
    failed: int = 0
    unreadable: int = 0
    requests: int = 0


def _send_file(
    file: str, send: Callable[[ExportTraceServiceRequest, int], Delivery], totals: _Totals
) -> None:
    try:
        lines = Path(file).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        _say(f"{file}: cannot read ({type(exc).__name__})")
        totals.unreadable += 1
        return
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            request = from_json_line(line)
        except ValueError as exc:
            _say(f"{file}:{number}: {exc}")
            totals.unreadable += 1
            continue
        result = send(request, count_spans(request))
        totals.requests += 1
        totals.delivered += result.delivered
        totals.failed += result.failed
        if result.failed:
            _say(f"{file}:{number}: {result.failed} spans not delivered ({result.reason})")


def _grpc_sender(
    endpoint: str, headers: dict[str, str], timeout: float
) -> Callable[[ExportTraceServiceRequest, int], Delivery]:
    try:
        import grpc  # noqa: PLC0415
        from opentelemetry.proto.collector.trace.v1 import (  # noqa: PLC0415
            trace_service_pb2_grpc,
        )
    except ImportError:
        msg = "--protocol grpc needs the gRPC extra: pip install 'agenttrace[grpc]'."
        raise ConfigurationError(msg) from None
    from urllib.parse import urlsplit  # noqa: PLC0415

    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    target = f"{parts.hostname}:{parts.port or 4317}"
    channel = (
        grpc.insecure_channel(target)
        if parts.scheme == "http"
        else grpc.secure_channel(target, grpc.ssl_channel_credentials())
    )
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
    metadata = tuple(headers.items())

    def send(request: ExportTraceServiceRequest, spans: int) -> Delivery:
        try:
            answer = stub.Export(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            return Delivery(0, spans, f"gRPC {getattr(code, 'name', 'error')}")
        rejected = min(int(answer.partial_success.rejected_spans), spans)
        return Delivery(spans - rejected, rejected, "rejected" if rejected else None)

    return send
