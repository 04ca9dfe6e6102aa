"""The report's charts as Plotly figures: outcomes, failure modes, latency, failure rate.

Each builder returns a figure as plain data (``data`` and ``layout``) that the page hands to
plotly.js. Names from the traces reach Plotly's labels escaped (``_p``): Plotly
reads a little HTML in them.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import plotly.graph_objects as go

from . import _format
from ._model import OUTCOMES

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ._model import OperationStats, Series


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


def _p(text: object) -> str:
    """``text`` for a plotly label, to be shown as it is.

    plotly reads ``<b>``-like tags and a few entities (``&lt;``, not ``&quot;``) in labels:
    escaping ``&``, ``<`` and ``>`` is what keeps a name from being read as markup.
    """
    return html.escape(str(text), quote=False)


def _short(text: str, length: int = _LABEL_LENGTH) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


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


def outcome_figure(rows: Sequence[OperationStats], labels: Sequence[str]) -> dict[str, Any]:
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


def mode_figure(rows: Sequence[OperationStats], labels: Sequence[str]) -> dict[str, Any] | None:
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


def latency_figure(rows: Sequence[OperationStats], labels: Sequence[str]) -> dict[str, Any]:
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
                    [_p(label), _format.duration(q) if math.isfinite(q) else _format.DASH]
                    for q in seconds
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


def series_figure(series: Sequence[Series]) -> dict[str, Any] | None:
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
    bucket = _format.elapsed(active[0].bucket_seconds)
    return _figure(
        lines,
        _layout(
            _SERIES_PIXELS,
            xaxis={"type": "date", "title": {"text": f"time (UTC), {bucket} intervals"}},
            yaxis={"ticksuffix": "%", "rangemode": "tozero", "title": {"text": "share of calls"}},
            hovermode="x unified",
        ),
    )
