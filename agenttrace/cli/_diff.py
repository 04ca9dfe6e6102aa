"""``agenttrace diff BASE NEW``: which failure rates changed, and which changes are not noise.

Each side is a saved report (``agenttrace report --json > base.json``) or trace input (a file,
directory, glob or ``-``). For every operation present in both, every rate that is bad when
it goes up is compared: calls that failed their first try, each outcome other than ``ok``,
each failure mode, each undeclared exception class and each model-behaviour detector. Each
comparison is Fisher's exact test on the two sides' counts; since many rates are compared at
once, the p-values are adjusted with Benjamini-Hochberg before they are held against
``alpha``, so a diff of a hundred rates does not raise five false alarms.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agenttrace.exceptions import ConfigurationError

from . import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from ._model import SCHEMA_VERSION, Report, _Frozen
from ._read import GZIP_MAGIC, STDIN, read_report
from ._stats import adjust, fisher

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ._model import OperationStats

Verdict = Literal["worse", "better", "unchanged"]
OUTPUTS: Final = ("table", "json", "markdown")
FIRST_TRY_FAILURE: Final = "first_try_failure"
"""The rate of calls whose outcome was not ``ok``: they met a failure on their first try."""
BAD_OUTCOMES: Final = ("recovered", "degraded", "escalated", "failed")
_RANK: Final[dict[str, int]] = {"worse": 0, "unchanged": 1, "better": 2}
# A change computed as a difference of two fractions can land a hair under a threshold it
# meets exactly (0.08 - 0.02 < 0.06 in binary floating point).
_EPSILON: Final = 1e-12


class Proportion(_Frozen):
    """``count`` of ``calls``, and their ratio."""

    count: int
    calls: int
    rate: float


class RateChange(_Frozen):
    """One rate of one operation, in the base and in the new report."""

    agent: str
    operation: str
    rate: str
    """``first_try_failure``, an outcome (``failed``…), ``mode:<name>``,
    ``undeclared:<error.type>`` or ``detector:<name>``."""
    base: Proportion
    new: Proportion
    change: float
    """``new.rate - base.rate``: positive is worse."""
    p_value: float
    """Two-sided p-value of Fisher's exact test."""
    adjusted_p_value: float
    """``p_value`` adjusted (Benjamini-Hochberg) for every rate compared in the diff."""
    verdict: Verdict


class OperationRef(_Frozen):
    """An operation that only one side ran."""

    agent: str
    operation: str
    calls: int


class Diff(_Frozen):
    """What changed between two reports."""

    alpha: float
    """Adjusted p-values below this are significant."""
    min_change: float
    """The smallest change in rate (a fraction) that counts as worse or better."""
    changes: list[RateChange]
    """Every rate compared: worse first (most significant first), then unchanged (largest
    rise first), then better."""
    only_in_base: list[OperationRef]
    only_in_new: list[OperationRef]
    regressions: int
    """Rates whose verdict is ``worse``."""
    improvements: int
    """Rates whose verdict is ``better``."""


def _counts(row: OperationStats) -> Iterator[tuple[str, int]]:
    """Each rate of ``row`` that is bad when it rises, as its name and count of calls."""
    yield FIRST_TRY_FAILURE, row.calls - row.first_try.successes
    for outcome in BAD_OUTCOMES:
        yield outcome, row.outcomes.get(outcome, 0)
    for mode in row.failure_modes:
        yield f"mode:{mode.mode}", mode.calls
    for undeclared in row.undeclared:
        yield f"undeclared:{undeclared.error_type}", undeclared.calls
    for detector, calls in row.detectors.items():
        yield f"detector:{detector}", calls


def _side(count: int, row: OperationStats) -> Proportion:
    return Proportion(count=count, calls=row.calls, rate=count / row.calls if row.calls else 0.0)


def _verdict(change: float, adjusted: float, alpha: float, min_change: float) -> Verdict:
    if adjusted >= alpha or abs(change) < min_change - _EPSILON or change == 0.0:
        return "unchanged"
    return "worse" if change > 0.0 else "better"


def _order(change: RateChange) -> tuple[int, float, float, str, str, str]:
    rank = _RANK[change.verdict]
    key = -change.change if change.verdict == "unchanged" else change.adjusted_p_value
    return rank, key, -abs(change.change), change.agent, change.operation, change.rate


def compare(base: Report, new: Report, *, alpha: float = 0.05, min_change: float = 0.0) -> Diff:
    """Compare every failure rate of the operations both reports ran.

    A rate is compared when either side counts at least one call in it: a rate that is zero
    on both sides cannot have changed, and counting it would only dilute the adjustment.
    The p-value of each is Fisher's exact test; because many rates are tested at once they
    are adjusted together (Benjamini-Hochberg). A rate is ``worse`` when it rose, its
    adjusted p-value is below ``alpha`` and it rose by at least ``min_change``; ``better``
    the other way round; otherwise ``unchanged``.

    Args:
        base: The report to compare against.
        new: The report under test.
        alpha: The significance level of the adjusted p-values.
        min_change: The smallest change in rate (a fraction, 0.01 is one percentage point)
            that counts, however significant: large samples make tiny changes significant.

    Example:
        >>> from agenttrace.cli._model import Report
        >>> empty = Report.model_validate(
        ...     {"agenttrace_version": "0", "generated_at": 0.0, "confidence": 0.95,
        ...      "inputs": {"sources": [], "lines": 0, "malformed_lines": 0, "problems": [],
        ...                 "foreign_lines": 0, "spans": 0, "operation_spans": 0,
        ...                 "attempt_spans": 0, "foreign_spans": 0, "filtered_spans": 0,
        ...                 "start": None, "end": None},
        ...      "agents": [], "series": []}
        ... )
        >>> compare(empty, empty).regressions
        0
    """
    base_rows = {(row.agent, row.operation): row for row in base.operations()}
    new_rows = {(row.agent, row.operation): row for row in new.operations()}
    compared: list[tuple[str, str, str, Proportion, Proportion, float]] = []
    for key, old in base_rows.items():
        if key not in new_rows:
            continue
        now = new_rows[key]
        before, after = dict(_counts(old)), dict(_counts(now))
        for rate in [*before, *(name for name in after if name not in before)]:
            bad_before, bad_after = before.get(rate, 0), after.get(rate, 0)
            if bad_before == 0 and bad_after == 0:
                continue
            p_value = min(fisher(bad_before, old.calls, bad_after, now.calls), 1.0)
            compared.append(
                (key[0], key[1], rate, _side(bad_before, old), _side(bad_after, now), p_value)
            )
    adjusted = adjust([item[5] for item in compared])
    changes = []
    for (agent, operation, rate, first, second, p_value), q_value in zip(
        compared, adjusted, strict=True
    ):
        change = second.rate - first.rate
        changes.append(
            RateChange(
                agent=agent,
                operation=operation,
                rate=rate,
                base=first,
                new=second,
                change=change,
                p_value=p_value,
                adjusted_p_value=min(q_value, 1.0),
                verdict=_verdict(change, q_value, alpha, min_change),
            )
        )
    changes.sort(key=_order)
    return Diff(
        alpha=alpha,
        min_change=min_change,
        changes=changes,
        only_in_base=[
            OperationRef(agent=agent, operation=operation, calls=row.calls)
            for (agent, operation), row in base_rows.items()
            if (agent, operation) not in new_rows
        ],
        only_in_new=[
            OperationRef(agent=agent, operation=operation, calls=row.calls)
            for (agent, operation), row in new_rows.items()
            if (agent, operation) not in base_rows
        ],
        regressions=sum(change.verdict == "worse" for change in changes),
        improvements=sum(change.verdict == "better" for change in changes),
    )


def _saved(path: Path) -> Report | None:
    """The report saved in ``path``, or ``None`` when it holds trace lines instead.

    A saved report is one JSON document (``agenttrace report --json``), on one line or
    indented over many; trace files are JSON lines of OTLP requests, perhaps gzip-compressed.
    Only the first line is read to tell them apart, so a large trace file costs nothing here.
    """
    with path.open("rb") as file:
        if file.read(2) == GZIP_MAGIC:
            return None
        file.seek(0)
        first = file.readline()
    head = first.strip()
    try:
        document = json.loads(path.read_bytes() if head == b"{" else head)
    except ValueError:
        return None
    if not isinstance(document, dict) or "agents" not in document:
        return None
    version = document.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ConfigurationError(
            f"{path}: a report of schema version {version}; this agenttrace reads version "
            f"{SCHEMA_VERSION} (make the report again with this version)"
        )
    try:
        return Report.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ConfigurationError(f"{path}: not a valid report ({where}: {error['msg']})") from None


def load(source: str, *, confidence: float = 0.95) -> Report:
    """One side of a diff: a saved report, or the report of trace input.

    Args:
        source: A saved report (``agenttrace report --json > base.json``), or what
            ``agenttrace report`` reads: a trace file, a directory, a glob, ``-`` for stdin.
        confidence: The confidence level of the intervals when reading trace input.

    Raises:
        ConfigurationError: The source names nothing, or a saved report that is not valid.
    """
    path = Path(source)
    if source != STDIN and path.is_file():
        try:
            saved = _saved(path)
        except OSError as exc:
            raise ConfigurationError(f"{source}: cannot read ({exc.strerror or exc})") from None
        if saved is not None:
            return saved
    return read_report([source], confidence=confidence)


def _percent(side: Proportion) -> str:
    return f"{side.rate:.2%} ({side.count}/{side.calls})"


def _points(change: float) -> str:
    return f"{change * 100:+.2f} pp"


def _p(value: float) -> str:
    return f"{value:.2g}"


def _shown(diff: Diff, show_all: bool) -> list[RateChange]:
    return [c for c in diff.changes if show_all or c.verdict != "unchanged"]


def summary(diff: Diff) -> str:
    """One line: how many rates were compared, how many got worse and how many better.

    Example:
        >>> empty = Diff(alpha=0.05, min_change=0.0, changes=[], only_in_base=[],
        ...              only_in_new=[], regressions=0, improvements=0)
        >>> summary(empty)
        '0 rates compared, 0 worse, 0 better (Fisher exact, Benjamini-Hochberg adjusted p < 0.05)'
    """
    threshold = f"adjusted p < {diff.alpha:g}"
    if diff.min_change > 0.0:
        threshold += f", change >= {diff.min_change * 100:g} pp"
    return (
        f"{len(diff.changes)} rates compared, {diff.regressions} worse, "
        f"{diff.improvements} better (Fisher exact, Benjamini-Hochberg {threshold})"
    )


def _only(diff: Diff) -> list[str]:
    lines = []
    for side, refs in (("base", diff.only_in_base), ("new", diff.only_in_new)):
        if refs:
            names = ", ".join(f"{r.agent}/{r.operation} ({r.calls} calls)" for r in refs)
            lines.append(f"only in {side}: {names}")
    return lines


_UNWRAPPED: Final = 1000
_STYLES: Final[dict[str, str]] = {"worse": "bold red", "better": "green", "unchanged": "dim"}


def render_table(diff: Diff, *, show_all: bool = False, console: Console | None = None) -> None:
    """Print the diff as a terminal table: by default only the rates that changed."""
    out = console or Console(highlight=False)
    if console is None and not out.is_terminal:
        # Piped to a file or a CI log: a row folded to 80 columns is unreadable there, and
        # nothing wraps the lines later, so each row keeps its natural width.
        out = Console(highlight=False, width=_UNWRAPPED)
    rows = _shown(diff, show_all)
    if rows:
        table = Table(box=None, pad_edge=False)
        for name in ("agent", "operation", "rate"):
            table.add_column(name, overflow="fold")
        for name in ("base", "new", "change", "adj. p"):
            table.add_column(name, justify="right", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        for change in rows:
            table.add_row(
                change.agent,
                change.operation,
                change.rate,
                _percent(change.base),
                _percent(change.new),
                _points(change.change),
                _p(change.adjusted_p_value),
                Text(change.verdict, style=_STYLES[change.verdict]),
            )
        out.print(table)
    out.print(summary(diff), markup=False)
    for line in _only(diff):
        out.print(line, markup=False)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(diff: Diff, *, show_all: bool = False) -> str:
    """The diff as Markdown, for a pull request comment: by default only the rates that changed.

    Example:
        >>> empty = Diff(alpha=0.05, min_change=0.0, changes=[], only_in_base=[],
        ...              only_in_new=[], regressions=0, improvements=0)
        >>> print(render_markdown(empty).splitlines()[0])
        **0 rates compared, 0 worse, 0 better** (Fisher exact, Benjamini-Hochberg adjusted p < 0.05)
    """
    head, _, tail = summary(diff).partition(" (")
    lines = [f"**{head}** ({tail}"]
    rows = _shown(diff, show_all)
    if rows:
        lines += [
            "",
            "| agent | operation | rate | base | new | change | p | adj. p | verdict |",
            "|---|---|---|--:|--:|--:|--:|--:|---|",
        ]
        lines += [
            "| "
            + " | ".join(
                [
                    _cell(c.agent),
                    _cell(c.operation),
                    f"`{_cell(c.rate)}`",
                    _percent(c.base),
                    _percent(c.new),
                    _points(c.change),
                    _p(c.p_value),
                    _p(c.adjusted_p_value),
                    f"**{c.verdict}**" if c.verdict == "worse" else c.verdict,
                ]
            )
            + " |"
            for c in rows
        ]
    only = _only(diff)
    if only:
        lines += ["", *(f"- {line}" for line in only)]
    return "\n".join(lines) + "\n"


def _check(
    base: str, new: str, alpha: float, min_change: float, output: str, confidence: float
) -> None:
    """Raise ``ConfigurationError`` for the first thing wrong with the command line, if any."""
    problems = [
        (not 0.0 < alpha < 1.0, f"--alpha must be between 0 and 1, not {alpha}"),
        (not 0.0 <= min_change <= 1.0, f"--min-change must be from 0 to 1, not {min_change}"),
        (not 0.0 < confidence < 1.0, f"confidence must be between 0 and 1, not {confidence}"),
        (output not in OUTPUTS, f"output must be one of {', '.join(OUTPUTS)}, not {output!r}"),
        (base == new == STDIN, "only one side can be read from stdin ('-')"),
    ]
    for wrong, message in problems:
        if wrong:
            raise ConfigurationError(message)


def _load_side(label: str, source: str, confidence: float) -> Report:
    """One side, loaded; its malformed lines said on stderr.

    Raises:
        ConfigurationError: It cannot be read, or holds no agenttrace operation: comparing with
            nothing would pass any gate, so it is a mistake rather than a result.
    """
    report = load(source, confidence=confidence)
    inputs = report.inputs
    if inputs.malformed_lines:
        first = inputs.problems[0] if inputs.problems else None
        where = f"; the first, {first.source}:{first.line}: {first.reason}" if first else ""
        print(  # noqa: T201 (a command's output)
            f"agenttrace: {label} {source}: {inputs.malformed_lines:,} malformed line(s) "
            f"skipped{where}",
            file=sys.stderr,
        )
    if not report.agents:
        raise ConfigurationError(f"{label} {source}: no agenttrace operations found")
    return report


def run_diff(
    base: str,
    new: str,
    *,
    alpha: float,
    min_change: float,
    fail_on_regression: bool,
    output: str,
    show_all: bool,
    confidence: float,
) -> int:
    """Print what changed from ``base`` to ``new``; the exit status.

    Returns:
        0, or 1 when ``fail_on_regression`` is set and some rate got significantly worse
        (a CI gate), or 2 when an input cannot be read or an option is out of range.
    """
    try:
        _check(base, new, alpha, min_change, output, confidence)
        before = _load_side("BASE", base, confidence)
        after = _load_side("NEW", new, confidence)
    except ConfigurationError as exc:
        print(f"agenttrace: {exc}", file=sys.stderr)  # noqa: T201 (a command's output)
        return EXIT_USAGE
    diff = compare(before, after, alpha=alpha, min_change=min_change)
    if output == "json":
        sys.stdout.write(diff.model_dump_json(indent=2) + "\n")
    elif output == "markdown":
        sys.stdout.write(render_markdown(diff, show_all=show_all))
    else:
        render_table(diff, show_all=show_all)
    return EXIT_FAILED if fail_on_regression and diff.regressions else EXIT_OK
