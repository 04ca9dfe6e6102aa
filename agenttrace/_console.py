"""The console renderer: each finished agent run printed as one compact tree, for development.

Finished spans wait in a buffer, by trace, until their run's *local root* ends (a span with
no parent, or with a remote one). Then the root and its buffered descendants are written
with a single ``write`` call::

    invoke_agent support-bot  agent  1.24 s  recovered
    ├─ classify  step  410 ms  recovered  failure: low_confidence  served by: keyword_classifier
    │  └─ chat gpt-4o-mini  model_call  302 ms  ok
    └─ execute_tool lookup_order  tool  3.1 ms  failed  error: KeyError

Span names and attribute values are user text: every control character in them (line
breaks, escape sequences, C0 and C1 controls, bidirectional overrides) is shown escaped, so
a span can never forge lines or colours, and each field is cut at 120 characters.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Final, TextIO

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import StatusCode

from . import _semconv as sc
from ._internal import internal_error

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

MAX_FIELD_CHARS: Final = 120
"""The longest a displayed field gets; longer ones end with an ellipsis."""

_UNSAFE: Final = (
    *range(0x20),  # C0 controls, ESC among them
    *range(0x7F, 0xA0),  # DEL and the C1 controls (CSI, NEL…)
    0x061C,  # the Arabic letter mark and the other bidirectional marks and overrides:
    0x200E,  # they reorder what the terminal shows
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x2028,  # line and paragraph separators
    0x2029,
    *range(0xD800, 0xE000),  # lone surrogates: no encoder can write them
)
_ESCAPES: Final = {code: repr(chr(code))[1:-1] for code in _UNSAFE}
"""Each unsafe character to its Python escape: ``\\n``, ``\\x1b``, ``\\u202e``…"""

_RESET: Final = "\x1b[0m"
_DIM: Final = "\x1b[2m"
_YELLOW: Final = "\x1b[33m"
_SERVED: Final = "served"
_OUTCOME_COLOURS: Final = {
    sc.OUTCOME_OK: "\x1b[32m",
    sc.OUTCOME_RECOVERED: _YELLOW,
    sc.OUTCOME_DEGRADED: _YELLOW,
    sc.OUTCOME_ESCALATED: "\x1b[35m",
    sc.OUTCOME_FAILED: "\x1b[31m",
    _SERVED: "\x1b[32m",
}

_BRANCH: Final = "├─ "
_LAST_BRANCH: Final = "└─ "
_TRUNK: Final = "│  "
_NO_TRUNK: Final = "   "


def _cap(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean(value: object) -> str:
    r"""``value`` as safe display text: control characters escaped, at most 120 characters.

    Example:
        >>> clean("a\nb\x1b[31m")
        'a\\nb\\x1b[31m'
        >>> len(clean("x" * 500))
        120
    """
    text = value if isinstance(value, str) else str(value)
    # Cut before escaping so a huge value costs no more than a short one; escaping only
    # lengthens the text, so the cap after it still applies.
    return _cap(text[: MAX_FIELD_CHARS + 1].translate(_ESCAPES))


_UNITS: Final = ((999_500, 1e3, "µs"), (999_500_000, 1e6, "ms"), (59_950_000_000, 1e9, "s"))
"""(below how many nanoseconds, nanoseconds per unit, unit): each unit holds what still
rounds below 1000 of it, so 999.6 ms reads ``1 s``, never ``1e+03 ms``."""
_MINUTES_PER_HOUR: Final = 60


def duration(nanoseconds: int) -> str:
    """A duration, short, with three significant digits under a minute.

    Example:
        >>> [duration(n) for n in (850_000, 12_300_000, 1_240_000_000, 123_000_000_000)]
        ['850 µs', '12.3 ms', '1.24 s', '2 min 3 s']
    """
    nanoseconds = max(nanoseconds, 0)
    for below, per_unit, unit in _UNITS:
        if nanoseconds < below:
            return f"{nanoseconds / per_unit:.3g} {unit}"
    minutes, seconds = divmod(round(nanoseconds / 1e9), 60)
    if minutes < _MINUTES_PER_HOUR:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class _Run:
    """The buffered spans of one trace, and how many more were not kept."""

    __slots__ = ("omitted", "spans")

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []
        self.omitted = 0


class ConsoleRenderer(SpanProcessor):
    """A span processor that prints each finished agent run as a tree.

    Add it to a ``TracerProvider``; ``agenttrace.configure(console=True)`` does that for
    you. Memory is bounded: at most ``max_traces`` unfinished runs are buffered (beyond, the
    one that has been quiet longest is discarded) and at most ``max_spans_per_trace`` spans
    each (beyond, spans are counted and the tree ends with ``… N more spans not shown``).

    Args:
        stream: Where to write. ``None``: ``sys.stderr``, looked up at each write.
        color: ``True`` or ``False`` forces ANSI colour on or off. ``None``: colour only when
            the stream is a terminal and ``NO_COLOR`` is unset or empty.
        max_traces: How many unfinished runs to buffer at once.
        max_spans_per_trace: How many spans to keep per run, besides its root.

    Raises:
        ValueError: A bound is negative.

    Example:
        >>> import io
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> out = io.StringIO()
        >>> provider = TracerProvider(shutdown_on_exit=False)
        >>> provider.add_span_processor(ConsoleRenderer(out))
        >>> tracer = provider.get_tracer("example")
        >>> tracer.start_span("invoke_agent bot", start_time=0).end(end_time=1_240_000_000)
        >>> print(out.getvalue(), end="")
        invoke_agent bot  1.24 s  ok
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        color: bool | None = None,
        max_traces: int = 256,
        max_spans_per_trace: int = 2000,
    ) -> None:
        if max_traces < 0 or max_spans_per_trace < 0:
            raise ValueError(
                "ConsoleRenderer: max_traces and max_spans_per_trace must not be negative"
            )
        self._stream = stream
        self._color = color
        self._max_traces = max_traces
        self._max_spans = max_spans_per_trace
        self._lock = threading.Lock()
        self._runs: OrderedDict[int, _Run] = OrderedDict()
        """Unfinished runs by trace id, the most recently updated last."""
        self._discarded: OrderedDict[int, int] = OrderedDict()
        """How many spans each evicted run lost, so its tree can say so (bounded too)."""
        self._write_lock = threading.Lock()
        self._closed = False

    def on_end(self, span: ReadableSpan) -> None:
        """Buffer ``span``; when it is a local root, print its run. Never raises.

        An error (a closed stream, a broken pipe) is an internal error of the ``console``
        stage: counted and logged, or raised in strict mode.
        """
        try:
            taken = self._take(span)
            if taken is not None:
                self._write(self._render(span, *taken))
        except Exception as exc:
            internal_error("console", exc)

    def shutdown(self) -> None:
        """Forget every buffered run and print nothing more."""
        with self._lock:
            self._closed = True
            self._runs.clear()
            self._discarded.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing to do: a run prints as soon as its root ends.

        Returns:
            ``True``.
        """
        del timeout_millis
        return True

    def _take(self, span: ReadableSpan) -> tuple[list[ReadableSpan], int] | None:
        """Buffer a descendant (``None``), or take a root's run: its spans and omitted count."""
        context = span.context
        if context is None:
            return None
        trace_id = context.trace_id
        parent = span.parent
        with self._lock:
            if self._closed:
                return None
            if parent is None or parent.is_remote:
                run = self._runs.pop(trace_id, None)
                discarded = self._discarded.pop(trace_id, 0)
                if run is None:
                    return [], discarded
                return run.spans, run.omitted + discarded
            run = self._runs.get(trace_id)
            if run is None:
                run = self._runs[trace_id] = _Run()
                self._evict()
            else:
                self._runs.move_to_end(trace_id)
            if len(run.spans) < self._max_spans:
                run.spans.append(span)
            else:
                run.omitted += 1
            return None

    def _evict(self) -> None:
        """Discard the runs beyond ``max_traces``, quietest first (the lock is held)."""
        while len(self._runs) > self._max_traces:
            trace_id, run = self._runs.popitem(last=False)
            lost = len(run.spans) + run.omitted
            self._discarded[trace_id] = self._discarded.get(trace_id, 0) + lost
            while len(self._discarded) > self._max_traces:
                self._discarded.popitem(last=False)

    def _render(self, root: ReadableSpan, spans: list[ReadableSpan], omitted: int) -> str:
        """The tree of ``root`` and ``spans`` as text, one line per span, ending in a newline."""
        root_id = root.context.span_id if root.context is not None else 0
        known = {span.context.span_id for span in spans if span.context is not None}
        children: dict[int, list[ReadableSpan]] = {}
        for span in spans:
            parent_id = span.parent.span_id if span.parent is not None else root_id
            if parent_id not in known:
                parent_id = root_id  # its parent never arrived (or was not kept)
            children.setdefault(parent_id, []).append(span)
        for siblings in children.values():
            siblings.sort(key=lambda span: span.start_time or 0)

        color = self._use_color()
        lines = [self._line(root, color)]
        # Depth-first without recursion: a run may nest thousands of spans deep. Popping each
        # span's children once means a malformed parent cycle cannot loop.
        stack: list[tuple[ReadableSpan, str, bool]] = []
        _push(stack, children.pop(root_id, []), "")
        while stack:
            span, prefix, last = stack.pop()
            lines.append(f"{prefix}{_LAST_BRANCH if last else _BRANCH}{self._line(span, color)}")
            if span.context is not None:
                kids = children.pop(span.context.span_id, [])
                _push(stack, kids, prefix + (_NO_TRUNK if last else _TRUNK))
        omitted += len(spans) + 1 - len(lines)  # spans no path from the root reached
        if omitted:
            lines.append(f"… {omitted} more spans not shown")
        return "\n".join(lines) + "\n"

    def _line(self, span: ReadableSpan, color: bool) -> str:
        """One span: name, kind, duration, outcome, then the failure details present."""
        attributes = span.attributes or {}
        kind = attributes.get(sc.KIND)
        took = duration((span.end_time or 0) - (span.start_time or 0))
        meta = took if kind is None else f"{clean(kind)}  {took}"
        value = attributes.get(sc.OUTCOME)
        attempt = kind == sc.KIND_ATTEMPT
        if attempt:
            # An attempt has no outcome of its own: it served, or it failed (and the
            # operation went on, unless the failure was undeclared).
            failed = span.status.status_code is StatusCode.ERROR or sc.FAILURE_MODE in attributes
            outcome = sc.OUTCOME_FAILED if failed else _SERVED
        elif value is not None:
            outcome = clean(value)
        elif span.status.status_code is StatusCode.ERROR:
            outcome = sc.OUTCOME_FAILED
        else:
            outcome = sc.OUTCOME_OK
        if color:
            meta = f"{_DIM}{meta}{_RESET}"
            outcome_colour = _OUTCOME_COLOURS.get(outcome)
            if outcome_colour is not None:
                outcome = f"{outcome_colour}{outcome}{_RESET}"
        fields = [clean(span.name), meta, outcome]
        if attempt and sc.FAILURE_MODE in attributes:
            fields.append(f"failure: {clean(attributes[sc.FAILURE_MODE])}")
        modes = _failure_modes(span)
        if modes:
            fields.append(f"failure: {_cap(', '.join(modes))}")
        if sc.SERVED_BY in attributes:
            fields.append(f"served by: {clean(attributes[sc.SERVED_BY])}")
        if sc.ERROR_TYPE in attributes:
            fields.append(f"error: {clean(attributes[sc.ERROR_TYPE])}")
        return "  ".join(fields)

    def _target(self) -> TextIO | None:
        # sys.stderr is None under pythonw; then there is nowhere to print.
        return self._stream if self._stream is not None else sys.stderr

    def _use_color(self) -> bool:
        if self._color is not None:
            return self._color
        if os.environ.get("NO_COLOR"):
            return False
        stream = self._target()
        return stream is not None and stream.isatty()

    def _write(self, text: str) -> None:
        stream = self._target()
        if stream is None:
            return
        # One write per tree, and one tree at a time: runs ending together never interleave.
        with self._write_lock:
            stream.write(text)
            stream.flush()


def _push(
    stack: list[tuple[ReadableSpan, str, bool]], kids: list[ReadableSpan], prefix: str
) -> None:
    """Push ``kids`` so that the first one pops first; the last one is drawn with └─."""
    last = len(kids) - 1
    stack.extend((kid, prefix, index == last) for index, kid in reversed(list(enumerate(kids))))


def _failure_modes(span: ReadableSpan) -> list[str]:
    """The failure modes of the span's failure events: each once, in order.

    A mode the operation does not declare is marked as such.
    """
    modes: dict[str, None] = {}
    for event in span.events:
        if event.name == sc.FAILURE_EVENT and event.attributes:
            mode = event.attributes.get(sc.FAILURE_MODE)
            if mode is not None:
                declared = event.attributes.get(sc.FAILURE_DECLARED, True)
                modes[clean(mode) + ("" if declared else " (undeclared)")] = None
    return list(modes)
