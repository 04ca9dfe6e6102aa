"""The console renderer prints each finished run as one clean tree."""

from __future__ import annotations

import io
import re
import sys
import threading

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    set_span_in_context,
)

import agenttrace
from agenttrace import _runtime
from agenttrace import _semconv as sc
from agenttrace._console import ConsoleRenderer, duration
from tests.conftest import apply
from tests.scripted import in_turn

MS = 1_000_000

RESET, DIM, GREEN, YELLOW, RED = "\x1b[0m", "\x1b[2m", "\x1b[32m", "\x1b[33m", "\x1b[31m"


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Recording(io.StringIO):
    """A stream that remembers each call to write and flush."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append("write")
        return super().write(text)

    def flush(self) -> None:
        self.calls.append("flush")


class Broken(io.StringIO):
    """A stream whose reader went away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def tracer_for(renderer: ConsoleRenderer) -> Tracer:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(renderer)
    return provider.get_tracer("test")


def child_of(tracer: Tracer, parent: Span, name: str, start_ms: float, **attributes: str) -> Span:
    return tracer.start_span(
        name,
        context=set_span_in_context(parent),
        start_time=int(start_ms * MS),
        attributes=attributes,
    )


def support_run(tracer: Tracer) -> None:
    """The run of the documentation's example, with fixed times."""
    root = tracer.start_span(
        "invoke_agent support-bot",
        start_time=0,
        attributes={sc.KIND: "agent", sc.OUTCOME: sc.OUTCOME_RECOVERED},
    )
    classify = child_of(tracer, root, "classify", 1, **{sc.KIND: "step"})
    classify.set_attributes({sc.OUTCOME: sc.OUTCOME_RECOVERED, sc.SERVED_BY: "keyword_classifier"})
    classify.add_event(sc.FAILURE_EVENT, {sc.FAILURE_MODE: "low_confidence"})
    chat = child_of(tracer, classify, "chat gpt-4o-mini", 2, **{sc.KIND: "model_call"})
    chat.set_attribute(sc.OUTCOME, sc.OUTCOME_OK)
    chat.end(end_time=304 * MS)
    classify.end(end_time=411 * MS)
    tool = child_of(tracer, root, "execute_tool lookup_order", 500, **{sc.KIND: "tool"})
    tool.set_attributes({sc.OUTCOME: sc.OUTCOME_FAILED, sc.ERROR_TYPE: "KeyError"})
    tool.set_status(Status(StatusCode.ERROR))
    tool.end(end_time=503_100_000)
    root.end(end_time=1_240 * MS)


def one_span(tracer: Tracer, name: str, **attributes: str) -> Span:
    """Start a span at time zero (``end_span`` ends it 2 ms later)."""
    return tracer.start_span(name, start_time=0, attributes=attributes)


def end_span(span: Span, took_ms: float = 2) -> None:
    span.end(end_time=int(took_ms * MS))


# --- what a tree shows ------------------------------------------------------------------


def test_a_run_prints_as_a_tree() -> None:
    """Names, kinds, durations, outcomes, failure modes, the fallback and the error type."""
    out = io.StringIO()
    support_run(tracer_for(ConsoleRenderer(out)))

    assert (
        "invoke_agent support-bot  agent  1.24 s  recovered\n"
        "├─ classify  step  410 ms  recovered  failure: low_confidence  served by: keyword_classifier\n"
        "│  └─ chat gpt-4o-mini  model_call  302 ms  ok\n"
        "└─ execute_tool lookup_order  tool  3.1 ms  failed  error: KeyError\n"
    ) == out.getvalue()


def test_children_are_ordered_by_start_time() -> None:
    """Siblings are listed in the order they started, whatever order they ended in."""
    out = io.StringIO()
    tracer = tracer_for(ConsoleRenderer(out))
    root = tracer.start_span("root", start_time=0)
    late = child_of(tracer, root, "late", 5)
    early = child_of(tracer, root, "early", 1)
    late.end(end_time=6 * MS)
    early.end(end_time=7 * MS)
    root.end(end_time=8 * MS)

    assert "root  8 ms  ok\n├─ early  6 ms  ok\n└─ late  1 ms  ok\n" == out.getvalue()


def test_failure_modes_are_listed_once_each_in_order() -> None:
    """Repeated failure events show their mode once; events of other names are ignored."""
    out = io.StringIO()
    tracer = tracer_for(ConsoleRenderer(out))
    span = tracer.start_span("step", start_time=0)
    for mode in ("timeout", "low_confidence", "timeout"):
        span.add_event(sc.FAILURE_EVENT, {sc.FAILURE_MODE: mode})
    span.add_event("other", {sc.FAILURE_MODE: "not_a_failure"})
    span.add_event(sc.FAILURE_EVENT)
    span.end(end_time=2 * MS)

    assert "step  2 ms  ok  failure: timeout, low_confidence\n" == out.getvalue()


def test_spans_without_agenttrace_attributes_show_their_status() -> None:
    """A plain span has no kind; its outcome is failed on an ERROR status, else ok."""
    out = io.StringIO()
    tracer = tracer_for(ConsoleRenderer(out))
    root = tracer.start_span("GET /orders", start_time=0)
    broken = child_of(tracer, root, "SELECT orders", 1)
    broken.set_status(Status(StatusCode.ERROR, "no such table"))
    broken.end(end_time=1_850_000)
    root.end(end_time=3 * MS)

    assert "GET /orders  3 ms  ok\n└─ SELECT orders  850 µs  failed\n" == out.getvalue()


def test_a_span_whose_parent_never_arrives_is_shown_under_the_root() -> None:
    """An orphan (its parent has not ended) hangs from the root rather than vanishing."""
    out = io.StringIO()
    tracer = tracer_for(ConsoleRenderer(out))
    root = tracer.start_span("root", start_time=0)
    unfinished = child_of(tracer, root, "unfinished", 1)
    child_of(tracer, unfinished, "orphan", 2).end(end_time=3 * MS)
    root.end(end_time=4 * MS)

    assert "root  4 ms  ok\n└─ orphan  1 ms  ok\n" == out.getvalue()


def test_a_span_with_a_remote_parent_is_a_root() -> None:
    """A run continued from another process prints when its local root ends."""
    out = io.StringIO()
    tracer = tracer_for(ConsoleRenderer(out))
    parent = NonRecordingSpan(
        SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    )
    here = tracer.start_span("handle", context=set_span_in_context(parent), start_time=0)
    here.end(end_time=1 * MS)

    assert "handle  1 ms  ok\n" == out.getvalue()


@pytest.mark.parametrize(
    ("nanoseconds", "expected"),
    [
        (850_000, "850 µs"),
        (12_300_000, "12.3 ms"),
        (1_240_000_000, "1.24 s"),
        (123_000_000_000, "2 min 3 s"),
        (999_600, "1 ms"),
        (999_600_000, "1 s"),
        (59_960_000_000, "1 min 0 s"),
        (7_380_000_000_000, "2 h 3 min"),
        (-5, "0 µs"),
    ],
)
def test_durations_are_short_and_never_in_exponent_form(nanoseconds: int, expected: str) -> None:
    """Three significant digits in the largest unit that keeps the number below 1000."""
    assert expected == duration(nanoseconds)


# --- when and how it is written ---------------------------------------------------------


def test_nothing_prints_before_the_root_ends() -> None:
    """Ended children wait in the buffer while their root is still running."""
    out = io.StringIO()
    tracer = tracer_for(ConsoleRenderer(out))
    root = tracer.start_span("root")
    child_of(tracer, root, "child", 1).end()

    assert "" == out.getvalue()
    root.end()


def test_a_tree_is_one_write_then_a_flush() -> None:
    """However many spans a run has, its tree reaches the stream in one write."""
    out = Recording()
    support_run(tracer_for(ConsoleRenderer(out)))

    assert (["write", "flush"], 4) == (out.calls, out.getvalue().count("\n"))


def test_the_default_stream_is_stderr_at_write_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no stream given, the tree goes to whatever sys.stderr is when the root ends."""
    tracer = tracer_for(ConsoleRenderer())
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    end_span(one_span(tracer, "work"))

    assert "work  2 ms  ok\n" == stderr.getvalue()


# --- colour -----------------------------------------------------------------------------


def coloured_line(stream: io.StringIO, color: bool | None = None) -> str:
    tracer = tracer_for(ConsoleRenderer(stream, color=color))
    end_span(one_span(tracer, "work", **{sc.KIND: "tool", sc.OUTCOME: sc.OUTCOME_FAILED}))
    return stream.getvalue()


def test_a_terminal_gets_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a TTY the outcome is coloured and the kind and duration are dim."""
    monkeypatch.delenv("NO_COLOR", raising=False)

    assert f"work  {DIM}tool  2 ms{RESET}  {RED}failed{RESET}\n" == coloured_line(Terminal())


@pytest.mark.parametrize(
    ("outcome", "colour"),
    [
        (sc.OUTCOME_OK, GREEN),
        (sc.OUTCOME_RECOVERED, YELLOW),
        (sc.OUTCOME_DEGRADED, YELLOW),
        (sc.OUTCOME_ESCALATED, "\x1b[35m"),
        (sc.OUTCOME_FAILED, RED),
    ],
)
def test_each_outcome_has_its_colour(outcome: str, colour: str) -> None:
    """ok green, recovered and degraded yellow, escalated magenta, failed red."""
    out = io.StringIO()
    end_span(one_span(tracer_for(ConsoleRenderer(out, color=True)), "w", **{sc.OUTCOME: outcome}))

    assert f"w  {DIM}2 ms{RESET}  {colour}{outcome}{RESET}\n" == out.getvalue()


def test_a_plain_stream_gets_no_colour() -> None:
    """A stream that is not a TTY (a file, a pipe, a StringIO) gets no escape codes."""
    assert "work  tool  2 ms  failed\n" == coloured_line(io.StringIO())


def test_no_color_turns_colour_off_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR set to anything non-empty wins over the terminal."""
    monkeypatch.setenv("NO_COLOR", "1")

    assert "work  tool  2 ms  failed\n" == coloured_line(Terminal())


def test_an_empty_no_color_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR= (empty) leaves colour on for a terminal."""
    monkeypatch.setenv("NO_COLOR", "")

    assert "\x1b[" in coloured_line(Terminal())


def test_color_can_be_forced_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """color=True colours a plain stream; color=False keeps a terminal plain."""
    monkeypatch.setenv("NO_COLOR", "1")

    assert (True, False) == (
        "\x1b[" in coloured_line(io.StringIO(), color=True),
        "\x1b[" in coloured_line(Terminal(), color=False),
    )


# --- hostile text -----------------------------------------------------------------------


def test_a_hostile_name_stays_on_one_line_without_escape_bytes() -> None:
    """Line breaks and escape sequences in a name are shown escaped, never obeyed."""
    out = Terminal()
    end_span(one_span(tracer_for(ConsoleRenderer(out, color=False)), "a\nb\x1b[31m"))

    assert "a\\nb\\x1b[31m  2 ms  ok\n" == out.getvalue()


def test_hostile_attribute_values_cannot_forge_lines_or_colours() -> None:
    """CR, C1 controls, line separators and bidi overrides in any shown value are escaped."""
    out = io.StringIO()
    hostile = "x\r\x9b31m\u2028\u202e\x00"
    span = one_span(
        tracer_for(ConsoleRenderer(out, color=True)),
        hostile,
        **{sc.KIND: hostile, sc.OUTCOME: hostile, sc.SERVED_BY: hostile, sc.ERROR_TYPE: hostile},
    )
    span.add_event(sc.FAILURE_EVENT, {sc.FAILURE_MODE: hostile})
    end_span(span)
    shown = "x\\r\\x9b31m\\u2028\\u202e\\x00"

    assert (
        f"{shown}  {DIM}{shown}  2 ms{RESET}  {shown}  failure: {shown}  served by: {shown}  "
        f"error: {shown}\n"
    ) == out.getvalue()


def test_long_fields_are_cut_at_120_characters() -> None:
    """A long name or value is cut to 120 characters, the last one an ellipsis."""
    out = io.StringIO()
    end_span(one_span(tracer_for(ConsoleRenderer(out)), "n" * 500, **{sc.SERVED_BY: "s" * 500}))

    assert f"{'n' * 119}…  2 ms  ok  served by: {'s' * 119}…\n" == out.getvalue()


# --- bounds -----------------------------------------------------------------------------


def test_spans_beyond_the_limit_are_counted_not_shown() -> None:
    """Past max_spans_per_trace, spans are counted and the tree says how many it left out."""
    out = io.StringIO()
    tracer = tracer_for(ConsoleRenderer(out, max_spans_per_trace=2))
    root = tracer.start_span("root", start_time=0)
    for n in range(5):
        child_of(tracer, root, f"c{n}", n).end(end_time=(n + 1) * MS)
    root.end(end_time=6 * MS)

    assert (
        "root  6 ms  ok\n├─ c0  1 ms  ok\n└─ c1  1 ms  ok\n… 3 more spans not shown\n"
        == out.getvalue()
    )


def test_beyond_max_traces_the_quietest_run_is_discarded() -> None:
    """The run discarded to make room prints its root alone, saying what it lost."""
    out = io.StringIO()
    tracer = tracer_for(ConsoleRenderer(out, max_traces=2))
    roots = [tracer.start_span(f"r{n}", start_time=0) for n in range(3)]
    for root in roots:
        child_of(tracer, root, "child", 1).end(end_time=2 * MS)
    for root in roots:
        root.end(end_time=3 * MS)

    assert (
        "r0  3 ms  ok\n… 1 more spans not shown\n"
        "r1  3 ms  ok\n└─ child  1 ms  ok\n"
        "r2  3 ms  ok\n└─ child  1 ms  ok\n"
    ) == out.getvalue()


def test_shutdown_forgets_buffered_runs() -> None:
    """After shutdown nothing buffered is printed; force_flush has nothing to wait for."""
    out = io.StringIO()
    renderer = ConsoleRenderer(out)
    tracer = tracer_for(renderer)
    root = tracer.start_span("root")
    child_of(tracer, root, "child", 1).end()
    renderer.shutdown()
    root.end()

    assert (True, "") == (renderer.force_flush(), out.getvalue())


def test_negative_bounds_are_refused() -> None:
    """A negative bound is a configuration mistake, reported at construction."""
    with pytest.raises(ValueError, match="must not be negative"):
        ConsoleRenderer(max_traces=-1)


# --- never breaks the caller ------------------------------------------------------------


def test_a_broken_stream_is_counted_and_the_span_still_ends() -> None:
    """Outside strict mode, a stream that raises costs the tree, not the caller's end()."""
    apply(strict=False)
    span = one_span(tracer_for(ConsoleRenderer(Broken())), "work")
    end_span(span)

    assert (False, 1) == (span.is_recording(), agenttrace.stats().internal_errors["console"])


def test_a_broken_stream_raises_in_strict_mode() -> None:
    """Strict mode turns the same failure into agenttrace.InternalError."""
    span = one_span(tracer_for(ConsoleRenderer(Broken())), "work")

    with pytest.raises(agenttrace.InternalError) as raised:
        end_span(span)
    assert BrokenPipeError is type(raised.value.__cause__)


# --- threads and decorators -------------------------------------------------------------


def test_concurrent_runs_each_get_their_own_tree() -> None:
    """Runs ending together in eight threads print eight whole, separate trees."""
    out = io.StringIO()
    tracer = tracer_for(ConsoleRenderer(out))
    barrier = threading.Barrier(8)

    def run(n: int) -> None:
        root = tracer.start_span(f"root{n}", start_time=0)
        barrier.wait()
        for i in range(3):
            child_of(tracer, root, f"child{n}.{i}", i).end(end_time=(i + 1) * MS)
        barrier.wait()
        root.end(end_time=4 * MS)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    trees = sorted(
        "root" + tree for tree in out.getvalue().split("root") if tree and not tree.isspace()
    )

    assert [
        f"root{n}  4 ms  ok\n├─ child{n}.0  1 ms  ok\n├─ child{n}.1  1 ms  ok\n"
        f"└─ child{n}.2  1 ms  ok\n"
        for n in range(8)
    ] == trees


def test_decorated_operations_render() -> None:
    """Decorated agents and tools print with their kind, outcome and error type."""
    out = io.StringIO()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(ConsoleRenderer(out))
    _runtime.use_tracer_provider(provider)

    @agenttrace.tool
    def lookup_order(order_id: str) -> str:
        raise KeyError(order_id)

    @agenttrace.agent("support-bot")
    def bot() -> str:
        try:
            return lookup_order("42")
        except KeyError:
            return "sorry"

    assert "sorry" == bot()
    # Durations vary from run to run: compare every other field.
    lines = [line.split("  ") for line in out.getvalue().splitlines()]
    assert [
        ["invoke_agent support-bot", "agent", sc.OUTCOME_OK],
        ["└─ execute_tool lookup_order", "tool", sc.OUTCOME_FAILED, "error: KeyError"],
    ] == [fields[:2] + fields[3:] for fields in lines]


def test_attempts_show_whether_they_served_and_undeclared_modes_are_marked() -> None:
    """A retry and a fallback that failed, an escalation that served; a child's mode the
    step does not declare is marked undeclared."""
    out = io.StringIO()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(ConsoleRenderer(out))
    _runtime.use_tracer_provider(provider)
    low = agenttrace.FailureMode("low_confidence", when=lambda v: v < 0.5, handling="fallback")
    bad = agenttrace.FailureMode("invalid_output", on=(ValueError,), handling="retry")
    attempt = in_turn(ValueError("bad json"), 0.1)

    def rules(ticket: str) -> float:
        return 0.2

    @agenttrace.step(
        failure_modes=[low, bad],
        retry=agenttrace.Retry(attempts=2),
        fallbacks=[rules, agenttrace.human("triage")],
    )
    def classify(ticket: str) -> float:
        return attempt()

    @agenttrace.tool(failure_modes=[agenttrace.FailureMode("timeout", on=TimeoutError)])
    def lookup() -> None:
        raise TimeoutError

    @agenttrace.step
    def gather() -> None:
        lookup()

    @agenttrace.agent("bot")
    def bot() -> None:
        classify("t")
        with pytest.raises(TimeoutError):
            gather()

    bot()

    # Durations vary from run to run: replace them.
    lines = re.sub(r"  [0-9.]+ (?:ns|µs|ms|s)  ", "  D  ", out.getvalue()).splitlines()
    assert [
        "invoke_agent bot  agent  D  ok",
        (
            "├─ classify  step  D  escalated  failure: invalid_output, low_confidence  "
            "served by: human:triage"
        ),
        "│  ├─ retry classify  attempt  D  failed  failure: low_confidence",
        "│  ├─ fallback rules  attempt  D  failed  failure: low_confidence",
        "│  └─ escalate triage  attempt  D  served",
        "└─ gather  step  D  failed  failure: timeout (undeclared)  error: TimeoutError",
        "   └─ execute_tool lookup  tool  D  failed  failure: timeout  error: TimeoutError",
    ] == lines
