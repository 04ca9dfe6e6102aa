"""``agenttrace diff``: rates compared with Fisher's exact test, adjusted, and judged."""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING

import pytest
from scipy import stats

from agenttrace.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from agenttrace.cli._diff import Diff, compare, load, render_markdown, run_diff
from agenttrace.cli._model import (
    OUTCOMES,
    AgentReport,
    FailureModeStats,
    Inputs,
    Latency,
    OperationStats,
    Report,
    UndeclaredStats,
)
from agenttrace.cli._stats import first_try
from tests.tracegen import Call, Fail, TraceFile

if TYPE_CHECKING:
    from pathlib import Path


def op(
    operation: str,
    calls: int,
    *,
    agent: str = "support",
    outcomes: dict[str, int] | None = None,
    modes: dict[str, int] | None = None,
    undeclared: dict[str, int] | None = None,
    detectors: dict[str, int] | None = None,
) -> OperationStats:
    """A report row with the given counts; ``ok`` is whatever the other outcomes leave."""
    counts = dict.fromkeys(OUTCOMES, 0) | (outcomes or {})
    counts["ok"] = calls - sum(v for k, v in counts.items() if k != "ok")
    return OperationStats(
        agent=agent,
        operation=operation,
        kind="step",
        calls=calls,
        outcomes=counts,
        shares={k: v / calls for k, v in counts.items()},
        first_try=first_try(counts["ok"], calls, 0.95),
        failure_modes=[
            FailureModeStats(
                mode=name,
                declared=True,
                handling="retry",
                calls=n,
                occurrences=n,
                rate=n / calls,
            )
            for name, n in (modes or {}).items()
        ],
        undeclared=[
            UndeclaredStats(error_type=name, calls=n, occurrences=n, rate=n / calls)
            for name, n in (undeclared or {}).items()
        ],
        served_by=[],
        retries=0,
        retries_per_call=0.0,
        latency=Latency(p50=0.01, p95=0.01, p99=0.01, mean=0.01, max=0.01, quantiles=[0.01]),
        tokens=None,
        detectors=detectors or {},
    )


def report(*rows: OperationStats) -> Report:
    """A report of ``rows``, grouped by agent."""
    agents: dict[str, list[OperationStats]] = {}
    for row in rows:
        agents.setdefault(row.agent, []).append(row)
    return Report(
        agenttrace_version="0",
        generated_at=0.0,
        confidence=0.95,
        inputs=Inputs(
            sources=[],
            lines=0,
            malformed_lines=0,
            problems=[],
            foreign_lines=0,
            spans=0,
            operation_spans=0,
            attempt_spans=0,
            foreign_spans=0,
            filtered_spans=0,
            start=None,
            end=None,
        ),
        agents=[
            AgentReport(agent=name, runs=0, operations=operations)
            for name, operations in agents.items()
        ],
        series=[],
    )


def change(diff: Diff, rate: str, operation: str = "search", agent: str = "support"):
    """The one row of ``diff`` for ``rate`` of ``operation``."""
    (found,) = [
        c for c in diff.changes if (c.agent, c.operation, c.rate) == (agent, operation, rate)
    ]
    return found


def bh(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg, written out: p * m / rank, made monotone from the largest down."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    smallest = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        smallest = min(smallest, p_values[i] * m / rank)
        adjusted[i] = smallest
    return adjusted


# --- the comparison, on reports built by hand -------------------------------------------


def test_p_value_is_fishers_exact_test_of_the_two_counts():
    """A mode's p-value is the two-sided Fisher exact test of calls with and without it."""
    diff = compare(
        report(op("search", 1000, modes={"timeout": 20})),
        report(op("search", 1200, modes={"timeout": 45})),
    )
    expected = stats.fisher_exact([[20, 980], [45, 1155]], alternative="two-sided").pvalue
    assert pytest.approx(expected, rel=1e-12) == change(diff, "mode:timeout").p_value


def test_counts_calls_and_rates_of_each_side():
    """Each side carries its count, its calls and their ratio; the change is new minus base."""
    row = change(
        compare(
            report(op("search", 1000, modes={"timeout": 20})),
            report(op("search", 500, modes={"timeout": 40})),
        ),
        "mode:timeout",
    )
    assert (20, 1000, 0.02, 40, 500, 0.08) == (
        row.base.count,
        row.base.calls,
        row.base.rate,
        row.new.count,
        row.new.calls,
        row.new.rate,
    )
    assert pytest.approx(0.06) == row.change


def test_every_rate_that_is_bad_when_it_rises_is_compared():
    """First-try failures, each non-ok outcome, mode, undeclared error and detector are rates."""
    row = op(
        "search",
        100,
        outcomes={"recovered": 5, "degraded": 4, "escalated": 3, "failed": 2},
        modes={"timeout": 9},
        undeclared={"KeyError": 2},
        detectors={"refusal": 1},
    )
    diff = compare(report(row), report(row))
    assert {
        "first_try_failure",
        "recovered",
        "degraded",
        "escalated",
        "failed",
        "mode:timeout",
        "undeclared:KeyError",
        "detector:refusal",
    } == {c.rate for c in diff.changes}
    assert 14 == change(diff, "first_try_failure").base.count


def test_rates_zero_on_both_sides_are_not_compared():
    """A rate no call hit on either side cannot have changed, so it is left out."""
    diff = compare(report(op("search", 100)), report(op("search", 100)))
    assert [] == diff.changes


def test_a_mode_seen_on_one_side_only_is_compared_with_zero():
    """A mode the base never saw is compared as 0 of the base's calls."""
    row = change(
        compare(report(op("search", 1000)), report(op("search", 1000, modes={"new_mode": 50}))),
        "mode:new_mode",
    )
    assert (0, 1000, 50, "worse") == (row.base.count, row.base.calls, row.new.count, row.verdict)


def test_p_values_are_adjusted_with_benjamini_hochberg_across_every_rate():
    """Adjusted p-values are Benjamini-Hochberg over all the rates of all operations."""
    base = report(
        op("search", 1000, modes={"a": 10, "b": 30, "c": 50}),
        op("answer", 800, modes={"d": 8}, undeclared={"KeyError": 3}),
    )
    new = report(
        op("search", 1000, modes={"a": 22, "b": 36, "c": 41}),
        op("answer", 900, modes={"d": 19}, undeclared={"KeyError": 1}),
    )
    diff = compare(base, new)
    assert bh([c.p_value for c in diff.changes]) == pytest.approx(
        [c.adjusted_p_value for c in diff.changes], rel=1e-9
    )
    assert all(c.adjusted_p_value >= c.p_value for c in diff.changes)


def test_a_significant_rise_is_worse_and_counts_as_a_regression():
    """A rate that rose with adjusted p below alpha is ``worse``."""
    diff = compare(
        report(op("search", 2000, modes={"timeout": 40})),
        report(op("search", 2000, modes={"timeout": 160})),
    )
    assert ("worse", 1, 0) == (
        change(diff, "mode:timeout").verdict,
        diff.regressions,
        diff.improvements,
    )


def test_a_significant_fall_is_better():
    """A rate that fell with adjusted p below alpha is ``better``, not a regression."""
    diff = compare(
        report(op("search", 2000, modes={"timeout": 160})),
        report(op("search", 2000, modes={"timeout": 40})),
    )
    assert ("better", 0, 1) == (
        change(diff, "mode:timeout").verdict,
        diff.regressions,
        diff.improvements,
    )


def test_a_rise_within_noise_is_unchanged():
    """A small rise whose adjusted p-value is not below alpha is ``unchanged``."""
    diff = compare(
        report(op("search", 2000, modes={"timeout": 40})),
        report(op("search", 2000, modes={"timeout": 48})),
    )
    assert ("unchanged", 0) == (change(diff, "mode:timeout").verdict, diff.regressions)


def test_alpha_is_the_threshold_of_the_adjusted_p_value():
    """The same change is worse at a loose alpha and unchanged at a strict one."""
    base = report(op("search", 1000, modes={"timeout": 20}))
    new = report(op("search", 1000, modes={"timeout": 38}))
    p = change(compare(base, new), "mode:timeout").adjusted_p_value
    assert 0.001 < p < 0.05
    loose = change(compare(base, new, alpha=0.05), "mode:timeout").verdict
    strict = change(compare(base, new, alpha=0.001), "mode:timeout").verdict
    assert ("worse", "unchanged") == (loose, strict)


def test_min_change_keeps_small_significant_changes_unchanged():
    """A significant rise smaller than min_change is ``unchanged``; one at least as big is not."""
    base = report(op("search", 2000, modes={"timeout": 40}))
    new = report(op("search", 2000, modes={"timeout": 160}))
    verdicts = [
        change(compare(base, new, min_change=m), "mode:timeout").verdict for m in (0.0, 0.06, 0.061)
    ]
    assert ["worse", "worse", "unchanged"] == verdicts


def test_min_change_applies_to_improvements_too():
    """A significant fall smaller than min_change is ``unchanged``."""
    diff = compare(
        report(op("search", 2000, modes={"timeout": 160})),
        report(op("search", 2000, modes={"timeout": 40})),
        min_change=0.1,
    )
    assert "unchanged" == change(diff, "mode:timeout").verdict


def test_operations_in_one_side_only_are_listed_not_compared():
    """Operations only one report ran are listed by side, and none of their rates compared."""
    diff = compare(
        report(op("search", 100, modes={"x": 5}), op("legacy", 40, modes={"x": 5})),
        report(op("search", 100, modes={"x": 5}), op("rerank", 60, agent="other")),
    )
    assert [("support", "legacy", 40)] == [
        (r.agent, r.operation, r.calls) for r in diff.only_in_base
    ]
    assert [("other", "rerank", 60)] == [(r.agent, r.operation, r.calls) for r in diff.only_in_new]
    assert {"search"} == {c.operation for c in diff.changes}


def test_the_same_operation_in_two_agents_is_two_rows():
    """Operations are matched by agent and name: one agent's rise does not mask another's."""
    diff = compare(
        report(
            op("search", 2000, agent="a", modes={"t": 40}),
            op("search", 2000, agent="b", modes={"t": 40}),
        ),
        report(
            op("search", 2000, agent="a", modes={"t": 40}),
            op("search", 2000, agent="b", modes={"t": 160}),
        ),
    )
    assert ("unchanged", "worse") == (
        change(diff, "mode:t", agent="a").verdict,
        change(diff, "mode:t", agent="b").verdict,
    )


def test_changes_are_sorted_worst_first():
    """Worse rows come first, most significant first; then unchanged; then better."""
    diff = compare(
        report(op("search", 2000, modes={"big": 40, "small": 40, "same": 40, "down": 160})),
        report(op("search", 2000, modes={"big": 200, "small": 90, "same": 41, "down": 40})),
    )
    modes = [c.rate for c in diff.changes if c.rate.startswith("mode:")]
    assert ["mode:big", "mode:small", "mode:same", "mode:down"] == modes
    verdicts = [c.verdict for c in diff.changes]
    assert sorted(verdicts, key=["worse", "unchanged", "better"].index) == verdicts


# --- the command, on saved reports ------------------------------------------------------


def saved(path: Path, value: Report, *, indent: int | None = None) -> str:
    """Save ``value`` as ``agenttrace report --json`` would; the path, as a string."""
    path.write_text(value.model_dump_json(indent=indent), encoding="utf-8")
    return str(path)


def diff_args(**overrides: object) -> dict[str, object]:
    return {
        "alpha": 0.05,
        "min_change": 0.0,
        "fail_on_regression": False,
        "output": "json",
        "show_all": False,
        "confidence": 0.95,
    } | overrides


REGRESSED = (
    report(op("search", 2000, modes={"timeout": 40}), op("answer", 2000, modes={"x": 20})),
    report(op("search", 2000, modes={"timeout": 160}), op("answer", 2000, modes={"x": 21})),
)


@pytest.fixture
def regressed(tmp_path: Path) -> tuple[str, str]:
    """Saved base and new reports; search's timeouts went from 2 % to 8 %."""
    return saved(tmp_path / "base.json", REGRESSED[0], indent=2), saved(
        tmp_path / "new.json", REGRESSED[1]
    )


def test_fail_on_regression_exits_1_when_a_rate_got_worse(regressed):
    """With --fail-on-regression, a significant rise is exit status 1 (a CI gate)."""
    assert EXIT_FAILED == run_diff(*regressed, **diff_args(fail_on_regression=True))


def test_without_fail_on_regression_a_regression_exits_0(regressed):
    """Without --fail-on-regression, the diff reports and exits 0."""
    assert EXIT_OK == run_diff(*regressed, **diff_args())


def test_fail_on_regression_exits_0_when_nothing_got_worse(tmp_path):
    """With --fail-on-regression, an improvement alone exits 0."""
    base = saved(tmp_path / "base.json", REGRESSED[1])
    new = saved(tmp_path / "new.json", REGRESSED[0])
    assert EXIT_OK == run_diff(base, new, **diff_args(fail_on_regression=True))


def test_min_change_raises_the_bar_of_the_gate(regressed):
    """A regression smaller than --min-change does not fail the gate."""
    assert EXIT_OK == run_diff(*regressed, **diff_args(fail_on_regression=True, min_change=0.1))


def test_json_output_is_the_diff(regressed, capsys):
    """--json prints the whole diff, unchanged rows included, as the Diff model."""
    run_diff(*regressed, **diff_args())
    printed = Diff.model_validate_json(capsys.readouterr().out)
    assert compare(*REGRESSED) == printed


def test_table_shows_changed_rows_and_a_summary(regressed, capsys):
    """The table shows worse and better rows only, and a one-line summary."""
    run_diff(*regressed, **diff_args(output="table"))
    out = capsys.readouterr().out
    diff = compare(*REGRESSED)
    summary = f"{len(diff.changes)} rates compared, {diff.regressions} worse, 0 better"
    assert summary in out
    assert "mode:timeout" in out
    assert "mode:x" not in out


def test_table_all_shows_unchanged_rows(regressed, capsys):
    """--all shows the unchanged rows too."""
    run_diff(*regressed, **diff_args(output="table", show_all=True))
    assert "mode:x" in capsys.readouterr().out


def test_markdown_output_is_a_table_of_changed_rows(regressed, capsys):
    """--markdown prints a bold summary and a Markdown table of the changed rows."""
    run_diff(*regressed, **diff_args(output="markdown"))
    out = capsys.readouterr().out
    assert render_markdown(compare(*REGRESSED)) == out
    (row,) = [line for line in out.splitlines() if "`mode:timeout`" in line]
    assert "| support | search | `mode:timeout` | 2.00% (40/2000) | 8.00% (160/2000)" in row
    assert "**worse**" in row


def test_markdown_escapes_pipes_in_names():
    """A ``|`` in an operation's name does not break the Markdown table."""
    diff = compare(
        report(op("a|b", 2000, modes={"t": 40})), report(op("a|b", 2000, modes={"t": 160}))
    )
    assert "| support | a\\|b |" in render_markdown(diff)


def test_missing_file_exits_2_with_a_message(tmp_path, capsys):
    """A side that does not exist is exit status 2, with the reason on stderr."""
    base = saved(tmp_path / "base.json", REGRESSED[0])
    status = run_diff(base, str(tmp_path / "nope.jsonl"), **diff_args())
    err = capsys.readouterr().err
    assert (EXIT_USAGE, True) == (status, err.startswith("agenttrace: "))
    assert "nope.jsonl" in err


def test_an_invalid_saved_report_exits_2(tmp_path, capsys):
    """A JSON report that does not validate is exit status 2, naming the field."""
    document = json.loads(REGRESSED[0].model_dump_json())
    del document["agents"][0]["operations"][0]["calls"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document), encoding="utf-8")
    status = run_diff(str(broken), str(broken), **diff_args())
    err = capsys.readouterr().err
    assert (EXIT_USAGE, True) == (status, "not a valid report" in err and "calls" in err)


def test_a_report_of_another_schema_version_exits_2(tmp_path, capsys):
    """A saved report of an unknown schema version is refused, not misread."""
    document = json.loads(REGRESSED[0].model_dump_json()) | {"schema_version": 99}
    future = tmp_path / "future.json"
    future.write_text(json.dumps(document), encoding="utf-8")
    assert EXIT_USAGE == run_diff(str(future), str(future), **diff_args())
    assert "schema version 99" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value"),
    [("alpha", 0.0), ("alpha", 1.0), ("min_change", -0.1), ("output", "html")],
)
def test_out_of_range_options_exit_2(regressed, capsys, option, value):
    """An alpha outside (0, 1), a negative min-change or an unknown output is exit status 2."""
    assert EXIT_USAGE == run_diff(*regressed, **diff_args(**{option: value}))
    assert capsys.readouterr().err.startswith("agenttrace: ")


def test_the_command_line_runs_the_diff(regressed, capsys):
    """``agenttrace diff BASE NEW --fail-on-regression --markdown`` prints Markdown, exits 1."""
    status = main(
        ["diff", *regressed, "--fail-on-regression", "--markdown", "--min-change", "0.01"]
    )
    expected = render_markdown(compare(*REGRESSED, min_change=0.01))
    assert (EXIT_FAILED, expected) == (status, capsys.readouterr().out)


def test_both_sides_from_stdin_exits_2(capsys):
    """Only one side can be read from stdin."""
    assert EXIT_USAGE == run_diff("-", "-", **diff_args())
    assert "stdin" in capsys.readouterr().err


# --- end to end, from trace files -------------------------------------------------------

HANDLING_OUTCOME = {"retry": "recovered", "fallback": "degraded", "escalate": "escalated"}

RATES: dict[str, dict[str, tuple[float, str]]] = {
    "search": {"timeout": (0.02, "retry"), "empty_result": (0.05, "fallback")},
    "rerank": {"low_score": (0.03, "fallback"), "timeout": (0.01, "retry")},
    "answer": {"hallucination": (0.04, "escalate"), "too_long": (0.06, "retry")},
    "cite": {"bad_link": (0.02, "abort"), "missing": (0.08, "fallback")},
    "classify": {"low_confidence": (0.10, "escalate"), "off_topic": (0.02, "abort")},
    "lookup": {"not_found": (0.05, "abort"), "rate_limited": (0.03, "retry")},
    "summarize": {"too_short": (0.04, "retry"), "refused": (0.01, "escalate")},
    "translate": {"wrong_language": (0.03, "fallback"), "garbled": (0.02, "abort")},
}
UNDECLARED = {"KeyError": 0.01, "ValueError": 0.005}
"""Each call's chance of each exception no mode covers."""


def call(operation: str, rates: dict[str, tuple[float, str]], draw: random.Random) -> Call:
    """One call: each mode fires with its rate; the first that fired decides the outcome."""
    fired = [
        Fail(mode, handling=handling) for mode, (p, handling) in rates.items() if draw.random() < p
    ]
    fired += [
        Fail(declared=False, error_type=name) for name, p in UNDECLARED.items() if draw.random() < p
    ]
    if not fired:
        return Call(operation)
    first = fired[0]
    outcome = HANDLING_OUTCOME.get(first.handling or "abort", "failed")
    served_by = {"degraded": f"{operation}_fallback", "escalated": "human:ops"}.get(outcome)
    return Call(
        operation,
        outcome=outcome,
        failures=fired,
        retries=1 if outcome == "recovered" else 0,
        served_by=served_by,
        error_type=first.error_type if outcome == "failed" else None,
    )


def traces(
    path: Path, seed: int, runs: int = 2000, rates: dict[str, dict[str, tuple[float, str]]] = RATES
) -> str:
    """A trace file of ``runs`` agent runs, each calling every operation once; its path."""
    draw = random.Random(seed)
    file = TraceFile()
    for _ in range(runs):
        file.run("support", [call(name, modes, draw) for name, modes in rates.items()])
    return str(file.write(path))


def planted(
    rates: dict[str, dict[str, tuple[float, str]]],
) -> dict[str, dict[str, tuple[float, str]]]:
    """``rates`` with search's timeouts raised from 2 % to 8 %."""
    return rates | {"search": rates["search"] | {"timeout": (0.08, "retry")}}


def test_trace_files_load_as_their_report(tmp_path):
    """A trace file loads as the report of its calls, each operation with its calls."""
    found = load(traces(tmp_path / "t.jsonl", seed=1, runs=50), confidence=0.95)
    calls = {row.operation: row.calls for row in found.operations()}
    assert dict.fromkeys([*RATES, "support"], 50) == calls


def test_a_planted_regression_is_found_and_fails_the_gate(tmp_path, capsys):
    """A mode that went from 2 % to 8 % over 2000 calls is worse, and exits 1."""
    base = traces(tmp_path / "base.jsonl", seed=1)
    new = traces(tmp_path / "new.jsonl", seed=2, rates=planted(RATES))
    status = run_diff(base, new, **diff_args(fail_on_regression=True))
    diff = Diff.model_validate_json(capsys.readouterr().out)
    assert EXIT_FAILED == status
    assert "worse" == change(diff, "mode:timeout").verdict
    # The timeouts retried: the outcome they lead to may rise with them, nothing else may.
    worse = {(c.operation, c.rate) for c in diff.changes if c.verdict == "worse"}
    assert worse <= {
        ("search", "mode:timeout"),
        ("search", "recovered"),
        ("search", "first_try_failure"),
    }


@pytest.mark.parametrize("seed", [3, 11, 20])
def test_noise_is_not_a_regression(tmp_path, capsys, seed):
    """Two samples of the same rates show no worse row and pass the gate."""
    base = traces(tmp_path / "base.jsonl", seed=seed)
    new = traces(tmp_path / "new.jsonl", seed=seed + 1000)
    status = run_diff(base, new, **diff_args(fail_on_regression=True))
    diff = Diff.model_validate_json(capsys.readouterr().out)
    assert (EXIT_OK, []) == (status, [c for c in diff.changes if c.verdict == "worse"])
    assert len(diff.changes) > 50


def test_a_saved_report_works_as_base(tmp_path, capsys):
    """``agenttrace report --json`` output as BASE is compared with trace files as NEW."""
    base_report = load(traces(tmp_path / "base.jsonl", seed=1), confidence=0.95)
    base = saved(tmp_path / "base.json", base_report, indent=2)
    new = traces(tmp_path / "new.jsonl", seed=2, rates=planted(RATES))
    status = run_diff(base, new, **diff_args(fail_on_regression=True))
    from_saved = Diff.model_validate_json(capsys.readouterr().out)
    run_diff(str(tmp_path / "base.jsonl"), new, **diff_args())
    from_traces = Diff.model_validate_json(capsys.readouterr().out)
    assert (EXIT_FAILED, from_traces) == (status, from_saved)


def test_a_gzip_trace_file_is_trace_input_not_a_report(tmp_path, capsys):
    """A .gz trace file is read as traces, not mistaken for a saved report."""
    plain = traces(tmp_path / "t.jsonl", seed=1, runs=100)
    packed = traces(tmp_path / "t.jsonl.gz", seed=1, runs=100)
    assert EXIT_OK == run_diff(plain, packed, **diff_args(fail_on_regression=True))
    diff = Diff.model_validate_json(capsys.readouterr().out)
    assert all(c.p_value == 1.0 for c in diff.changes)


def test_a_side_with_no_operations_exits_2(tmp_path, capsys):
    """A side that holds no agenttrace operation is a mistake: exit 2, even without the gate."""
    base = traces(tmp_path / "base.jsonl", seed=1, runs=20)
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"resourceLogs": []}\n')
    assert EXIT_USAGE == run_diff(base, str(empty), **diff_args())
    assert f"NEW {empty}: no agenttrace operations found" in capsys.readouterr().err


def test_malformed_lines_are_said_on_stderr(tmp_path, capsys):
    """Malformed lines of a side are counted on stderr, with the first one; the diff goes on."""
    base = traces(tmp_path / "base.jsonl", seed=1, runs=20)
    new = tmp_path / "new.jsonl"
    new.write_text("oops\n" + (tmp_path / "base.jsonl").read_text())
    assert EXIT_OK == run_diff(base, str(new), **diff_args(fail_on_regression=True))
    err = capsys.readouterr().err
    assert (
        f"agenttrace: NEW {new}: 1 malformed line(s) skipped; the first, {new}:1: not JSON" in err
    )
