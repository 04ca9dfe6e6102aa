"""The test kit: ``Capture`` and its queries, the ``agenttrace_capture`` fixture and the
``agenttrace_inject`` marker, in this process and in pytest sessions of their own."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

import pytest

import agenttrace
from agenttrace import _runtime
from agenttrace._settings import Settings
from agenttrace.testing import Capture, inject
from tests.conftest import Recorder, apply

pytest_plugins = ["pytester"]

NEVER = {"when": lambda value: False}
FLAKY = agenttrace.FailureMode("flaky", handling="retry", **NEVER)
LOW = agenttrace.FailureMode("low_confidence", handling="fallback", **NEVER)
REFUSED = agenttrace.FailureMode("refused_answer", handling="escalate", **NEVER)


@agenttrace.tool("kit_rules")
def kit_rules(ticket: str) -> str:
    return f"rules:{ticket}"


@agenttrace.step(
    "kit_classify",
    failure_modes=[FLAKY, LOW, REFUSED],
    retry=agenttrace.Retry(attempts=2),
    fallbacks=[kit_rules, agenttrace.human("triage")],
)
def kit_classify(ticket: str) -> str:
    return f"model:{ticket}"


@agenttrace.model_call("kit_ask", provider="openai", model="gpt-test")
def kit_ask(question: str) -> str:
    return "answer"


@agenttrace.tool("kit_broken")
def kit_broken() -> None:
    raise KeyError("gone")


@agenttrace.agent("kit_support")
def kit_support(ticket: str) -> str:
    kit_ask(ticket)
    return kit_classify(ticket)


def test_operations_are_listed_in_start_order_and_filtered_by_name_and_kind() -> None:
    """operations() lists every finished operation by start, not by end, and filters."""
    with Capture() as capture:
        kit_support("t")

    assert ["kit_support", "kit_ask", "kit_classify"] == [op.name for op in capture.operations()]
    assert ["kit_ask"] == [op.name for op in capture.operations(kind="model_call")]
    assert ["kit_classify"] == [op.name for op in capture.operations(kind=agenttrace.Kind.STEP)]
    assert [] == capture.operations("kit_classify", kind="tool")


def test_an_operation_knows_its_children_and_its_model_attributes() -> None:
    """An agent's children are the operations it called; a model call's gen_ai.* are `model`."""
    with Capture() as capture:
        kit_support("t")

    support = capture.operation("kit_support")
    ask = capture.operation("kit_ask")
    assert ["kit_ask", "kit_classify"] == [child.name for child in support.children]
    assert ("agent", "ok", None) == (support.kind, support.outcome, support.served_by)
    assert "gpt-test" == ask.model["gen_ai.request.model"]
    assert "openai" == ask.model["gen_ai.provider.name"]
    assert all(key.startswith("gen_ai.") for key in ask.model)
    assert ask.span.name == "chat gpt-test"
    assert ask.attributes["agenttrace.kind"] == "model_call"


def test_a_retry_then_a_fallback_are_read_from_the_spans() -> None:
    """Attempts, failures, retries and the serving fallback come back as plain values."""
    with (
        Capture() as capture,
        inject("kit_classify", "flaky"),
        inject("kit_classify", "low_confidence"),
    ):
        assert "rules:t" == kit_classify("t")

    op = capture.operation("kit_classify")
    assert ("degraded", "kit_rules", 1, ["kit_rules"], True) == (
        op.outcome,
        op.served_by,
        op.retries,
        op.fallbacks,
        op.served_by_fallback,
    )
    assert [
        (2, "retry", "flaky", None, "low_confidence"),
        (3, "fallback", "low_confidence", "kit_rules", None),
    ] == [(a.number, a.type, a.reason, a.fallback, a.failure) for a in op.attempts]
    assert [
        ("flaky", True, "retry", "injected", 1),
        ("low_confidence", True, "fallback", "injected", 2),
    ] == [(f.mode, f.declared, f.handling, f.source, f.attempt) for f in op.failures]
    # the fallback is an operation of its own, called inside the fallback attempt
    assert ["kit_rules"] == [child.name for child in op.attempts[1].children]
    assert ["kit_rules"] == [child.name for child in op.children]
    capture.assert_retried("kit_classify", times=1)
    capture.assert_served_by("kit_classify", "kit_rules")
    capture.assert_failed_with("kit_classify", "low_confidence")
    capture.assert_outcome("kit_classify", "degraded")


def test_an_escalation_is_served_by_the_human_queue() -> None:
    """An escalate mode: outcome escalated, served by human:triage, one escalation attempt."""
    with Capture() as capture, inject("kit_classify", "refused_answer"):
        assert isinstance(kit_classify("t"), agenttrace.Escalation)

    op = capture.assert_served_by("kit_classify", "human:triage")
    assert ("escalated", ["escalation"], ["human:triage"]) == (
        op.outcome,
        [a.type for a in op.attempts],
        op.fallbacks,
    )


def test_an_undeclared_exception_is_a_failure_named_by_its_class() -> None:
    """A raised exception no mode covers: outcome failed, the failure named by error.type."""
    with Capture() as capture, pytest.raises(KeyError):
        kit_broken()

    op = capture.assert_failed_with("kit_broken", "KeyError")
    assert ("failed", "KeyError") == (op.outcome, op.error_type)
    [failure] = op.failures
    assert (None, False, None, "KeyError") == (
        failure.mode,
        failure.declared,
        failure.handling,
        failure.error_type,
    )


def test_a_clean_first_try_reads_ok() -> None:
    """No failure: ok, no attempts, no served_by; assert_no_failures passes."""
    with Capture() as capture:
        kit_classify("t")

    op = capture.operation("kit_classify")
    assert ("ok", None, (), (), 0) == (
        op.outcome,
        op.served_by,
        op.attempts,
        op.failures,
        op.retries,
    )
    capture.assert_no_failures()


def test_the_tree_has_one_line_per_operation_and_attempt() -> None:
    """tree(): name, kind, outcome, what served and the failures met; attempts nested."""
    with (
        Capture() as capture,
        inject("kit_classify", "flaky"),
        inject("kit_classify", "low_confidence"),
    ):
        kit_support("t")

    assert [
        "kit_support [agent] ok",
        "  kit_ask [model_call] ok",
        "  kit_classify [step] degraded served_by=kit_rules failures=[flaky:retry, low_confidence:fallback]",
        "    ↳ retry #2 reason=flaky failed=low_confidence",
        "    ↳ fallback #3 kit_rules reason=low_confidence",
        "      kit_rules [tool] ok",
    ] == capture.tree().splitlines()


def test_an_empty_capture_says_so() -> None:
    """Nothing recorded: the tree says so, and operation() fails saying what was asked."""
    with Capture() as capture:
        pass

    assert "(no operation recorded)" == capture.tree()
    with pytest.raises(AssertionError, match="expected one operation 'kit_classify', found 0"):
        capture.operation("kit_classify")


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (
            lambda c: c.assert_outcome("kit_classify", "ok"),
            "'kit_classify': expected outcome 'ok', got 'degraded'",
        ),
        (
            lambda c: c.assert_failed_with("kit_classify", "refused_answer"),
            "'kit_classify': expected a failure 'refused_answer'; failures met: low_confidence",
        ),
        (
            lambda c: c.assert_served_by("kit_classify", "human:triage"),
            "'kit_classify': expected served by 'human:triage', got 'kit_rules'",
        ),
        (
            lambda c: c.assert_retried("kit_classify"),
            "'kit_classify': expected retried at least once, retried 0 time(s)",
        ),
        (
            lambda c: c.assert_retried("kit_classify", times=2),
            "'kit_classify': expected retried 2 time(s), retried 0 time(s)",
        ),
        (lambda c: c.assert_no_failures(), "expected no failures; failures in: kit_classify"),
        (lambda c: c.operation("kit_ask"), "expected one operation 'kit_ask', found 2"),
    ],
)
def test_a_failed_assertion_says_why_and_shows_the_tree(check, message) -> None:
    """Every assertion helper's message says what was expected and shows the captured tree."""
    with Capture() as capture, inject("kit_classify", "low_confidence"):
        kit_support("t")
        kit_ask("again")

    with pytest.raises(AssertionError) as raised:
        check(capture)

    assert str(raised.value) == (
        f"{message}\ncaptured operations:\n"
        "  kit_support [agent] ok\n"
        "    kit_ask [model_call] ok\n"
        "    kit_classify [step] degraded served_by=kit_rules failures=[low_confidence:fallback]\n"
        "      ↳ fallback #2 kit_rules reason=low_confidence\n"
        "        kit_rules [tool] ok\n"
        "  kit_ask [model_call] ok"
    )


def test_lifecycle_events_and_log_records_are_kept() -> None:
    """events holds agenttrace's lifecycle events; logs the logging records of the test."""
    with Capture() as capture, inject("kit_classify", "low_confidence"):
        kit_classify("t")
        logging.getLogger("kit.app").warning("routed %s", "t")

    assert ["agenttrace.failure", "agenttrace.fallback", "agenttrace.outcome"] == [
        name for name, _ in capture.events
    ]
    _, outcome = capture.events[-1]
    assert ("degraded", "kit_rules") == (outcome["outcome"], outcome["served_by"])
    assert ["routed t"] == [r.getMessage() for r in capture.logs if r.name == "kit.app"]


def test_clear_forgets_what_was_recorded() -> None:
    """clear() empties spans, events and log records; recording goes on."""
    with Capture() as capture, inject("kit_classify", "low_confidence"):
        kit_classify("t")
        logging.getLogger("kit.app").warning("before")
        capture.clear()
        kit_ask("q")

    assert (["kit_ask"], [], []) == (
        [op.name for op in capture.operations()],
        capture.events,
        capture.logs,
    )


def test_nothing_is_recorded_after_stop_and_the_provider_is_put_back(recorder: Recorder) -> None:
    """stop() puts back the provider in force before; later spans go there, not to the capture."""
    before = _runtime.state.provider
    capture = Capture().start()
    assert capture.running
    kit_ask("during")
    capture.stop()
    capture.stop()  # a second stop does nothing
    kit_ask("after")

    assert _runtime.state.provider is before
    assert 1 == len(capture.operations("kit_ask"))
    assert ["chat gpt-test"] == recorder.names()


def test_a_provider_set_during_the_capture_is_put_in_force_after_it(recorder: Recorder) -> None:
    """What configure() does while a capture runs (use_tracer_provider) waits for its end."""
    use = _runtime.use_tracer_provider
    app = Capture()  # a provider of its own, standing for the one configure() sets up
    with Capture() as capture:
        _runtime.use_tracer_provider(app.provider)
        kit_ask("during")
    kit_ask("after")

    assert _runtime.state.provider is app.provider
    assert _runtime.use_tracer_provider is use
    assert (1, 1, []) == (len(capture.spans), len(app.spans), recorder.names())


def test_captures_inside_each_other_record_apart() -> None:
    """An inner capture takes the spans while it runs; the outer one gets the rest."""
    before = _runtime.state.provider
    with Capture() as outer:
        kit_ask("outer")
        with Capture() as inner:
            kit_ask("inner")
        kit_ask("outer again")

    assert (2, 1) == (len(outer.spans), len(inner.spans))
    assert _runtime.state.provider is before


def test_starting_a_running_capture_is_an_error() -> None:
    """start() twice raises, and the capture goes on recording."""
    with Capture() as capture:
        with pytest.raises(RuntimeError, match="running already"):
            capture.start()
        kit_ask("q")

    assert ["kit_ask"] == [op.name for op in capture.operations()]


def dump_of_a_run() -> str:
    with (
        Capture() as capture,
        inject("kit_classify", "flaky"),
        inject("kit_classify", "refused_answer"),
    ):
        kit_support("t")
    with Capture() as capture2, pytest.raises(KeyError):
        kit_broken()
    return capture.dump() + capture2.dump()


def test_dump_is_the_same_for_two_runs_without_ids_or_times() -> None:
    """dump(): byte-identical across runs; ids are tokens; no timestamps or stack traces."""
    first, second = dump_of_a_run(), dump_of_a_run()

    assert first == second
    assert not re.search(r"[0-9a-f]{16}", first)
    assert "time" not in first
    assert "stacktrace" not in first


def test_dump_nests_spans_with_tokens_sorted_attributes_and_events() -> None:
    """The dump is a tree of spans; ids become trace-1, span-1…, in values too; events have
    no timestamps."""
    apply(capture_content=True)  # the Escalation returned, with its ids, is the output
    with Capture() as capture, inject("kit_classify", "refused_answer"):
        kit_classify("t")

    dump = capture.dump()
    [span] = json.loads(dump)["spans"]
    [attempt] = span["children"]
    assert ("kit_classify", "INTERNAL", "trace-1", "span-1", None) == (
        span["name"],
        span["kind"],
        span["trace_id"],
        span["span_id"],
        span["parent_id"],
    )
    assert ("escalate triage", "trace-1", "span-2", "span-1") == (
        attempt["name"],
        attempt["trace_id"],
        attempt["span_id"],
        attempt["parent_id"],
    )
    assert list(span["attributes"]) == sorted(span["attributes"])
    output = json.loads(span["attributes"]["agenttrace.output"])
    assert ("trace-1", "span-1") == (output["trace_id"], output["span_id"])
    assert not re.search(r"[0-9a-f]{16}", dump)
    assert [
        {
            "name": "agenttrace.failure",
            "attributes": {
                "agenttrace.attempt": 1,
                "agenttrace.failure.declared": True,
                "agenttrace.failure.handling": "escalate",
                "agenttrace.failure.mode": "refused_answer",
                "agenttrace.failure.severity": "warning",
                "agenttrace.failure.source": "injected",
            },
        }
    ] == span["events"]


def test_the_plugin_imports_no_sdk() -> None:
    """Loading the plugin (every pytest run does) imports no OpenTelemetry SDK."""
    code = "import sys, agenttrace.testing._plugin; print('opentelemetry.sdk.trace' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert "False" == result.stdout.strip()


# --- pytest sessions of their own ------------------------------------------------------------

INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider -p no:asyncio
filterwarnings = error
"""

DECLARATIONS = """
import pytest
import agenttrace

NEVER = {"when": lambda value: False}
FLAKY = agenttrace.FailureMode("flaky", handling="retry", **NEVER)
LOW = agenttrace.FailureMode("low_confidence", handling="fallback", **NEVER)
REFUSED = agenttrace.FailureMode("refused_answer", handling="escalate", **NEVER)


def rules(ticket):
    return "rules"


@agenttrace.step(
    failure_modes=[FLAKY, LOW, REFUSED],
    retry=agenttrace.Retry(attempts=2),
    fallbacks=[rules, agenttrace.human("queue")],
)
def classify(ticket):
    return "model"
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    return pytester


def test_the_fixture_isolates_each_test(project: pytest.Pytester) -> None:
    """A test's capture holds its own spans only; a test without it is left untouched."""
    project.makepyfile(
        DECLARATIONS
        + """
from agenttrace import _runtime


def test_first(agenttrace_capture):
    classify("one")
    assert 1 == len(agenttrace_capture.operations("classify"))


def test_second(agenttrace_capture):
    assert [] == agenttrace_capture.operations()
    classify("two")
    assert 1 == len(agenttrace_capture.operations("classify"))


def test_without_the_fixture():
    assert _runtime.state.provider is None
    assert "agenttrace._runtime" == _runtime.use_tracer_provider.__module__
"""
    )

    project.runpytest_subprocess().assert_outcomes(passed=3)


def test_the_marker_drives_a_retry_a_fallback_and_an_escalation(project: pytest.Pytester) -> None:
    """@pytest.mark.agenttrace_inject fires the declared modes for the test's call only."""
    project.makepyfile(
        DECLARATIONS
        + """
import agenttrace


@pytest.fixture
def set_up():
    return classify("set-up")  # fixtures run before the injections


@pytest.mark.agenttrace_inject("classify", "flaky")
def test_retry(set_up, agenttrace_capture):
    assert "model" == set_up
    assert "model" == classify("t")
    agenttrace_capture.assert_retried("classify", times=1)
    agenttrace_capture.assert_outcome("classify", "recovered")


@pytest.mark.agenttrace_inject("classify", "low_confidence", details={"confidence": 0.2})
def test_fallback(agenttrace_capture):
    assert "rules" == classify("t")
    op = agenttrace_capture.assert_served_by("classify", "rules")
    assert {"confidence": 0.2} == op.failures[0].details


@pytest.mark.agenttrace_inject("classify", "refused_answer")
def test_escalation(agenttrace_capture):
    escalation = classify("t")
    assert isinstance(escalation, agenttrace.Escalation) and "queue" == escalation.queue
    agenttrace_capture.assert_served_by("classify", "human:queue")
    agenttrace_capture.assert_outcome("classify", "escalated")


@pytest.mark.agenttrace_inject("classify", "flaky")
@pytest.mark.agenttrace_inject("classify", "low_confidence", 1)
def test_stacked_markers_fire_top_first(agenttrace_capture):
    assert "rules" == classify("t")
    op = agenttrace_capture.operation("classify")
    assert ["flaky", "low_confidence"] == [f.mode for f in op.failures]


def test_no_marker_no_injection(agenttrace_capture):
    assert "model" == classify("t")
    agenttrace_capture.assert_no_failures()
"""
    )

    project.runpytest_subprocess().assert_outcomes(passed=5)


def test_a_marker_naming_an_undeclared_mode_fails_the_test(project: pytest.Pytester) -> None:
    """The marker's test fails with the InjectionError message, which lists what is declared."""
    project.makepyfile(
        DECLARATIONS
        + """
@pytest.mark.agenttrace_inject("classify", "timeout")
def test_undeclared_mode():
    classify("t")


@pytest.mark.agenttrace_inject("nothing_here", "timeout")
def test_unknown_operation():
    pass


@pytest.mark.agenttrace_inject("classify")
def test_missing_mode():
    pass


def test_unaffected():
    assert "model" == classify("t")
"""
    )

    result = project.runpytest_subprocess()

    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.agenttrace_inject: inject('classify', 'timeout'): 'classify' does not declare 'timeout'. It declares: flaky, low_confidence, refused_answer.",
            "@pytest.mark.agenttrace_inject: inject('nothing_here', 'timeout'): no decorated operation is named 'nothing_here'*",
            "@pytest.mark.agenttrace_inject: *missing 1 required positional argument: 'mode'",
        ]
    )
    result.stdout.no_fnmatch_line("*During handling*")


CONFIGURED_APP = """
import re
from pathlib import Path

import agenttrace
from agenttrace import _config, _runtime
from agenttrace._file import FILE_NAME

DIRECTORY = Path(__file__).parent / "traces"


@agenttrace.step
def captured():
    pass


@agenttrace.step
def exported():
    pass


def operations_in_file():
    assert agenttrace.force_flush()
    text = (DIRECTORY / FILE_NAME).read_text()
    return sorted(set(re.findall(r'"(captured|exported)"', text)))
"""


@pytest.mark.parametrize(
    ("at_import", "in_test"),
    [
        ("agenttrace.configure(directory=DIRECTORY)", ""),
        ("", "agenttrace.configure(directory=DIRECTORY)"),
    ],
    ids=["configured-at-import", "configured-in-the-test"],
)
def test_the_capture_works_with_configure_and_puts_its_provider_back(
    project: pytest.Pytester, at_import: str, in_test: str
) -> None:
    """configure() before the test or inside it: the capture gets the test's spans, and the
    application's provider is in force after the test, exporting to its file."""
    project.makepyfile(
        CONFIGURED_APP
        + f"""
{at_import}


def test_captured(agenttrace_capture):
    {in_test}
    captured()
    assert 1 == len(agenttrace_capture.operations("captured"))
    assert _runtime.state.override is agenttrace_capture.provider


def test_restored_after():
    assert _runtime.state.provider is _config._state.installed.provider
    exported()
    assert ["exported"] == operations_in_file()
    assert agenttrace.shutdown()
    assert _runtime.state.provider is _config._state.installed.provider
"""
    )

    project.runpytest_subprocess().assert_outcomes(passed=2)


def test_a_dump_is_the_same_in_two_sessions(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes, other ids and times: the same dump, byte for byte."""
    project.makepyfile(
        DECLARATIONS
        + """
import os
from pathlib import Path


@agenttrace.agent
def support(ticket):
    return classify(ticket)


@pytest.mark.agenttrace_inject("classify", "flaky")
@pytest.mark.agenttrace_inject("classify", "refused_answer")
def test_dump(agenttrace_capture):
    support("t")
    Path(os.environ["DUMP_TO"]).write_text(agenttrace_capture.dump())
"""
    )
    dumps = []
    for run in ("1", "2"):
        monkeypatch.setenv("DUMP_TO", str(project.path / f"dump-{run}.json"))
        project.runpytest_subprocess().assert_outcomes(passed=1)
        dumps.append((project.path / f"dump-{run}.json").read_text())

    assert dumps[0] == dumps[1]
    assert '"span_id": "span-1"' in dumps[0]
    assert '"agenttrace.served_by": "human:queue"' in dumps[0]


def test_a_capture_records_even_when_agenttrace_is_disabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """AGENTTRACE_DISABLED in a CI environment must not empty the tests' captures."""

    @agenttrace.tool
    def lookup_disabled(order: str) -> str:
        return order

    _runtime.apply_settings(Settings(disabled=True))
    try:
        assert _runtime.resolve() is None
        with Capture() as capture:
            lookup_disabled("A-1")
        assert [op.name for op in capture.operations()] == ["lookup_disabled"]
        assert _runtime.resolve() is None
    finally:
        _runtime.apply_settings(Settings(strict=True))
