"""From spans to the reliability report: which agent each operation ran in, and the tallies.

An operation belongs to the nearest agent above it in its trace. Spans end (and so arrive)
children first, so an operation's agent is often not known when the operation is read:
its span waits, with the trace's other spans, until the trace's root span arrives (or the
input ends), then the trace is resolved at once. What waits is a few small tuples per
span, and at most ``MAX_PENDING_SPANS`` of them: past that, the oldest traces are resolved
with what is known. Spans that arrive after their trace was resolved (a generator that
outlived its caller) find their parents among the recently resolved traces.

Tallies are counts, sums and one DDSketch per operation for the latency quantiles: memory
grows with the number of distinct operations, not with the number of spans.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, NamedTuple

from ddsketch import DDSketch

from agenttrace._models._detectors import NAMES as _DETECTOR_NAMES
from agenttrace._semconv import ATTEMPT_RETRY, KIND_ATTEMPT, OUTCOME_FAILED, OUTCOME_OK

from . import _stats
from ._model import (
    NO_AGENT,
    OUTCOMES,
    AgentReport,
    FailureModeStats,
    FallbackStats,
    Latency,
    OperationStats,
    Series,
    TimeBucket,
    Tokens,
    UndeclaredStats,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

MAX_PENDING_SPANS: Final = 500_000
"""Spans waiting for their trace's root, at most; past it the oldest traces are resolved."""
RESOLVED_TRACES: Final = 4096
"""Resolved traces remembered, for spans that arrive after their trace's root."""
DETECTORS: Final = frozenset({*_DETECTOR_NAMES, "invalid_output"})
SKETCH_ACCURACY: Final = 0.005
QUANTILES: Final = tuple(q / 100 for q in range(0, 101, 5))
CHART_BUCKETS: Final = 60
"""Failure rate over time: at most this many intervals."""
_MAX_BUCKETS: Final = 4096
_BUCKET_SECONDS: Final = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 21600, 86400, 604800)
"""Each divides the next, so counts move to a wider interval exactly."""
_KIND_ORDER: Final = {"agent": 0, "step": 1, "tool": 2, "model_call": 3}


class Failure(NamedTuple):
    """One ``agenttrace.failure`` event."""

    mode: str | None
    declared: bool
    handling: str | None
    error_type: str | None


class Span(NamedTuple):
    """What a report needs of one span; ``kind`` is ``None`` for another instrumentation's."""

    trace_id: str
    span_id: str
    parent_id: str | None
    kind: str | None
    operation: str
    start_ns: int
    end_ns: int
    outcome: str | None = None
    served_by: str | None = None
    attempt_type: str | None = None
    tokens: tuple[int, int] | None = None
    failures: tuple[Failure, ...] = ()


@dataclass
class Totals:
    """What was counted of the spans read."""

    spans: int = 0
    operation_spans: int = 0
    attempt_spans: int = 0
    foreign_spans: int = 0
    filtered_spans: int = 0
    start: float | None = None
    end: float | None = None


@dataclass
class _Operation:
    """The tallies of one operation within one agent."""

    kind: str
    calls: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    modes: dict[tuple[str, bool], list[int]] = field(default_factory=dict)
    """(mode, declared) → [calls, occurrences]."""
    handling: dict[str, str] = field(default_factory=dict)
    undeclared: dict[str, list[int]] = field(default_factory=dict)
    served_by: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    sketch: DDSketch = field(default_factory=lambda: DDSketch(SKETCH_ACCURACY))
    duration_sum_ns: int = 0
    """Nanoseconds, so the mean does not depend on the order spans are read in."""
    duration_min: float = math.inf
    duration_max: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_calls: int = 0
    detectors: Counter[str] = field(default_factory=Counter)

    def add(self, span: Span) -> None:
        self.calls += 1
        outcome = span.outcome or "unknown"
        self.outcomes[outcome] += 1
        if span.served_by is not None and outcome != OUTCOME_OK:
            self.served_by[span.served_by] += 1
        nanoseconds = max(0, span.end_ns - span.start_ns)
        duration = nanoseconds / 1e9
        self.sketch.add(duration)
        self.duration_sum_ns += nanoseconds
        self.duration_min = min(self.duration_min, duration)
        self.duration_max = max(self.duration_max, duration)
        if span.tokens is not None:
            self.tokens_in += span.tokens[0]
            self.tokens_out += span.tokens[1]
            self.tokens_calls += 1
        if span.failures:
            self._failures(span.failures, model_call=span.kind == "model_call")

    def _failures(self, failures: Iterable[Failure], *, model_call: bool) -> None:
        seen: set[tuple[str, bool]] = set()
        seen_undeclared: set[str] = set()
        for failure in failures:
            if failure.mode is not None:
                key = (failure.mode, failure.declared)
                tally = self.modes.setdefault(key, [0, 0])
                tally[1] += 1
                if key not in seen:
                    seen.add(key)
                    tally[0] += 1
                    if model_call and failure.mode in DETECTORS:
                        self.detectors[failure.mode] += 1
                if failure.handling is not None:
                    self.handling[failure.mode] = failure.handling
            if failure.mode is None:  # an exception no mode covers
                error_type = failure.error_type or "unknown"
                tally = self.undeclared.setdefault(error_type, [0, 0])
                tally[1] += 1
                if error_type not in seen_undeclared:
                    seen_undeclared.add(error_type)
                    tally[0] += 1

    def stats(self, agent: str, operation: str, confidence: float) -> OperationStats:
        calls = self.calls
        outcomes = {outcome: self.outcomes.get(outcome, 0) for outcome in OUTCOMES}
        modes = sorted(self.modes.items(), key=lambda item: (-item[1][1], item[0]))
        undeclared = sorted(self.undeclared.items(), key=lambda item: (-item[1][1], item[0]))
        return OperationStats(
            agent=agent,
            operation=operation,
            kind=self.kind,
            calls=calls,
            outcomes=outcomes,
            shares={outcome: count / calls for outcome, count in outcomes.items()},
            first_try=_stats.first_try(outcomes[OUTCOME_OK], calls, confidence),
            failure_modes=[
                FailureModeStats(
                    mode=mode,
                    declared=declared,
                    handling=self.handling.get(mode) if declared else None,
                    calls=tally[0],
                    occurrences=tally[1],
                    rate=tally[0] / calls,
                )
                for (mode, declared), tally in modes
            ],
            undeclared=[
                UndeclaredStats(
                    error_type=error_type,
                    calls=tally[0],
                    occurrences=tally[1],
                    rate=tally[0] / calls,
                )
                for error_type, tally in undeclared
            ],
            served_by=[
                FallbackStats(served_by=name, calls=count, rate=count / calls)
                for name, count in sorted(self.served_by.items(), key=lambda i: (-i[1], i[0]))
            ],
            retries=self.retries,
            retries_per_call=self.retries / calls,
            latency=self._latency(),
            tokens=Tokens(
                input=self.tokens_in, output=self.tokens_out, calls_reporting=self.tokens_calls
            )
            if self.tokens_calls
            else None,
            detectors=dict(sorted(self.detectors.items())),
        )

    def _within(self, value: float | None) -> float:
        """A sketch's quantile, kept within the exact minimum and maximum."""
        return min(max(float(value or 0.0), self.duration_min), self.duration_max)

    def _latency(self) -> Latency:
        quantiles = [float(self.sketch.get_quantile_value(q) or 0.0) for q in QUANTILES]
        # The ends are known exactly; the sketch's are within its accuracy.
        quantiles[0], quantiles[-1] = self.duration_min, self.duration_max
        quantiles = [self._within(q) for q in quantiles]
        return Latency(
            p50=quantiles[10],
            p95=quantiles[19],
            p99=self._within(self.sketch.get_quantile_value(0.99)),
            mean=self.duration_sum_ns / self.calls / 1e9,
            max=self.duration_max,
            quantiles=quantiles,
        )  # fmt: skip


@dataclass
class _Timeline:
    """Calls, not-ok and failed counts per agent and interval, the interval widening as needed."""

    level: int = 0
    buckets: dict[str, dict[int, list[int]]] = field(default_factory=dict)

    @property
    def seconds(self) -> int:
        return _BUCKET_SECONDS[self.level]

    def add(self, agent: str, start_ns: int, outcome: str | None) -> None:
        counts = self.buckets.setdefault(agent, {})
        index = start_ns // (self.seconds * 1_000_000_000)
        wider = self.level + 1 < len(_BUCKET_SECONDS)
        if index not in counts and len(counts) >= _MAX_BUCKETS and wider:
            self._widen(self.level + 1)
            counts = self.buckets[agent]
            index = start_ns // (self.seconds * 1_000_000_000)
        tally = counts.get(index)
        if tally is None:
            tally = counts[index] = [0, 0, 0]
        tally[0] += 1
        if outcome != OUTCOME_OK:
            tally[1] += 1
            if outcome == OUTCOME_FAILED:
                tally[2] += 1

    def _widen(self, level: int) -> None:
        factor = _BUCKET_SECONDS[level] // self.seconds
        self.level = level
        for agent, counts in self.buckets.items():
            wider: dict[int, list[int]] = {}
            for index, tally in counts.items():
                into = wider.setdefault(index // factor, [0, 0, 0])
                for position, count in enumerate(tally):
                    into[position] += count
            self.buckets[agent] = wider

    def series(self) -> list[Series]:
        indexes = [index for counts in self.buckets.values() for index in counts]
        if not indexes:
            return []
        span = (max(indexes) - min(indexes) + 1) * self.seconds
        level = self.level
        while level + 1 < len(_BUCKET_SECONDS) and span / _BUCKET_SECONDS[level] > CHART_BUCKETS:
            level += 1
        if level != self.level:
            self._widen(level)
        indexes = [index for counts in self.buckets.values() for index in counts]
        first, last = min(indexes), max(indexes)
        return [
            Series(
                agent=agent,
                bucket_seconds=float(self.seconds),
                buckets=[
                    _bucket(index * self.seconds, counts.get(index, (0, 0, 0)))
                    for index in range(first, last + 1)
                ],
            )
            for agent, counts in sorted(self.buckets.items())
        ]  # fmt: skip


class Aggregator:
    """Takes spans one at a time; ``finish()`` gives the report's agents and series."""

    def __init__(self, *, since_ns: int | None = None, until_ns: int | None = None) -> None:
        self.totals = Totals()
        self._since = since_ns
        self._until = until_ns
        self._operations: dict[tuple[str, str], _Operation] = {}
        self._runs: Counter[str] = Counter()
        self._timeline = _Timeline()
        # trace id → span id → (parent id, agent name when the span is an agent's)
        self._links: dict[str, dict[str, tuple[str | None, str | None]]] = {}
        self._pending: dict[str, list[Span]] = {}
        self._waiting = 0
        """Spans in ``_links``: what waits for its trace's root."""
        self._resolved: OrderedDict[str, dict[str, str | None]] = OrderedDict()

    def add(self, span: Span) -> None:
        """Count one span, now or once its trace's agent is known."""
        totals = self.totals
        totals.spans += 1
        counted = span.kind is not None
        if not counted:
            totals.foreign_spans += 1
        elif (self._since is not None and span.start_ns < self._since) or (
            self._until is not None and span.start_ns >= self._until
        ):
            totals.filtered_spans += 1
            counted = False  # still a link between its children and its agent
        elif span.kind == KIND_ATTEMPT:
            totals.attempt_spans += 1
        else:
            totals.operation_spans += 1
        resolved = self._resolved.get(span.trace_id)
        if resolved is not None and span.parent_id in resolved:
            agent = span.operation if span.kind == "agent" else resolved[span.parent_id]
            resolved[span.span_id] = agent
            if counted:
                self._count(span, agent)
            return
        agent_name = span.operation if span.kind == "agent" else None
        self._links.setdefault(span.trace_id, {})[span.span_id] = (span.parent_id, agent_name)
        self._waiting += 1
        if counted:
            self._pending.setdefault(span.trace_id, []).append(span)
        if span.parent_id is None:
            self._resolve(span.trace_id)
        elif self._waiting > MAX_PENDING_SPANS:
            while self._waiting > MAX_PENDING_SPANS // 2:
                self._resolve(next(iter(self._links)))

    def _resolve(self, trace_id: str) -> None:
        links = self._links.pop(trace_id, {})
        spans = self._pending.pop(trace_id, [])
        self._waiting -= len(links)
        # A trace resolved before (its root came, then more of its spans) keeps its answers.
        agents: dict[str, str | None] = self._resolved.pop(trace_id, {})

        def agent_of(span_id: str) -> str | None:
            path = []
            found: str | None = None
            current: str | None = span_id
            while current is not None and current not in agents:
                link = links.get(current)
                if link is None:
                    break
                path.append(current)
                if link[1] is not None:
                    found = link[1]
                    break
                current = link[0]
            else:
                if current is not None:
                    found = agents[current]
            for visited in path:
                agents[visited] = found
            return found

        for span in spans:
            agent = span.operation if span.kind == "agent" else agent_of(span.parent_id or "")
            self._count(span, agent)
        for span_id in links:
            agent_of(span_id)
        self._resolved[trace_id] = agents
        if len(self._resolved) > RESOLVED_TRACES:
            self._resolved.popitem(last=False)

    def _count(self, span: Span, agent: str | None) -> None:
        group = agent or NO_AGENT
        tally = self._operations.get((group, span.operation))
        if span.kind == KIND_ATTEMPT:
            if span.attempt_type == ATTEMPT_RETRY:
                if tally is None:
                    tally = self._operations[group, span.operation] = _Operation(kind="")
                tally.retries += 1
            return
        if tally is None:
            tally = self._operations[group, span.operation] = _Operation(kind=span.kind or "")
        elif not tally.kind:
            tally.kind = span.kind or ""
        tally.add(span)
        if span.kind == "agent":
            self._runs[span.operation] += 1
        self._timeline.add(group, span.start_ns, span.outcome)
        totals = self.totals
        start, end = span.start_ns / 1e9, span.end_ns / 1e9
        totals.start = start if totals.start is None else min(totals.start, start)
        totals.end = end if totals.end is None else max(totals.end, end)

    def finish(self, confidence: float) -> tuple[list[AgentReport], list[Series], Totals]:
        """Resolve what still waits; the agents with their operations, and the time series."""
        while self._links:
            self._resolve(next(iter(self._links)))
        groups: dict[str, list[OperationStats]] = {}
        for (group, operation), tally in self._operations.items():
            if tally.calls:  # retries of an operation whose own span was never read
                groups.setdefault(group, []).append(tally.stats(group, operation, confidence))
        agents = []
        for group, rows in groups.items():
            rows.sort(key=lambda r: (r.operation != group, _KIND_ORDER.get(r.kind, 9), r.operation))
            if group != NO_AGENT and rows[0].operation == group:
                rows[0] = _with_model_tokens(rows[0], rows[1:])
            agents.append(AgentReport(agent=group, runs=self._runs.get(group, 0), operations=rows))
        agents.sort(key=lambda a: (a.agent == NO_AGENT, -a.runs, a.agent))
        return agents, self._timeline.series(), self.totals


def _bucket(start: int, tally: Sequence[int]) -> TimeBucket:
    return TimeBucket(start=float(start), calls=tally[0], not_ok=tally[1], failed=tally[2])


def _with_model_tokens(agent: OperationStats, rows: list[OperationStats]) -> OperationStats:
    """The agent's row, with the tokens of the model calls in its runs."""
    used = [row.tokens for row in rows if row.kind == "model_call" and row.tokens is not None]
    if not used or agent.tokens is not None:
        return agent
    tokens = Tokens(
        input=sum(t.input for t in used),
        output=sum(t.output for t in used),
        calls_reporting=sum(t.calls_reporting for t in used),
    )
    return agent.model_copy(update={"tokens": tokens})
