"""The reliability report as data: what ``agenttrace report --json`` prints.

Every renderer (the terminal table, Markdown, HTML) and ``agenttrace diff`` read these
models; nothing else of the aggregation leaks out. Rates are fractions of an operation's
calls (0.0 to 1.0); times are seconds; timestamps are Unix seconds.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Final = 1
OUTCOMES: Final = ("ok", "recovered", "degraded", "escalated", "failed")
"""Every outcome, in the order reports show them."""
NO_AGENT: Final = "(no agent)"
"""The group of operations that ran outside any agent."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Interval(_Frozen):
    """A confidence interval."""

    low: float
    high: float


class NinesInterval(_Frozen):
    """A confidence interval in nines."""

    low: float
    high: float | None
    """``None`` when no call failed: the calls put no upper bound on the nines."""


class FirstTry(_Frozen):
    """How often the first try succeeded (outcome ``ok``), with its Wilson interval."""

    successes: int
    calls: int
    rate: float
    interval: Interval
    """Wilson score interval at the report's confidence level."""
    nines: float | None
    """``-log10(1 - rate)``: 0.99 is 2 nines. ``None`` when every call succeeded."""
    nines_interval: NinesInterval
    """The interval in nines."""


class FailureModeStats(_Frozen):
    """One failure mode as it showed up in an operation's calls."""

    mode: str
    declared: bool
    handling: str | None
    """The declared handling (``retry``, ``fallback``…); ``None`` when undeclared."""
    calls: int
    """Calls in which the mode fired at least once."""
    occurrences: int
    """Times it fired, every attempt counted."""
    rate: float
    """``calls`` over the operation's calls."""


class UndeclaredStats(_Frozen):
    """Exceptions no failure mode covers, by class.

    A mode the operation does not declare is among its ``failure_modes``, marked undeclared.
    """

    error_type: str
    calls: int
    occurrences: int
    rate: float


class FallbackStats(_Frozen):
    """What served the calls that a fallback, a retry or a hand-off rescued."""

    served_by: str
    calls: int
    rate: float


class Latency(_Frozen):
    """Operation durations, in seconds (quantiles within 0.5 % relative accuracy)."""

    p50: float
    p95: float
    p99: float
    mean: float
    max: float
    quantiles: list[float]
    """The 0th, 5th, 10th … 100th percentiles: the distribution, for charts."""


class Tokens(_Frozen):
    """Tokens the model calls used (``gen_ai.usage.*``)."""

    input: int
    output: int
    calls_reporting: int
    """Calls that reported usage."""


class OperationStats(_Frozen):
    """One operation within one agent: the label's row."""

    agent: str
    operation: str
    kind: str
    """``agent``, ``step``, ``tool`` or ``model_call``."""
    calls: int
    outcomes: dict[str, int]
    """Calls per outcome, every outcome present."""
    shares: dict[str, float]
    """``outcomes`` as fractions of ``calls``."""
    first_try: FirstTry
    failure_modes: list[FailureModeStats]
    """Declared and undeclared modes, most frequent first."""
    undeclared: list[UndeclaredStats]
    """Exceptions no mode covers, by ``error.type`` (``unknown`` without one), most
    frequent first."""
    served_by: list[FallbackStats]
    """What served the calls that were not a clean first try, most frequent first."""
    retries: int
    retries_per_call: float
    latency: Latency
    tokens: Tokens | None
    """Model calls (and agents, summed over their model calls); ``None`` without usage."""
    detectors: dict[str, int]
    """Model calls: calls in which each built-in model-behaviour detector fired."""


class AgentReport(_Frozen):
    """An agent and the operations that ran inside its runs."""

    agent: str
    """The agent's name, or ``(no agent)``."""
    runs: int
    """The agent's own calls (0 for ``(no agent)``)."""
    operations: list[OperationStats]
    """The agent's own row first, then the others by kind and name."""


class TimeBucket(_Frozen):
    """Calls of an agent's operations that started in one interval of time."""

    start: float
    calls: int
    not_ok: int
    """Calls whose outcome was not ``ok``: they met a failure."""
    failed: int


class Series(_Frozen):
    """An agent's failure rate over time."""

    agent: str
    bucket_seconds: float
    buckets: list[TimeBucket]


class Problem(_Frozen):
    """A line that could not be read."""

    source: str
    line: int
    reason: str


class Inputs(_Frozen):
    """What was read, and what of it was left out."""

    sources: list[str]
    lines: int
    malformed_lines: int
    """Lines that are not JSON, or not OTLP: counted, shown, never fatal."""
    problems: list[Problem]
    """The first malformed lines, with the reason (at most 20)."""
    foreign_lines: int
    """JSON lines that hold no spans: OTLP logs or metrics, other JSON."""
    spans: int
    operation_spans: int
    attempt_spans: int
    foreign_spans: int
    """Spans of other instrumentations (no ``agenttrace.kind``): ignored."""
    filtered_spans: int
    """agenttrace spans left out by ``--since`` / ``--until``."""
    start: float | None
    end: float | None


class Report(_Frozen):
    """The reliability report of some trace files."""

    schema_version: int = SCHEMA_VERSION
    agenttrace_version: str
    generated_at: float
    confidence: float = Field(gt=0.0, lt=1.0)
    inputs: Inputs
    agents: list[AgentReport]
    series: list[Series]

    def operations(self) -> list[OperationStats]:
        """Every row, agent by agent."""
        return [row for agent in self.agents for row in agent.operations]
