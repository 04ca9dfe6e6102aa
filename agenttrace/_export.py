"""The export pipeline: a bounded queue, one worker thread, deadlines, and exact accounting.

The SDK's ``BatchSpanProcessor`` is not used because it cannot keep agenttrace's promises:
its ``force_flush`` ignores the timeout and reports success whatever happened, its shutdown
waits up to 30 s for a dead collector, it bounds the queue in spans only, and it counts
drops only when an internal-metrics switch is on.

This processor keeps them. ``on_end`` (in the caller's thread) only estimates the span's
size and appends it to a queue bounded in spans and in bytes. A daemon thread exports
batches. ``force_flush`` and ``shutdown`` return by their deadline whatever the collector
does. Every span that reaches ``on_start`` is, at any moment, exactly one of: open (not
ended yet), queued (waiting or being exported), exported, failed (the backend did not take
it), or dropped for a reason in :data:`DROP_REASONS`.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.trace import SpanProcessor

from ._internal import internal_error, log_limited, logger
from ._otlp import Delivery

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span

QUEUE_FULL: Final = "queue_full"
TOO_LARGE: Final = "too_large"
SHUTDOWN_DEADLINE: Final = "shutdown_deadline"
AFTER_SHUTDOWN: Final = "after_shutdown"
DROP_REASONS: Final = (QUEUE_FULL, TOO_LARGE, SHUTDOWN_DEADLINE, AFTER_SHUTDOWN)
"""Why a finished span was not sent at all."""

_NOT_TAKEN: Final = frozenset({"HTTP 404", "HTTP 405", "HTTP 501"})
_YIELD_EVERY: Final = 64
"""While a batch or more waits, the caller's thread yields the GIL once per this many."""
_SPAN_OVERHEAD: Final = 96
"""Bytes an encoded span takes besides its strings: ids, times, kind, status."""
_VALUE_OVERHEAD: Final = 8


class Sink(Protocol):
    """Where batches go: the local file or an OTLP endpoint."""

    @property
    def name(self) -> str:
        """What stats() and warnings call this destination."""

    def export(self, spans: Sequence[Any], deadline: float | None = None) -> Delivery:
        """Deliver spans or log records; never wait past ``deadline`` (``time.monotonic()``)."""

    def limit(self, deadline: float) -> None:
        """Shutdown has begun: never wait past ``deadline`` from now on."""

    def after_fork(self) -> None:
        """In a forked child: drop what is shared with the parent (connections, locks)."""

    def shutdown(self) -> None:
        """Release connections and files."""


def _plain(attributes: object) -> Mapping[str, object]:
    """The plain dict behind the SDK's ``BoundedAttributes`` when there is one.

    Reading it directly is several times faster than through the public read-only view,
    whose every item goes through Python-level methods; anything else is read the public
    way. ``tests/test_export.py`` checks that both ways give the same estimate.
    """
    inner = getattr(attributes, "_dict", None)
    if inner.__class__ is dict:
        return inner
    return attributes if isinstance(attributes, Mapping) else {}


def _attributes_size(attributes: Mapping[str, object]) -> int:
    if not attributes:
        return 0
    size = _VALUE_OVERHEAD * len(attributes)
    for key, value in attributes.items():
        size += len(key)
        if value.__class__ is str:
            size += len(value)
        elif value.__class__ is tuple or value.__class__ is list:
            size += sum(len(v) if v.__class__ is str else _VALUE_OVERHEAD for v in value)
    return size


def estimate_size(span: ReadableSpan) -> int:
    """Roughly how many bytes ``span`` takes once encoded (strings count one byte a character)."""
    size = _SPAN_OVERHEAD + len(span.name)
    attributes = getattr(span, "_attributes", None)
    size += _attributes_size(_plain(attributes if attributes is not None else span.attributes))
    # The deques behind the SDK's BoundedLists, when there are: the public views copy.
    events = getattr(getattr(span, "_events", None), "_dq", None)
    if events.__class__ is not deque:
        events = span.events
    for event in events:
        size += _SPAN_OVERHEAD // 2 + len(event.name) + _attributes_size(_plain(event.attributes))
    links = getattr(getattr(span, "_links", None), "_dq", None)
    if links.__class__ is not deque:
        links = span.links
    for link in links:
        size += _SPAN_OVERHEAD // 2 + _attributes_size(_plain(link.attributes))
    return size


def estimate_log_size(record: Any) -> int:
    """Roughly how many bytes a log record takes once encoded."""
    inner = getattr(record, "log_record", record)
    body = getattr(inner, "body", None)
    size = _SPAN_OVERHEAD + (len(body) if body.__class__ is str else _VALUE_OVERHEAD)
    attributes = getattr(inner, "attributes", None)
    return size + _attributes_size(_plain(attributes) if attributes is not None else {})


@dataclass
class _Batch:
    spans: list[ReadableSpan]
    last_seq: int
    settled: bool = False
    """Counted already: by the worker when the export returned, or by a shutdown deadline."""


@dataclass(frozen=True)
class Counts:
    """A consistent snapshot of the pipeline's counters."""

    started: int = 0
    open: int = 0
    queued: int = 0
    exported: int = 0
    failed: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    failures: dict[str, int] = field(default_factory=dict)
    """Failed spans by the reason the export gave."""
    destination: str = ""

    @property
    def lost(self) -> int:
        """Spans that will never be delivered."""
        return self.failed + sum(self.dropped.values())


class Pipeline(SpanProcessor):
    """Exports finished spans in batches from a bounded queue, within deadlines.

    Args:
        sink: Where batches go.
        max_queue_spans: Finished spans that may wait, at most.
        max_queue_bytes: Their estimated size, at most.
        max_span_bytes: A span estimated larger is dropped as ``too_large``; also the most
            one batch carries.
        max_batch_spans: Spans per batch, at most.
        schedule_delay: Seconds a finished span waits, at most, before its batch goes.
        timeout: The default deadline of ``force_flush`` and ``shutdown``, in seconds.
        size: Estimates an item's encoded size in bytes; spans by default.
        nouns: What an item is called in warnings, singular and plural.
        hint: Added to the warning when the collector answers that it does not take
            these items at that URL (HTTP 404, 405 or 501).

    Log records go through the same pipeline: :meth:`emit` counts and queues one.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        max_queue_spans: int = 2048,
        max_queue_bytes: int = 32 * 1024 * 1024,
        max_span_bytes: int = 4 * 1024 * 1024,
        max_batch_spans: int = 512,
        schedule_delay: float = 1.0,
        timeout: float = 2.0,
        size: Callable[[Any], int] = estimate_size,
        nouns: tuple[str, str] = ("span", "spans"),
        hint: str = "",
    ) -> None:
        self.sink = sink
        self._hint = hint
        self._size = size
        self._noun, self._nouns = nouns
        self._max_queue_spans = max_queue_spans
        self._max_queue_bytes = max_queue_bytes
        self._max_span_bytes = max_span_bytes
        self._max_batch_spans = max_batch_spans
        self._schedule_delay = schedule_delay
        self.timeout = timeout
        self._init_state()
        self._started = 0
        self._ended = 0
        self._closed = False
        self._shutdown_done = False
        reinit = weakref.WeakMethod(self._after_fork_in_child)
        os.register_at_fork(after_in_child=lambda: _call_weak(reinit))

    def _init_state(self) -> None:
        # The hot path takes the plain lock (a C call); the worker and the waiters use the
        # condition built on it (Condition.__enter__ is a Python-level call).
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: deque[tuple[ReadableSpan, int]] = deque()
        self._queued_bytes = 0
        self._enqueued_seq = 0
        self._taken_seq = 0
        self._handled_seq = 0
        self._in_flight: _Batch | None = None
        self._flush_waiters = 0
        self._stopping = False
        self._deadline: float | None = None
        self._worker: threading.Thread | None = None
        self._exported = 0
        self._failed = 0
        self._failed_batches = 0
        self._dropped = dict.fromkeys(DROP_REASONS, 0)
        self._failures: dict[str, int] = {}

    # --- the caller's thread ------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Count the span."""
        del span, parent_context
        with self._lock:
            self._started += 1

    def emit(self, item: Any) -> None:
        """Count and queue an item that has no start of its own (a log record)."""
        try:
            self._enqueue(item, start=True)
        except Exception as exc:
            internal_error("export", exc)

    def on_end(self, span: ReadableSpan) -> None:
        """Queue the span for export, or drop and count it; never blocks on I/O."""
        try:
            self._enqueue(span)
        except Exception as exc:
            internal_error("export", exc)

    def _enqueue(self, span: ReadableSpan, *, start: bool = False) -> None:
        size = self._size(span)
        reason = None
        wake = False
        with self._lock:
            self._started += start
            self._ended += 1
            queue = self._queue
            if self._closed:
                reason = AFTER_SHUTDOWN
            elif size > self._max_span_bytes:
                reason = TOO_LARGE
            elif (
                len(queue) >= self._max_queue_spans
                or self._queued_bytes + size > self._max_queue_bytes
            ):
                reason = QUEUE_FULL
            else:
                queue.append((span, size))
                self._queued_bytes += size
                self._enqueued_seq += 1
                waiting = len(queue)
                if waiting == self._max_batch_spans:
                    self._cond.notify()
                wake = waiting >= self._max_batch_spans and waiting % _YIELD_EVERY == 0
                if self._worker is None:
                    self._start_worker()
            if reason is not None:
                self._dropped[reason] += 1
        if reason is None:
            if wake:
                # A thread that often blocks briefly (writing logs, say) can keep the worker
                # from the GIL for hundreds of milliseconds: CPython hands the GIL over when
                # asked, and the waiting worker sees it change hands and never asks. While
                # a batch or more waits, yielding now and then, outside the lock, lets the
                # worker run.
                time.sleep(0)
            return
        log_limited(
            f"drop {self._noun} {reason}",
            f"agenttrace: dropped a {'finished span' if self._noun == 'span' else self._noun} "
            "(%s); %d more since the last warning. agenttrace.stats() has the counts.",
            reason,
        )

    def _start_worker(self) -> None:
        worker = threading.Thread(target=self._run, name="agenttrace-export", daemon=True)
        worker.start()
        self._worker = worker

    # --- the worker thread --------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                batch = self._next_batch()
                if batch is None:
                    return
                deadline = self._deadline
            delivery = self._export(batch, deadline)
            with self._cond:
                self._settle(batch, delivery)
            if delivery.failed:
                hint = self._hint if delivery.reason in _NOT_TAKEN else ""
                log_limited(
                    f"export {self._noun}",
                    f"agenttrace: could not deliver %d {self._nouns} to %s (%s)%s; %d more "
                    "failed batches since the last warning. agenttrace.stats() has the counts.",
                    delivery.failed,
                    self.sink.name,
                    delivery.reason,
                    hint,
                )

    def _next_batch(self) -> _Batch | None:
        """Wait for a batch worth sending (lock held); ``None`` once stopped and drained."""
        # Like the SDK's batch processor, the worker wakes on a timer, not for each span:
        # waking it per span would cost the callers more than the export does.
        queue = self._queue
        due = time.monotonic() + self._schedule_delay
        while True:
            if self._stopping and not queue:
                return None
            if queue and (
                len(queue) >= self._max_batch_spans
                or self._flush_waiters
                or self._stopping
                or time.monotonic() >= due
            ):
                break
            if time.monotonic() >= due:
                due = time.monotonic() + self._schedule_delay
            self._cond.wait(max(due - time.monotonic(), 0.0))
        spans: list[ReadableSpan] = []
        total = 0
        while queue and len(spans) < self._max_batch_spans:
            span, size = queue[0]
            if spans and total + size > self._max_span_bytes:
                break
            queue.popleft()
            spans.append(span)
            total += size
        self._queued_bytes -= total
        self._taken_seq += len(spans)
        self._in_flight = _Batch(spans, self._taken_seq)
        return self._in_flight

    def _export(self, batch: _Batch, deadline: float | None) -> Delivery:
        try:
            delivery = self.sink.export(batch.spans, deadline)
        except Exception as exc:
            logger.debug("agenttrace: the exporter raised", exc_info=exc)
            return Delivery(0, len(batch.spans), f"the exporter raised {type(exc).__name__}")
        count = len(batch.spans)
        delivered = max(0, min(delivery.delivered, count))
        return Delivery(delivered, count - delivered, delivery.reason)

    def _settle(self, batch: _Batch, delivery: Delivery) -> None:
        """Count an exported batch, unless a shutdown deadline counted it first (lock held)."""
        if self._in_flight is batch:
            self._in_flight = None
        self._handled_seq = max(self._handled_seq, batch.last_seq)
        if not batch.settled:
            batch.settled = True
            self._exported += delivery.delivered
            if delivery.failed:
                self._failed += delivery.failed
                self._failed_batches += 1
                reason = delivery.reason or "unknown"
                self._failures[reason] = self._failures.get(reason, 0) + delivery.failed
        self._cond.notify_all()

    # --- flush and shutdown -------------------------------------------------------------

    def force_flush(self, timeout_millis: int | None = None) -> bool:
        """Export everything queued now; ``True`` only if all of it was delivered in time.

        Args:
            timeout_millis: The deadline; the pipeline's ``timeout`` by default.
        """
        timeout = self.timeout if timeout_millis is None else timeout_millis / 1000
        end = time.monotonic() + timeout
        with self._cond:
            target = self._enqueued_seq
            failures = self._failed_batches
            if self._handled_seq >= target:
                return True
            self._flush_waiters += 1
            self._cond.notify_all()
            try:
                while self._handled_seq < target:
                    remaining = end - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return self._failed_batches == failures
            finally:
                self._flush_waiters -= 1

    def shutdown(self) -> None:
        """Close with the default deadline (the SDK's interface)."""
        self.close()

    def close(self, timeout: float | None = None) -> bool:
        """Export what is queued within the deadline, then count the rest as dropped.

        Spans that end later are dropped as ``after_shutdown``. Safe to call more than
        once and from several threads; later calls wait (within their own deadline) for
        the first to finish.

        Args:
            timeout: Seconds; the pipeline's ``timeout`` by default.

        Returns:
            ``True`` if everything queued was delivered.
        """
        end = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._cond:
            if self._closed:
                while not self._shutdown_done and (remaining := end - time.monotonic()) > 0:
                    self._cond.wait(remaining)
                return self._shutdown_done and not self._queue and self._in_flight is None
            self._closed = self._stopping = True
            self._deadline = end
            failures = self._failed_batches
            self._cond.notify_all()
            self.sink.limit(end)
            while (self._queue or self._in_flight) and (remaining := end - time.monotonic()) > 0:
                self._cond.wait(remaining)
            abandoned = len(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
            batch = self._in_flight
            if batch is not None and not batch.settled:
                batch.settled = True
                abandoned += len(batch.spans)
            self._dropped[SHUTDOWN_DEADLINE] += abandoned
            self._handled_seq = self._enqueued_seq
            delivered = abandoned == 0 and self._failed_batches == failures
        bounded_call(self.sink.shutdown, max(end - time.monotonic(), 0.05))
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            # A batch given up at the deadline is still held while its export returns (the
            # sink was told the deadline): let the worker finish and let go of its spans.
            worker.join(max(end - time.monotonic(), 0.05))
        counts = self.counts()
        if counts.lost:
            logger.warning(
                f"agenttrace: %d of %d {self._nouns} were not delivered to %s: %s. "
                "agenttrace.stats() has the counts.",
                counts.lost,
                counts.started,
                self.sink.name,
                _describe_losses(counts),
            )
        with self._cond:
            self._shutdown_done = True
            self._cond.notify_all()
        return delivered

    def counts(self) -> Counts:
        """The counters, consistent with each other."""
        with self._cond:
            in_flight = self._in_flight
            queued = len(self._queue)
            if in_flight is not None and not in_flight.settled:
                queued += len(in_flight.spans)
            return Counts(
                started=self._started,
                open=self._started - self._ended,
                queued=queued,
                exported=self._exported,
                failed=self._failed,
                dropped=dict(self._dropped),
                failures=dict(self._failures),
                destination=self.sink.name,
            )

    def _after_fork_in_child(self) -> None:
        # The parent's queue and worker belong to the parent: the child starts empty, and
        # the spans still open at the fork are the child's to finish.
        still_open = self._started - self._ended
        self._init_state()
        self._started, self._ended = still_open, 0
        self.sink.after_fork()


def _call_weak(method: weakref.WeakMethod[Callable[[], None]]) -> None:
    bound = method()
    if callable(bound):
        bound()


def _describe_losses(counts: Counts) -> str:
    parts = [f"{n} {reason.replace('_', ' ')}" for reason, n in counts.dropped.items() if n]
    parts += [f"{n} failed ({reason})" for reason, n in counts.failures.items()]
    return ", ".join(parts)


def bounded_call(call: object, timeout: float) -> None:
    """Run ``call`` in a daemon thread and wait for it ``timeout`` seconds at most."""
    assert callable(call)  # noqa: S101 (internal use only)

    def run() -> None:
        try:
            call()
        except Exception as exc:
            logger.debug("agenttrace: the exporter's shutdown raised", exc_info=exc)

    thread = threading.Thread(target=run, name="agenttrace-shutdown", daemon=True)
    thread.start()
    thread.join(timeout)


class LogProcessor(LogRecordProcessor):
    """Hands each log record to a :class:`Pipeline` (the SDK's ``LogRecordProcessor``)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def on_emit(self, log_record: Any) -> None:
        """Queue the record, or drop and count it; never blocks on I/O."""
        self.pipeline.emit(log_record)

    emit = on_emit  # the name older SDK releases call

    def shutdown(self) -> None:
        """Close the pipeline with its default deadline."""
        self.pipeline.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export what is queued within ``timeout_millis``."""
        return self.pipeline.force_flush(timeout_millis)
