"""Failure-mode coverage (``--agenttrace-cov``) over a small project, run as a user runs it."""

from __future__ import annotations

import json

import pytest

from agenttrace.testing._coverage import Report, matches

pytest_plugins = ["pytester"]

AGENT = """
import agenttrace as at


def keyword_rules(text):
    return {"label": "general", "confidence": 1.0, "source": "rules"}


@at.step(
    failure_modes=[
        at.FailureMode(
            "low_confidence", when=lambda label: label["confidence"] < 0.7, handling="fallback"
        ),
        at.FailureMode("unsure", handling="escalate"),
    ],
    fallbacks=[keyword_rules, at.human("triage")],
)
def classify(text):
    return {"label": "billing", "confidence": 0.9, "source": "model"}


@at.tool(
    failure_modes=[
        at.FailureMode("timeout", on=TimeoutError, handling="retry"),
        at.FailureMode("rate_limited", on=ConnectionError, handling="retry"),
        at.FailureMode("not_found", on=KeyError),
    ],
    retry=at.Retry(attempts=3),
)
def fetch_order(order_id):
    return {"id": order_id, "status": "shipped"}
"""

# A module beside the ``support`` package whose name starts the same: a prefix matches at
# a dot boundary, so ``support`` does not take it.
EXTRA = """
import agenttrace as at


@at.step(
    failure_modes=[
        at.FailureMode("too_long", when=lambda text: len(text) > 20, handling="accept"),
        at.FailureMode("off_topic", when=lambda text: "weather" in text, handling="accept"),
        at.FailureMode("empty", when=lambda text: not text),
    ]
)
def summarise(text):
    return text
"""

TEST_CLASSIFY = """
import agenttrace as at
from agenttrace.testing import inject
from support.agent import classify


def test_low_confidence_falls_back_to_rules():
    with inject("classify", "low_confidence"):
        assert "rules" == classify("where is my parcel")["source"]


def test_unsure_escalates():
    with inject("classify", "unsure"):
        assert isinstance(classify("hm"), at.Escalation)


def test_ok():
    assert "model" == classify("refund")["source"]
"""

TEST_ORDERS = """
import agenttrace as at
import pytest
from agenttrace.testing import inject
from support.agent import classify, fetch_order
from support_extra import summarise


def test_low_confidence_twice_reaches_people():
    # the rules are unsure too: the next fallback is a human hand-off
    with inject("classify", "low_confidence", times=2):
        assert isinstance(classify("where is my parcel"), at.Escalation)


def test_timeouts_are_retried():
    with inject("fetch_order", "timeout", times=2):
        assert "shipped" == fetch_order("A-1")["status"]


def test_long_summary_is_kept():
    assert "a" * 30 == summarise("a" * 30)


def test_empty_summary_aborts():
    with pytest.raises(at.Failure):
        summarise("")
"""

TEST_OBSERVERS = """
from pathlib import Path

from agenttrace import _inject


def test_observers():
    names = [getattr(o, "__qualname__", "") for o in _inject.state.observers]
    Path("observers.txt").write_text(str(names.count("Coverage.seen")))
"""

TABLE = [
    "operation    mode            handling  exercised",
    "classify     low_confidence  fallback          3",
    "classify     unsure          escalate          1",
    "fetch_order  not_found       abort             0  MISSED",
    "fetch_order  rate_limited    retry             0  MISSED",
    "fetch_order  timeout         retry             2",
    "summarise    empty           abort             1",
    "summarise    off_topic       accept            0  MISSED",
    "summarise    too_long        accept            1",
    "failure-mode coverage: 5 of 8 (62.5 %)",
]


def mode(operation: str, function: str, name: str, handling: str, exercised: int) -> dict:
    return {
        "operation": operation,
        "function": function,
        "mode": name,
        "handling": handling,
        "exercised": exercised,
    }


MODES = [
    mode("classify", "support.agent.classify", "low_confidence", "fallback", 3),
    mode("classify", "support.agent.classify", "unsure", "escalate", 1),
    mode("fetch_order", "support.agent.fetch_order", "not_found", "abort", 0),
    mode("fetch_order", "support.agent.fetch_order", "rate_limited", "retry", 0),
    mode("fetch_order", "support.agent.fetch_order", "timeout", "retry", 2),
    mode("summarise", "support_extra.summarise", "empty", "abort", 1),
    mode("summarise", "support_extra.summarise", "off_topic", "accept", 0),
    mode("summarise", "support_extra.summarise", "too_long", "accept", 1),
]

REPORT = {
    "version": 1,
    "totals": {"declared": 8, "covered": 5, "percent": 62.5},
    "prefixes": [],
    "fail_under": None,
    "passed": True,
    "modes": MODES,
}


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(
        """
        [pytest]
        pythonpath = .
        addopts = -p no:cacheprovider
        asyncio_default_fixture_loop_scope = function
        """
    )
    pytester.mkpydir("support")
    pytester.makepyfile(**{"support/agent": AGENT, "support_extra": EXTRA})
    pytester.mkdir("tests")
    pytester.makepyfile(
        **{
            "tests/test_classify": TEST_CLASSIFY,
            "tests/test_orders": TEST_ORDERS,
            "tests/test_observers": TEST_OBSERVERS,
        }
    )
    return pytester


def section(result: pytest.RunResult) -> list[str]:
    """The lines of the coverage section, up to the next section."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "agenttrace failure-mode coverage" in line)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("==")), len(lines))
    return lines[start + 1 : end]


def test_table_and_json_report(project):
    """Table and JSON list every declared mode, sorted, with the times each was handled."""
    result = project.runpytest_subprocess("--agenttrace-cov", "--agenttrace-cov-json=out/c.json")
    assert 0 == result.ret
    assert [*TABLE, "failure-mode coverage JSON written to out/c.json"] == section(result)
    assert REPORT == json.loads((project.path / "out" / "c.json").read_text())
    assert "1" == (project.path / "observers.txt").read_text()


def test_xdist_reports_the_serial_table(project):
    """Under ``-n 2`` the controller merges the workers' counts into the serial report."""
    result = project.runpytest_subprocess("-n", "2", "--agenttrace-cov-json=c.json")
    assert 0 == result.ret
    assert [*TABLE, "failure-mode coverage JSON written to c.json"] == section(result)
    assert 1 == result.stdout.str().count("failure-mode coverage:")
    assert REPORT == json.loads((project.path / "c.json").read_text())


@pytest.mark.parametrize(
    ("fail_under", "ret", "verdict"),
    [
        ("50", 0, "required failure-mode coverage of 50.0 % reached"),
        ("62.5", 0, "required failure-mode coverage of 62.5 % reached"),
        ("62.6", 1, "FAIL required failure-mode coverage of 62.6 % not reached: 62.5 %"),
    ],
    ids=["below", "at", "above"],
)
def test_fail_under(project, fail_under, ret, verdict):
    """``--agenttrace-fail-under`` alone turns coverage on and fails a run below it."""
    result = project.runpytest_subprocess(f"--agenttrace-fail-under={fail_under}")
    assert ret == result.ret
    assert [*TABLE, verdict] == section(result)
    result.assert_outcomes(passed=8)


def test_prefix_restricts_the_modes(project):
    """A prefix keeps operations under it, matched at a dot boundary."""
    result = project.runpytest_subprocess(
        "--agenttrace-cov=support", "--agenttrace-cov-json=c.json"
    )
    assert 0 == result.ret
    assert [
        *TABLE[:6],
        "failure-mode coverage: 3 of 5 (60.0 %)",
        "failure-mode coverage JSON written to c.json",
    ] == section(result)
    report = json.loads((project.path / "c.json").read_text())
    assert {"declared": 5, "covered": 3, "percent": 60.0} == report["totals"]
    assert ["support"] == report["prefixes"]
    assert MODES[:5] == report["modes"]


def test_prefix_without_operations(project):
    """A prefix nothing matches says so, and counts as nothing to miss."""
    result = project.runpytest_subprocess("--agenttrace-cov=billing", "--agenttrace-cov")
    assert 0 == result.ret
    assert [
        "no operation under billing declares a failure mode",
        "failure-mode coverage: 0 of 0 (100.0 %)",
    ] == section(result)


def test_a_gate_with_nothing_to_cover_fails(project):
    """--agenttrace-fail-under with a prefix that matches nothing is a gate that checks
    nothing: it fails, and says why."""
    result = project.runpytest_subprocess("--agenttrace-cov=billing", "--agenttrace-fail-under=80")
    assert 1 == result.ret
    assert (
        "FAIL required failure-mode coverage of 80.0 %: no declared failure mode to cover"
        in section(result)
    )


def test_off_by_default(project):
    """Without the options there is no table and no observer."""
    result = project.runpytest_subprocess()
    assert 0 == result.ret
    assert "failure-mode coverage" not in result.stdout.str()
    assert "0" == (project.path / "observers.txt").read_text()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--agenttrace-fail-under=101", "'101' is not a percentage from 0 to 100"),
        ("--agenttrace-cov=tests/", "'tests/' is not a module prefix"),
    ],
    ids=["percent", "prefix"],
)
def test_bad_option_values(project, option, message):
    """A percentage out of range, or a path where a prefix goes, is a usage error."""
    result = project.runpytest_subprocess(option)
    assert pytest.ExitCode.USAGE_ERROR == result.ret
    assert message in result.stderr.str()


def test_prefix_matches_at_a_dot_boundary():
    """A prefix takes the module itself and what is under it, not a longer name."""
    assert [True, True, False, True, False] == [
        matches("support.agent.classify", ("support",)),
        matches("support", ("support",)),
        matches("support_extra.summarise", ("support",)),
        matches("anything.at.all", ()),
        matches(None, ("support",)),
    ]


def test_fallback_counts_an_escalation_to_the_next_fallback():
    """A ``fallback`` mode whose next fallback is a human hand-off shows as an escalation."""
    declared = {("classify", "low_confidence", "fallback"): "a.classify"}
    events = {("classify", "low_confidence", "escalation"): 1}
    report = Report.of(declared, events, (), None)
    assert [1] == [row.exercised for row in report.rows]
