"""Trace files with known contents, in the format agenttrace writes, for report tests and bench.

A ``TraceFile`` collects agent runs; each run is an agent span with child calls, every call
an operation span (plus its retry and fallback attempt spans, as agenttrace writes them).
Spans of a run are written children first, as an exporter sees them end. Ids are
sequential, so two files built the same way are byte-identical.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

START_NS = 1_790_000_000 * 10**9
"""2026-09-21: the default time of the first run."""


@dataclass(frozen=True)
class Fail:
    """One ``agenttrace.failure`` event."""

    mode: str | None = None
    declared: bool = True
    handling: str | None = None
    error_type: str | None = None
    attempt: int = 1


@dataclass(frozen=True)
class Call:
    """One call of an operation inside an agent run."""

    operation: str
    kind: str = "step"
    outcome: str = "ok"
    failures: Sequence[Fail] = ()
    retries: int = 0
    """Retry attempt spans to write."""
    served_by: str | None = None
    """A fallback's name (a fallback attempt span is written) or the operation's own."""
    duration: float = 0.010
    tokens: tuple[int, int] | None = None
    error_type: str | None = None
    children: Sequence[Call] = ()


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    """OTLP/JSON key-value pairs, ``None`` values left out."""
    return [{"key": k, "value": _value(v)} for k, v in values.items() if v is not None]


@dataclass
class TraceFile:
    """Agent runs, as OTLP/JSON lines of ``spans_per_line`` spans each."""

    spans_per_line: int = 50
    service: str = "svc"
    start_ns: int = START_NS
    gap_ns: int = 1_000_000_000
    """Time between the starts of two runs."""
    _spans: list[dict[str, Any]] = field(default_factory=list)
    _ids: int = 0
    _runs: int = 0

    def _id(self, width: int) -> str:
        self._ids += 1
        return format(self._ids, f"0{width}x")

    def run(self, agent: str | None, calls: Sequence[Call], *, outcome: str = "ok") -> str:
        """One agent run (or, with ``agent=None``, calls at the root of a trace); its trace id."""
        trace_id = self._id(32)
        start = self.start_ns + self._runs * self.gap_ns
        self._runs += 1
        if agent is None:
            for call in calls:
                self._call(trace_id, None, call, start)
            return trace_id
        root = self._id(16)
        end = start
        for call in calls:
            end = self._call(trace_id, root, call, end)
        self._spans.append(
            self.span(
                trace_id,
                root,
                None,
                f"invoke_agent {agent}",
                start,
                end + 1000,
                {
                    "agenttrace.kind": "agent",
                    "agenttrace.operation": agent,
                    "agenttrace.outcome": outcome,
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.agent.name": agent,
                },
            )
        )
        return trace_id

    def _call(self, trace_id: str, parent: str | None, call: Call, start: int) -> int:
        span_id = self._id(16)
        cursor = start + 1000
        for child in call.children:
            cursor = self._call(trace_id, span_id, child, cursor)
        end = max(cursor, start + round(call.duration * 1e9))
        for number in range(2, call.retries + 2):
            self._spans.append(self._attempt(trace_id, span_id, call, number, "retry", None, end))
        if call.served_by not in (None, call.operation):
            kind = "escalation" if call.served_by.startswith("human:") else "fallback"
            self._spans.append(
                self._attempt(trace_id, span_id, call, call.retries + 2, kind, call.served_by, end)
            )
        values: dict[str, Any] = {
            "agenttrace.kind": call.kind,
            "agenttrace.operation": call.operation,
            "agenttrace.outcome": call.outcome,
            "agenttrace.served_by": call.served_by,
            "error.type": call.error_type,
        }
        if call.tokens is not None:
            values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"] = call.tokens
        events = [
            {
                "timeUnixNano": str(start + 500),
                "name": "agenttrace.failure",
                "attributes": attributes(
                    {
                        "agenttrace.failure.declared": fail.declared,
                        "agenttrace.attempt": fail.attempt,
                        "agenttrace.failure.mode": fail.mode,
                        "agenttrace.failure.handling": fail.handling,
                        "error.type": fail.error_type,
                    }
                ),
            }
            for fail in call.failures
        ]
        name = f"execute_tool {call.operation}" if call.kind == "tool" else call.operation
        self._spans.append(self.span(trace_id, span_id, parent, name, start, end, values, events))
        return end

    def _attempt(
        self,
        trace_id: str,
        parent: str,
        call: Call,
        number: int,
        kind: str,
        name: str | None,
        end: int,
    ) -> dict[str, Any]:
        reason = call.failures[0].mode if call.failures else None
        return self.span(
            trace_id,
            self._id(16),
            parent,
            f"{kind} {call.operation}",
            end - 100,
            end - 50,
            {
                "agenttrace.kind": "attempt",
                "agenttrace.operation": call.operation,
                "agenttrace.attempt": number,
                "agenttrace.attempt.type": kind,
                "agenttrace.attempt.reason": reason,
                "agenttrace.fallback.name": name,
            },
        )

    @staticmethod
    def span(
        trace_id: str,
        span_id: str,
        parent: str | None,
        name: str,
        start: int,
        end: int,
        values: dict[str, Any],
        events: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """One span in OTLP/JSON."""
        span: dict[str, Any] = {"traceId": trace_id, "spanId": span_id}
        if parent is not None:
            span["parentSpanId"] = parent
        span.update(
            name=name,
            kind=1,
            startTimeUnixNano=str(start),
            endTimeUnixNano=str(end),
            attributes=attributes(values),
            status={},
        )
        if events:
            span["events"] = events
        return span

    def add_foreign(self, count: int) -> None:
        """Spans of another instrumentation (an HTTP server), each its own trace."""
        for _ in range(count):
            self._spans.append(
                self.span(
                    self._id(32),
                    self._id(16),
                    None,
                    "GET /health",
                    self.start_ns,
                    self.start_ns + 10**6,
                    {"http.request.method": "GET"},
                )
            )

    def lines(self) -> Iterator[str]:
        """The spans so far, as OTLP/JSON lines."""
        for first in range(0, len(self._spans), self.spans_per_line):
            yield request_line(self._spans[first : first + self.spans_per_line], self.service)

    def write(self, path: Path) -> Path:
        """Write the lines to ``path`` (gzip-compressed when it ends with ``.gz``)."""
        text = "".join(f"{line}\n" for line in self.lines())
        if path.suffix == ".gz":
            path.write_bytes(gzip.compress(text.encode()))
        else:
            path.write_text(text, encoding="utf-8")
        return path


def request_line(spans: Sequence[dict[str, Any]], service: str = "svc") -> str:
    """An ``ExportTraceServiceRequest`` in OTLP/JSON, as one line."""
    request = {
        "resourceSpans": [
            {
                "resource": {"attributes": attributes({"service.name": service})},
                "scopeSpans": [{"scope": {"name": "agenttrace"}, "spans": list(spans)}],
            }
        ]
    }
    return json.dumps(request, separators=(",", ":"))
