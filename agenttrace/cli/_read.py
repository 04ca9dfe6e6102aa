"""Reading OTLP/JSON-lines trace files for ``agenttrace report`` and ``diff``, streamed.

A source is a file, a directory (its ``*.json*`` files: ``traces.jsonl``, its rotated
``traces.1.jsonl``…, ``.gz`` ones), a glob, or ``-`` for stdin. Files are read a line at a
time, gzip-compressed or not (told by their first bytes, not their name), so memory stays
bounded whatever their size: a line longer than ``MAX_LINE_BYTES`` is skipped as malformed.

Each line is an ``ExportTraceServiceRequest`` in OTLP/JSON, as agenttrace's local file and
the OpenTelemetry collector's file exporter write them. A line that is not JSON, or is JSON
of the wrong shape, is counted as malformed, with its reason; a JSON line without spans
(OTLP logs or metrics, an application's own JSON log) is counted as foreign. Neither stops
the report.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import io
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from agenttrace._semconv import (
    ATTEMPT_TYPE,
    ERROR_TYPE,
    FAILURE_DECLARED,
    FAILURE_EVENT,
    FAILURE_HANDLING,
    FAILURE_MODE,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    KIND,
    OPERATION,
    OUTCOME,
    SERVED_BY,
)
from agenttrace._version import __version__
from agenttrace.exceptions import ConfigurationError

from ._aggregate import Aggregator, Failure, Span
from ._model import Inputs, Problem, Report

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson comes with the cli extra; json is the fallback
    from json import loads as _loads  # type: ignore[assignment]

MAX_LINE_BYTES: Final = 256 * 1024 * 1024
"""A longer line is skipped, not held: agenttrace writes one export batch per line."""
MAX_PROBLEMS: Final = 20
GZIP_MAGIC: Final = b"\x1f\x8b"
"""The first bytes of a gzip file: how a compressed source is told apart."""
STDIN: Final = "-"
"""The source that means standard input."""
_PATTERNS: Final = ("*.jsonl", "*.json", "*.jsonl.gz", "*.json.gz")
_CHUNK: Final = 1024 * 1024
_MAX_TIME: Final = 2**64


def expand(sources: Sequence[str]) -> list[str]:
    """Files, directories and globs as the files to read, in order; ``-`` stays as is.

    Raises:
        ConfigurationError: A source names nothing that exists.
    """
    found: list[str] = []
    for source in sources:
        if source == STDIN:
            found.append(source)
            continue
        path = Path(source)
        if path.is_dir():
            names = {str(p) for pattern in _PATTERNS for p in path.glob(pattern) if p.is_file()}
            if not names:
                raise ConfigurationError(f"{source}: a directory with no .json/.jsonl files")
            found.extend(sorted(names))
        elif path.is_file():
            found.append(source)
        else:
            matches = sorted(p for p in glob.glob(source, recursive=True) if Path(p).is_file())  # noqa: PTH207 (a user's pattern, any directory)
            if not matches:
                raise ConfigurationError(f"{source}: no such file, directory or glob match")
            found.extend(matches)
    return found


@contextlib.contextmanager
def _open(name: str) -> Iterator[IO[bytes]]:
    """The source's bytes, decompressed when they are gzip's; stdin is left open."""
    with contextlib.ExitStack() as stack:
        if name == STDIN:
            raw: IO[bytes] = sys.stdin.buffer
        else:
            try:
                raw = stack.enter_context(Path(name).open("rb"))
            except OSError as exc:
                raise ConfigurationError(f"{name}: cannot read ({exc.strerror or exc})") from None
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
        if buffered.peek(2)[:2] == GZIP_MAGIC:
            yield stack.enter_context(gzip.GzipFile(fileobj=buffered, mode="rb"))  # type: ignore[arg-type]
        else:
            yield buffered


def _lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """Each line of ``stream``; ``None`` for one longer than ``MAX_LINE_BYTES`` (skipped)."""
    while True:
        line = stream.readline(MAX_LINE_BYTES)
        if not line:
            return
        if len(line) >= MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := stream.readline(_CHUNK)) and not rest.endswith(b"\n"):
                pass
            yield None
            continue
        yield line


def _value(value: dict[str, Any]) -> Any:
    for key, found in value.items():
        return int(found) if key == "intValue" else found
    return None


def _attributes(pairs: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {pair["key"]: pair["value"] for pair in pairs} if pairs else {}


def _get(attributes: dict[str, dict[str, Any]], key: str) -> Any:
    found = attributes.get(key)
    return None if found is None else _value(found)


def _text(attributes: dict[str, dict[str, Any]], key: str) -> str | None:
    """A string attribute; a value of another type is as good as absent."""
    found = _get(attributes, key)
    return found if isinstance(found, str) else None


def _id(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"an id is {type(value).__name__}, not a string")
    return value


def _nanoseconds(value: Any) -> int:
    """A timestamp: OTLP's fixed64, so 0 to 2**64 - 1."""
    found = int(value)
    if not 0 <= found < _MAX_TIME:
        raise ValueError(f"a timestamp out of range: {found}")
    return found


def _failures(events: list[dict[str, Any]] | None) -> tuple[Failure, ...]:
    if not events:
        return ()
    failures = []
    for event in events:
        if event.get("name") != FAILURE_EVENT:
            continue
        values = _attributes(event.get("attributes"))
        failures.append(
            Failure(
                mode=_text(values, FAILURE_MODE),
                declared=_get(values, FAILURE_DECLARED) is not False,
                handling=_text(values, FAILURE_HANDLING),
                error_type=_text(values, ERROR_TYPE),
            )
        )
    return tuple(failures)


def _span(span: dict[str, Any]) -> Span:
    """The part of an OTLP/JSON span a report needs (``kind`` ``None``: not agenttrace's).

    Raises:
        KeyError, TypeError, ValueError: The span is not an OTLP/JSON span.
    """
    values = _attributes(span.get("attributes"))
    trace_id, span_id = _id(span["traceId"]), _id(span["spanId"])
    parent = span.get("parentSpanId") or None
    parent_id = None if parent is None else _id(parent)
    start = _nanoseconds(span["startTimeUnixNano"])
    end = _nanoseconds(span["endTimeUnixNano"])
    kind = _text(values, KIND)
    if kind is None:
        return Span(trace_id, span_id, parent_id, None, "", start, end)
    tokens_in = _get(values, GEN_AI_USAGE_INPUT_TOKENS)
    tokens_out = _get(values, GEN_AI_USAGE_OUTPUT_TOKENS)
    tokens = (
        None
        if tokens_in is None and tokens_out is None
        else (int(tokens_in or 0), int(tokens_out or 0))
    )
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        kind=kind,
        operation=_text(values, OPERATION) or "(unnamed)",
        start_ns=start,
        end_ns=end,
        outcome=_text(values, OUTCOME),
        served_by=_text(values, SERVED_BY),
        attempt_type=_text(values, ATTEMPT_TYPE),
        tokens=tokens,
        failures=_failures(span.get("events")),
    )


def _spans_of(line: bytes) -> list[Span] | str:
    """A line's spans, or why it is malformed (``""``: valid JSON that holds no spans)."""
    try:
        request = _loads(line)
    except (ValueError, RecursionError) as exc:  # RecursionError: json's, on deep nesting
        return f"not JSON ({str(exc).splitlines()[0][:80]})"
    if not isinstance(request, dict):
        return f"not a JSON object ({type(request).__name__})"
    resource_spans = request.get("resourceSpans")
    if resource_spans is None:
        return ""
    try:
        return [
            _span(span)
            for resource in resource_spans
            for scope in resource.get("scopeSpans") or ()
            for span in scope.get("spans") or ()
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return f"not an OTLP/JSON trace request ({type(exc).__name__}: {str(exc)[:80]})"


@dataclass
class _Counts:
    lines: int = 0
    malformed: int = 0
    foreign_lines: int = 0
    problems: list[Problem] = field(default_factory=list)

    def problem(self, source: str, number: int, reason: str) -> None:
        self.malformed += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(source=source, line=number, reason=reason))


def _read(source: str, counts: _Counts, add: Callable[[Span], None]) -> None:
    label = "<stdin>" if source == STDIN else source
    with _open(source) as stream:
        try:
            for number, line in enumerate(_lines(stream), start=1):
                counts.lines += 1
                if line is None:
                    counts.problem(label, number, f"longer than {MAX_LINE_BYTES} bytes")
                    continue
                if not line.strip():
                    counts.lines -= 1
                    continue
                spans = _spans_of(line)
                if isinstance(spans, str):
                    if spans:
                        counts.problem(label, number, spans)
                    else:
                        counts.foreign_lines += 1
                    continue
                for span in spans:
                    add(span)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            # A truncated .gz (a file still being written, or cut short): keep what was read.
            counts.problem(label, counts.lines + 1, f"unreadable from here ({exc})")


def read_report(
    sources: Sequence[str],
    *,
    confidence: float = 0.95,
    since: float | None = None,
    until: float | None = None,
) -> Report:
    """The reliability report of the spans in ``sources`` (files, directories, globs, ``-``).

    ``since`` and ``until`` (Unix seconds) keep the operations that started in that window.

    Raises:
        ConfigurationError: A source does not exist or cannot be read, or ``confidence``
            is not between 0 and 1.

    Example:
        >>> import pathlib, tempfile
        >>> empty = pathlib.Path(tempfile.mkdtemp()) / "traces.jsonl"
        >>> _ = empty.write_text("")
        >>> read_report([str(empty)]).inputs.spans
        0
    """
    if not 0.0 < confidence < 1.0:
        raise ConfigurationError(f"confidence must be between 0 and 1, not {confidence}")
    names = expand(sources)
    aggregator = Aggregator(
        since_ns=None if since is None else int(since * 1e9),
        until_ns=None if until is None else int(until * 1e9),
    )
    counts = _Counts()
    for name in names:
        _read(name, counts, aggregator.add)
    agents, series, totals = aggregator.finish(confidence)
    return Report(
        agenttrace_version=__version__,
        generated_at=time.time(),
        confidence=confidence,
        inputs=Inputs(
            sources=["<stdin>" if name == STDIN else name for name in names],
            lines=counts.lines,
            malformed_lines=counts.malformed,
            problems=counts.problems,
            foreign_lines=counts.foreign_lines,
            spans=totals.spans,
            operation_spans=totals.operation_spans,
            attempt_spans=totals.attempt_spans,
            foreign_spans=totals.foreign_spans,
            filtered_spans=totals.filtered_spans,
            start=totals.start,
            end=totals.end,
        ),
        agents=agents,
        series=series,
    )
