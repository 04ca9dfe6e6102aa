"""The report as one HTML page: ``agenttrace report --html FILE``.

The page stands alone: plotly.js is inlined once, the charts' data sits in a JSON block, and
nothing is fetched when it opens, so it can be mailed, attached to a CI run or opened
offline. Every name in it comes from the traces and is escaped: once for HTML, and once more
for plotly, which reads a little HTML (``<b>``, ``<br>``, ``<a>``) in its labels.
"""

from __future__ import annotations

import html
import json
import math
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

from plotly.offline import get_plotlyjs

from . import _format
from ._charts import (
    FONT,
    MODE_COLOURS,
    OUTCOME_COLOURS,
    latency_figure,
    mode_figure,
    outcome_figure,
    series_figure,
)
from ._model import NO_AGENT, OUTCOMES

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._model import FirstTry, Inputs, OperationStats, Report, Tokens

_TABLE_COLUMNS: Final = 13
_ASSETS: Final = resources.files("agenttrace.cli")
_CSS: Final = (_ASSETS / "report.css").read_text(encoding="utf-8").replace("FONT_STACK", FONT)
_BOOT: Final = (_ASSETS / "report.js").read_text(encoding="utf-8")
"""Draws every chart, then flags the page (``data-charts``) so a browser test knows when."""


def render_html(report: Report) -> str:
    """The report as a standalone HTML page: summary, operations table, charts.

    Example:
        >>> from agenttrace.cli._read import read_report
        >>> import pathlib, tempfile
        >>> empty = pathlib.Path(tempfile.mkdtemp()) / "traces.jsonl"
        >>> _ = empty.write_text("")
        >>> page = render_html(read_report([str(empty)]))
        >>> "No agenttrace spans found" in page
        True
    """
    rows = report.operations()
    labels = _labels(rows)
    parts = [_summary(report, rows)]
    figures: list[tuple[str, dict[str, Any]]] = []
    if rows:
        parts.append(_table(report))
        figures.append(("outcomes", outcome_figure(rows, labels)))
        parts.append(
            _section(
                "Outcomes",
                "How each operation's calls ended. Click a legend entry to hide an outcome: "
                "hiding <em>ok</em> zooms in on the rest.",
                _chart("outcomes"),
            )
        )
        modes = mode_figure(rows, labels)
        if modes is None:
            body = '<p class="empty">No failure mode fired and no exception was recorded.</p>'
        else:
            figures.append(("failure-modes", modes))
            body = _chart("failure-modes") + _mode_table(rows)
        parts.append(
            _section(
                "Failure modes",
                "Share of each operation's calls in which a failure mode fired, with its "
                "declared handling. Undeclared modes stand apart, and so do exceptions, by "
                "class, that no declared mode covers.",
                body,
            )
        )
        figures.append(("latency", latency_figure(rows, labels)))
        parts.append(
            _section(
                "Latency",
                "Each operation's duration percentiles: the share of calls (vertical) "
                "that took at most the time (horizontal).",
                _chart("latency"),
            )
        )
        timeline = series_figure(report.series)
        body = (
            '<p class="empty">No calls to chart over time.</p>'
            if timeline is None
            else _chart("failure-rate")
        )
        if timeline is not None:
            figures.append(("failure-rate", timeline))
        parts.append(
            _section(
                "Failure rate over time",
                "Per agent: calls that met a failure (<em>not ok</em>, solid) and calls "
                "that failed outright (<em>failed</em>, dotted), per interval.",
                body,
            )
        )
    else:
        parts.append(_nothing_found(report.inputs))
    parts.append(_inputs(report.inputs))
    return _page(report, "\n".join(parts), figures)


# --- text ------------------------------------------------------------------------------


def _e(text: object) -> str:
    """``text`` safe inside HTML elements and quoted attributes."""
    return html.escape(str(text), quote=True)


def _labels(rows: Sequence[OperationStats]) -> list[str]:
    """A label per row for the charts: "agent, operation" when agents are several."""
    agents = {row.agent for row in rows}
    return [
        row.operation if len(agents) == 1 else f"{row.agent} {_format.NEXT} {row.operation}"
        for row in rows
    ]


def _plural(count: int, noun: str) -> str:
    """``3 runs``, ``1 run``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _compact(count: int) -> str:
    """``12345`` → ``12.3k``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= scale:
            return f"{count / scale:.1f}{suffix}"
    return str(count)


def _nines_cell(first_try: FirstTry, confidence: str) -> str:
    low, high = first_try.nines_interval.low, first_try.nines_interval.high
    if first_try.calls == 0:
        return f'<td class="num muted">{_format.DASH}</td>'
    if first_try.nines is None:
        return (
            f'<td class="num"><span class="good">all {first_try.calls:,} ok</span>'
            f'<span class="sub">≥ {_number(low, 2)} at {confidence}</span></td>'
        )
    high_text = "∞" if high is None or not math.isfinite(high) else _fixed(high)
    return (
        f'<td class="num">{_fixed(first_try.nines)}'
        f'<span class="sub">{_fixed(low)}{_format.DASH}{high_text}</span></td>'
    )


def _first_try_cell(first_try: FirstTry) -> str:
    if first_try.calls == 0:
        return f'<td class="num muted">{_format.DASH}</td>'
    low, high = first_try.interval.low, first_try.interval.high
    return (
        f'<td class="num">{_format.percent(first_try.rate)}'
        f'<span class="sub">{low * 100:.1f}{_format.DASH}{high * 100:.1f}%</span></td>'
    )


def _tokens_cell(tokens: Tokens | None) -> str:
    if tokens is None:
        return f'<td class="num muted">{_format.DASH}</td>'
    title = (
        f"{tokens.input:,} input and {tokens.output:,} output tokens, "
        f"{tokens.calls_reporting:,} calls reporting usage"
    )
    return (
        f'<td class="num" title="{_e(title)}">{_compact(tokens.input)}'
        f'<span class="sub">{_compact(tokens.output)}</span></td>'
    )


def _number(value: float, digits: int) -> str:
    """A finite number with ``digits`` significant figures, or a dash."""
    return f"{value:.{digits}g}" if math.isfinite(value) else _format.DASH


def _fixed(value: float) -> str:
    """Nines to two decimals, as the terminal table shows them."""
    return f"{value:.2f}" if math.isfinite(value) else _format.DASH


def _confidence(report: Report) -> str:
    return f"{report.confidence * 100:g}%"


# --- page sections -------------------------------------------------------------------------


def _section(title: str, lede: str, body: str) -> str:
    return f'<section><h2>{title}</h2><p class="lede">{lede}</p>{body}</section>'


def _chart(chart_id: str) -> str:
    return f'<div class="chart" id="chart-{chart_id}" data-chart></div>'


def _summary(report: Report, rows: Sequence[OperationStats]) -> str:
    inputs = report.inputs
    agents = [agent for agent in report.agents if agent.agent != NO_AGENT]
    calls = sum(row.calls for row in rows)
    if inputs.start is not None and inputs.end is not None:
        covered = (
            f"{_e(_format.timestamp(inputs.start))} → {_e(_format.timestamp(inputs.end))}"
            f" <span class=muted>({_format.elapsed(inputs.end - inputs.start)})</span>"
        )
    else:
        covered = "No time covered: no agenttrace span was read."
    tiles = [
        ("Agents", f"{len(agents):,}", f"{sum(a.runs for a in agents):,} runs"),
        ("Operations", f"{len(rows):,}", f"agent {_format.TIMES} operation"),
        ("Calls", f"{calls:,}", "of all operations"),
        ("Spans read", f"{inputs.spans:,}", f"{inputs.lines:,} lines"),
        (
            "Malformed lines",
            f"{inputs.malformed_lines:,}",
            "skipped" if inputs.malformed_lines else "none",
        ),
        ("Foreign spans", f"{inputs.foreign_spans:,}", "other instrumentations"),
    ]
    tile_html = "".join(
        f'<div class="tile{" warn" if name == "Malformed lines" and value != "0" else ""}">'
        f'<div class="tile-label">{name}</div><div class="tile-value">{value}</div>'
        f'<div class="tile-note">{note}</div></div>'
        for name, value, note in tiles
    )
    return (
        '<header><div class="brand">agenttrace</div><h1>Reliability report</h1>'
        f'<p class="range">{covered}</p>'
        f'<p class="meta">Intervals at {_confidence(report)} confidence (Wilson) · '
        f"{_plural(len(inputs.sources), 'source')}</p>"
        f'<div class="tiles">{tile_html}</div></header>'
    )


def _dot(colour: str) -> str:
    return f'<span class="dot" style="background:{colour}"></span>'


def _table(report: Report) -> str:
    confidence = _confidence(report)
    # The first try succeeds exactly when the outcome is ok: one column shows both.
    others = [outcome for outcome in OUTCOMES if outcome != "ok"]
    head = (
        '<tr><th scope="col" class="name">Operation</th><th scope="col" class="num">Calls</th>'
        f'<th scope="col" class="num" title="first-try success, Wilson interval at {confidence}">'
        f'{_dot(OUTCOME_COLOURS["ok"])}ok<span class="sub">first try</span></th>'
        + "".join(f'<th scope="col" class="num">{_dot(OUTCOME_COLOURS[o])}{o}</th>' for o in others)
        + '<th scope="col" class="num" title="-log10(1 - first-try success rate)">Nines</th>'
        '<th scope="col" class="num">p50</th><th scope="col" class="num">p95</th>'
        '<th scope="col" class="num">p99</th>'
        '<th scope="col" class="num">Retries<span class="sub">per call</span></th>'
        '<th scope="col" class="num">Tokens<span class="sub">in / out</span></th></tr>'
    )
    bodies = []
    for agent in report.agents:
        runs = _plural(agent.runs, "run") if agent.runs else ""
        name = (
            f'<span class="muted">{_e(agent.agent)}</span>'
            if agent.agent == NO_AGENT
            else (_e(agent.agent))
        )
        lines = [
            (
                f'<tr class="group"><th colspan="{_TABLE_COLUMNS}" scope="rowgroup">{name}'
                f' <span class="muted">{runs}</span></th></tr>'
            )
        ]
        for row in agent.operations:
            shares = "".join(
                f'<td class="num{" muted" if row.outcomes.get(o, 0) == 0 else ""}" '
                f'title="{row.outcomes.get(o, 0):,} of {row.calls:,} calls">'
                f"{_format.percent(row.shares.get(o, 0.0))}</td>"
                for o in others
            )
            latency = row.latency
            lines.append(
                f'<tr><td class="name"><span class="op" title="{_e(row.operation)}">'
                f'{_e(row.operation)}</span><span class="kind kind-{_e(row.kind)}">'
                f"{_e(row.kind)}</span></td>"
                f'<td class="num">{row.calls:,}</td>{_first_try_cell(row.first_try)}{shares}'
                f"{_nines_cell(row.first_try, confidence)}"
                f'<td class="num">{_format.duration(latency.p50)}</td>'
                f'<td class="num">{_format.duration(latency.p95)}</td>'
                f'<td class="num">{_format.duration(latency.p99)}</td>'
                f'<td class="num{" muted" if row.retries == 0 else ""}">'
                f"{row.retries_per_call:.2f}</td>"
                f"{_tokens_cell(row.tokens)}</tr>"
            )
        bodies.append(f"<tbody>{''.join(lines)}</tbody>")
    return _section(
        "Operations",
        "Per agent, each operation's outcomes as shares of its calls. An <em>ok</em> call "
        f"succeeded on its first try; below the share, its {confidence} interval. "
        "<em>Nines</em>: the same rate in nines (99% is 2), with its interval.",
        f'<div class="table-wrap"><table class="ops"><thead>{head}</thead>'
        f"{''.join(bodies)}</table></div>",
    )


def _mode_table(rows: Sequence[OperationStats]) -> str:
    lines = []
    for row in rows:
        operation = _e(
            row.operation
            if row.agent == NO_AGENT
            else f"{row.agent} {_format.NEXT} {row.operation}"
        )
        for mode in row.failure_modes:
            kind = "declared" if mode.declared else "undeclared"
            handling = _e(mode.handling or _format.DASH)
            lines.append(
                f"<tr><td>{operation}</td><td>{_e(mode.mode)}</td>"
                f"<td>{_dot(MODE_COLOURS[kind])}{kind}</td><td>{handling}</td>"
                f'<td class="num">{mode.calls:,}</td><td class="num">{mode.occurrences:,}</td>'
                f'<td class="num">{_format.percent(mode.rate)}</td></tr>'
            )
        for error in row.undeclared:
            lines.append(  # noqa: PERF401 (two loops feed the one list)
                f"<tr><td>{operation}</td><td>{_e(error.error_type)}</td>"
                f"<td>{_dot(MODE_COLOURS['exception'])}exception</td><td>{_format.DASH}</td>"
                f'<td class="num">{error.calls:,}</td><td class="num">{error.occurrences:,}</td>'
                f'<td class="num">{_format.percent(error.rate)}</td></tr>'
            )
    return (
        "<details><summary>As a table</summary>"
        '<div class="table-wrap"><table class="modes"><thead><tr>'
        "<th>Operation</th><th>Failure</th><th>Declared</th><th>Handling</th>"
        '<th class="num">Calls</th><th class="num">Times fired</th>'
        '<th class="num">Rate</th></tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table></div></details>"
    )


def _nothing_found(inputs: Inputs) -> str:
    reasons = [f"{_plural(inputs.spans, 'span')} read from {_plural(inputs.lines, 'line')}"]
    if inputs.foreign_spans:
        reasons.append(f"{inputs.foreign_spans:,} from other instrumentations")
    if inputs.filtered_spans:
        reasons.append(f"{inputs.filtered_spans:,} outside the --since / --until window")
    if inputs.malformed_lines:
        reasons.append(_plural(inputs.malformed_lines, "malformed line"))
    return (
        '<section class="nothing"><h2>No agenttrace spans found</h2>'
        f"<p>{'; '.join(reasons)}.</p>"
        "<p>The report counts spans written by agenttrace's decorators (they carry "
        "<code>agenttrace.kind</code>). Point it at the files agenttrace exported, such as "
        "<code>.agenttrace/traces.jsonl</code>.</p></section>"
    )


def _inputs(inputs: Inputs) -> str:
    sources = "".join(f"<li><code>{_e(source)}</code></li>" for source in inputs.sources)
    counts = [
        ("lines", inputs.lines),
        ("lines without spans", inputs.foreign_lines),
        ("malformed lines", inputs.malformed_lines),
        ("spans", inputs.spans),
        ("operation spans", inputs.operation_spans),
        ("attempt spans", inputs.attempt_spans),
        ("foreign spans", inputs.foreign_spans),
        ("filtered out", inputs.filtered_spans),
    ]
    listed = "".join(f"<dt>{name}</dt><dd>{count:,}</dd>" for name, count in counts)
    problems = ""
    if inputs.problems:
        items = "".join(
            f"<li><code>{_e(problem.source)}:{problem.line}</code> {_e(problem.reason)}</li>"
            for problem in inputs.problems
        )
        shown = len(inputs.problems)
        problems = (
            f"<details><summary>Malformed lines (first {shown:,} of "
            f"{inputs.malformed_lines:,})</summary><ul class=problems>{items}</ul></details>"
        )
    return (
        '<section class="inputs"><h2>Inputs</h2>'
        f'<div class="inputs-grid"><ul class="sources">{sources or "<li>none</li>"}</ul>'
        f"<dl>{listed}</dl></div>{problems}</section>"
    )


# --- the page ---------------------------------------------------------------------------


def _script_json(value: object) -> str:
    """JSON for a ``<script>`` block: no ``</script>`` or ``<!--`` can close it early."""
    text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def _page(report: Report, body: str, figures: Sequence[tuple[str, dict[str, Any]]]) -> str:
    generated = _format.timestamp(report.generated_at)
    scripts = ""
    state = "none"
    if figures:
        state = "pending"
        payload = [{"id": f"chart-{name}", **figure} for name, figure in figures]
        scripts = (
            f"<script>{get_plotlyjs()}</script>\n"
            f'<script type="application/json" id="agenttrace-figures">{_script_json(payload)}'
            f"</script>\n<script>{_BOOT}</script>"
        )
    return f"""<!DOCTYPE html>
<html lang="en" data-charts="{state}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="agenttrace {_e(report.agenttrace_version)}">
<title>agenttrace reliability report</title>
<style>{_CSS}</style>
</head>
<body>
<main>
{body}
<footer>agenttrace {_e(report.agenttrace_version)} · report schema {report.schema_version}
 · generated {_e(generated)}</footer>
</main>
{scripts}
</body>
</html>
"""
