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
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from . import _format
from ._model import NO_AGENT, OUTCOMES

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ._model import FirstTry, Inputs, OperationStats, Report, Series, Tokens

_DASH: Final = "\u2013"
_NEXT: Final = "\u203a"
_TIMES: Final = "\u00d7"
# En dash, single angle quote, multiplication sign: spelled out, as ruff asks of look-alikes.

OUTCOME_COLOURS: Final = {
    "ok": "#2e9e6b",
    "recovered": "#3b7dd8",
    "degraded": "#e59e1a",
    "escalated": "#8c5bd6",
    "failed": "#d9453b",
}
"""One colour per outcome, the same in every chart and in the table."""

MODE_COLOURS: Final = {
    "declared": "#4f6d8f",
    "undeclared": "#e0782c",
    "exception": "#b8324a",
}
"""Failure-mode bars: a declared mode, an undeclared one, an exception no declared mode covers."""

PALETTE: Final = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#b07aa1",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#bab0ac",
)
"""Agents and operations, in turn."""

FONT: Final = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", '
    '"Liberation Sans", "DejaVu Sans", sans-serif'
)
_LABEL_LENGTH: Final = 48
_TICK_LENGTH: Final = 36
"""Failure-mode rows have two lines of label, each shortened to this."""
_TABLE_COLUMNS: Final = 13
_ROW_PIXELS: Final = 28
_CHART_MARGIN_PIXELS: Final = 110
_PERCENTILE_TICKS: Final = (0, 10, 25, 50, 75, 90, 99)
_LATENCY_PIXELS: Final = 440
_SERIES_PIXELS: Final = 400
_LEGEND_ROW_PIXELS: Final = 20
_SIGNIFICANT: Final = 6
_MIN_LOG_SPAN: Final = 10.0
"""Durations spread over less than this factor get a linear axis, not a log one."""
_NUMBER_DECADE: Final = (1.0, 2.0, 5.0)


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
        figures.append(("outcomes", _outcome_figure(rows, labels)))
        parts.append(
            _section(
                "Outcomes",
                "How each operation's calls ended. Click a legend entry to hide an outcome: "
                "hiding <em>ok</em> zooms in on the rest.",
                _chart("outcomes"),
            )
        )
        modes = _mode_figure(rows, labels)
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
        figures.append(("latency", _latency_figure(rows, labels)))
        parts.append(
            _section(
                "Latency",
                "Each operation's duration percentiles: the share of calls (vertical) "
                "that took at most the time (horizontal).",
                _chart("latency"),
            )
        )
        timeline = _series_figure(report.series)
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


def _p(text: object) -> str:
    """``text`` for a plotly label, to be shown as it is.

    plotly reads ``<b>``-like tags and a few entities (``&lt;``, not ``&quot;``) in labels:
    escaping ``&``, ``<`` and ``>`` is what keeps a name from being read as markup.
    """
    return html.escape(str(text), quote=False)


def _short(text: str, length: int = _LABEL_LENGTH) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _labels(rows: Sequence[OperationStats]) -> list[str]:
    """A label per row for the charts: "agent, operation" when agents are several."""
    agents = {row.agent for row in rows}
    return [
        row.operation if len(agents) == 1 else f"{row.agent} {_NEXT} {row.operation}"
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


def _elapsed(seconds: float) -> str:
    """A stretch of time in the two largest units that matter: ``2 h 5 min``."""
    if seconds < 60:  # noqa: PLR2004 (a minute)
        return f"{seconds:.3g} s"
    minutes, _ = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def _nines_cell(first_try: FirstTry, confidence: str) -> str:
    low, high = first_try.nines_interval.low, first_try.nines_interval.high
    if first_try.calls == 0:
        return f'<td class="num muted">{_DASH}</td>'
    if first_try.nines is None:
        return (
            f'<td class="num"><span class="good">all {first_try.calls:,} ok</span>'
            f'<span class="sub">≥ {_number(low, 2)} at {confidence}</span></td>'
        )
    high_text = "∞" if not math.isfinite(high) else _fixed(high)
    return (
        f'<td class="num">{_fixed(first_try.nines)}'
        f'<span class="sub">{_fixed(low)}{_DASH}{high_text}</span></td>'
    )


def _first_try_cell(first_try: FirstTry) -> str:
    if first_try.calls == 0:
        return f'<td class="num muted">{_DASH}</td>'
    low, high = first_try.interval.low, first_try.interval.high
    return (
        f'<td class="num">{_format.percent(first_try.rate)}'
        f'<span class="sub">{low * 100:.1f}{_DASH}{high * 100:.1f}%</span></td>'
    )


def _tokens_cell(tokens: Tokens | None) -> str:
    if tokens is None:
        return f'<td class="num muted">{_DASH}</td>'
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
    return f"{value:.{digits}g}" if math.isfinite(value) else _DASH


def _fixed(value: float) -> str:
    """Nines to two decimals, as the terminal table shows them."""
    return f"{value:.2f}" if math.isfinite(value) else _DASH


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
            f" <span class=muted>({_elapsed(inputs.end - inputs.start)})</span>"
        )
    else:
        covered = "No time covered: no agenttrace span was read."
    tiles = [
        ("Agents", f"{len(agents):,}", f"{sum(a.runs for a in agents):,} runs"),
        ("Operations", f"{len(rows):,}", f"agent {_TIMES} operation"),
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
            row.operation if row.agent == NO_AGENT else f"{row.agent} {_NEXT} {row.operation}"
        )
        for mode in row.failure_modes:
            kind = "declared" if mode.declared else "undeclared"
            lines.append(
                f"<tr><td>{operation}</td><td>{_e(mode.mode)}</td>"
                f"<td>{_dot(MODE_COLOURS[kind])}{kind}</td><td>{_e(mode.handling or _DASH)}</td>"
                f'<td class="num">{mode.calls:,}</td><td class="num">{mode.occurrences:,}</td>'
                f'<td class="num">{_format.percent(mode.rate)}</td></tr>'
            )
        for error in row.undeclared:
            lines.append(  # noqa: PERF401 (two loops feed the one list)
                f"<tr><td>{operation}</td><td>{_e(error.error_type)}</td>"
                f"<td>{_dot(MODE_COLOURS['exception'])}exception</td><td>{_DASH}</td>"
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


# --- charts -----------------------------------------------------------------------------


def _finite(value: float) -> float | None:
    """A number plotly can take, rounded to keep the page small; ``None`` leaves a gap."""
    if not math.isfinite(value):
        return None
    return float(f"{value:.{_SIGNIFICANT}g}")


def _layout(height: int, **extra: Any) -> dict[str, Any]:
    axis = {
        "gridcolor": "#e8ebf0",
        "linecolor": "#c9ced6",
        "zerolinecolor": "#c9ced6",
        "automargin": True,
    }
    layout: dict[str, Any] = {
        "height": height,
        "autosize": True,
        "font": {"family": FONT, "size": 12, "color": "#27303d"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "margin": {"l": 10, "r": 20, "t": 40, "b": 50, "pad": 4},
        "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "xanchor": "left"},
        "hoverlabel": {"font": {"family": FONT, "size": 12}, "namelength": -1},
        "xaxis": dict(axis),
        "yaxis": dict(axis),
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _figure(data: Iterable[Any], layout: dict[str, Any]) -> dict[str, Any]:
    """A figure as plotly.js takes it, checked against plotly's schema on the way."""
    # No template: plotly's default one would add 7 kB to every chart, and the layout sets
    # what the page needs.
    figure: dict[str, Any] = go.Figure(
        data=list(data), layout={**layout, "template": "none"}
    ).to_plotly_json()
    figure["layout"].pop("template", None)
    return {"data": figure["data"], "layout": figure["layout"]}


def _row_axis(ticktext: Sequence[str]) -> dict[str, Any]:
    """A vertical axis of rows, first on top, labelled with ``ticktext`` (escaped already)."""
    return {
        "tickmode": "array",
        "tickvals": list(range(len(ticktext))),
        "ticktext": list(ticktext),
        "range": [len(ticktext) - 0.5, -0.5],
        "autorange": False,
        "showline": False,
        "showgrid": False,
        "fixedrange": True,
        "zeroline": False,
        "ticklen": 0,
    }


def _outcome_figure(rows: Sequence[OperationStats], labels: Sequence[str]) -> dict[str, Any]:
    height = _CHART_MARGIN_PIXELS + _ROW_PIXELS * len(rows)
    bars = [
        go.Bar(
            name=outcome,
            orientation="h",
            y=list(range(len(rows))),
            width=0.66,
            x=[_finite(row.shares.get(outcome, 0.0) * 100) for row in rows],
            marker={"color": OUTCOME_COLOURS[outcome], "line": {"width": 0}},
            customdata=[
                [_p(label), f"{row.outcomes.get(outcome, 0):,}", f"{row.calls:,}"]
                for label, row in zip(labels, rows, strict=True)
            ],
            hovertemplate="%{customdata[0]}<br><b>"
            + outcome
            + "</b>: %{x:.2f}% (%{customdata[1]} of %{customdata[2]} calls)<extra></extra>",
        )
        for outcome in OUTCOMES
    ]
    return _figure(
        bars,
        _layout(
            height,
            barmode="stack",
            xaxis={"ticksuffix": "%", "rangemode": "tozero", "title": {"text": "share of calls"}},
            yaxis=_row_axis([_p(_short(label)) for label in labels]),
            legend={"traceorder": "normal"},
        ),
    )


class _FailureBar(NamedTuple):
    """One bar of the failure-mode chart."""

    operation: str
    failure: str
    kind: str
    """``declared``, ``undeclared`` or ``exception``: the key of its colour."""
    rate: float
    detail: str
    """The hover text, escaped for plotly."""
    text: str
    """The label beside the bar, escaped for plotly."""


def _failure_bars(rows: Sequence[OperationStats], labels: Sequence[str]) -> list[_FailureBar]:
    bars = []
    for label, row in zip(labels, rows, strict=True):
        for mode in row.failure_modes:
            if mode.declared:
                kind, handling = "declared", mode.handling or "none declared"
            else:
                kind, handling = "undeclared", "none: undeclared"
            detail = (
                f"{kind} mode, handling: {_p(handling)}<br>"
                f"fired in {mode.calls:,} of {row.calls:,} calls, {mode.occurrences:,} times"
            )
            shown = _p(mode.handling) if mode.declared and mode.handling else kind
            text = f"{_format.percent(mode.rate)} · {shown}"
            bars.append(_FailureBar(label, mode.mode, kind, mode.rate, detail, text))
        for error in row.undeclared:
            detail = (
                "an exception no declared mode covers<br>"
                f"in {error.calls:,} of {row.calls:,} calls, {error.occurrences:,} times"
            )
            text = f"{_format.percent(error.rate)} · not declared"
            bars.append(_FailureBar(label, error.error_type, "exception", error.rate, detail, text))
    return bars


def _mode_figure(rows: Sequence[OperationStats], labels: Sequence[str]) -> dict[str, Any] | None:
    entries = _failure_bars(rows, labels)
    if not entries:
        return None
    # Two lines a row: the failure, and under it in grey the operation it happened in.
    ticks = [
        f"{_p(_short(entry.failure, _TICK_LENGTH))}<br>"
        f"<span style='color:#7a8494'>{_p(_short(entry.operation, _TICK_LENGTH))}</span>"
        for entry in entries
    ]
    names = {
        "declared": "declared mode",
        "undeclared": "undeclared mode",
        "exception": "undeclared exception",
    }
    bars = []
    for kind, name in names.items():
        chosen = [(i, entry) for i, entry in enumerate(entries) if entry.kind == kind]
        if not chosen:
            continue
        bars.append(
            go.Bar(
                name=name,
                orientation="h",
                y=[i for i, _ in chosen],
                # Each trace holds some rows only: without a width, plotly would size the
                # bars by the gaps between them.
                width=0.6,
                x=[_finite(entry.rate * 100) for _, entry in chosen],
                text=[entry.text for _, entry in chosen],
                textposition="outside",
                cliponaxis=False,
                marker={"color": MODE_COLOURS[kind], "line": {"width": 0}},
                customdata=[[_p(e.failure), _p(e.operation), e.detail] for _, e in chosen],
                hovertemplate=(
                    "<b>%{customdata[0]}</b> in %{customdata[1]}<br>%{customdata[2]}<extra></extra>"
                ),
            )
        )
    longest = max(max(entry.rate for entry in entries) * 100, 1e-9)
    return _figure(
        bars,
        _layout(
            _CHART_MARGIN_PIXELS + 2 * _ROW_PIXELS * len(entries),
            barmode="overlay",
            # Room on the right for the labels beside the longest bar.
            xaxis={
                "ticksuffix": "%",
                "range": [0, _finite(longest * 1.35)],
                "title": {"text": "share of the operation's calls"},
            },
            yaxis=_row_axis(ticks),
        ),
    )


def _tick(seconds: float) -> str:
    """A duration as an axis tick reads: ``100 µs``, ``1 ms``, ``2 s``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale * 0.999:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def _duration_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Log-axis ticks at 1, 2 and 5 of each decade around ``low`` to ``high`` seconds.

    Over more than three decades only the 1s are kept; plotly shows the ones in range.
    """
    steps = _NUMBER_DECADE if math.log10(high / low) <= 3 else (1.0,)  # noqa: PLR2004
    first, last = math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1
    values = [step * 10.0**exponent for exponent in range(first, last + 1) for step in steps]
    return values, [_tick(value) for value in values]


def _percentile_curve(row: OperationStats) -> tuple[list[float], list[float]]:
    """The operation's (percentile, seconds) points: the 21 quantiles, p99 put in its place."""
    quantiles = row.latency.quantiles
    steps = max(len(quantiles) - 1, 1)
    points = [(100 * i / steps, q) for i, q in enumerate(quantiles)]
    if points and all(percentile != 99 for percentile, _ in points):  # noqa: PLR2004
        below = max((q for percentile, q in points if percentile < 99), default=0.0)  # noqa: PLR2004
        p99 = min(max(row.latency.p99, below), row.latency.max)
        points = sorted([*points, (99.0, p99)])
    return [percentile for percentile, _ in points], [q for _, q in points]


def _latency_figure(rows: Sequence[OperationStats], labels: Sequence[str]) -> dict[str, Any]:
    positive = [q for row in rows for q in row.latency.quantiles if math.isfinite(q) and q > 0]
    log = bool(positive) and max(positive) / min(positive) >= _MIN_LOG_SPAN
    lines = []
    for index, (label, row) in enumerate(zip(labels, rows, strict=True)):
        percentiles, seconds = _percentile_curve(row)
        lines.append(
            go.Scatter(
                name=_p(_short(label)),
                # A log axis cannot show 0 s: those points are left out of the curve.
                x=[_finite(q) if (q > 0 or not log) else None for q in seconds],
                y=[round(percentile, 3) for percentile in percentiles],
                mode="lines+markers",
                line={"color": PALETTE[index % len(PALETTE)], "width": 2},
                marker={"size": 4},
                customdata=[
                    [_p(label), _format.duration(q) if math.isfinite(q) else _DASH] for q in seconds
                ],
                hovertemplate="%{customdata[0]}<br>p%{y}: <b>%{customdata[1]}</b><extra></extra>",
            )
        )
    xaxis: dict[str, Any] = {"title": {"text": "duration"}}
    if log:
        tickvals, ticktext = _duration_ticks(min(positive), max(positive))
        xaxis |= {"type": "log", "tickmode": "array", "tickvals": tickvals, "ticktext": ticktext}
    else:
        xaxis |= {"rangemode": "tozero", "ticksuffix": " s"}
    return _figure(
        lines,
        _layout(
            _LATENCY_PIXELS + _LEGEND_ROW_PIXELS * (len(rows) // 3),
            xaxis=xaxis,
            yaxis={
                "title": {"text": "percentile"},
                "range": [0, 101],
                "tickmode": "array",
                "tickvals": list(_PERCENTILE_TICKS),
                "ticktext": [f"p{p}" for p in _PERCENTILE_TICKS],
            },
            hovermode="closest",
        ),
    )


def _series_figure(series: Sequence[Series]) -> dict[str, Any] | None:
    active = [s for s in series if any(bucket.calls for bucket in s.buckets)]
    if not active:
        return None
    lines = []
    for index, one in enumerate(active):
        colour = PALETTE[index % len(PALETTE)]
        times = [_format.timestamp(bucket.start).removesuffix(" UTC") for bucket in one.buckets]
        for which, dash in (("not ok", "solid"), ("failed", "dot")):
            counts = [b.not_ok if which == "not ok" else b.failed for b in one.buckets]
            lines.append(
                go.Scatter(
                    name=f"{_p(_short(one.agent, 32))} · {which}",
                    legendgroup=f"agent-{index}",
                    x=times,
                    y=[
                        _finite(100 * count / bucket.calls) if bucket.calls else None
                        for count, bucket in zip(counts, one.buckets, strict=True)
                    ],
                    mode="lines+markers",
                    connectgaps=False,
                    line={"color": colour, "width": 2, "dash": dash},
                    marker={"size": 5},
                    customdata=[
                        [f"{c:,}", f"{b.calls:,}"] for c, b in zip(counts, one.buckets, strict=True)
                    ],
                    hovertemplate="%{y:.2f}% (%{customdata[0]} of %{customdata[1]} calls)",
                )
            )
    bucket = _elapsed(active[0].bucket_seconds)
    return _figure(
        lines,
        _layout(
            _SERIES_PIXELS,
            xaxis={"type": "date", "title": {"text": f"time (UTC), {bucket} intervals"}},
            yaxis={"ticksuffix": "%", "rangemode": "tozero", "title": {"text": "share of calls"}},
            hovermode="x unified",
        ),
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


# Draws every chart, then flags the page (data-charts) so a browser test knows when to look.
_BOOT: Final = """
(function () {
  "use strict";
  var root = document.documentElement;
  var figures = JSON.parse(document.getElementById("agenttrace-figures").textContent);
  var config = {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
    toImageButtonOptions: {format: "png", scale: 2}
  };
  Promise.all(figures.map(function (figure) {
    return Plotly.newPlot(figure.id, figure.data, figure.layout, config);
  })).then(function () {
    root.dataset.charts = "drawn";
  }, function (error) {
    root.dataset.charts = "failed";
    console.error("agenttrace: a chart could not be drawn:", error);
  });
})();
"""

_CSS: Final = """
:root {
  --ink: #1d2530; --muted: #6b7585; --line: #e3e7ed; --soft: #f5f7fa; --accent: #3b5b8c;
  --good: #2e9e6b; --warn: #b7791f;
  font-family: FONT_STACK;
  color: var(--ink); background: var(--soft);
  -webkit-text-size-adjust: 100%;
}
* { box-sizing: border-box; }
body { margin: 0; line-height: 1.45; font-size: 14px; }
main { max-width: 1280px; margin: 0 auto; padding: 28px clamp(12px, 3vw, 36px) 40px; }
header, section {
  background: #fff; border: 1px solid var(--line); border-radius: 10px;
  padding: 20px 24px; margin-bottom: 20px;
}
.brand {
  font-size: 12px; font-weight: 600; letter-spacing: .08em; text-transform: uppercase;
  color: var(--accent);
}
h1 { font-size: 26px; margin: 2px 0 4px; letter-spacing: -.01em; }
h2 { font-size: 18px; margin: 0 0 4px; }
.range { margin: 0; font-size: 15px; font-variant-numeric: tabular-nums; }
.meta, .lede { margin: 2px 0 14px; color: var(--muted); }
.lede { max-width: 80ch; }
.tiles {
  display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr));
  margin-top: 14px;
}
.tile { background: var(--soft); border-radius: 8px; padding: 10px 14px; }
.tile-label { font-size: 12px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .04em; }
.tile-value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile-note { font-size: 12px; color: var(--muted); }
.tile.warn { background: #fdf3e1; }
.tile.warn .tile-value { color: var(--warn); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 8px; text-align: left; vertical-align: top; white-space: nowrap; }
table.ops { font-size: 13px; }
thead th {
  font-size: 12px; font-weight: 600; color: var(--muted); border-bottom: 2px solid var(--line);
  vertical-align: bottom;
}
tbody td { border-bottom: 1px solid var(--line); }
tbody tr:not(.group):hover td { background: #f8fafc; }
tr.group th {
  background: var(--soft); font-size: 13px; padding-top: 8px; border-bottom: 1px solid var(--line);
}

table.ops .name { position: sticky; left: 0; background: #fff; }
.op { display: block; max-width: 30ch; white-space: normal; overflow-wrap: anywhere;
  font-weight: 500; }
table.ops .kind { margin-top: 2px; }
.num { text-align: right; }
.sub { display: block; font-size: 11px; color: var(--muted); font-weight: 400; }
.muted { color: var(--muted); }
.good { color: var(--good); font-weight: 600; }
.dot {
  display: inline-block; width: 9px; height: 9px; border-radius: 2px; margin-right: 5px;
  vertical-align: baseline;
}
.kind {
  display: inline-block; font-size: 11px; padding: 1px 7px; border-radius: 999px;
  background: #eef1f5; color: #4a5568;
}
.kind-agent { background: #e6edf8; color: #2f4f86; }
.kind-tool { background: #ecf6f0; color: #2d6a4f; }
.kind-model_call { background: #f3ecfa; color: #6b3fa0; }
.chart { width: 100%; min-height: 160px; }
.empty { color: var(--muted); font-style: italic; }
details { margin-top: 10px; }
summary { cursor: pointer; color: var(--accent); }
table.modes td { border-bottom: 1px solid var(--line); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.inputs-grid { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 24px; }
.sources { margin: 0; padding-left: 18px; overflow-wrap: anywhere; }
dl { display: grid; grid-template-columns: auto auto; gap: 2px 18px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; }
.problems { font-size: 13px; overflow-wrap: anywhere; }
.nothing { border-left: 4px solid var(--warn); }
footer { color: var(--muted); font-size: 12px; text-align: center; }
@media (max-width: 640px) { .inputs-grid { grid-template-columns: 1fr; } }
""".replace("FONT_STACK", FONT)
