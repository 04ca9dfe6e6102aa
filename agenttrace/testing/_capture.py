"""``Capture``: the spans, lifecycle events and log records of one test, and queries on them.

A capture records into a ``TracerProvider`` of its own, which it puts in force for
agenttrace while it runs and takes away after, putting back the provider that was in force
before: the one ``configure()`` set up, one the application gave, or none. A
``configure()`` called while a capture runs is remembered, not applied, and put in force
when the capture stops, so a test records every span it makes and leaves the application's
configuration as it would have been without the capture.

The OpenTelemetry SDK is imported when a capture is made, not when this module is.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.trace import StatusCode

from agenttrace import _inject, _runtime
from agenttrace import _semconv as sc

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from types import TracebackType

    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import TracerProvider
    from typing_extensions import Self

__all__ = ["Capture", "CapturedAttempt", "CapturedFailure", "CapturedOperation"]

_DROPPED: Final = frozenset({sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, sc.EXCEPTION_STACKTRACE})
"""Left out of ``dump()``: a duration, and a stack trace (paths and line numbers move)."""
_HEX_ID: Final = re.compile(r"\b(?:[0-9a-f]{32}|[0-9a-f]{16})\b")


@dataclass(frozen=True)
class CapturedFailure:
    """One failure an operation met: an ``agenttrace.failure`` event of its span."""

    mode: str | None
    """The failure mode's name; ``None`` for an exception no mode covers."""
    declared: bool
    """Whether the operation declares the mode (``False``: a surprise)."""
    handling: str | None
    """``retry``, ``fallback``, ``escalate``, ``accept`` or ``abort``; ``None`` when undeclared."""
    source: str | None
    """How it was detected: ``exception``, ``value``, ``recorded``, ``raised``,
    ``propagated`` or ``injected``."""
    error_type: str | None
    """The exception's class, when the failure is an exception."""
    attempt: int | None
    """The attempt it ended (1: the first try)."""
    details: dict[str, Any] = field(default_factory=dict)
    """What the failure was recorded with, bounded and redacted."""

    @property
    def label(self) -> str:
        """The mode's name, else the exception's class: how the tree names the failure."""
        return self.mode or self.error_type or "failure"


@dataclass(frozen=True, eq=False)
class CapturedAttempt:
    """A retry, a fallback or an escalation: an attempt span of an operation."""

    number: int | None
    """The attempt's number: 1 is the first try, so a first retry is 2."""
    type: str
    """``retry``, ``fallback`` or ``escalation``."""
    reason: str | None
    """The failure mode that caused it."""
    fallback: str | None
    """Fallbacks and escalations: the fallback's name (``human:{queue}`` for a hand-off)."""
    failure: str | None
    """When the attempt did not serve: the failure mode that ended it."""
    span: ReadableSpan = field(repr=False)
    """The attempt's span, as the SDK recorded it."""
    children: tuple[CapturedOperation, ...] = field(default=(), repr=False)
    """The operations it called, in start order."""


@dataclass(frozen=True, eq=False)
class CapturedOperation:
    """One recorded operation (agent, step, tool or model call), read from its span.

    Example:
        >>> from agenttrace.testing import Capture
        >>> import agenttrace
        >>> @agenttrace.step
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> with Capture() as capture:
        ...     double(21)
        42
        >>> capture.operation("double").outcome
        'ok'
    """

    name: str
    """The operation's name (``agenttrace.operation``)."""
    kind: str | None
    """``agent``, ``step``, ``tool`` or ``model_call``."""
    outcome: str
    """``ok``, ``recovered``, ``degraded``, ``escalated`` or ``failed``."""
    served_by: str | None
    """What produced the returned value when it was not a clean first try."""
    failures: tuple[CapturedFailure, ...] = field(repr=False)
    """Every failure it met, in order."""
    attempts: tuple[CapturedAttempt, ...] = field(repr=False)
    """Its retries, fallbacks and escalations, in order (the first try is not one)."""
    children: tuple[CapturedOperation, ...] = field(repr=False)
    """The operations it called, its attempts' included, in start order."""
    attributes: dict[str, Any] = field(repr=False)
    """Every attribute of its span."""
    span: ReadableSpan = field(repr=False)
    """Its span, as the SDK recorded it."""

    @property
    def retries(self) -> int:
        """How many times it was retried."""
        return sum(1 for a in self.attempts if a.type == sc.ATTEMPT_RETRY)

    @property
    def fallbacks(self) -> list[str]:
        """The fallbacks that ran (escalations included), by name, in order."""
        return [a.fallback for a in self.attempts if a.fallback is not None]

    @property
    def served_by_fallback(self) -> bool:
        """Whether a fallback or a human hand-off produced the returned value."""
        return self.served_by is not None and self.served_by in self.fallbacks

    @property
    def failure_modes(self) -> list[str]:
        """The names of the failures it met, in order (an exception's class without a mode)."""
        return [f.label for f in self.failures]

    @property
    def error_type(self) -> str | None:
        """The class of the exception it failed with, when it failed with one."""
        value = self.attributes.get(sc.ERROR_TYPE)
        return value if isinstance(value, str) else None

    @property
    def model(self) -> dict[str, Any]:
        """Its ``gen_ai.*`` attributes: the model asked for and the one that answered, tokens."""
        return {k: v for k, v in self.attributes.items() if k.startswith("gen_ai.")}

    def walk(self) -> Iterator[CapturedOperation]:
        """This operation, then every operation under it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


class _Records(logging.Handler):
    """Keeps every ``logging`` record that reaches the root logger."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_lock: Final = threading.Lock()


class Capture:
    """What one test recorded: spans, agenttrace's lifecycle events, ``logging`` records.

    The ``agenttrace_capture`` pytest fixture gives a started one; elsewhere, use it as a
    context manager (or call :meth:`start` and :meth:`stop`). Queries read what finished
    so far.

    Example:
        >>> import agenttrace
        >>> from agenttrace.testing import Capture
        >>> @agenttrace.tool
        ... def lookup(order: str) -> str:
        ...     return "shipped"
        >>> with Capture() as capture:
        ...     lookup("A-1")
        'shipped'
        >>> print(capture.tree())
        lookup [tool] ok
    """

    def __init__(self) -> None:
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415 (SDK: at use)
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
            InMemorySpanExporter,
        )
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON  # noqa: PLC0415

        self._exporter = InMemorySpanExporter()
        # Every span is kept, whatever OTEL_TRACES_SAMPLER says; no exit hook per capture.
        self.provider: Final = SdkTracerProvider(
            sampler=ALWAYS_ON, resource=Resource.get_empty(), shutdown_on_exit=False
        )
        """The provider the capture records with."""
        self.provider.add_span_processor(SimpleSpanProcessor(self._exporter))
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._logs = _Records()
        self._undo: Callable[[], None] | None = None
        self._restore: TracerProvider | None = None

    # --- lifecycle ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the capture is recording."""
        return self._undo is not None

    def start(self) -> Self:
        """Record agenttrace's spans, lifecycle events and ``logging`` records from now on.

        The capture's provider overrides whatever agenttrace records with; a
        ``configure()`` while it runs applies once it stops.

        Raises:
            RuntimeError: It is running already.
        """
        with _lock:
            if self.running:
                raise RuntimeError("this Capture is running already")
            self._restore = _runtime.state.override
            _runtime.override_tracer_provider(self.provider)
            self._undo = _inject.observe(self._observe)
            logging.getLogger().addHandler(self._logs)
        return self

    def stop(self) -> None:
        """Stop recording; the provider in force before (or configured since) applies again.

        What was recorded stays readable. Stopping a capture that is not running does
        nothing; captures started inside each other stop in reverse order.
        """
        with _lock:
            undo = self._undo
            if undo is None:
                return
            self._undo = None
            undo()
            logging.getLogger().removeHandler(self._logs)
            _runtime.override_tracer_provider(self._restore)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _observe(self, event: str, fields: Mapping[str, Any]) -> None:
        self._events.append((event, dict(fields)))

    def clear(self) -> None:
        """Forget what was recorded so far."""
        self._exporter.clear()
        self._events.clear()
        self._logs.records.clear()

    # --- what was recorded -----------------------------------------------------------

    @property
    def spans(self) -> tuple[ReadableSpan, ...]:
        """Every finished span, in the order they finished."""
        return self._exporter.get_finished_spans()

    @property
    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """The lifecycle events agenttrace logged, as ``(name, fields)``, in order.

        ``agenttrace.failure``, ``agenttrace.retry``, ``agenttrace.fallback``,
        ``agenttrace.escalation`` and ``agenttrace.outcome``, with the fields they are
        logged with (``docs/logging.md``).
        """
        return list(self._events)

    @property
    def logs(self) -> list[logging.LogRecord]:
        """The ``logging`` records that reached the root logger, in order.

        The loggers' levels still apply, as with pytest's ``caplog``.
        """
        return list(self._logs.records)

    def operations(
        self, name: str | None = None, *, kind: str | None = None
    ) -> list[CapturedOperation]:
        """The finished operations, in start order, optionally of one name or kind.

        Args:
            name: Only operations of this name (``agenttrace.operation``).
            kind: Only operations of this kind: ``agent``, ``step``, ``tool``,
                ``model_call`` (or an ``agenttrace.Kind``).
        """
        found = [op for root in self._roots() for op in root.walk()]
        found.sort(key=lambda op: _start(op.span))
        return [
            op
            for op in found
            if (name is None or op.name == name) and (kind is None or op.kind == kind)
        ]

    def operation(self, name: str) -> CapturedOperation:
        """The one finished operation named ``name``.

        Raises:
            AssertionError: None or several are named so; the message shows the tree.
        """
        found = self.operations(name)
        if len(found) != 1:
            self._fail(f"expected one operation {name!r}, found {len(found)}")
        return found[0]

    def tree(self) -> str:
        """The finished operations as an indented tree, one line per operation or attempt.

        Each line reads ``name [kind] outcome``, then what served the value and the
        failures met; an attempt reads ``↳ {type} #{number}``, with its reason.
        """
        lines: list[str] = []
        for root in self._roots():
            _render(root, 0, lines)
        return "\n".join(lines) or "(no operation recorded)"

    # --- assertions ------------------------------------------------------------------

    def assert_outcome(self, name: str, outcome: str) -> CapturedOperation:
        """Assert that operation ``name`` ended with ``outcome`` (``ok``, ``degraded``…)."""
        op = self.operation(name)
        if op.outcome != outcome:
            self._fail(f"{name!r}: expected outcome {outcome!r}, got {op.outcome!r}")
        return op

    def assert_failed_with(self, name: str, mode: str) -> CapturedOperation:
        """Assert that operation ``name`` met a failure of ``mode``, handled or not.

        An exception that no mode covers is matched by its class (its ``error.type``).
        """
        op = self.operation(name)
        if mode not in op.failure_modes:
            met = ", ".join(op.failure_modes) or "none"
            self._fail(f"{name!r}: expected a failure {mode!r}; failures met: {met}")
        return op

    def assert_served_by(self, name: str, fallback: str) -> CapturedOperation:
        """Assert that ``fallback`` (a fallback's name, ``human:{queue}``…) served ``name``."""
        op = self.operation(name)
        if op.served_by != fallback:
            self._fail(f"{name!r}: expected served by {fallback!r}, got {op.served_by!r}")
        return op

    def assert_retried(self, name: str, times: int | None = None) -> CapturedOperation:
        """Assert that operation ``name`` was retried: ``times`` times, or at least once."""
        op = self.operation(name)
        if (op.retries == 0) if times is None else (op.retries != times):
            expected = "at least once" if times is None else f"{times} time(s)"
            self._fail(f"{name!r}: expected retried {expected}, retried {op.retries} time(s)")
        return op

    def assert_no_failures(self) -> None:
        """Assert that no operation met a failure, handled or not, and none failed."""
        bad = [
            op.name for op in self.operations() if op.failures or op.outcome == sc.OUTCOME_FAILED
        ]
        if bad:
            self._fail(f"expected no failures; failures in: {', '.join(bad)}")

    def _fail(self, message: str) -> None:
        raise AssertionError(f"{message}\ncaptured operations:\n{_indent(self.tree())}")

    # --- snapshot ----------------------------------------------------------------------

    def dump(self) -> str:
        """The captured trace as normalised JSON, the same for every run of the same code.

        Spans are nested as a tree (roots and children in start order); trace and span
        ids become ``trace-1``, ``span-1``… in order of first appearance, wherever they
        occur; timestamps, durations (``gen_ai.response.time_to_first_chunk``) and stack
        traces are left out; keys are sorted.
        """
        spans = sorted(self.spans, key=_start)
        keys = {_key(s) for s in spans}
        kids: dict[tuple[int, int] | None, list[ReadableSpan]] = {}
        for span in spans:
            parent = _parent_key(span)
            kids.setdefault(parent if parent in keys else None, []).append(span)
        tokens = _Tokens()
        for span in _depth_first(kids, None):  # every id first: a value may name a later one
            tokens.ids(span)
        roots = [_span_json(span, kids, tokens) for span in kids.get(None, ())]
        return json.dumps({"spans": roots}, indent=2, sort_keys=True, ensure_ascii=False)

    # --- building the tree -------------------------------------------------------------

    def _roots(self) -> list[CapturedOperation]:
        spans = sorted(self.spans, key=_start)
        keys = {_key(s) for s in spans}
        kids: dict[tuple[int, int], list[ReadableSpan]] = {}
        for span in spans:
            parent = _parent_key(span)
            if parent in keys:
                kids.setdefault(parent, []).append(span)
        roots: list[ReadableSpan] = []
        for span in spans:
            if _parent_key(span) in keys:
                continue
            if _is_attempt(span):  # of an operation still running: its calls are roots
                roots.extend(s for s in kids.get(_key(span), []) if not _is_attempt(s))
            else:
                roots.append(span)
        roots.sort(key=_start)
        return [_operation(span, kids) for span in roots]


class _Tokens:
    """Stable stand-ins for ids, numbered in order of first appearance."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def get(self, hex_id: str, prefix: str) -> str:
        token = self.seen.get(hex_id)
        if token is None:
            self.counts[prefix] = self.counts.get(prefix, 0) + 1
            token = self.seen[hex_id] = f"{prefix}-{self.counts[prefix]}"
        return token

    def trace(self, trace_id: int) -> str:
        return self.get(format(trace_id, "032x"), "trace")

    def span(self, span_id: int) -> str:
        return self.get(format(span_id, "016x"), "span")

    def ids(self, span: ReadableSpan) -> tuple[str, str]:
        trace_id, span_id = _key(span)
        return self.trace(trace_id), self.span(span_id)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return _HEX_ID.sub(lambda m: self.seen.get(m.group(0), m.group(0)), value)
        if isinstance(value, (tuple, list)):
            return [self.value(v) for v in value]
        return value

    def attributes(self, attributes: Mapping[str, Any] | None) -> dict[str, Any]:
        return {k: self.value(v) for k, v in (attributes or {}).items() if k not in _DROPPED}


def _depth_first(
    kids: Mapping[tuple[int, int] | None, list[ReadableSpan]], parent: tuple[int, int] | None
) -> Iterator[ReadableSpan]:
    for span in kids.get(parent, ()):
        yield span
        yield from _depth_first(kids, _key(span))


def _span_json(
    span: ReadableSpan,
    kids: Mapping[tuple[int, int] | None, list[ReadableSpan]],
    tokens: _Tokens,
) -> dict[str, Any]:
    trace_id, span_id = tokens.ids(span)
    parent = span.parent
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_id": None if parent is None else tokens.span(parent.span_id),
        "status": {"code": span.status.status_code.name, "description": span.status.description},
        "attributes": tokens.attributes(span.attributes),
        "events": [
            {"name": e.name, "attributes": tokens.attributes(e.attributes)} for e in span.events
        ],
        "links": [
            {
                "trace_id": tokens.trace(link.context.trace_id),
                "span_id": tokens.span(link.context.span_id),
                "attributes": tokens.attributes(link.attributes),
            }
            for link in span.links
        ],
        "children": [_span_json(child, kids, tokens) for child in kids.get(_key(span), ())],
    }


def _start(span: ReadableSpan) -> int:
    return span.start_time or 0


def _key(span: ReadableSpan) -> tuple[int, int]:
    context = span.get_span_context()
    if context is None:  # never for a finished SDK span
        return 0, id(span)
    return context.trace_id, context.span_id


def _parent_key(span: ReadableSpan) -> tuple[int, int] | None:
    parent = span.parent
    return None if parent is None else (parent.trace_id, parent.span_id)


def _is_attempt(span: ReadableSpan) -> bool:
    return (span.attributes or {}).get(sc.KIND) == sc.KIND_ATTEMPT


def _operation(
    span: ReadableSpan, kids: Mapping[tuple[int, int], list[ReadableSpan]]
) -> CapturedOperation:
    attributes = dict(span.attributes or {})
    attempts: list[CapturedAttempt] = []
    children: list[CapturedOperation] = []
    for child in kids.get(_key(span), []):
        if _is_attempt(child):
            attempt = _attempt(child, kids)
            attempts.append(attempt)
            children.extend(attempt.children)
        else:
            children.append(_operation(child, kids))
    children.sort(key=lambda op: _start(op.span))
    outcome = attributes.get(sc.OUTCOME)
    if not isinstance(outcome, str):
        outcome = (
            sc.OUTCOME_FAILED if span.status.status_code is StatusCode.ERROR else sc.OUTCOME_OK
        )
    return CapturedOperation(
        name=str(attributes.get(sc.OPERATION, span.name)),
        kind=_text(attributes.get(sc.KIND)),
        outcome=outcome,
        served_by=_text(attributes.get(sc.SERVED_BY)),
        failures=tuple(
            _failure(e.attributes or {}) for e in span.events if e.name == sc.FAILURE_EVENT
        ),
        attempts=tuple(attempts),
        children=tuple(children),
        attributes=attributes,
        span=span,
    )


def _attempt(
    span: ReadableSpan, kids: Mapping[tuple[int, int], list[ReadableSpan]]
) -> CapturedAttempt:
    attributes = span.attributes or {}
    number = attributes.get(sc.ATTEMPT)
    return CapturedAttempt(
        number=number if isinstance(number, int) else None,
        type=str(attributes.get(sc.ATTEMPT_TYPE, "")),
        reason=_text(attributes.get(sc.ATTEMPT_REASON)),
        fallback=_text(attributes.get(sc.FALLBACK_NAME)),
        failure=_text(attributes.get(sc.FAILURE_MODE)),
        span=span,
        children=tuple(
            _operation(child, kids) for child in kids.get(_key(span), []) if not _is_attempt(child)
        ),
    )


def _failure(attributes: Mapping[str, Any]) -> CapturedFailure:
    attempt = attributes.get(sc.ATTEMPT)
    return CapturedFailure(
        mode=_text(attributes.get(sc.FAILURE_MODE)),
        declared=bool(attributes.get(sc.FAILURE_DECLARED, False)),
        handling=_text(attributes.get(sc.FAILURE_HANDLING)),
        source=_text(attributes.get(sc.FAILURE_SOURCE)),
        error_type=_text(attributes.get(sc.ERROR_TYPE)),
        attempt=attempt if isinstance(attempt, int) else None,
        details={
            k.removeprefix(sc.FAILURE_DETAIL_PREFIX): v
            for k, v in attributes.items()
            if k.startswith(sc.FAILURE_DETAIL_PREFIX)
        },
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _render(op: CapturedOperation, depth: int, lines: list[str]) -> None:
    parts = [f"{'  ' * depth}{op.name} [{op.kind or 'span'}] {op.outcome}"]
    if op.served_by is not None and op.served_by != op.name:
        parts.append(f"served_by={op.served_by}")
    if op.failures:
        met = ", ".join(f"{f.label}:{f.handling or 'undeclared'}" for f in op.failures)
        parts.append(f"failures=[{met}]")
    if op.error_type is not None and op.outcome == sc.OUTCOME_FAILED:
        parts.append(f"error={op.error_type}")
    lines.append(" ".join(parts))
    under: list[tuple[int, CapturedOperation | CapturedAttempt]] = [
        (_start(a.span), a) for a in op.attempts
    ]
    inside = {id(c) for a in op.attempts for c in a.children}
    under += [(_start(c.span), c) for c in op.children if id(c) not in inside]
    for _, item in sorted(under, key=lambda pair: pair[0]):
        if isinstance(item, CapturedOperation):
            _render(item, depth + 1, lines)
            continue
        parts = [f"{'  ' * (depth + 1)}↳ {item.type} #{item.number}"]
        if item.fallback is not None:
            parts.append(item.fallback)
        if item.reason is not None:
            parts.append(f"reason={item.reason}")
        if item.failure is not None:
            parts.append(f"failed={item.failure}")
        lines.append(" ".join(parts))
        for child in item.children:
            _render(child, depth + 2, lines)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
