"""``agenttrace.stats()``: counters of what agenttrace did and could not do, for health checks."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._internal import internal_error_counts, usage_error_counts


class Stats(BaseModel):
    """A snapshot of agenttrace's counters.

    The span counters cover the export pipeline that :func:`agenttrace.configure` set up
    (they stay at zero when agenttrace attached to the application's own provider). At any
    moment ``spans_started == spans_open + spans_queued + spans_exported + spans_failed +
    sum(spans_dropped.values())``.
    """

    model_config = ConfigDict(frozen=True)

    internal_errors: dict[str, int] = Field(default_factory=dict)
    """Errors in agenttrace's own code, by stage (``start``, ``finish``, ``capture``…).

    Each one cost telemetry only: the user's code ran and returned as if undecorated.
    """
    usage_errors: dict[str, int] = Field(default_factory=dict)
    """Misuses noticed at run time, by kind: ``when_raised`` (a ``when=`` predicate raised;
    the value was kept), ``record_failure_outside`` (``current().record_failure()`` outside
    any operation), ``bad_failure`` (``record_failure()`` given something that is not a mode).

    Each one is also logged on the ``agenttrace`` logger, at most once a minute per kind.
    """
    destination: str = ""
    """Where spans go (``file …``, ``otlp http/protobuf …``), or empty when not configured."""
    spans_started: int = 0
    """Spans recorded (sampled) since ``configure()``."""
    spans_open: int = 0
    """Started and not ended yet."""
    spans_queued: int = 0
    """Ended, waiting for export or being exported."""
    spans_exported: int = 0
    """Delivered: written to the file, or accepted by the collector."""
    spans_failed: int = 0
    """Sent and not delivered: refused, timed out, rejected by the collector."""
    spans_dropped: dict[str, int] = Field(default_factory=dict)
    """Never sent, by reason: ``queue_full``, ``too_large``, ``shutdown_deadline``,
    ``after_shutdown``."""
    export_failures: dict[str, int] = Field(default_factory=dict)
    """Failed spans by what went wrong (``cannot connect``, ``HTTP 503``, ``timed out``…)."""
    logs_destination: str = ""
    """Where log records go over OTLP, or empty when they are not exported."""
    logs_emitted: int = 0
    """Log records handed to the OTLP log pipeline since ``configure()``. At any moment
    ``logs_emitted == logs_queued + logs_exported + logs_failed + sum(logs_dropped.values())``."""
    logs_queued: int = 0
    """Waiting for export or being exported."""
    logs_exported: int = 0
    """Accepted by the collector."""
    logs_failed: int = 0
    """Sent and not delivered."""
    logs_dropped: dict[str, int] = Field(default_factory=dict)
    """Never sent, by reason (the same reasons as ``spans_dropped``)."""
    metrics_destination: str = ""
    """Where metrics go over OTLP, or empty when agenttrace does not export them."""
    metric_exports: int = 0
    """Periodic metric exports the collector accepted."""
    metric_exports_failed: int = 0
    """Metric exports that failed (that interval's changes are lost)."""

    @property
    def internal_errors_total(self) -> int:
        """All internal errors, whatever the stage."""
        return sum(self.internal_errors.values())

    @property
    def spans_lost(self) -> int:
        """Spans that will never be delivered: failed plus dropped."""
        return self.spans_failed + sum(self.spans_dropped.values())


def stats() -> Stats:
    """The counters as they are now.

    Example:
        >>> import agenttrace
        >>> agenttrace.stats().internal_errors_total
        0
    """
    from ._config import (  # noqa: PLC0415 (the package imports this module)
        log_counts,
        metric_counts,
        pipeline_counts,
    )

    fields: dict[str, Any] = {
        "internal_errors": internal_error_counts(),
        "usage_errors": usage_error_counts(),
    }
    logs = log_counts()
    if logs is not None:
        fields.update(
            logs_destination=logs.destination,
            logs_emitted=logs.started,
            logs_queued=logs.queued,
            logs_exported=logs.exported,
            logs_failed=logs.failed,
            logs_dropped=logs.dropped,
        )
    exports = metric_counts()
    if exports is not None:
        fields["metrics_destination"], fields["metric_exports"] = exports[0], exports[1]
        fields["metric_exports_failed"] = exports[2]
    counts = pipeline_counts()
    if counts is not None:
        fields.update(
            destination=counts.destination,
            spans_started=counts.started,
            spans_open=counts.open,
            spans_queued=counts.queued,
            spans_exported=counts.exported,
            spans_failed=counts.failed,
            spans_dropped=counts.dropped,
            export_failures=counts.failures,
        )
    return Stats(**fields)
