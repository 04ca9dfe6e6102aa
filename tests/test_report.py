"""agenttrace report: every figure against trace files whose contents are known."""

from __future__ import annotations

import gzip
import itertools
import json
import math
import random
import subprocess
import sys

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agenttrace.cli import _aggregate, _extra, _read, main
from agenttrace.cli._model import NO_AGENT, Report
from agenttrace.cli._read import read_report
from agenttrace.exceptions import ConfigurationError
from tests.tracegen import Call, Fail, TraceFile, request_line

RUNS = 1000
PLAN = {
    # outcome: (runs of classify that end so, what happened)
    "ok": 880,
    "recovered": 40,  # invalid_output, one retry
    "degraded": 35,  # low_confidence, served by keyword_rules
    "escalated": 25,  # low_confidence twice, then a person
    "failed": 20,  # KeyError, undeclared
}


def _classify(outcome: str, number: int) -> Call:
    duration = (number % 100 + 1) / 1000  # 1 ms .. 100 ms, evenly
    if outcome == "ok":
        return Call("classify", duration=duration)
    if outcome == "recovered":
        return Call("classify", outcome="recovered", retries=1, served_by="classify",
                    failures=[Fail("invalid_output", handling="retry")], duration=duration)  # fmt: skip
    if outcome == "degraded":
        return Call("classify", outcome="degraded", served_by="keyword_rules",
                    failures=[Fail("low_confidence", handling="fallback")], duration=duration)  # fmt: skip
    if outcome == "escalated":
        return Call("classify", outcome="escalated", served_by="human:triage",
                    failures=[Fail("low_confidence", handling="fallback"),
                              Fail("low_confidence", handling="fallback", attempt=2)],
                    duration=duration)  # fmt: skip
    return Call("classify", outcome="failed", error_type="KeyError",
                failures=[Fail(declared=False, error_type="KeyError")], duration=duration)  # fmt: skip


def _complete(number: int) -> Call:
    if number % 50 == 0:  # 2 %: cut short, accepted
        return Call("complete", kind="model_call", outcome="degraded", served_by="complete",
                    tokens=(100, 500), failures=[Fail("truncated", handling="accept")])  # fmt: skip
    return Call("complete", kind="model_call", tokens=(100, 20))


def _support_bot() -> TraceFile:
    traces = TraceFile(spans_per_line=37)
    outcomes = [outcome for outcome, count in PLAN.items() for _ in range(count)]
    random.Random(3).shuffle(outcomes)
    for number, outcome in enumerate(outcomes):
        traces.run("support-bot", [_classify(outcome, number), _complete(number)])
    return traces


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Report:
    path = _support_bot().write(tmp_path_factory.mktemp("report") / "traces.jsonl")
    return read_report([str(path)])


def _row(report: Report, operation: str, agent: str = "support-bot"):
    (found,) = [r for r in report.operations() if (r.agent, r.operation) == (agent, operation)]
    return found


def _wilson(successes: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval, written out (the report gets it from SciPy)."""
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials**2))
    return centre - half, centre + half


def test_outcome_counts_and_shares_are_exact(report):
    """Each outcome's calls and share are exactly what the file holds."""
    row = _row(report, "classify")
    assert RUNS == row.calls
    assert PLAN == row.outcomes
    assert {o: n / RUNS for o, n in PLAN.items()} == row.shares


def test_failure_modes_count_calls_and_occurrences(report):
    """A mode's rate counts calls it fired in; its occurrences count every attempt."""
    modes = {m.mode: m for m in _row(report, "classify").failure_modes}
    assert {"low_confidence", "invalid_output"} == set(modes)
    low = modes["low_confidence"]
    assert (60, 85, 0.06, "fallback", True) == (
        low.calls, low.occurrences, low.rate, low.handling, low.declared,
    )  # fmt: skip
    assert (40, 40, 0.04, "retry") == (
        modes["invalid_output"].calls, modes["invalid_output"].occurrences,
        modes["invalid_output"].rate, modes["invalid_output"].handling,
    )  # fmt: skip


def test_undeclared_failures_are_listed_by_error_type(report):
    """Exceptions no mode covers are counted by their error.type."""
    (error,) = _row(report, "classify").undeclared
    assert ("KeyError", 20, 0.02) == (error.error_type, error.calls, error.rate)


def test_what_served_is_counted_per_fallback(report):
    """Fallbacks, hand-offs and retries that served are counted, most frequent first."""
    served = [(s.served_by, s.calls) for s in _row(report, "classify").served_by]
    assert [("classify", 40), ("keyword_rules", 35), ("human:triage", 25)] == served


def test_retries_per_call_come_from_retry_attempt_spans(report):
    """Retry attempt spans count as retries of their operation, not as calls."""
    row = _row(report, "classify")
    assert (40, 0.04) == (row.retries, row.retries_per_call)
    assert 40 + 35 + 25 == report.inputs.attempt_spans
    assert 3 * RUNS == report.inputs.operation_spans


def test_first_try_success_has_a_wilson_interval_and_nines(report):
    """First-try success is the ok share, with the Wilson interval and its nines."""
    first = _row(report, "classify").first_try
    low, high = _wilson(880, RUNS)
    assert (880, RUNS, 0.88) == (first.successes, first.calls, first.rate)
    assert low == pytest.approx(first.interval.low, abs=1e-9)
    assert high == pytest.approx(first.interval.high, abs=1e-9)
    assert -math.log10(0.12) == pytest.approx(first.nines)
    assert -math.log10(1 - low) == pytest.approx(first.nines_interval.low)
    assert -math.log10(1 - high) == pytest.approx(first.nines_interval.high)


def test_all_ok_has_no_point_estimate_in_nines_but_a_lower_bound(report):
    """When every call succeeded, nines is None and the interval's top is infinite."""
    first = _row(report, "support-bot").first_try
    low, _ = _wilson(RUNS, RUNS)
    assert (None, None) == (first.nines, first.nines_interval.high)
    assert -math.log10(1 - low) == pytest.approx(first.nines_interval.low)


def test_latency_quantiles_are_within_the_sketch_accuracy(report):
    """p50, p95 and p99 are within 1 % of the exact quantiles; max and mean are exact."""
    latency = _row(report, "classify").latency
    durations = sorted((n % 100 + 1) / 1000 for n in range(RUNS))
    for value, q in ((latency.p50, 0.50), (latency.p95, 0.95), (latency.p99, 0.99)):
        exact = durations[math.ceil(q * RUNS) - 1]
        assert exact == pytest.approx(value, rel=0.01)
    assert 0.1 == pytest.approx(latency.max)
    assert sum(durations) / RUNS == pytest.approx(latency.mean)
    assert 21 == len(latency.quantiles)
    assert latency.quantiles == sorted(latency.quantiles)


def test_tokens_and_detectors_of_model_calls(report):
    """Model calls sum their tokens and count each detector that fired; the agent sums them."""
    row = _row(report, "complete")
    assert (100 * RUNS, 20 * 980 + 500 * 20, RUNS) == (
        row.tokens.input, row.tokens.output, row.tokens.calls_reporting,
    )  # fmt: skip
    assert {"truncated": 20} == row.detectors
    assert row.tokens == _row(report, "support-bot").tokens
    assert {} == _row(report, "classify").detectors


def test_the_agent_row_comes_first_and_counts_runs(report):
    """Each agent lists its own row first, and its runs."""
    (agent,) = report.agents
    assert (RUNS, ["support-bot", "classify", "complete"]) == (
        agent.runs, [r.operation for r in agent.operations],
    )  # fmt: skip


def test_failure_rate_over_time_covers_every_call(report):
    """The time series counts every operation call once, in intervals of a fixed width."""
    (series,) = report.series
    assert 3 * RUNS == sum(b.calls for b in series.buckets)
    assert 120 + 20 == sum(b.not_ok for b in series.buckets)  # classify, then complete
    assert 20 == sum(b.failed for b in series.buckets)
    assert len(series.buckets) <= _aggregate.CHART_BUCKETS
    starts = [b.start for b in series.buckets]
    assert all(b - a == series.bucket_seconds for a, b in itertools.pairwise(starts))


def test_line_order_does_not_change_the_report(tmp_path, report):
    """Lines in any order, children after their root included, give the same figures."""
    lines = list(_support_bot().lines())
    random.Random(5).shuffle(lines)
    path = tmp_path / "shuffled.jsonl"
    path.write_text("\n".join(lines) + "\n")
    shuffled = read_report([str(path)])
    assert report.agents == shuffled.agents


def test_operations_outside_agents_and_nested_ones(tmp_path):
    """An operation belongs to the nearest agent above it; none above: (no agent)."""
    traces = TraceFile()
    traces.run("outer", [Call("plan", children=[Call("search", kind="tool")])])
    traces.run(None, [Call("cron", children=[Call("search", kind="tool")])])
    report = read_report([str(traces.write(tmp_path / "t.jsonl"))])
    rows = {(r.agent, r.operation): r.calls for r in report.operations()}
    assert {("outer", "outer"): 1, ("outer", "plan"): 1, ("outer", "search"): 1,
            (NO_AGENT, "cron"): 1, (NO_AGENT, "search"): 1} == rows  # fmt: skip
    assert ["outer", NO_AGENT] == [a.agent for a in report.agents]


def test_traces_without_a_root_are_resolved_when_too_many_wait(tmp_path, monkeypatch):
    """Past the cap on waiting spans, the oldest traces are counted with what is known."""
    traces = TraceFile()
    for _ in range(50):
        traces.run("bot", [Call("step")])
    # Drop every root: the spans' agent is never known, and they must still be counted.
    lines = [json.loads(line) for line in traces.lines()]
    for line in lines:
        spans = line["resourceSpans"][0]["scopeSpans"][0]["spans"]
        spans[:] = [s for s in spans if "parentSpanId" in s]
    path = tmp_path / "rootless.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    monkeypatch.setattr(_aggregate, "MAX_PENDING_SPANS", 10)
    report = read_report([str(path)])
    assert [(NO_AGENT, "step", 50)] == [
        (r.agent, r.operation, r.calls) for r in report.operations()
    ]


def test_malformed_and_foreign_lines_are_counted_not_fatal(tmp_path, report):
    """Bad lines are counted with their reason; foreign spans and lines are ignored."""
    good = list(_support_bot().lines())
    foreign = TraceFile()
    foreign.add_foreign(7)
    bad = [
        "{not json",
        "[1, 2]",
        '{"resourceSpans": 5}',
        request_line([{"spanId": "01", "name": "no trace id"}]),
        '{"resourceLogs": []}',
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([good[0], *bad, *good[1:], *foreign.lines(), ""]) + "\n\n")
    mixed = read_report([str(path)])
    assert (4, 1, 7) == (
        mixed.inputs.malformed_lines, mixed.inputs.foreign_lines, mixed.inputs.foreign_spans,
    )  # fmt: skip
    assert [2, 3, 4, 5] == [p.line for p in mixed.inputs.problems]
    assert mixed.inputs.problems[0].reason.startswith("not JSON")
    assert "not a JSON object (list)" == mixed.inputs.problems[1].reason
    assert report.agents == mixed.agents


def test_a_line_over_the_length_cap_is_skipped(tmp_path, monkeypatch):
    """A line longer than the cap is skipped as malformed, and the next one is read."""
    traces = TraceFile()
    traces.run("bot", [Call("step")])
    (line,) = traces.lines()
    path = tmp_path / "long.jsonl"
    path.write_text(f'{{"pad": "{"x" * 10000}"}}\n{line}\n')
    monkeypatch.setattr(_read, "MAX_LINE_BYTES", 4096)
    report = read_report([str(path)])
    assert (1, "longer than 4096 bytes", 2) == (
        report.inputs.malformed_lines, report.inputs.problems[0].reason,
        report.inputs.operation_spans,
    )  # fmt: skip


def test_gzip_directories_and_globs_read_the_same(tmp_path, report):
    """A .gz file (told by its bytes), a directory and a glob give the same report."""
    traces = _support_bot()
    (tmp_path / "a").mkdir()
    traces.write(tmp_path / "a" / "traces.jsonl.gz")
    renamed = tmp_path / "b" / "traces.jsonl"
    renamed.parent.mkdir()
    renamed.write_bytes(gzip.compress("".join(f"{x}\n" for x in traces.lines()).encode()))
    for sources in ([str(tmp_path / "a")], [str(renamed)], [str(tmp_path / "a" / "*.gz")]):
        assert report.agents == read_report(sources).agents


def test_a_truncated_gzip_keeps_what_was_read(tmp_path):
    """A .gz cut short reports what it holds and one problem, not a crash."""
    traces = TraceFile(spans_per_line=2)
    for _ in range(200):
        traces.run("bot", [Call("step")])
    data = gzip.compress("".join(f"{x}\n" for x in traces.lines()).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    report = read_report([str(path)])
    assert 1 == report.inputs.malformed_lines
    assert 0 < report.inputs.operation_spans < 400


def test_stdin_is_read_with_a_dash(tmp_path):
    """`agenttrace report -` reads stdin, compressed or not."""
    traces = _support_bot()
    data = gzip.compress("".join(f"{x}\n" for x in traces.lines()).encode())
    done = subprocess.run(
        [sys.executable, "-m", "agenttrace", "report", "-", "--json"],
        input=data, capture_output=True, check=False, timeout=60,
    )  # fmt: skip
    assert 0 == done.returncode, done.stderr
    from_stdin = Report.model_validate_json(done.stdout)
    assert ["<stdin>"] == from_stdin.inputs.sources
    assert PLAN == next(r for r in from_stdin.operations() if r.operation == "classify").outcomes


def test_since_and_until_keep_a_window(tmp_path):
    """--since and --until keep the operations that started in the window."""
    traces = TraceFile(gap_ns=60 * 10**9)  # a run a minute
    for _ in range(10):
        traces.run("bot", [Call("step")])
    path = str(traces.write(tmp_path / "t.jsonl"))
    start = traces.start_ns / 1e9
    window = read_report([path], since=start + 120, until=start + 300)
    assert [3, 3] == [r.calls for r in window.operations()]
    assert 14 == window.inputs.filtered_spans


def test_json_output_reads_back_as_a_report(tmp_path, capsys, report):
    """--json prints a report that validates, infinite nines included."""
    path = _support_bot().write(tmp_path / "t.jsonl")
    assert 0 == main(["report", str(path), "--json"])
    printed = Report.model_validate_json(capsys.readouterr().out)
    assert report.agents == printed.agents


def test_markdown_and_table_show_every_operation_and_failure(tmp_path, capsys):
    """The Markdown label and the terminal table list each operation and its failures."""
    path = str(_support_bot().write(tmp_path / "t.jsonl"))
    assert 0 == main(["report", path, "--markdown"])
    markdown = capsys.readouterr().out
    assert "| `classify` | step | 1,000 | 88.0% | 4.0% | 3.5% | 2.5% | 2.0% |" in markdown
    assert "| `classify` | low_confidence | fallback | 60 | 6.0% |" in markdown
    assert "| `classify` | KeyError | undeclared | 20 | 2.0% |" in markdown
    assert "| `complete` | truncated | accept | 20 | 2.0% |" in markdown
    assert 0 == main(["report", path])
    table = capsys.readouterr().out
    assert "classify" in table
    assert "served by human:triage" in table


def test_malformed_lines_make_the_exit_status_1_and_are_shown(tmp_path, capsys):
    """The report still prints; the exit status and a warning say lines were skipped."""
    path = tmp_path / "t.jsonl"
    path.write_text("garbage\n" + next(_support_bot().lines()) + "\n")
    assert 1 == main(["report", str(path)])
    out = capsys.readouterr().out
    assert "1 malformed line(s) skipped" in out
    assert f"{path}:1: not JSON" in out


def test_a_missing_source_is_a_usage_error(tmp_path, capsys):
    """A source that names nothing exits 2 with a message naming it."""
    missing = tmp_path / "nope.jsonl"
    assert 2 == main(["report", str(missing)])
    assert f"{missing}: no such file, directory or glob match" in capsys.readouterr().err


def test_bad_time_window_is_a_usage_error(tmp_path, capsys):
    """--since that is neither a time nor an age exits 2 and says what it expects."""
    path = str(_support_bot().write(tmp_path / "t.jsonl"))
    assert 2 == main(["report", path, "--since", "yesterday"])
    assert "expected an ISO 8601 time" in capsys.readouterr().err


def test_without_the_cli_extra_the_command_says_how_to_install_it(monkeypatch, capsys):
    """report and diff name the missing modules and the install command, exit 2."""
    monkeypatch.setattr(_extra, "missing", lambda: ["rich", "scipy"])
    assert 2 == main(["report"])
    assert "pip install 'agenttrace[cli]'" in capsys.readouterr().err


def test_an_empty_input_reports_nothing_found(tmp_path, capsys):
    """No agenttrace spans: the report says so and exits 0."""
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    assert 0 == main(["report", str(path)])
    assert "no agenttrace operations found" in capsys.readouterr().out
    with pytest.raises(ConfigurationError):
        read_report([str(path)], confidence=1.5)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_KEYS = ["resourceSpans", "scopeSpans", "spans", "attributes", "events", "traceId", "spanId",
         "parentSpanId", "startTimeUnixNano", "endTimeUnixNano", "key", "value", "name"]  # fmt: skip


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(_JSON, max_size=5),
    replacements=st.lists(st.tuples(st.sampled_from(_KEYS), _JSON), max_size=3),
)
def test_any_line_is_read_counted_or_rejected_never_raised(tmp_path, values, replacements):
    """Arbitrary JSON, and agenttrace lines with fields replaced by anything, never stop a report."""
    traces = TraceFile(spans_per_line=3)
    traces.run("bot", [Call("step", failures=[Fail("m", handling="retry")], retries=1)])
    mutated = []
    for line in traces.lines():
        text = line
        for key, value in replacements:
            text = text.replace(f'"{key}":', f'"{key}":{json.dumps(value)},"_{key}":', 1)
        mutated.append(text)
    lines = [json.dumps(v) for v in values] + mutated + ["[" * 5000]
    lines.append(mutated[0].replace('"startTimeUnixNano":"', '"startTimeUnixNano":"9' + "0" * 400))
    path = tmp_path / "fuzz.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = read_report([str(path)])
    inputs = report.inputs
    assert len(lines) == inputs.lines
    assert inputs.malformed_lines + inputs.foreign_lines <= inputs.lines
    assert inputs.operation_spans + inputs.attempt_spans + inputs.foreign_spans <= inputs.spans


def _collector_style(line: str) -> str:
    """A line as the OpenTelemetry collector's file exporter writes it: roots with an empty
    parentSpanId, schemaUrl, dropped counts, flags and status codes present."""
    request = json.loads(line)
    for resource in request["resourceSpans"]:
        resource["schemaUrl"] = "https://opentelemetry.io/schemas/1.26.0"
        for scope in resource["scopeSpans"]:
            scope["schemaUrl"] = ""
            for span in scope["spans"]:
                span.setdefault("parentSpanId", "")
                span.update(traceState="", flags=257, droppedAttributesCount=0, status={"code": 0})
    return json.dumps(request)


def test_the_collector_file_exporter_output_is_read(tmp_path, report):
    """The collector's file-exporter shape, with its logs and metrics lines, gives the same report."""
    logs = {
        "resourceLogs": [
            {
                "resource": {},
                "scopeLogs": [
                    {
                        "scope": {},
                        "logRecords": [
                            {
                                "timeUnixNano": "1",
                                "body": {"stringValue": "x"},
                                "traceId": "",
                                "spanId": "",
                            }
                        ],
                    }
                ],
            }
        ]
    }
    metrics = {"resourceMetrics": [{"resource": {}, "scopeMetrics": []}]}
    foreign = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": [
        {"traceId": "", "spanId": "", "parentSpanId": "", "name": "GET", "startTimeUnixNano": "1",
         "endTimeUnixNano": "2", "links": [{"traceId": "", "spanId": ""}], "status": {"code": 2}}]}]}]}  # fmt: skip
    lines = [_collector_style(line) for line in _support_bot().lines()]
    lines[1:1] = [json.dumps(logs), json.dumps(metrics), json.dumps(foreign)]
    path = tmp_path / "collector.json"
    path.write_text("\n".join(lines) + "\n")
    found = read_report([str(path)])
    assert (0, 2, 1) == (
        found.inputs.malformed_lines, found.inputs.foreign_lines, found.inputs.foreign_spans,
    )  # fmt: skip
    assert report.agents == found.agents


def test_no_source_and_no_local_directory_says_what_to_give(tmp_path, monkeypatch, capsys):
    """Without sources, report reads .agenttrace/; when there is none, it says what to pass."""
    monkeypatch.chdir(tmp_path)
    assert 2 == main(["report"])
    assert "no .agenttrace/ here" in capsys.readouterr().err
    (tmp_path / ".agenttrace").mkdir()
    _support_bot().write(tmp_path / ".agenttrace" / "traces.jsonl")
    assert 0 == main(["report", "--json"])
    assert RUNS == Report.model_validate_json(capsys.readouterr().out).agents[0].runs


def test_schema_describes_the_json_output(capsys, tmp_path):
    """--schema prints the JSON schema that --json's output follows."""
    assert 0 == main(["report", "--schema"])
    schema = json.loads(capsys.readouterr().out)
    assert "Report" == schema["title"]
    assert {"agents", "inputs", "series", "confidence"} <= set(schema["required"])
    path = _support_bot().write(tmp_path / "t.jsonl")
    assert 0 == main(["report", str(path), "--json"])
    jsonschema.validate(json.loads(capsys.readouterr().out), schema)  # all ok: "high" is null
