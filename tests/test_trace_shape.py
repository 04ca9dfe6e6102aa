"""The exact span tree each outcome leaves: snapshots of names, attributes and events.

Each snapshot is the recorded trace rendered as nested dicts (ids, timings and the
function's qualified name left out), written out in full here so a change to what users
see in Jaeger or Phoenix shows up as a diff of this file.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

import agenttrace
from agenttrace import _semconv as sc
from tests.conftest import Recorder

LOW = agenttrace.FailureMode(
    "low_confidence", when=lambda label: label["confidence"] < 0.7, handling="fallback"
)
BAD = agenttrace.FailureMode("invalid_output", on=(ValueError,), handling="retry")
THIN = agenttrace.FailureMode("thin", when=lambda label: label["label"] == "?", handling="accept")


def tree(recorder: Recorder) -> list[dict[str, Any]]:
    """The recorded spans as nested dicts, children in start order."""
    spans = sorted(recorder.spans, key=lambda s: s.start_time or 0)
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    ids = {span.context.span_id for span in spans if span.context}
    for span in spans:
        parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(span)

    def render(span: ReadableSpan) -> dict[str, Any]:
        node: dict[str, Any] = {
            "name": span.name,
            "attributes": {
                k: v for k, v in (span.attributes or {}).items() if k != sc.CODE_FUNCTION_NAME
            },
        }
        events = [
            {
                "name": e.name,
                **{k: v for k, v in (e.attributes or {}).items() if k != sc.EXCEPTION_STACKTRACE},
            }
            for e in span.events
        ]
        if events:
            node["events"] = events
        if span.status.status_code is StatusCode.ERROR:
            node["status"] = "ERROR"
        children = by_parent.get(span.context.span_id if span.context else None, [])
        if children:
            node["children"] = [render(child) for child in children]
        return node

    return [render(span) for span in by_parent.get(None, [])]


CONTRACT = {
    sc.KIND: "step",
    sc.OPERATION: "classify",
    sc.FAILURE_MODES: "low_confidence,invalid_output,thin",
}


def failure(mode: str, handling: str, attempt: int, source: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": sc.FAILURE_EVENT,
        sc.FAILURE_DECLARED: True,
        sc.ATTEMPT: attempt,
        sc.FAILURE_MODE: mode,
        sc.FAILURE_HANDLING: handling,
        sc.FAILURE_SEVERITY: "warning",
        sc.FAILURE_SOURCE: source,
        **extra,
    }


def make(script: list[Any]) -> Any:
    """A classify step whose tries play ``script`` (an exception is raised, a dict returned);
    its fallback ``rules`` is confident unless the ticket says "unsure"."""
    tries = iter(script)

    def rules(ticket: str) -> dict[str, Any]:
        return {"label": "rules", "confidence": 0.2 if ticket == "unsure" else 0.9}

    @agenttrace.step(
        failure_modes=[LOW, BAD, THIN],
        retry=agenttrace.Retry(attempts=2),
        fallbacks=[rules, agenttrace.human("triage")],
    )
    def classify(ticket: str) -> dict[str, Any]:
        outcome = next(tries)
        if isinstance(outcome, Exception):
            raise outcome
        return dict(outcome)

    return classify


GOOD = {"label": "billing", "confidence": 0.95}
UNSURE = {"label": "billing", "confidence": 0.3}


def test_ok_is_one_span_with_the_contract(recorder: Recorder) -> None:
    """First try succeeds: one span, outcome ok, no event, nothing else."""
    make([GOOD])("t")

    assert [{"name": "classify", "attributes": {**CONTRACT, sc.OUTCOME: "ok"}}] == tree(recorder)


def test_recovered_by_a_retry(recorder: Recorder) -> None:
    """invalid_output, then a retry that serves: a failure event and one retry span."""
    make([ValueError("bad json"), GOOD])("t")

    assert [
        {
            "name": "classify",
            "attributes": {
                **CONTRACT,
                sc.OUTCOME: "recovered",
                sc.SERVED_BY: "classify",
                sc.ATTEMPTS: 2,
            },
            "events": [
                failure("invalid_output", "retry", 1, "exception", **{sc.ERROR_TYPE: "ValueError"})
            ],
            "children": [
                {
                    "name": "retry classify",
                    "attributes": {
                        sc.KIND: "attempt",
                        sc.OPERATION: "classify",
                        sc.ATTEMPT: 2,
                        sc.ATTEMPT_TYPE: "retry",
                        sc.ATTEMPT_REASON: "invalid_output",
                    },
                }
            ],
        }
    ] == tree(recorder)


def test_degraded_by_a_fallback(recorder: Recorder) -> None:
    """low_confidence falls back to rules, which serve: outcome degraded, served_by rules."""
    make([UNSURE])("t")

    assert [
        {
            "name": "classify",
            "attributes": {
                **CONTRACT,
                sc.OUTCOME: "degraded",
                sc.SERVED_BY: "rules",
                sc.ATTEMPTS: 2,
            },
            "events": [failure("low_confidence", "fallback", 1, "value")],
            "children": [
                {
                    "name": "fallback rules",
                    "attributes": {
                        sc.KIND: "attempt",
                        sc.OPERATION: "classify",
                        sc.ATTEMPT: 2,
                        sc.ATTEMPT_TYPE: "fallback",
                        sc.ATTEMPT_REASON: "low_confidence",
                        sc.FALLBACK_NAME: "rules",
                    },
                }
            ],
        }
    ] == tree(recorder)


def test_degraded_by_an_accepted_failure(recorder: Recorder) -> None:
    """An accept mode keeps the value: degraded, served by the operation itself, no child."""
    make([{"label": "?", "confidence": 0.9}])("t")

    assert [
        {
            "name": "classify",
            "attributes": {**CONTRACT, sc.OUTCOME: "degraded", sc.SERVED_BY: "classify"},
            "events": [failure("thin", "accept", 1, "value")],
        }
    ] == tree(recorder)


def test_escalated_after_the_fallback_is_unsure_too(recorder: Recorder) -> None:
    """low_confidence twice (the operation, then rules) ends with the human hand-off."""
    result = make([UNSURE])("unsure")

    assert isinstance(result, agenttrace.Escalation)
    attempt = {sc.KIND: "attempt", sc.OPERATION: "classify", sc.ATTEMPT_REASON: "low_confidence"}
    assert [
        {
            "name": "classify",
            "attributes": {
                **CONTRACT,
                sc.OUTCOME: "escalated",
                sc.SERVED_BY: "human:triage",
                sc.ATTEMPTS: 3,
            },
            "events": [
                failure("low_confidence", "fallback", 1, "value"),
                failure("low_confidence", "fallback", 2, "value"),
            ],
            "children": [
                {
                    "name": "fallback rules",
                    "attributes": {
                        **attempt,
                        sc.ATTEMPT: 2,
                        sc.ATTEMPT_TYPE: "fallback",
                        sc.FALLBACK_NAME: "rules",
                        sc.FAILURE_MODE: "low_confidence",
                        sc.FAILURE_DECLARED: True,
                    },
                },
                {
                    "name": "escalate triage",
                    "attributes": {
                        **attempt,
                        sc.ATTEMPT: 3,
                        sc.ATTEMPT_TYPE: "escalation",
                        sc.FALLBACK_NAME: "human:triage",
                        sc.ESCALATION_QUEUE: "triage",
                    },
                },
            ],
        }
    ] == tree(recorder)


def test_failed_by_an_undeclared_exception(recorder: Recorder) -> None:
    """An exception nobody declared: failed, ERROR, a failure event declared=false, the
    exception event; no attempt."""
    with pytest.raises(KeyError):
        make([KeyError("label")])("t")

    assert [
        {
            "name": "classify",
            "attributes": {**CONTRACT, sc.OUTCOME: "failed", sc.ERROR_TYPE: "KeyError"},
            "events": [
                {
                    "name": sc.FAILURE_EVENT,
                    sc.FAILURE_DECLARED: False,
                    sc.ATTEMPT: 1,
                    sc.ERROR_TYPE: "KeyError",
                },
                {
                    "name": sc.EXCEPTION_EVENT,
                    sc.EXCEPTION_TYPE: "KeyError",
                    sc.EXCEPTION_MESSAGE: "'label'",
                },
            ],
            "status": "ERROR",
        }
    ] == tree(recorder)


def test_failed_when_the_retry_fails_the_same_way_and_nothing_is_left(recorder: Recorder) -> None:
    """Without fallbacks that help: retries spent, rules unsure, the human raises an
    undeclared error; the last failure ends the call, and only that is ERROR."""

    def broken_handoff(escalation: agenttrace.Escalation, ticket: str) -> dict[str, Any]:
        raise RuntimeError("queue down")

    @agenttrace.step(
        failure_modes=[LOW, BAD],
        retry=agenttrace.Retry(attempts=2),
        fallbacks=[agenttrace.human("triage", handoff=broken_handoff)],
    )
    def classify(ticket: str) -> dict[str, Any]:
        raise ValueError("bad json")

    with pytest.raises(RuntimeError, match="queue down"):
        classify("t")

    shape = tree(recorder)
    assert ["retry classify", "escalate triage"] == [c["name"] for c in shape[0]["children"]]
    assert {sc.OUTCOME: "failed", sc.ATTEMPTS: 3, sc.ERROR_TYPE: "RuntimeError"}.items() <= (
        shape[0]["attributes"].items()
    )
    assert [(1, "invalid_output"), (2, "invalid_output"), (3, None)] == [
        (e[sc.ATTEMPT], e.get(sc.FAILURE_MODE))
        for e in shape[0]["events"]
        if e["name"] == sc.FAILURE_EVENT
    ]
    assert ["ERROR", "ERROR"] == [shape[0]["status"], shape[0]["children"][1]["status"]]
    assert "status" not in shape[0]["children"][0]


def test_children_of_an_attempt_are_under_its_span(recorder: Recorder) -> None:
    """A model call made during a retry is a child of the retry span; the first try's is a
    direct child of the operation."""

    @agenttrace.model_call(provider="openai", model="m")
    def complete(n: int) -> int:
        return n

    tries = iter([ValueError("bad"), None])

    @agenttrace.step(failure_modes=[BAD], retry=agenttrace.Retry(attempts=2))
    def classify() -> int:
        result = complete(1)
        error = next(tries)
        if error is not None:
            raise error
        return result

    classify()

    shape = tree(recorder)[0]
    assert ["chat m", "retry classify"] == [c["name"] for c in shape["children"]]
    assert ["chat m"] == [c["name"] for c in shape["children"][1]["children"]]


def test_failure_details_are_bounded_and_redacted(recorder: Recorder) -> None:
    """Details become typed attributes: numbers kept, secrets redacted by key and by
    pattern, long text cut, unknown objects rendered by type; at most 16 keys."""

    class Opaque:
        pass

    @agenttrace.step(failure_modes=[agenttrace.FailureMode("x", handling="accept")])
    def step() -> int:
        agenttrace.current().record_failure(
            "x",
            confidence=0.41,
            api_key="sk-live-1234567890",
            note="token Bearer abcdefghijklmnopqrstuvwxyz0123456789",
            text="y" * 10_000,
            raw=Opaque(),
            **{f"k{i}": i for i in range(30)},
        )
        return 1

    assert step() == 1
    event = recorder.one("step").events[0]
    details = {
        k.removeprefix(sc.FAILURE_DETAIL_PREFIX): v
        for k, v in (event.attributes or {}).items()
        if k.startswith(sc.FAILURE_DETAIL_PREFIX)
    }
    assert 16 == len(details)
    assert (0.41, "[REDACTED]") == (details["confidence"], details["api_key"])
    assert "abcdefghijklmnopqrstuvwxyz0123456789" not in str(details["note"])
    assert len(str(details["text"])) < 2100
    assert "Opaque" in str(details["raw"])
