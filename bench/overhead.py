"""What agenttrace adds to a call, against raw OpenTelemetry measured in the same run.

Run it with ``python bench/overhead.py`` (``--quick`` for a smoke run, ``--clients`` for the
instrumented-client rows alone, ``--logs-metrics`` for the structlog and metrics row alone).
Every case is timed in interleaved rounds and the best round is kept, which is the least
noisy estimate of the cost on a busy machine. Both sides use one SDK TracerProvider with a
SimpleSpanProcessor into an in-memory exporter (emptied between rounds).

Targets (printed with each figure):
- sync no-op step: at most 1.3x raw OpenTelemetry's cost for one span;
- a step declaring three failure modes and a fallback, succeeding first time: at most
  1.15x the same step without them;
- sampled out (ALWAYS_OFF): at most 2 us added over the bare call;
- 1 MB argument and result with capture on: within 1.5x of the same call with small arguments;
- a step through agenttrace's export pipeline: at most 1.3x a raw span through the SDK's
  BatchSpanProcessor;
- a step that logs one structlog event, with agenttrace's structlog processors and metrics
  on (an SDK MeterProvider): at most 1.2x the same step logging the same event without them;
- no per-call memory growth over 100 000 calls;
- a non-streamed chat call through the instrumented ``openai`` client (an in-process
  transport, no sockets): at most 1.10x the same call uninstrumented. The Anthropic
  client's row is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import logging
import os
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import structlog
import wrapt
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import agenttrace
import agenttrace.processors
from agenttrace import _metrics, _otel_logs, _runtime
from agenttrace._export import LogProcessor, Pipeline, estimate_log_size
from agenttrace._otlp import Delivery
from agenttrace._settings import Settings
from agenttrace.detectors import DETECTORS
from agenttrace.integrations import anthropic as anthropic_integration
from agenttrace.integrations import openai as openai_integration

MB = "x" * 1_000_000
PROSE = (
    "The customer wrote: I ordered a blue jacket on Monday (order A-1001) but it has not "
    "arrived; could you check the DHL tracking and tell me when it will be delivered? Thanks. "
) * 6000
PROSE_MB = PROSE[:1_000_000]


def best_per_call(
    cases: dict[str, Callable[[int], None]], calls: int, rounds: int, reset: Callable[[], None]
) -> dict[str, float]:
    """Seconds per call for each case: the best of ``rounds`` interleaved rounds."""
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, run in cases.items():
            reset()
            gc.collect()
            gc.disable()
            start = time.perf_counter()
            run(calls)
            elapsed = time.perf_counter() - start
            gc.enable()
            best[name] = min(best[name], elapsed / calls)
    return best


def loop(function: Callable[..., Any], *args: Any) -> Callable[[int], None]:
    def run(calls: int) -> None:
        for _ in range(calls):
            function(*args)

    return run


def async_loop(function: Callable[..., Any]) -> Callable[[int], None]:
    async def many(calls: int) -> None:
        for _ in range(calls):
            await function()

    def run(calls: int) -> None:
        asyncio.run(many(calls))

    return run


def provider_with(exporter: SpanExporter, **options: Any) -> TracerProvider:
    provider = TracerProvider(**options)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


class Discard(SpanExporter):
    """Drops every span: lets the memory case measure agenttrace, not a growing list."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:  # noqa: ARG002
        return SpanExportResult.SUCCESS


def use(provider: TracerProvider, *, capture: bool = False) -> None:
    _runtime.apply_settings(Settings(capture_content=capture))
    _runtime.use_tracer_provider(provider)


def timing_cases(calls: int, rounds: int) -> list[tuple[str, str, float, str, bool]]:
    exporter = InMemorySpanExporter()
    provider = provider_with(exporter)
    tracer = provider.get_tracer("bench")
    use(provider)
    rows: list[tuple[str, str, float, str, bool]] = []

    def noop() -> None:
        return None

    async def anoop() -> None:
        return None

    step = agenttrace.step(noop)
    astep = agenttrace.step(anoop)

    # A step that declares three failure modes (an exception, a value predicate, an explicit
    # one) and a fallback, and succeeds on its first try, against the same step undeclared.
    def one() -> int:
        return 1

    plain = agenttrace.step("plain")(one)
    declared = agenttrace.step(
        "declared",
        failure_modes=[
            agenttrace.FailureMode("invalid_output", on=(ValueError,), handling="fallback"),
            agenttrace.FailureMode("low_confidence", when=lambda v: v < 0, handling="fallback"),
            agenttrace.FailureMode("refused", handling="fallback"),
        ],
        fallbacks=[one],
    )(one)

    def raw() -> None:
        with tracer.start_as_current_span("noop"):
            noop()

    async def araw() -> None:
        with tracer.start_as_current_span("anoop"):
            await anoop()

    def nested_step(depth: int) -> Callable[[], None]:
        function: Callable[[], None] = noop
        for level in range(depth):
            function = agenttrace.step(f"level{level}")(function)
        return function

    def nested_raw(depth: int) -> None:
        if depth:
            with tracer.start_as_current_span("level"):
                nested_raw(depth - 1)

    ten = nested_step(10)
    best = best_per_call(
        {
            "bare": loop(noop),
            "raw": loop(raw),
            "step": loop(step),
            "plain": loop(plain),
            "declared": loop(declared),
            "araw": async_loop(araw),
            "astep": async_loop(astep),
            "raw10": loop(nested_raw, 10),
            "step10": loop(ten),
        },
        calls,
        rounds,
        exporter.clear,
    )
    ratio = best["step"] / best["raw"]
    rows.append(
        (
            "sync no-op step",
            f"{best['step'] * 1e6:.2f} us vs raw {best['raw'] * 1e6:.2f} us",
            ratio,
            "<= 1.30x",
            ratio <= 1.3,
        )
    )
    ratio = best["declared"] / best["plain"]
    rows.append(
        (
            "3 failure modes + fallback, ok",
            f"{best['declared'] * 1e6:.2f} us vs plain step {best['plain'] * 1e6:.2f} us",
            ratio,
            "<= 1.15x",
            ratio <= 1.15,
        )
    )
    ratio = best["astep"] / best["araw"]
    rows.append(
        (
            "async no-op step",
            f"{best['astep'] * 1e6:.2f} us vs raw {best['araw'] * 1e6:.2f} us",
            ratio,
            "(report)",
            True,
        )
    )
    ratio = best["step10"] / best["raw10"]
    rows.append(
        (
            "10 nested calls",
            f"{best['step10'] * 1e6:.2f} us vs raw {best['raw10'] * 1e6:.2f} us",
            ratio,
            "(report)",
            True,
        )
    )

    # Capture on: a 1 MB argument and result against small ones, same decorated function.
    use(provider, capture=True)

    @agenttrace.step
    def echo(text: str) -> str:
        return text

    small, big = "hello", MB
    best = best_per_call(
        {
            "small": loop(echo, small),
            "big": loop(echo, big),
            "prose": loop(echo, PROSE_MB),
            "raw": loop(raw),
        },
        calls,
        rounds,
        exporter.clear,
    )
    ratio = best["big"] / best["small"]
    rows.append(
        (
            "1 MB arg+result, capture on",
            f"{best['big'] * 1e6:.2f} us vs small {best['small'] * 1e6:.2f} us (raw span {best['raw'] * 1e6:.2f} us)",
            ratio,
            "<= 1.50x",
            ratio <= 1.5,
        )
    )
    ratio = best["prose"] / best["small"]
    rows.append(
        (
            "1 MB prose arg+result",
            (
                f"{best['prose'] * 1e6:.2f} us vs small {best['small'] * 1e6:.2f} us "
                "(redaction scans more of real text)"
            ),
            ratio,
            "(report)",
            True,
        )
    )

    # Sampled out: ALWAYS_OFF, against the bare call and raw OpenTelemetry.
    off = provider_with(exporter, sampler=ALWAYS_OFF)
    off_tracer = off.get_tracer("bench")
    use(off)
    step_off = agenttrace.step(noop)

    def raw_off() -> None:
        with off_tracer.start_as_current_span("noop"):
            noop()

    best = best_per_call(
        {"bare": loop(noop), "step": loop(step_off), "raw": loop(raw_off)},
        calls,
        rounds,
        exporter.clear,
    )
    added = (best["step"] - best["bare"]) * 1e6
    rows.append(
        (
            "sampled out (ALWAYS_OFF)",
            f"+{added:.2f} us over bare ({best['bare'] * 1e6:.2f} us); raw OTel +{(best['raw'] - best['bare']) * 1e6:.2f} us",
            best["step"] / best["raw"],
            "<= 2 us added",
            added <= 2.0,
        )
    )
    rows.append(pipeline_case(calls, rounds))
    return rows


class NullSink:
    """A destination that takes everything at once: measures the pipeline, not a network."""

    name = "null"

    def export(self, spans: Sequence[ReadableSpan], deadline: float | None = None) -> Delivery:
        del deadline
        return Delivery(len(spans), 0)

    def limit(self, deadline: float) -> None:
        pass

    def after_fork(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


def pipeline_case(calls: int, rounds: int) -> tuple[str, str, float, str, bool]:
    """A step through agenttrace's export pipeline against a raw span through the SDK's
    BatchSpanProcessor, both exporting to nowhere on a worker thread."""
    batch_provider = TracerProvider()
    batch_provider.add_span_processor(BatchSpanProcessor(Discard()))
    tracer = batch_provider.get_tracer("bench")
    ours = TracerProvider()
    pipeline = Pipeline(NullSink())
    ours.add_span_processor(pipeline)
    use(ours)

    def noop() -> None:
        return None

    step = agenttrace.step(noop)

    def raw() -> None:
        with tracer.start_as_current_span("noop"):
            noop()

    best = best_per_call({"raw": loop(raw), "step": loop(step)}, calls, rounds, lambda: None)
    batch_provider.shutdown()
    pipeline.close(1.0)
    ratio = best["step"] / best["raw"]
    return (
        "step via export pipeline",
        f"{best['step'] * 1e6:.2f} us vs raw + BatchSpanProcessor {best['raw'] * 1e6:.2f} us",
        ratio,
        "<= 1.30x",
        ratio <= 1.3,
    )


def structlog_chain(*, agenttrace_processors: bool) -> list[Any]:
    """The chain of ``configure_structlog(json=True)``, with or without agenttrace's processors."""
    chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *([agenttrace.processors.add_trace_context] if agenttrace_processors else []),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        *([agenttrace.processors.send_to_otlp] if agenttrace_processors else []),
        structlog.processors.JSONRenderer(),
    ]
    return chain


def logs_metrics_case(calls: int, rounds: int) -> tuple[str, str, float, str, bool]:
    """A step that logs one structlog event, with agenttrace's structlog processors and
    metrics on, against the same step logging the same event without them.

    "with": the chain of ``configure_structlog(json=True)`` into a null sink, and an SDK
    MeterProvider (an in-memory reader) agenttrace records on. "without": the same chain
    less ``add_trace_context`` and ``send_to_otlp``, and no MeterProvider. A third case,
    reported in the row's detail, also sends each event as an OTLP log record through
    agenttrace's log pipeline into a sink that takes everything.
    """
    exporter = InMemorySpanExporter()
    provider = provider_with(exporter)
    use(provider)
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    log_pipeline = Pipeline(NullSink(), size=estimate_log_size, nouns=("log record", "log records"))
    logger_provider = LoggerProvider(shutdown_on_exit=False)
    logger_provider.add_log_record_processor(LogProcessor(log_pipeline))
    log = structlog.get_logger("bench")

    def refund() -> None:
        log.info("refund issued", amount=20, currency="EUR")

    step = agenttrace.step("refund")(refund)
    null = Path(os.devnull).open("w")  # noqa: SIM115 (open for the whole case, closed below)

    def configure(*, on: bool) -> None:
        structlog.configure(
            processors=structlog_chain(agenttrace_processors=on),
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            logger_factory=structlog.PrintLoggerFactory(null),
            cache_logger_on_first_use=False,
        )
        _metrics.use_meter_provider(meter_provider if on else None)
        assert (_metrics.instruments() is not None) == on  # no global MeterProvider either

    def without(calls: int) -> None:
        configure(on=False)
        loop(step)(calls)

    def with_them(calls: int) -> None:
        configure(on=True)
        loop(step)(calls)

    def with_otlp_logs(calls: int) -> None:
        configure(on=True)
        _otel_logs.install(logger_provider)
        try:
            loop(step)(calls)
        finally:
            _otel_logs.uninstall()

    try:
        best = best_per_call(
            {"without": without, "with": with_them, "otlp": with_otlp_logs},
            calls,
            rounds,
            exporter.clear,
        )
    finally:
        _metrics.use_meter_provider(None)
        structlog.reset_defaults()
        null.close()
        log_pipeline.close(1.0)
        meter_provider.shutdown()
    dropped = sum(log_pipeline.counts().dropped.values())
    ratio = best["with"] / best["without"]
    return (
        "step + structlog + metrics",
        (
            f"{best['with'] * 1e6:.2f} us vs the same step and event without them "
            f"{best['without'] * 1e6:.2f} us; OTLP log records too {best['otlp'] * 1e6:.2f} us "
            f"({best['otlp'] / best['without']:.2f}x, {dropped} dropped)"
        ),
        ratio,
        "<= 1.20x",
        ratio <= 1.2,
    )


CHAT_COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Your order A-1001 ships today."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 21, "completion_tokens": 8, "total_tokens": 29},
}
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-haiku-4-5",
    "content": [{"type": "text", "text": "Your order A-1001 ships today."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 21, "output_tokens": 8},
}


def _transport(client_class: type, body: dict[str, Any]) -> Any:
    """An in-process transport answering ``body``, from the httpx the client library uses
    (some versions vendor it under another name)."""
    httpx = sys.modules[client_class.__mro__[1].__module__.partition(".")[0]]
    return httpx.MockTransport(lambda _request: httpx.Response(200, json=body))


def client_cases(calls: int, rounds: int) -> list[tuple[str, str, float, str, bool]]:
    """A chat call through each instrumented client against the same client uninstrumented,
    both answered by an in-process transport."""
    import anthropic  # noqa: PLC0415 (the bench's own extras)
    import openai  # noqa: PLC0415

    provider = provider_with(Discard())
    use(provider)
    openai_client = openai.OpenAI(
        api_key="bench",
        base_url="http://model.test/v1",
        http_client=openai.DefaultHttpxClient(
            transport=_transport(openai.DefaultHttpxClient, CHAT_COMPLETION)
        ),
    )
    anthropic_client = anthropic.Anthropic(
        api_key="bench",
        base_url="http://model.test",
        http_client=anthropic.DefaultHttpxClient(
            transport=_transport(anthropic.DefaultHttpxClient, MESSAGE)
        ),
        open_telemetry={"traces": False},  # the client's own spans would be timed too
    )
    messages = [{"role": "user", "content": "Where is my order A-1001?"}]

    def chat() -> None:
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]

    def message() -> None:
        anthropic_client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=100,
            messages=messages,  # type: ignore[arg-type]
        )

    tracer = provider.get_tracer("bench")
    modes = ",".join(mode.name for mode in DETECTORS if mode.name != "invalid_output")
    completions = importlib.import_module(
        "openai.resources.chat.completions.completions"
    ).Completions
    create = completions.__dict__["create"]

    def raw_span(wrapped: Any, _instance: Any, args: Any, kwargs: Any) -> Any:
        """What a hand-written OpenTelemetry wrapper records: the same 12 attributes."""
        model = kwargs["model"]
        with tracer.start_as_current_span(
            f"chat {model}",
            attributes={
                "agenttrace.kind": "model_call",
                "agenttrace.operation": "openai.chat.completions",
                "agenttrace.outcome": "ok",
                "agenttrace.failure_modes": modes,
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": model,
            },
        ) as span:
            response = wrapped(*args, **kwargs)
            span.set_attributes(
                {
                    "gen_ai.response.model": response.model,
                    "gen_ai.response.id": response.id,
                    "gen_ai.response.finish_reasons": tuple(
                        choice.finish_reason for choice in response.choices
                    ),
                    "gen_ai.usage.input_tokens": response.usage.prompt_tokens,
                    "gen_ai.usage.output_tokens": response.usage.completion_tokens,
                }
            )
            return response

    def by_hand(calls: int) -> None:
        completions.create = wrapt.FunctionWrapper(create, raw_span)
        try:
            loop(chat)(calls)
        finally:
            completions.create = create

    def patched(function: Callable[[], None]) -> Callable[[int], None]:
        def run(calls: int) -> None:
            openai_integration.instrument()
            anthropic_integration.instrument()
            try:
                loop(function)(calls)
            finally:
                openai_integration.uninstrument()
                anthropic_integration.uninstrument()

        return run

    cases = {
        "chat": loop(chat),
        "chat instrumented": patched(chat),
        "chat raw span": by_hand,
        "message": loop(message),
        "message instrumented": patched(message),
    }
    best = best_per_call(cases, calls, rounds, lambda: None)
    chat_ratio = best["chat instrumented"] / best["chat"]
    message_ratio = best["message instrumented"] / best["message"]
    raw_ratio = best["chat raw span"] / best["chat"]
    return [
        (
            "openai chat, instrumented",
            (
                f"{best['chat instrumented'] * 1e6:.1f} us vs the client alone "
                f"{best['chat'] * 1e6:.1f} us"
            ),
            chat_ratio,
            "<= 1.10x",
            chat_ratio <= 1.10,
        ),
        (
            "openai chat, raw OTel span",
            (
                f"{best['chat raw span'] * 1e6:.1f} us vs the client alone "
                f"{best['chat'] * 1e6:.1f} us (a hand-written wrapper, the same attributes)"
            ),
            raw_ratio,
            "(reference)",
            True,
        ),
        (
            "anthropic message, instrumented",
            (
                f"{best['message instrumented'] * 1e6:.1f} us vs the client alone "
                f"{best['message'] * 1e6:.1f} us"
            ),
            message_ratio,
            "(reported)",
            True,
        ),
    ]


def memory_case(calls: int) -> tuple[str, str, float, str, bool]:
    provider = provider_with(Discard())
    use(provider, capture=True)

    @agenttrace.step
    def work(x: int, payload: dict[str, int]) -> dict[str, int]:
        return {"x": x, **payload}

    payload = {"a": 1, "b": 2}
    for i in range(10_000):  # warm up caches and interning
        work(i, payload)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(calls):
        work(i, payload)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_call = (after - before) / calls
    return (
        "memory over calls",
        f"{after - before:+d} bytes after {calls} calls",
        per_call,
        "< 1 byte/call",
        per_call < 1.0,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run; figures are rough")
    parser.add_argument("--clients", action="store_true", help="only the instrumented-client rows")
    parser.add_argument(
        "--logs-metrics", action="store_true", help="only the structlog and metrics row"
    )
    options = parser.parse_args(argv)
    calls, rounds, memory_calls = (2_000, 2, 5_000) if options.quick else (20_000, 7, 100_000)
    client_calls = calls // 10  # a client call costs about 30 no-op steps
    log_calls = calls // 4  # a step that logs a JSON line costs about 3 no-op steps
    shown = client_calls if options.clients else log_calls if options.logs_metrics else calls
    print(
        f"agenttrace {agenttrace.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} cores; "
        f"{shown} calls x {rounds} rounds per case, best round"
    )
    if options.clients:
        rows = client_cases(client_calls, rounds)
    elif options.logs_metrics:
        rows = [logs_metrics_case(log_calls, rounds)]
    else:
        rows = [
            *timing_cases(calls, rounds),
            logs_metrics_case(log_calls, rounds),
            *client_cases(client_calls, rounds),
            memory_case(memory_calls),
        ]
    width = max(len(row[0]) for row in rows)
    for name, detail, ratio, target, met in rows:
        print(
            f"{name:<{width}}  {ratio:6.2f}x  {target:<14}  {'met' if met else 'MISSED'}  {detail}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
