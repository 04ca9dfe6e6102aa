"""The metric exporter ``configure()`` builds: the OpenTelemetry OTLP exporter, counted.

Metrics are aggregated in memory and exported by the SDK's periodic reader on its own
thread, so nothing queues per measurement. What can be lost is an export: each one that
fails is counted (``stats().metric_exports_failed``) and logged at most once a minute.
Imported at configuration time only.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

from ._internal import log_limited
from ._otlp import parse_headers

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricsData

    from ._settings import OtelSettings


class CountingMetricExporter(MetricExporter):
    """Wraps an OTLP metric exporter; counts the exports that succeed and that fail.

    Args:
        exporter: The exporter that sends.
        name: What ``stats()`` and warnings call the destination.
    """

    def __init__(self, exporter: MetricExporter, name: str) -> None:
        super().__init__(
            preferred_temporality=getattr(exporter, "_preferred_temporality", None),
            preferred_aggregation=getattr(exporter, "_preferred_aggregation", None),
        )
        self.exporter = exporter
        self.name = name
        self._lock = threading.Lock()
        self.exported = 0
        self.failed = 0

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Export, and count the result; an exporter that raises counts as a failure."""
        try:
            result = self.exporter.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception as exc:
            result = MetricExportResult.FAILURE
            reason = type(exc).__name__
        else:
            reason = "the exporter reported a failure"
        with self._lock:
            if result is MetricExportResult.SUCCESS:
                self.exported += 1
                return result
            self.failed += 1
        log_limited(
            "export metrics",
            "agenttrace: could not export metrics to %s (%s; a collector that takes traces only "
            "refuses them, and OTEL_METRICS_EXPORTER=none stops sending them); %d more failed "
            "exports since the last warning. agenttrace.stats() has the counts.",
            self.name,
            reason,
        )
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Flush the wrapped exporter."""
        return bool(self.exporter.force_flush(timeout_millis=timeout_millis))

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Shut the wrapped exporter down."""
        self.exporter.shutdown(timeout_millis=timeout_millis, **kwargs)


def metric_exporter(protocol: str, url: str, otel: OtelSettings) -> MetricExporter:
    """The OpenTelemetry OTLP metric exporter for ``url`` (HTTP, or gRPC with the extra)."""
    headers = parse_headers(otel.headers)
    timeout = otel.timeout_ms / 1000
    if protocol == "grpc":
        from ._config import grpc_exporter  # noqa: PLC0415

        exporter: MetricExporter = grpc_exporter(url, headers, timeout, otel, signal="metrics")
        return exporter
    from opentelemetry.exporter.otlp.proto.http import Compression  # noqa: PLC0415
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
        OTLPMetricExporter,
    )

    return OTLPMetricExporter(
        endpoint=url,
        headers=headers,
        timeout=timeout,
        compression=Compression.Gzip if otel.compression == "gzip" else Compression.NoCompression,
        certificate_file=str(otel.certificate) if otel.certificate else None,
        client_certificate_file=str(otel.client_certificate) if otel.client_certificate else None,
        client_key_file=str(otel.client_key) if otel.client_key else None,
    )
