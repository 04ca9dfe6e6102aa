"""The examples run, offline, and say what they did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_quickstart_runs_and_reports_its_trace(tmp_path: Path) -> None:
    """The quickstart answers through the fake model, prints the run as a tree and writes its
    four spans to the local trace file."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("agent answered: Thanks for reaching out.")
    tree = [line.split("  ") for line in result.stderr.splitlines()]
    assert [(row[0], row[1], row[3]) for row in tree] == [
        ("invoke_agent support-bot", "agent", "ok"),
        ("├─ classify", "step", "ok"),
        ("├─ execute_tool lookup_order", "tool", "ok"),
        ("└─ chat gpt-4o-mini", "model_call", "ok"),
    ]
    written = tmp_path / ".agenttrace" / "traces.jsonl"
    assert f"4 spans written to {written}" == lines[-1]
    assert written.read_text().count('"agenttrace.kind"') == 4


def test_overhead_benchmark_runs() -> None:
    """bench/overhead.py --quick prints a row for every target (figures are not checked here)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "overhead.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )

    rows = [line.split("  ")[0] for line in result.stdout.splitlines()[1:]]
    assert [row.strip() for row in rows] == [
        "sync no-op step",
        "3 failure modes + fallback, ok",
        "async no-op step",
        "10 nested calls",
        "1 MB arg+result, capture on",
        "1 MB prose arg+result",
        "sampled out (ALWAYS_OFF)",
        "step via export pipeline",
        "step + structlog + metrics",
        "openai chat, instrumented",
        "openai chat, raw OTel span",
        "anthropic message, instrumented",
        "memory over calls",
    ]
