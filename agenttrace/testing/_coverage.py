"""Failure-mode coverage for a pytest session: which declared failure modes the tests drove.

A declared failure mode is *exercised* when it fired and was handled as declared, as
agenttrace's own events show: ``retry`` by a retry whose reason is the mode; ``fallback`` by
the next fallback starting (a fallback, or an escalation when the next in the chain is a
:func:`~agenttrace.human` hand-off); ``escalate`` by an escalation; ``accept`` and
``abort`` by the failure itself. At the end of the session a table lists every declared
``(operation, mode, handling)``, how many times it was exercised (``MISSED`` for none), and
the share exercised::

    pytest --agenttrace-cov=examples --agenttrace-fail-under=80

Options (group ``agenttrace``):

- ``--agenttrace-cov[=PREFIX]`` turns coverage on. With ``PREFIX`` (a dotted module name,
  written with ``=``), only operations whose decorated function's qualified name is
  ``PREFIX`` or starts with ``PREFIX.`` count: ``examples`` takes
  ``examples.support_agent.classify``, not ``examples_old.classify``. Repeat it for several
  prefixes; the bare flag alone counts every operation.
- ``--agenttrace-fail-under=PCT`` (0 to 100) turns coverage on and fails a run that
  otherwise passed (exit code 1) when the share exercised, rounded to one decimal as
  printed, is below ``PCT``.
- ``--agenttrace-cov-json=PATH`` turns coverage on and writes the report as JSON to
  ``PATH`` (its directories made as needed); a report that cannot be written fails the
  run too.

The declared set is :func:`~agenttrace.contracts` at the end of the session (a model call's
detector modes included). Under pytest-xdist each worker counts its own tests and the
controller reports the union, the same table as a serial run.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from agenttrace._contracts import contracts
from agenttrace._inject import observe

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

KEY: Final = "agenttrace_coverage"
"""Where an xdist worker puts its counts, in its ``workeroutput``."""

Mode = tuple[str, str, str]
"""``(operation, mode, handling)``: one declared failure mode."""

_MOVES: Final = {
    "agenttrace.retry": "retry",
    "agenttrace.fallback": "fallback",
    "agenttrace.escalation": "escalation",
}
_KEPT: Final = frozenset({"accept", "abort"})
_SHOWN_BY: Final[Mapping[str, tuple[str, ...]]] = {
    # Which events show that a mode was handled as declared. ``fallback`` runs the next
    # fallback, whatever it is: an escalation when that one is a human hand-off.
    "retry": ("retry",),
    "fallback": ("fallback", "escalation"),
    "escalate": ("escalation",),
    "accept": ("accept",),
    "abort": ("abort",),
}
_PREFIX: Final = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _prefix(value: str) -> str:
    value = value.strip()
    if value and not _PREFIX.fullmatch(value):
        msg = (
            f"{value!r} is not a module prefix (a dotted name such as 'examples'); write "
            "--agenttrace-cov=PREFIX, or give the bare flag after the paths to test"
        )
        raise argparse.ArgumentTypeError(msg)
    return value


def _percent(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number <= 100.0:  # noqa: PLR2004 (a percentage)
        msg = f"{value!r} is not a percentage from 0 to 100"
        raise argparse.ArgumentTypeError(msg)
    return number


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--agenttrace-cov``, ``--agenttrace-fail-under`` and ``--agenttrace-cov-json``."""
    group = parser.getgroup("agenttrace")
    group.addoption(
        "--agenttrace-cov",
        action="append",
        nargs="?",
        const="",
        type=_prefix,
        metavar="PREFIX",
        dest="agenttrace_cov",
        help="report which declared failure modes the tests exercised; with =PREFIX, only "
        "operations whose function's qualified name is PREFIX or starts with 'PREFIX.' "
        "(repeat for several prefixes)",
    )
    group.addoption(
        "--agenttrace-fail-under",
        type=_percent,
        metavar="PCT",
        dest="agenttrace_fail_under",
        help="fail the run when less than PCT %% (0-100) of the declared failure modes "
        "were exercised; implies --agenttrace-cov",
    )
    group.addoption(
        "--agenttrace-cov-json",
        metavar="PATH",
        dest="agenttrace_cov_json",
        help="write the failure-mode coverage report to PATH as JSON; implies --agenttrace-cov",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Start counting when coverage is asked for."""
    option = config.option
    given: list[str] | None = option.agenttrace_cov
    fail_under: float | None = option.agenttrace_fail_under
    path: str | None = option.agenttrace_cov_json
    if given is None and fail_under is None and path is None:
        return
    prefixes = tuple(sorted({prefix for prefix in given or () if prefix}))
    config.pluginmanager.register(Coverage(prefixes, fail_under, path), "agenttrace-coverage")


def matches(function: str | None, prefixes: tuple[str, ...]) -> bool:
    """Whether an operation's qualified ``function`` is under one of ``prefixes``.

    Example:
        >>> matches("examples.support_agent.classify", ("examples",))
        True
        >>> matches("examples_old.classify", ("examples",))
        False
    """
    if not prefixes:
        return True
    if function is None:
        return False
    return any(function == prefix or function.startswith(f"{prefix}.") for prefix in prefixes)


@dataclass(frozen=True)
class Row:
    """One declared failure mode and how many times the tests exercised it."""

    operation: str
    mode: str
    handling: str
    function: str | None
    exercised: int

    def as_json(self) -> dict[str, object]:
        """The row as it is in the JSON report."""
        return {
            "operation": self.operation,
            "function": self.function,
            "mode": self.mode,
            "handling": self.handling,
            "exercised": self.exercised,
        }


@dataclass(frozen=True)
class Report:
    """The coverage of one session: a row per declared failure mode, and the verdict."""

    rows: tuple[Row, ...]
    prefixes: tuple[str, ...]
    fail_under: float | None

    @classmethod
    def of(
        cls,
        declared: Mapping[Mode, str | None],
        events: Mapping[Mode, int],
        prefixes: tuple[str, ...],
        fail_under: float | None,
    ) -> Report:
        """Match the ``events`` counted against the ``declared`` modes."""
        rows = tuple(
            Row(
                operation,
                mode,
                handling,
                function,
                sum(events.get((operation, mode, shown), 0) for shown in _SHOWN_BY[handling]),
            )
            for (operation, mode, handling), function in sorted(declared.items())
        )
        return cls(rows, prefixes, fail_under)

    @property
    def covered(self) -> int:
        """How many declared modes were exercised at least once."""
        return sum(1 for row in self.rows if row.exercised)

    @property
    def percent(self) -> float:
        """The share exercised, rounded to one decimal; 100.0 when nothing is declared."""
        if not self.rows:
            return 100.0
        return round(100 * self.covered / len(self.rows), 1)

    @property
    def passed(self) -> bool:
        """Whether the share reaches ``--agenttrace-fail-under`` (true without one).

        With a threshold, a session that declares nothing to cover fails: a gate that
        checks nothing (a prefix that matches no operation, say) must not pass.
        """
        if self.fail_under is None:
            return True
        return bool(self.rows) and self.percent >= self.fail_under

    def as_json(self) -> dict[str, object]:
        """The JSON report."""
        return {
            "version": 1,
            "totals": {
                "declared": len(self.rows),
                "covered": self.covered,
                "percent": self.percent,
            },
            "prefixes": list(self.prefixes),
            "fail_under": self.fail_under,
            "passed": self.passed,
            "modes": [row.as_json() for row in self.rows],
        }

    def table(self) -> list[str]:
        """The table's lines, without the coverage line."""
        if not self.rows:
            under = f" under {', '.join(self.prefixes)}" if self.prefixes else ""
            return [f"no operation{under} declares a failure mode"]
        header = ("operation", "mode", "handling", "exercised")
        cells = [(row.operation, row.mode, row.handling, str(row.exercised)) for row in self.rows]
        op, mode, how, count = (max(len(line[i]) for line in [header, *cells]) for i in range(4))
        lines = [
            f"{line[0]:<{op}}  {line[1]:<{mode}}  {line[2]:<{how}}  {line[3]:>{count}}"
            for line in [header, *cells]
        ]
        for index, row in enumerate(self.rows, start=1):
            if not row.exercised:
                lines[index] += "  MISSED"
        return lines

    @property
    def summary(self) -> str:
        """``failure-mode coverage: X of Y (Z %)``."""
        return f"failure-mode coverage: {self.covered} of {len(self.rows)} ({self.percent} %)"

    @property
    def verdict(self) -> str | None:
        """What ``--agenttrace-fail-under`` decided, when it is given."""
        if self.fail_under is None:
            return None
        if self.passed:
            return f"required failure-mode coverage of {self.fail_under} % reached"
        if not self.rows:
            return (
                f"FAIL required failure-mode coverage of {self.fail_under} %: no declared "
                "failure mode to cover"
            )
        return (
            f"FAIL required failure-mode coverage of {self.fail_under} % not reached: "
            f"{self.percent} %"
        )


def _first(function: str | None, known: str | None) -> bool:
    # Several functions may declare one (operation, mode, handling): the report names the
    # first by name, so serial and xdist runs name the same one.
    return function is not None and (known is None or function < known)


class Coverage:
    """The plugin while coverage is on: counts events, merges workers, reports."""

    def __init__(
        self, prefixes: tuple[str, ...], fail_under: float | None, path: str | None
    ) -> None:
        self.prefixes = prefixes
        self.fail_under = fail_under
        self.path = path
        self.lock = threading.Lock()
        self.events: Counter[Mode] = Counter()
        """Per ``(operation, mode, event)``; the event is a handling or ``escalation``."""
        self.declared: dict[Mode, str | None] = {}
        self.lost = 0
        """xdist workers that went down without their counts."""
        self.report: Report | None = None
        self.error: str | None = None
        self.undo = observe(self.seen)

    def seen(self, event: str, fields: Mapping[str, Any]) -> None:
        """Count one lifecycle event that shows a failure mode was handled."""
        if event == "agenttrace.failure":
            handling = fields.get("handling")
            if not fields.get("declared") or handling not in _KEPT:
                return
            mode, shown = fields.get("mode"), str(handling)
        else:
            moved = _MOVES.get(event)
            if moved is None:
                return
            mode, shown = fields.get("reason"), moved
        operation = fields.get("operation")
        if isinstance(operation, str) and isinstance(mode, str):
            with self.lock:
                self.events[operation, mode, shown] += 1

    def declare(self, found: Iterable[tuple[str, str, str, str | None]]) -> None:
        """Add declared ``(operation, mode, handling, function)``; the first function wins."""
        for operation, mode, handling, function in found:
            if not matches(function, self.prefixes):
                continue
            key = (operation, mode, handling)
            if key not in self.declared or _first(function, self.declared[key]):
                self.declared[key] = function

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Send a worker's counts to the controller; elsewhere, settle the report."""
        self.declare(
            (*handled, contract.function)
            for contract in contracts()
            for handled in contract.handled
        )
        config = session.config
        if hasattr(config, "workeroutput"):
            with self.lock:
                events = [[*key, count] for key, count in sorted(self.events.items())]
            config.workeroutput[KEY] = {
                "events": events,
                "declared": [[*key, function] for key, function in sorted(self.declared.items())],
            }
            return
        with self.lock:
            self.report = Report.of(self.declared, self.events, self.prefixes, self.fail_under)
        failed = not self.report.passed
        if self.path is not None:
            try:
                target = Path(self.path)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(self.report.as_json(), indent=2) + "\n")
            except OSError as exc:
                self.error = f"could not write the failure-mode coverage JSON to {self.path}: {exc}"
                failed = True
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any) -> None:
        """Merge an xdist worker's counts and declared modes."""
        sent = getattr(node, "workeroutput", {}).get(KEY)
        if not isinstance(sent, dict):
            self.lost += 1
            return
        with self.lock:
            for operation, mode, shown, count in sent["events"]:
                self.events[operation, mode, shown] += count
        self.declare(tuple(entry) for entry in sent["declared"])

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Print the table, the coverage line and the verdict."""
        report = self.report
        if report is None:
            return
        writer = terminalreporter
        writer.write_sep("=", "agenttrace failure-mode coverage")
        lines = report.table()
        writer.write_line(lines[0], bold=True)
        for row, line in zip(report.rows, lines[1:], strict=True):
            writer.write_line(line, red=not row.exercised)
        writer.write_line(report.summary, bold=True)
        if self.lost:
            writer.write_line(
                f"{self.lost} xdist worker(s) ended without their counts; they are missing",
                yellow=True,
            )
        verdict = report.verdict
        if verdict is not None:
            writer.write_line(verdict, green=report.passed, red=not report.passed, bold=True)
        if self.error is not None:
            writer.write_line(self.error, red=True, bold=True)
        elif self.path is not None:
            writer.write_line(f"failure-mode coverage JSON written to {self.path}")

    def pytest_unconfigure(self) -> None:
        """Stop counting."""
        self.undo()
