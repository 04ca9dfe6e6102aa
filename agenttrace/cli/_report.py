"""``agenttrace report``: the reliability label, as a terminal table, JSON, Markdown or HTML."""

from __future__ import annotations

import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Final

from agenttrace.exceptions import ConfigurationError

from . import EXIT_FAILED, EXIT_OK, _format
from ._model import OUTCOMES
from ._read import read_report

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from rich.console import Console

    from ._model import AgentReport, Report

DEFAULT_SOURCE: Final = ".agenttrace"
"""What ``agenttrace report`` reads when given nothing: the embedded default's directory."""
_RELATIVE: Final = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, option: str, now: float | None = None) -> float:
    """``--since``/``--until``: an ISO 8601 time (UTC unless it says) or an age like ``90m``.

    Raises:
        ConfigurationError: The text is neither.

    Example:
        >>> parse_time("2h", "--since", now=10_000.0)
        2800.0
        >>> parse_time("1970-01-01T01:00:00", "--since")
        3600.0
    """
    relative = _RELATIVE.match(text.strip())
    if relative:
        age = float(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
        return (time.time() if now is None else now) - age
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigurationError(
            f"{option} {text!r}: expected an ISO 8601 time (2026-11-30T14:00) or an age "
            "such as 30m, 2h, 7d"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _summary(report: Report) -> str:
    inputs = report.inputs
    files = f"{len(inputs.sources)} file{'s' if len(inputs.sources) != 1 else ''}"
    parts = [
        f"{inputs.operation_spans:,} operations from {inputs.spans:,} spans in {files}",
        f"{_format.timestamp(inputs.start)} to {_format.timestamp(inputs.end)}",
    ]
    if inputs.foreign_spans:
        parts.append(f"{inputs.foreign_spans:,} other spans ignored")
    if inputs.filtered_spans:
        parts.append(f"{inputs.filtered_spans:,} outside the time window")
    return "; ".join(parts)


def _warnings(report: Report) -> Iterator[str]:
    inputs = report.inputs
    if inputs.malformed_lines:
        yield f"{inputs.malformed_lines:,} malformed line(s) skipped:"
        for problem in inputs.problems:
            yield f"  {problem.source}:{problem.line}: {problem.reason}"
        if inputs.malformed_lines > len(inputs.problems):
            yield f"  … and {inputs.malformed_lines - len(inputs.problems):,} more"


def _agent_title(agent: AgentReport) -> str:
    if agent.runs:
        return f"{agent.agent}: {agent.runs:,} run{'s' if agent.runs != 1 else ''}"
    return agent.agent


def _failure_rows(agent: AgentReport) -> Iterator[tuple[str, str, str, int, float]]:
    """(operation, what, how it was handled, calls, rate) of every failure and rescue."""
    for row in agent.operations:
        for mode in row.failure_modes:
            what = mode.mode if mode.declared else f"{mode.mode} (undeclared)"
            yield row.operation, what, mode.handling or "-", mode.calls, mode.rate
        for error in row.undeclared:
            yield row.operation, error.error_type, "undeclared", error.calls, error.rate
        for served in row.served_by:
            by = "itself" if served.served_by == row.operation else served.served_by
            yield row.operation, f"served by {by}", "", served.calls, served.rate


def render_table(report: Report, console: Console) -> None:
    """The label as rich tables on ``console``: per agent, its operations, then its failures."""
    from rich import box  # noqa: PLC0415 (the cli extra, imported when used)
    from rich.table import Table  # noqa: PLC0415

    console.print(f"[bold]agenttrace report[/bold]  {_summary(report)}", highlight=False)
    for line in _warnings(report):
        console.print(f"[yellow]{line}[/yellow]", highlight=False)
    if not report.agents:
        console.print("no agenttrace operations found")
        return
    confidence = f"{report.confidence * 100:g}%"
    for agent in report.agents:
        table = Table(
            title=_agent_title(agent),
            title_justify="left",
            title_style="bold",
            box=box.SIMPLE_HEAD,
            collapse_padding=True,
            pad_edge=False,
        )
        with_tokens = any(row.tokens is not None for row in agent.operations)
        table.add_column("operation", no_wrap=True)
        table.add_column("kind", style="dim", no_wrap=True)
        for name in ("calls", *OUTCOMES, f"nines ({confidence} CI)", "p50", "p95", "retries"):
            table.add_column(name, justify="right", no_wrap=True)
        if with_tokens:
            table.add_column("tokens in/out", justify="right", no_wrap=True)
        for row in agent.operations:
            table.add_row(
                row.operation,
                row.kind,
                f"{row.calls:,}",
                *(_format.percent(row.shares[o]) if row.outcomes[o] else "-" for o in OUTCOMES),
                _format.nines(row.first_try),
                _format.duration(row.latency.p50),
                _format.duration(row.latency.p95),
                f"{row.retries_per_call:.2f}",
                *([_format.tokens(row.tokens)] if with_tokens else []),
            )
        console.print(table)
        failures = list(_failure_rows(agent))
        if failures:
            detail = Table(title="failures and what served", title_justify="left", box=None)
            for name, justify in (("operation", "left"), ("failure", "left"), ("handling", "left"),
                                  ("calls", "right"), ("rate", "right")):  # fmt: skip
                detail.add_column(name, justify=justify)  # type: ignore[arg-type]
            for operation, what, handling, calls, rate in failures:
                detail.add_row(operation, what, handling, f"{calls:,}", _format.percent(rate))
            console.print(detail)
            console.print()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report) -> str:
    """The label as Markdown, to paste into docs or a pull request."""
    confidence = f"{report.confidence * 100:g}%"
    lines = ["## Reliability report", "", _summary(report) + ".", ""]
    lines.extend(f"> {line}" for line in _warnings(report))
    if not report.agents:
        lines.append("No agenttrace operations found.")
    for agent in report.agents:
        lines += [f"### {_cell(_agent_title(agent))}", ""]
        header = ["operation", "kind", "calls", *OUTCOMES, f"first try ({confidence} CI)",
                  "nines", "p50", "p95", "p99", "retries/call", "tokens in/out"]  # fmt: skip
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in agent.operations:
            cells = [
                f"`{_cell(row.operation)}`",
                row.kind,
                f"{row.calls:,}",
                *(_format.percent(row.shares[o]) for o in OUTCOMES),
                _format.interval(row.first_try),
                _format.nines(row.first_try),
                _format.duration(row.latency.p50),
                _format.duration(row.latency.p95),
                _format.duration(row.latency.p99),
                f"{row.retries_per_call:.2f}",
                _format.tokens(row.tokens),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        failures = list(_failure_rows(agent))
        if failures:
            lines += ["", "| operation | failure or rescue | handling | calls | rate |",
                      "|---|---|---|---:|---:|"]  # fmt: skip
            lines.extend(
                f"| `{_cell(operation)}` | {_cell(what)} | {handling or '-'} | {calls:,} | "
                f"{_format.percent(rate)} |"
                for operation, what, handling, calls, rate in failures
            )
        lines.append("")
    return "\n".join(lines)


def run_report(
    sources: Sequence[str],
    *,
    output: str,
    html: str | None,
    confidence: float,
    since: str | None,
    until: str | None,
) -> int:
    """Read ``sources`` and print the report; exit 1 when some lines were malformed."""
    from rich.console import Console  # noqa: PLC0415 (the cli extra, imported when used)

    if not sources and not Path(DEFAULT_SOURCE).is_dir():
        raise ConfigurationError(
            f"no {DEFAULT_SOURCE}/ here (agenttrace writes its trace files there when no OTLP "
            "endpoint is set); name the files, directories or globs to read, or - for stdin"
        )
    report = read_report(
        sources or [DEFAULT_SOURCE],
        confidence=confidence,
        since=None if since is None else parse_time(since, "--since"),
        until=None if until is None else parse_time(until, "--until"),
    )
    if html is not None:
        from ._html import render_html  # noqa: PLC0415 (plotly is only needed here)

        Path(html).write_text(render_html(report), encoding="utf-8")
    if output == "json":
        print(report.model_dump_json(indent=2))  # noqa: T201 (a command's output)
    elif output == "markdown":
        print(render_markdown(report))  # noqa: T201 (a command's output)
    else:
        render_table(report, Console(width=None if sys.stdout.isatty() else 160))
    if html is not None:  # on stderr when stdout carries JSON or Markdown
        where = sys.stdout if output == "table" else sys.stderr
        print(f"HTML report written to {html}", file=where)
    return EXIT_FAILED if report.inputs.malformed_lines else EXIT_OK
