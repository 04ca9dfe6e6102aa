"""A generator's span covers its whole iteration and ends exactly once, however it ends."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from opentelemetry import trace

import agenttrace
from agenttrace import _semconv as sc
from tests.conftest import Recorder


class Stop(Exception):
    pass


@agenttrace.step
def numbers(n: int) -> Iterator[int]:
    for i in range(n):
        with agenttrace.span(f"item {i}"):
            pass
        yield i


@agenttrace.step
def echo() -> Iterator[str]:
    received = yield "ready"
    while True:
        try:
            received = yield f"got {received}"
        except Stop:
            received = "recovered"


@agenttrace.step
async def anumbers(n: int) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        yield i


def assert_one_clean_span(
    recorder: Recorder, otel_logs: pytest.LogCaptureFixture, name: str
) -> dict[str, object]:
    spans = [s for s in recorder.spans if s.name == name]
    assert len(spans) == 1, recorder.names()
    assert spans[0].end_time is not None
    # An ended-twice span, or a context detached in the wrong place, is logged by the SDK.
    assert [r.getMessage() for r in otel_logs.records] == []
    assert not trace.get_current_span().is_recording()
    assert not agenttrace.current().is_recording
    return dict(spans[0].attributes or {})


def test_exhausted(recorder: Recorder, otel_logs: pytest.LogCaptureFixture) -> None:
    """Iterated to the end: ok, the count of items, children nested inside."""
    assert list(numbers(3)) == [0, 1, 2]

    attributes = assert_one_clean_span(recorder, otel_logs, "numbers")
    assert (attributes[sc.OUTCOME], attributes[sc.YIELDED]) == ("ok", 3)
    assert sc.ABANDONED not in attributes
    parent = recorder.one("numbers").context.span_id
    assert all(s.parent.span_id == parent for s in recorder.spans if s.name.startswith("item"))  # type: ignore[union-attr]


def test_break_early(recorder: Recorder, otel_logs: pytest.LogCaptureFixture) -> None:
    """A for loop that breaks: the generator is closed, the span ends as abandoned."""
    for i in numbers(10):
        if i == 1:
            break
    gc.collect()

    attributes = assert_one_clean_span(recorder, otel_logs, "numbers")
    assert (
        attributes[sc.OUTCOME],
        attributes[sc.ABANDONED],
        attributes[sc.YIELDED],
    ) == ("ok", True, 2)


def test_close(recorder: Recorder, otel_logs: pytest.LogCaptureFixture) -> None:
    """close() ends the span at once, as abandoned."""
    iterator = numbers(10)
    next(iterator)
    iterator.close()

    assert True is assert_one_clean_span(recorder, otel_logs, "numbers")[sc.ABANDONED]


def test_garbage_collected(recorder: Recorder, otel_logs: pytest.LogCaptureFixture) -> None:
    """A half-consumed generator that is dropped ends its span when collected."""
    iterator = numbers(10)
    next(iterator)
    del iterator
    gc.collect()

    assert True is assert_one_clean_span(recorder, otel_logs, "numbers")[sc.ABANDONED]


def test_never_started_records_nothing(
    recorder: Recorder, otel_logs: pytest.LogCaptureFixture
) -> None:
    """A generator that is created but never iterated ran no code: no span."""
    iterator = numbers(10)
    del iterator
    gc.collect()

    assert recorder.names() == []


def test_send_and_throw_are_forwarded(
    recorder: Recorder, otel_logs: pytest.LogCaptureFixture
) -> None:
    """send() reaches the generator; an exception thrown in and handled there goes on."""
    iterator = echo()

    results = [next(iterator), iterator.send("a"), iterator.throw(Stop()), iterator.send("b")]
    iterator.close()

    assert results == ["ready", "got a", "got recovered", "got b"]
    assert True is assert_one_clean_span(recorder, otel_logs, "echo")[sc.ABANDONED]


def test_throw_unhandled_fails_with_the_same_exception(
    recorder: Recorder, otel_logs: pytest.LogCaptureFixture
) -> None:
    """An exception thrown in and not handled comes back out as itself; the span failed."""
    iterator = numbers(5)
    next(iterator)
    error = Stop("thrown")

    with pytest.raises(Stop) as caught:
        iterator.throw(error)

    assert caught.value is error
    assert assert_one_clean_span(recorder, otel_logs, "numbers")[sc.OUTCOME] == "failed"


def test_error_inside_the_generator(
    recorder: Recorder, otel_logs: pytest.LogCaptureFixture
) -> None:
    """An exception raised by the generator's code propagates as itself; the span failed."""
    error = Stop("inside")

    @agenttrace.step
    def broken() -> Iterator[int]:
        yield 1
        raise error

    with pytest.raises(Stop) as caught:
        list(broken())

    assert caught.value is error
    attributes = assert_one_clean_span(recorder, otel_logs, "broken")
    assert (attributes[sc.OUTCOME], attributes[sc.YIELDED]) == ("failed", 1)


def test_return_value_is_kept(recorder: Recorder) -> None:
    """``yield from`` a decorated generator still receives its return value."""

    @agenttrace.step
    def produce() -> Iterator[int]:
        yield 1
        return 42

    def consume() -> Iterator[int]:
        result = yield from produce()
        yield result

    assert list(consume()) == [1, 42]


def test_the_consumer_context_is_untouched_between_items(recorder: Recorder) -> None:
    """Between items the consumer sees its own context, not the generator's span."""
    seen = []

    with agenttrace.span("consumer") as consumer:
        for _ in numbers(3):
            seen.append(agenttrace.current().name)
        assert consumer is agenttrace.current()

    assert seen == ["consumer"] * 3
    assert recorder.one("consumer").context.span_id == recorder.one("numbers").parent.span_id  # type: ignore[union-attr]


async def test_async_exhausted(recorder: Recorder, otel_logs: pytest.LogCaptureFixture) -> None:
    """An async generator iterated to the end: ok, with its count."""
    assert [i async for i in anumbers(3)] == [0, 1, 2]

    attributes = assert_one_clean_span(recorder, otel_logs, "anumbers")
    assert (attributes[sc.OUTCOME], attributes[sc.YIELDED]) == ("ok", 3)


async def test_async_break_then_collected(
    recorder: Recorder, otel_logs: pytest.LogCaptureFixture
) -> None:
    """async for + break leaves the generator suspended; collection closes it via the loop."""
    async for i in anumbers(10):
        if i == 1:
            break
    gc.collect()
    for _ in range(5):
        await asyncio.sleep(0)

    assert True is assert_one_clean_span(recorder, otel_logs, "anumbers")[sc.ABANDONED]


async def test_async_aclose_from_another_task(
    recorder: Recorder, otel_logs: pytest.LogCaptureFixture
) -> None:
    """aclose() called from a different task than the consumer's ends the span cleanly."""
    iterator = anumbers(10)
    await iterator.__anext__()
    await asyncio.create_task(iterator.aclose())  # type: ignore[arg-type]

    assert True is assert_one_clean_span(recorder, otel_logs, "anumbers")[sc.ABANDONED]


async def test_async_cancelled_while_iterating(
    recorder: Recorder, otel_logs: pytest.LogCaptureFixture
) -> None:
    """The consuming task is cancelled mid-iteration: CancelledError propagates, span ends."""
    started = asyncio.Event()

    @agenttrace.step
    async def slow() -> AsyncIterator[int]:
        yield 1
        started.set()
        await asyncio.sleep(60)
        yield 2

    async def consume() -> list[int]:
        return [i async for i in slow()]

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    attributes = assert_one_clean_span(recorder, otel_logs, "slow")
    assert (
        attributes[sc.OUTCOME],
        attributes[sc.ERROR_TYPE],
    ) == ("failed", "asyncio.exceptions.CancelledError")


async def test_async_athrow(recorder: Recorder, otel_logs: pytest.LogCaptureFixture) -> None:
    """athrow() of an unhandled exception propagates it as itself; the span failed."""
    iterator = anumbers(10)
    await iterator.__anext__()
    error = Stop("thrown")

    with pytest.raises(Stop) as caught:
        await iterator.athrow(error)

    assert caught.value is error
    assert assert_one_clean_span(recorder, otel_logs, "anumbers")[sc.OUTCOME] == "failed"


def test_loop_closed_while_suspended(
    recorder: Recorder, otel_logs: pytest.LogCaptureFixture
) -> None:
    """asyncio.run() ends with a generator still suspended: its shutdown closes it, span ends."""
    holder: list[AsyncIterator[int]] = []

    async def main() -> None:
        iterator = anumbers(10)
        holder.append(iterator)
        await iterator.__anext__()

    asyncio.run(main())

    assert True is assert_one_clean_span(recorder, otel_logs, "anumbers")[sc.ABANDONED]


@pytest.mark.parametrize("make", [lambda: numbers(3), lambda: echo()])
def test_span_ends_once_even_if_closed_twice(
    recorder: Recorder, otel_logs: pytest.LogCaptureFixture, make: Callable[[], Iterator[object]]
) -> None:
    """Closing an already-closed generator is a no-op: still one span, ended once."""
    iterator = make()
    next(iterator)
    iterator.close()
    iterator.close()

    assert_one_clean_span(recorder, otel_logs, recorder.names()[-1])
