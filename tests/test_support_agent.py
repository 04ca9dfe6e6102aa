"""The support-agent example: 300 tickets, every outcome, and the trace and events that show it."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog

import agenttrace

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples"
OUTCOMES = ["ok", "recovered", "degraded", "escalated", "failed"]
HANDLING_EVENTS = {
    "agenttrace.failure",
    "agenttrace.retry",
    "agenttrace.fallback",
    "agenttrace.escalation",
    "agenttrace.outcome",
}


@dataclass
class Run:
    """One run of the example, in a directory of its own."""

    result: subprocess.CompletedProcess[str]
    cwd: Path

    @property
    def trace_file(self) -> Path:
        return self.cwd / ".agenttrace" / "traces.jsonl"

    @property
    def events_file(self) -> Path:
        return self.cwd / ".agenttrace" / "events.jsonl"

    def spans(self) -> list[dict[str, Any]]:
        """Every span in the trace file, its attributes as a plain dict."""
        found = []
        for line in self.trace_file.read_text().splitlines():
            for resource in json.loads(line)["resourceSpans"]:
                for scope in resource["scopeSpans"]:
                    for span in scope["spans"]:
                        attributes = {
                            item["key"]: next(iter(item["value"].values()))
                            for item in span["attributes"]
                        }
                        found.append({**span, "attributes": attributes})
        return found

    def table(self) -> dict[str, dict[str, int]]:
        """The printed report: operation → outcome → count (from each share and the calls)."""
        lines = self.result.stdout.splitlines()
        header = next(
            i for i, line in enumerate(lines) if line.split()[:2] == ["operation", "kind"]
        )
        assert OUTCOMES == lines[header].split()[3:8]
        rows = {}
        for line in lines[header + 2 :]:
            cells = line.split()
            if not cells:
                break
            calls = int(cells[2].replace(",", ""))
            rows[cells[0]] = {
                outcome: 0 if cell == "-" else round(float(cell.rstrip("%")) * calls / 100)
                for outcome, cell in zip(OUTCOMES, cells[3:8], strict=True)
            }
        return rows

    @property
    def report_file(self) -> Path:
        return self.cwd / ".agenttrace" / "support-agent-report.html"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    cwd = tmp_path_factory.mktemp("support-agent")
    # The example must write to its local files whatever the environment says.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTTRACE_"))}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "support_agent.py")],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )
    return Run(result, cwd)


def operations(spans: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [
        s
        for s in spans
        if s["attributes"].get("agenttrace.operation") == name
        and s["attributes"]["agenttrace.kind"] != "attempt"
    ]


def test_run_succeeds_and_prints_each_operations_outcomes(run: Run) -> None:
    """The example exits 0 and ends with this run's reliability report: every scripted
    misbehaviour of the fake model shows up as its outcome, and the agent itself is always
    ok."""
    assert run.result.returncode == 0, run.result.stderr
    assert "" == run.result.stderr
    lines = run.result.stdout.splitlines()
    assert lines[0].startswith("support-bot answered 300 tickets in ")

    table = run.table()
    assert {"support-bot", "classify", "answer", "lookup_order"} <= set(table)
    assert {"ok": 300, "recovered": 0, "degraded": 0, "escalated": 0, "failed": 0} == table[
        "support-bot"
    ]
    # 20 malformed once, 5 malformed twice and 25 unsure go to the rules; 15 go to people.
    assert {"ok": 235, "recovered": 20, "degraded": 30, "escalated": 15, "failed": 0} == table[
        "classify"
    ]
    assert (20, 0) == (table["answer"]["escalated"], table["answer"]["failed"])
    assert table["answer"]["ok"] > 0
    assert 10 == table["lookup_order"]["failed"]
    assert table["lookup_order"]["ok"] > 0

    assert f"spans written to {run.trace_file}" in run.result.stdout
    assert f"JSON lines to {run.events_file}" in run.result.stdout
    assert "support-bot: 300 runs" in run.result.stdout
    assert f"HTML report written to {run.report_file}" == lines[-1]
    assert run.report_file.read_text().startswith("<!DOCTYPE html>")


def test_the_report_covers_this_run_only(tmp_path: Path) -> None:
    """A second run in the same directory reports its own 300 runs, not the first run's too."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTTRACE_"))}
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / "support_agent.py")],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert 0 == result.returncode, result.stderr
        assert "support-bot: 300 runs" in result.stdout


def test_printed_table_matches_the_trace_file(run: Run) -> None:
    """The report's shares are the outcomes of the spans the run wrote."""
    spans = run.spans()
    for operation, counts in run.table().items():
        written = Counter(
            s["attributes"]["agenttrace.outcome"] for s in operations(spans, operation)
        )
        assert {k: v for k, v in counts.items() if v} == dict(written), operation


def test_trace_file_shows_how_each_classify_call_was_served(run: Run) -> None:
    """Each classify outcome has the served_by that explains it, and every retry, fallback and
    escalation is a child span of the operation, named for what ran and carrying its reason."""
    spans = run.spans()
    by_id = {s["spanId"]: s for s in spans}

    served = {
        (s["attributes"]["agenttrace.outcome"], s["attributes"].get("agenttrace.served_by"))
        for s in operations(spans, "classify")
    }
    assert {
        ("ok", None),
        ("recovered", "classify"),
        ("degraded", "keyword_rules"),
        ("escalated", "human:triage-queue"),
    } == served
    answered = {
        (s["attributes"]["agenttrace.outcome"], s["attributes"].get("agenttrace.served_by"))
        for s in operations(spans, "answer")
    }
    assert {("ok", None), ("escalated", "human:support-escalations")} == answered

    attempts = Counter(
        (s["name"], s["attributes"].get("agenttrace.attempt.reason"))
        for s in spans
        if s["attributes"]["agenttrace.kind"] == "attempt"
    )
    assert {
        ("retry classify", "invalid_output"): 25,
        ("fallback keyword_rules", "invalid_output"): 5,
        ("fallback keyword_rules", "low_confidence"): 40,
        ("escalate triage-queue", "low_confidence"): 15,
        ("escalate support-escalations", "refused"): 20,
    } == dict(attempts)
    for span in spans:
        if span["attributes"]["agenttrace.kind"] == "attempt":
            parent = by_id[span["parentSpanId"]]
            assert (
                parent["attributes"]["agenttrace.operation"]
                == span["attributes"]["agenttrace.operation"]
            )
            assert parent["attributes"]["agenttrace.kind"] == "step"


def test_failed_tool_calls_are_caught_by_the_agent(run: Run) -> None:
    """An unknown order id fails the lookup_order span with KeyError; the agent answers anyway."""
    spans = run.spans()
    failed = [
        s
        for s in operations(spans, "lookup_order")
        if s["attributes"]["agenttrace.outcome"] == "failed"
    ]
    assert 10 == len(failed)
    assert {"KeyError"} == {s["attributes"]["error.type"] for s in failed}
    agents = {s["spanId"]: s for s in operations(spans, "support-bot")}
    assert {"ok"} == {agents[s["parentSpanId"]]["attributes"]["agenttrace.outcome"] for s in failed}


def test_events_file_logs_the_handling_with_trace_ids(run: Run) -> None:
    """agenttrace's structlog events go to the events file as JSON lines, not to stdout; each
    failure, retry, fallback, escalation and outcome names a trace in the trace file."""
    trace_ids = {s["traceId"] for s in run.spans()}
    events = [json.loads(line) for line in run.events_file.read_text().splitlines()]

    handling = [e for e in events if e["event"] in HANDLING_EVENTS]
    assert HANDLING_EVENTS == {e["event"] for e in handling}
    assert all(e["trace_id"] in trace_ids for e in handling)
    assert all({"level", "timestamp", "operation"} <= set(e) for e in handling)
    outcomes = Counter((e["operation"], e["outcome"]) for e in events if "outcome" in e)
    assert {
        ("classify", "recovered"): 20,
        ("classify", "degraded"): 30,
        ("classify", "escalated"): 15,
        ("answer", "escalated"): 20,
    } == dict(outcomes)
    assert "agenttrace." not in run.result.stdout


def test_importing_the_example_declares_its_contracts_and_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Importing the example registers classify's and answer's contracts, and neither starts a
    server, configures structlog nor writes a file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    threads = threading.active_count()
    logging_config = structlog.get_config()

    module = importlib.import_module("support_agent")

    assert threads == threading.active_count()
    assert logging_config == structlog.get_config()
    assert [] == list(tmp_path.iterdir())
    [classify] = [c for c in agenttrace.contracts() if c.function == "support_agent.classify"]
    assert "classify" == classify.operation
    assert [("low_confidence", "fallback"), ("invalid_output", "retry")] == [
        (mode.name, mode.handling) for mode in classify.failure_modes
    ]
    assert ("keyword_rules", "human:triage-queue") == classify.fallbacks
    assert classify.retry is not None and 2 == classify.retry.attempts
    [raised] = classify.failure_modes[1].on
    assert raised.endswith(".ValidationError")
    [answer] = [c for c in agenttrace.contracts() if c.function == "support_agent.answer"]
    assert [("refused", "escalate")] == [(m.name, m.handling) for m in answer.failure_modes]
    assert ("human:support-escalations",) == answer.fallbacks
    assert module.TICKETS == 300
