"""The HTML report: one self-contained page, names escaped, edge cases, drawn in a browser."""

from __future__ import annotations

import json
import math
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from agenttrace.cli import _stats
from agenttrace.cli._html import render_html
from agenttrace.cli._model import (
    OUTCOMES,
    AgentReport,
    FailureModeStats,
    FirstTry,
    Inputs,
    Interval,
    Latency,
    NinesInterval,
    OperationStats,
    Report,
    Series,
    TimeBucket,
    Tokens,
    UndeclaredStats,
)
from agenttrace.cli._read import read_report
from tests import browser
from tests.tracegen import Call, Fail, TraceFile

HOSTILE = "<script>alert('op')</script>"
HOSTILE_AGENT = '<img src=x onerror="alert(1)">'
HOSTILE_MODE = "</script><script>alert(2)</script>"
START = 1_790_000_000.0


# --- reports by hand ---------------------------------------------------------------------


def latency(median: float = 0.05) -> Latency:
    quantiles = [median * (0.2 + 1.6 * i / 20) for i in range(21)]
    return Latency(
        p50=quantiles[10],
        p95=quantiles[19],
        p99=quantiles[20] * 0.99,
        mean=median,
        max=quantiles[20],
        quantiles=quantiles,
    )


def operation(
    name: str = "lookup",
    *,
    agent: str = "support",
    kind: str = "tool",
    outcomes: dict[str, int] | None = None,
    modes: tuple[FailureModeStats, ...] = (),
    undeclared: tuple[UndeclaredStats, ...] = (),
    tokens: Tokens | None = None,
    first_try: FirstTry | None = None,
    duration: Latency | None = None,
) -> OperationStats:
    counts = dict.fromkeys(OUTCOMES, 0) | (outcomes or {"ok": 100})
    calls = sum(counts.values())
    return OperationStats(
        agent=agent,
        operation=name,
        kind=kind,
        calls=calls,
        outcomes=counts,
        shares={outcome: count / calls for outcome, count in counts.items()},
        first_try=first_try or _stats.first_try(counts["ok"], calls, 0.95),
        failure_modes=list(modes),
        undeclared=list(undeclared),
        served_by=[],
        retries=0,
        retries_per_call=0.0,
        latency=duration or latency(),
        tokens=tokens,
        detectors={},
    )


def mode(name: str, calls: int, of: int, *, declared: bool = True) -> FailureModeStats:
    return FailureModeStats(
        mode=name,
        declared=declared,
        handling="retry" if declared else None,
        calls=calls,
        occurrences=calls,
        rate=calls / of,
    )


def report(*rows: OperationStats, series: tuple[Series, ...] = ()) -> Report:
    agents: dict[str, list[OperationStats]] = {}
    for row in rows:
        agents.setdefault(row.agent, []).append(row)
    return Report(
        agenttrace_version="0.0.test",
        generated_at=START + 3600,
        confidence=0.95,
        inputs=Inputs(
            sources=["traces.jsonl"],
            lines=10,
            malformed_lines=0,
            problems=[],
            foreign_lines=0,
            spans=sum(row.calls for row in rows),
            operation_spans=sum(row.calls for row in rows),
            attempt_spans=0,
            foreign_spans=0,
            filtered_spans=0,
            start=START if rows else None,
            end=START + 600 if rows else None,
        ),
        agents=[
            AgentReport(agent=agent, runs=ops[0].calls, operations=ops)
            for agent, ops in agents.items()
        ],
        series=list(series),
    )


def series(agent: str = "support") -> Series:
    return Series(
        agent=agent,
        bucket_seconds=60.0,
        buckets=[
            TimeBucket(start=START + 60 * i, calls=10, not_ok=i % 3, failed=i % 2)
            for i in range(10)
        ],
    )


def typical() -> Report:
    """Two agents, failures of every sort, tokens, a time series."""
    return report(
        operation("support", kind="agent", outcomes={"ok": 90, "degraded": 10}),
        operation(
            "search",
            outcomes={"ok": 95, "recovered": 3, "failed": 2},
            modes=(mode("timeout", 3, 100),),
            undeclared=(UndeclaredStats(error_type="KeyError", calls=2, occurrences=2, rate=0.02),),
        ),
        operation(
            "chat",
            kind="model_call",
            outcomes={"ok": 97, "escalated": 1, "degraded": 2},
            modes=(mode("refusal", 1, 100), mode("bad_json", 2, 100, declared=False)),
            tokens=Tokens(input=120_000, output=30_000, calls_reporting=100),
            duration=latency(1.2),
        ),
        operation("classify", agent="triage", kind="model_call"),
        series=(series("support"), series("triage")),
    )


# --- reading the page back ------------------------------------------------------------------


class Page(HTMLParser):
    """The elements of a page, its text, and what it would fetch."""

    FETCHING = frozenset({"src", "href", "srcset", "poster", "data", "action", "background"})

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.references: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self.chart_ids: list[str] = []
        self._in: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        self.references += [value or "" for name, value in attrs if name in self.FETCHING]
        if tag == "script":
            self.scripts.append(values)
        if "data-chart" in values:
            self.chart_ids.append(values["id"] or "")
        if "style" in values:
            self.styles.append(values["style"] or "")
        self._in = tag

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.styles.append(data)
        elif self._in != "script":
            self.text.append(data)


def figures(page: str) -> list[dict[str, object]]:
    """The charts' JSON block, read as strictly as a browser's JSON.parse reads it."""
    found = re.search(
        r'<script type="application/json" id="agenttrace-figures">(.*?)</script>', page
    )
    assert found is not None

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(found.group(1), parse_constant=refuse)


# --- self-contained ------------------------------------------------------------------------


def test_page_fetches_nothing():
    """No element of the page refers to anything to fetch: no src, no href, no url()."""
    page = Page(render_html(typical()))
    styles = "\n".join(page.styles)

    assert [] == page.references
    assert [] == re.findall(r"url\(|@import", styles)
    assert [] == [tag for tag in page.tags if tag in {"link", "img", "iframe", "object"}]


def test_plotly_is_inlined_once():
    """plotly.js is in the page, once, and no script is loaded from elsewhere."""
    text = render_html(typical())
    page = Page(text)

    assert 1 == len(re.findall(r"\* plotly\.js v\d", text))
    assert [None, None, None] == [script.get("src") for script in page.scripts]


def test_every_chart_has_its_figure():
    """Each chart container on the page has a figure in the JSON block, and the reverse."""
    text = render_html(typical())

    expected = ["chart-outcomes", "chart-failure-modes", "chart-latency", "chart-failure-rate"]
    assert expected == Page(text).chart_ids
    assert expected == [figure["id"] for figure in figures(text)]


# --- escaping -----------------------------------------------------------------------------


def hostile() -> Report:
    return report(
        operation(
            HOSTILE,
            agent=HOSTILE_AGENT,
            outcomes={"ok": 9, "failed": 1},
            modes=(mode(HOSTILE_MODE, 1, 10),),
            undeclared=(
                UndeclaredStats(error_type="<b>Err&or</b>", calls=1, occurrences=1, rate=0.1),
            ),
        ),
        series=(series(HOSTILE_AGENT),),
    )


def test_hostile_names_add_no_element():
    """Names full of markup add no element to the page: three scripts, no img, no b."""
    page = Page(render_html(hostile()))

    assert 3 == len(page.scripts)
    assert [] == [tag for tag in page.tags if tag in {"img", "b"}]
    assert [] == page.references


def test_hostile_names_read_as_text():
    """The table shows a hostile operation name as the text it is."""
    text = "".join(Page(render_html(hostile())).text)

    assert HOSTILE in text
    assert HOSTILE_AGENT in text
    assert HOSTILE_MODE in text


def test_hostile_names_in_charts_are_escaped_for_plotly():
    """Chart labels carry names with &, < and > escaped, which plotly shows literally."""
    outcomes = figures(render_html(hostile()))[0]

    assert ["&lt;script&gt;alert('op')&lt;/script&gt;"] == outcomes["layout"]["yaxis"]["ticktext"]


def test_script_block_cannot_be_closed_by_a_name():
    """No name can end the JSON block early: it holds no '<' at all."""
    text = render_html(hostile())
    block = re.search(r'id="agenttrace-figures">(.*?)</script>', text)

    assert block is not None
    assert "<" not in block.group(1)
    assert "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in json.dumps(figures(text))


# --- edge cases ---------------------------------------------------------------------------


def test_no_operations_says_so():
    """Without agenttrace spans the page says so, and has no chart and no plotly.js."""
    text = render_html(report())
    page = Page(text)

    assert "No agenttrace spans found" in "".join(page.text)
    assert [] == page.chart_ids
    assert [] == page.scripts
    assert 'data-charts="none"' in text


def test_no_failures_leaves_out_the_failure_mode_chart():
    """When nothing failed, the failure-mode chart gives way to a sentence."""
    text = render_html(report(operation("a"), operation("b"), series=(series(),)))

    assert ["chart-outcomes", "chart-latency", "chart-failure-rate"] == Page(text).chart_ids
    assert "No failure mode fired and no exception was recorded." in text


def test_all_succeeded_shows_the_lower_bound_in_nines():
    """With every call ok, the nines cell says so and gives the interval's low end."""
    row = operation(outcomes={"ok": 300})
    text = "".join(Page(render_html(report(row))).text)

    low = row.first_try.nines_interval.low
    assert row.first_try.nines_interval.high is None
    assert f"all 300 ok≥ {low:.2g} at 95%" in text


def test_missing_tokens_show_a_dash():
    """An operation without token usage shows a dash, not zero."""
    text = render_html(report(operation(tokens=None)))

    assert '<td class="num muted">\u2013</td></tr>' in text


def test_non_finite_numbers_stay_out_of_the_json():
    """Infinite and NaN figures become gaps: the chart data is still strict JSON."""
    odd = Latency(
        p50=math.nan,
        p95=math.inf,
        p99=math.inf,
        mean=math.nan,
        max=math.inf,
        quantiles=[0.0, *([math.nan] * 19), math.inf],
    )
    first = FirstTry(
        successes=10,
        calls=10,
        rate=1.0,
        interval=Interval(low=0.7, high=1.0),
        nines=None,
        nines_interval=NinesInterval(low=math.inf, high=None),
    )
    text = render_html(report(operation(duration=odd, first_try=first, outcomes={"ok": 10})))

    latency_figure = figures(text)[1]
    assert [0.0] + [None] * 21 == latency_figure["data"][0]["x"]


# --- in a browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    """The installed Chromium; the browser tests skip without it, unless it is required."""
    found = browser.chromium_path()
    if found is None:
        message = f"Chromium is not installed; {' '.join(browser.INSTALL)}"
        if browser.browser_required():
            pytest.fail(f"{message} ({browser.REQUIRED_VARIABLE}=1)")
        pytest.skip(message)
    return found


def traced_report(tmp_path: Path) -> Report:
    """A report read from a trace file: two agents, failures of each sort, five minutes."""
    traces = TraceFile(gap_ns=500_000_000)
    for i in range(600):
        search = Call("search", kind="tool", duration=0.05 + (i % 7) / 100)
        if i % 20 == 0:
            search = Call(
                "search",
                kind="tool",
                outcome="recovered",
                failures=[Fail("timeout", handling="retry")],
                retries=1,
            )
        chat = Call(
            "chat <b>x</b>", kind="model_call", tokens=(900, 200), duration=0.8 + i % 5 / 10
        )
        if i % 25 == 3:
            chat = Call(
                "chat <b>x</b>",
                kind="model_call",
                outcome="failed",
                failures=[Fail(None, declared=False, error_type="ValueError")],
                error_type="ValueError",
            )
        traces.run("support", [search, chat])
        if i % 4 == 0:
            traces.run("triage", [Call("classify", kind="model_call", duration=0.3)])
    return read_report([str(traces.write(tmp_path / "traces.jsonl"))])


def png_size(data: bytes) -> tuple[int, int]:
    assert b"\x89PNG\r\n\x1a\n" == data[:8]
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_browser_draws_every_chart(tmp_path, chromium):
    """In Chromium the page draws every chart, logs no error and screenshots as a tall PNG."""
    page, png = tmp_path / "report.html", tmp_path / "report.png"
    page.write_text(render_html(traced_report(tmp_path)), encoding="utf-8")

    rendering = browser.render(page, png, width=1280, chromium=chromium)

    assert [] == rendering.problems()
    assert [
        ("chart-outcomes", True),
        ("chart-failure-modes", True),
        ("chart-latency", True),
        ("chart-failure-rate", True),
    ] == [(chart.id, chart.drawn) for chart in rendering.charts]
    width, height = png_size(png.read_bytes())
    assert 1280 == width
    assert height > 2000
    assert png.stat().st_size > 100_000


def test_browser_check_catches_a_broken_page(tmp_path, chromium):
    """A script error, a fetch from elsewhere and an empty chart are each reported."""
    text = render_html(typical())
    # One chart loses its data, a script throws, an image is fetched from the network.
    text = text.replace('"id":"chart-latency","data":[', '"id":"chart-latency","data":[],"x":[', 1)
    text = text.replace(
        "</body>",
        '<img src="https://example.invalid/x.png">'
        "<script>throw new Error('broken on purpose')</script></body>",
    )
    page = tmp_path / "broken.html"
    page.write_text(text, encoding="utf-8")

    problems = browser.screenshot(page, tmp_path / "broken.png", chromium=chromium)

    kinds = {problem.split(":")[0] for problem in problems}
    assert {"console error", "page error", "chart not drawn"} == kinds
    assert any("broken on purpose" in problem for problem in problems)
    assert any("chart-latency" in problem for problem in problems)
