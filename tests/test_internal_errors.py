"""A failure inside agenttrace costs telemetry, never the user's result: counted, logged once."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import agenttrace
from agenttrace import _operation, _spans
from tests.conftest import Recorder, apply


class Injected(Exception):
    """The fault we inject into agenttrace's own code."""


class UserError(Exception):
    pass


def explode(*args: Any, **kwargs: Any) -> Any:
    raise Injected


# (stage, what to patch, attribute name)
STAGES = [
    ("start", _operation.Operation, "start"),
    ("capture", _operation, "capture_arguments"),
    ("finish", _spans, "end_ok"),
    ("exit", _operation.otel_context, "detach"),
]


@agenttrace.step(capture=True)
def sync_work(x: int) -> int:
    return x + 1


@agenttrace.step(capture=True)
async def async_work(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


@agenttrace.step(capture=True)
def gen_work(x: int) -> Iterator[int]:
    yield x
    yield x + 1


@agenttrace.step(capture=True)
async def agen_work(x: int) -> AsyncIterator[int]:
    yield x
    yield x + 1


async def run_all_shapes() -> list[Any]:
    return [sync_work(1), await async_work(1), list(gen_work(1)), [i async for i in agen_work(1)]]


@pytest.mark.parametrize(("stage", "owner", "name"), STAGES, ids=[s[0] for s in STAGES])
def test_fault_in_a_stage_leaves_results_unchanged(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    stage: str,
    owner: object,
    name: str,
) -> None:
    """With a fault injected in a stage, every shape returns its real result; counted per stage."""
    apply(strict=False)
    monkeypatch.setattr(owner, name, explode)

    # A context that cannot be detached stays attached: run in a copy, so it goes with it.
    results = contextvars.copy_context().run(asyncio.run, run_all_shapes())

    assert results == [2, 2, [1, 2], [1, 2]]
    assert agenttrace.stats().internal_errors.get(stage, 0) >= 4
    warnings = [
        r for r in caplog.records if r.name == "agenttrace" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1, "one log line per stage, however many errors"
    assert stage in warnings[0].getMessage()


def test_fault_while_recording_a_failure_keeps_the_users_exception(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    """If recording the failure breaks, the user's own exception still propagates as itself."""
    apply(strict=False)
    monkeypatch.setattr(_spans, "end_failed", explode)
    error = UserError("mine")

    @agenttrace.tool
    def fail() -> None:
        raise error

    with pytest.raises(UserError) as caught:
        fail()

    assert caught.value is error
    assert agenttrace.stats().internal_errors["fail"] == 1
    assert recorder.names() == ["execute_tool fail"], "the span is still ended"


def test_fault_in_set_attribute_is_counted(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    """A span that refuses attributes costs the attribute only."""
    apply(strict=False)

    @agenttrace.step
    def work() -> int:
        monkeypatch.setattr(agenttrace.current().span, "set_attributes", explode)
        agenttrace.current().set_attribute("k", "v")
        agenttrace.current().add_event("e", {"k": "v"})
        return 7

    assert work() == 7
    assert agenttrace.stats().internal_errors["set_attribute"] == 1


def test_a_failed_capture_still_records_the_span(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    """Capture failing marks the value, counts the error, and keeps the span."""
    apply(strict=False)
    monkeypatch.setattr(_operation, "capture", explode)

    assert sync_work(1) == 2
    assert recorder.one("sync_work").attributes["agenttrace.output"] == '"<capture failed>"'  # type: ignore[index]


@pytest.mark.parametrize(("stage", "owner", "name"), STAGES, ids=[s[0] for s in STAGES])
def test_strict_mode_raises_internal_errors(
    monkeypatch: pytest.MonkeyPatch, stage: str, owner: object, name: str
) -> None:
    """In strict mode (our own tests, staging) an internal error is raised, not hidden."""
    monkeypatch.setattr(owner, name, explode)

    with pytest.raises(agenttrace.InternalError):
        contextvars.copy_context().run(sync_work, 1)


def test_the_log_line_does_not_quote_the_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The warning names stage and error type only: an error's text may hold user secrets."""
    apply(strict=False)

    def leak(*args: Any, **kwargs: Any) -> Any:
        raise Injected("sk-proj-canary0123456789abcdefghijkl")

    monkeypatch.setattr(_spans, "end_ok", leak)

    sync_work(1)

    warning = next(r for r in caplog.records if r.levelno == logging.WARNING)
    assert "canary" not in warning.getMessage()
    assert warning.exc_info is None


def test_counters_start_at_zero_and_total(recorder: Recorder) -> None:
    """stats() reports nothing when nothing went wrong."""
    sync_work(1)

    assert (agenttrace.stats().internal_errors_total, agenttrace.stats().internal_errors) == (0, {})
