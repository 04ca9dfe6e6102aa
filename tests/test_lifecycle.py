"""Operations start, nest and end correctly, and never change what user code does."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased
from opentelemetry.trace import StatusCode

import agenttrace
from agenttrace import _runtime
from agenttrace import _semconv as sc
from tests.conftest import Recorder, apply


class Boom(Exception):
    pass


def test_the_same_exception_object_propagates_with_traceback_and_chain(recorder: Recorder) -> None:
    """The caller gets the very exception raised, its cause and context intact; span failed."""
    cause = KeyError("k")
    raised: list[BaseException] = []

    @agenttrace.step
    def fail() -> None:
        try:
            raise cause
        except KeyError as exc:
            error = Boom("bad")
            raised.append(error)
            raise error from exc

    with pytest.raises(Boom) as caught:
        fail()

    assert caught.value is raised[0]
    assert caught.value.__cause__ is cause
    assert "raise error from exc" in "".join(str(e.statement) for e in caught.traceback)
    span = recorder.one("fail")
    assert ("failed", f"{__name__}.Boom") == (
        span.attributes[sc.OUTCOME],  # type: ignore[index]
        span.attributes[sc.ERROR_TYPE],  # type: ignore[index]
    )
    assert span.status.status_code == StatusCode.ERROR
    assert [event.name for event in span.events] == ["agenttrace.failure", "exception"]
    assert span.events[1].attributes[sc.EXCEPTION_MESSAGE] == "bad"  # type: ignore[index]


async def test_async_exception_identity(recorder: Recorder) -> None:
    """Coroutines re-raise the same object too."""
    error = Boom("async")

    @agenttrace.tool
    async def fail() -> None:
        await asyncio.sleep(0)
        raise error

    with pytest.raises(Boom) as caught:
        await fail()

    assert caught.value is error
    assert recorder.one("execute_tool fail").attributes[sc.OUTCOME] == "failed"  # type: ignore[index]


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(3)])
def test_base_exceptions_propagate_and_end_the_span(
    recorder: Recorder, error: BaseException
) -> None:
    """KeyboardInterrupt and SystemExit pass through untouched; the span still ends, failed."""

    @agenttrace.step
    def interrupted() -> None:
        raise error

    with pytest.raises(type(error)) as caught:
        interrupted()

    assert caught.value is error
    assert type(error).__name__ == recorder.one("interrupted").attributes[sc.ERROR_TYPE]  # type: ignore[index]


async def test_cancellation_propagates_and_ends_the_span(
    recorder: Recorder, otel_logs: pytest.LogCaptureFixture
) -> None:
    """A cancelled coroutine raises CancelledError to its awaiter; the span ends once."""
    started = asyncio.Event()

    @agenttrace.step
    async def slow() -> None:
        started.set()
        await asyncio.sleep(60)

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    span = recorder.one("slow")
    assert (
        span.attributes[sc.OUTCOME],  # type: ignore[index]
        span.attributes[sc.ERROR_TYPE],  # type: ignore[index]
    ) == ("failed", "asyncio.exceptions.CancelledError")
    assert otel_logs.records == []


async def test_one_hundred_concurrent_tasks_keep_their_own_parents(recorder: Recorder) -> None:
    """100 agents run concurrently; each step is the child of its own agent, none crosses."""

    @agenttrace.step
    async def work(i: int) -> int:
        await asyncio.sleep(0.001 * (i % 7))
        return i

    @agenttrace.agent("bot")
    async def run(i: int) -> int:
        agenttrace.current().set_attribute("i", i)
        await asyncio.sleep(0.001 * (i % 5))
        return await work(i) + await work(i)

    results = await asyncio.gather(*(run(i) for i in range(100)))

    assert [2 * i for i in range(100)] == results
    agents = {s.context.span_id: s for s in recorder.spans if s.name == "invoke_agent bot"}
    steps = [s for s in recorder.spans if s.name == "work"]
    assert (len(agents), len(steps)) == (100, 200)
    for step_ in steps:
        assert step_.parent is not None
        parent = agents[step_.parent.span_id]
        assert parent.context.trace_id == step_.context.trace_id
    assert len({s.context.trace_id for s in agents.values()}) == 100


def test_eight_threads_make_eight_separate_traces(recorder: Recorder) -> None:
    """Operations in 8 threads nest within their thread and never across threads."""
    barrier = threading.Barrier(8)

    @agenttrace.step
    def inner(i: int) -> int:
        barrier.wait(timeout=10)
        return i

    @agenttrace.agent("bot")
    def run(i: int) -> int:
        return inner(i)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(range(8)) == list(pool.map(run, range(8)))

    agents = {s.context.span_id: s for s in recorder.spans if s.name == "invoke_agent bot"}
    inners = [s for s in recorder.spans if s.name == "inner"]
    assert len({s.context.trace_id for s in agents.values()}) == 8
    assert all(s.parent is not None and s.parent.span_id in agents for s in inners)
    assert all(agents[s.parent.span_id].context.trace_id == s.context.trace_id for s in inners)  # type: ignore[union-attr]


def test_bind_carries_the_operation_into_a_thread(recorder: Recorder) -> None:
    """With agenttrace.bind, work submitted to a pool nests under the submitting operation."""

    @agenttrace.tool
    def fetch(i: int) -> int:
        return i

    @agenttrace.agent("bot")
    def run() -> list[int]:
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(agenttrace.bind(fetch), range(4)))

    assert run() == [0, 1, 2, 3]

    agent_ = recorder.one("invoke_agent bot")
    tools = [s for s in recorder.spans if s.name == "execute_tool fetch"]
    assert len(tools) == 4
    assert all(s.parent is not None and s.parent.span_id == agent_.context.span_id for s in tools)


def test_current_gives_the_live_operation_and_a_noop_outside(recorder: Recorder) -> None:
    """current() is the innermost operation; outside any, calls on it do nothing."""
    seen: list[tuple[str, str]] = []

    @agenttrace.step("inner")
    def inner() -> None:
        seen.append((agenttrace.current().name, agenttrace.current().kind))
        agenttrace.current().set_attributes({"rows": 3, "tags": ["a", "b"], "obj": {"k": 1}})
        agenttrace.current().add_event("checkpoint", {"n": 1})

    @agenttrace.agent("outer")
    def outer() -> None:
        inner()
        seen.append((agenttrace.current().name, agenttrace.current().kind))

    outer()
    agenttrace.current().set_attribute("ignored", 1)

    assert seen == [("inner", "step"), ("outer", "agent")]
    assert not agenttrace.current().is_recording
    attributes = recorder.one("inner").attributes or {}
    assert (attributes["rows"], attributes["tags"], attributes["obj"]) == (3, ("a", "b"), '{"k":1}')
    assert [e.name for e in recorder.one("inner").events] == ["checkpoint"]


def test_current_ids_match_the_span(recorder: Recorder) -> None:
    """current().trace_id and span_id are the span's, as hex."""
    ids: list[str] = []

    @agenttrace.step
    def work() -> None:
        ids.extend([agenttrace.current().trace_id, agenttrace.current().span_id])

    work()

    context = recorder.one("work").context
    assert [format(context.trace_id, "032x"), format(context.span_id, "016x")] == ids


async def test_span_context_manager_sync_and_async(recorder: Recorder) -> None:
    """agenttrace.span() records a block, nests, and fails with the block's exception."""
    error = Boom("in block")

    with agenttrace.span("support", kind="agent") as agent_op:
        with agenttrace.span("rerank") as op:
            op.set_attribute("candidates", 12)
        async with agenttrace.span("ask", kind="model_call", provider="openai", model="m"):
            await asyncio.sleep(0)
        with pytest.raises(Boom) as caught, agenttrace.span("lookup", kind="tool"):
            raise error

    assert caught.value is error
    assert agent_op.name == "support"
    assert recorder.names() == ["rerank", "chat m", "execute_tool lookup", "invoke_agent support"]
    assert recorder.one("rerank").attributes["candidates"] == 12  # type: ignore[index]
    assert recorder.one("execute_tool lookup").attributes[sc.OUTCOME] == "failed"  # type: ignore[index]
    root = recorder.one("invoke_agent support")
    assert all(s.context.trace_id == root.context.trace_id for s in recorder.spans)


def test_context_is_restored_after_every_call(recorder: Recorder) -> None:
    """After a decorated call, returning or raising, the caller's context is as it was."""
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="caller")
    before = trace.get_current_span()

    @agenttrace.step
    def ok() -> None:
        var.set("inside")

    @agenttrace.step
    def bad() -> None:
        raise Boom

    ok()
    with pytest.raises(Boom):
        bad()

    assert before is trace.get_current_span()
    assert not agenttrace.current().is_recording


def test_disabled_calls_straight_through(recorder: Recorder) -> None:
    """AGENTTRACE_DISABLED: functions run, nothing is recorded."""
    apply(disabled=True)

    @agenttrace.step
    def work(x: int) -> int:
        return x + 1

    assert work(1) == 2
    assert recorder.names() == []


@pytest.mark.parametrize(
    ("sampler", "recorded"),
    [
        (ALWAYS_OFF, []),
        (ParentBased(ALWAYS_OFF), []),
        (ParentBased(TraceIdRatioBased(0.0)), []),
        (ParentBased(TraceIdRatioBased(1.0)), ["leaf", "root"]),
    ],
)
def test_sampled_out_operations_still_run(sampler: object, recorded: list[str]) -> None:
    """A sampler that drops spans drops ours; the functions run the same either way."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)  # type: ignore[arg-type]
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _runtime.use_tracer_provider(provider)

    @agenttrace.step
    def leaf(x: int) -> int:
        return x * 2

    @agenttrace.agent
    def root(x: int) -> int:
        return leaf(x) + 1

    assert root(3) == 7
    assert recorded == [s.name.removeprefix("invoke_agent ") for s in exporter.get_finished_spans()]


def test_decorated_before_the_global_provider_is_set(tmp_path: object) -> None:
    """Functions decorated at import work once a global provider is set later (subprocess)."""
    import subprocess  # noqa: PLC0415

    code = """
import agenttrace
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

@agenttrace.step
def work(x):
    return x + 1

assert work(1) == 2  # nothing configured yet: runs, records nothing
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
assert work(2) == 3
print([s.name for s in exporter.get_finished_spans()])
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "['work']"
