"""Streamed responses: a transparent proxy per stream and the response its chunks assemble.

A :class:`StreamProxy` (or :class:`AsyncStreamProxy`) stands in for the stream a model call
returned: an OpenAI or Anthropic ``Stream``, a plain iterator or async iterator. wrapt keeps
the vendor object's type and methods (``isinstance``, ``response``, ``close``, the context
manager); iteration goes through the proxy so each chunk is seen once, as it passes. The
proxy's :class:`StreamState` ends exactly once, on the first of: the last chunk, an error
from the stream, ``close()``, leaving a ``with`` block, or the proxy being garbage-collected
(an abandoned stream). Its callbacks then receive the :class:`StreamEnd`.

A :class:`ManagerProxy` stands in for a stream *manager* (Anthropic's ``messages.stream()``):
the request is made on ``__enter__``, and the manager's stream reads a raw stream that the
proxy replaces by a :class:`StreamProxy`, so ``text_stream``, ``until_done()`` and
``get_final_message()`` are all seen.

Chunks are read like responses (see :mod:`._adapters`): vendor objects by their fields, plain
dicts of the same shapes, strings as text. The assembled text and tool arguments are capped.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import wrapt

from agenttrace._internal import internal_error

from ._adapters import get, read_response
from ._records import Call, ModelResponse, Response, Tokens

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from typing_extensions import Self

__all__ = [
    "Assembler",
    "AsyncManagerProxy",
    "AsyncStreamProxy",
    "ManagerProxy",
    "StreamEnd",
    "StreamProxy",
    "StreamState",
    "stream_kind",
]

MAX_TEXT: Final = 32_768
"""Characters of assembled text kept from a stream."""
MAX_ARGUMENTS: Final = 16_384
"""Characters of one tool call's assembled arguments kept from a stream."""
_MAX_TOOL_CALLS: Final = 64
_FINAL_EVENTS: Final = frozenset(
    {"response.completed", "response.incomplete", "response.failed", "response.cancelled"}
)
SYNC: Final = 1
ASYNC: Final = 2
MANAGER: Final = 3
ASYNC_MANAGER: Final = 4
_VENDOR_KINDS: Final = {
    ("openai", "Stream"): SYNC,
    ("anthropic", "Stream"): SYNC,
    ("anthropic", "MessageStream"): SYNC,
    ("openai", "AsyncStream"): ASYNC,
    ("anthropic", "AsyncStream"): ASYNC,
    ("anthropic", "AsyncMessageStream"): ASYNC,
    ("anthropic", "MessageStreamManager"): MANAGER,
    ("anthropic", "AsyncMessageStreamManager"): ASYNC_MANAGER,
}
_VALUES: Final = (str, bytes, bytearray, Mapping, list, tuple, ModelResponse)
_MAX_CLASSES: Final = 4096
_kinds: dict[type, int] = {}
"""The stream kind of each class seen: a model call's result is checked on every call."""


def stream_kind(value: object) -> int:
    """What kind of stream ``value`` is: :data:`SYNC`, :data:`ASYNC`, a manager, or 0.

    Vendor streams are known by class; otherwise any iterator or async iterator is a stream,
    except strings, bytes, mappings and sequences (which are values, not streams).
    """
    cls = type(value)
    kind = _kinds.get(cls)
    if kind is not None:
        return kind
    state = _proxy_state(value)
    if state is not None:
        return state[1]
    if isinstance(value, wrapt.ObjectProxy):
        return _kind_of(value, cls)  # a proxy may stand for anything: not known by class
    kind = _kind_of(value, cls)
    if len(_kinds) < _MAX_CLASSES:
        _kinds[cls] = kind
    return kind


def _kind_of(value: object, cls: type) -> int:
    if isinstance(value, _VALUES):
        return 0
    kind = _VENDOR_KINDS.get((cls.__module__.partition(".")[0], cls.__name__))
    if kind is not None:
        return kind
    if hasattr(cls, "__next__") and hasattr(cls, "__iter__"):
        return SYNC
    if hasattr(cls, "__anext__") and hasattr(cls, "__aiter__"):
        return ASYNC
    return 0


class Assembler:
    """The response a stream's chunks add up to, read one chunk at a time."""

    __slots__ = (
        "_calls",
        "_final",
        "_reasons",
        "_refusal",
        "_text",
        "_text_chars",
        "chunks",
        "id",
        "model",
        "operation",
        "usage",
    )

    def __init__(self) -> None:
        self.chunks = 0
        self.id: str | None = None
        self.model: str | None = None
        self.operation = "chat"
        self.usage: dict[str, int] = {}
        self._reasons: dict[int, str] = {}
        self._text: list[str] = []
        self._text_chars = 0
        self._refusal: list[str] = []
        self._calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        self._final: Response | None = None

    def feed(self, chunk: object) -> None:  # noqa: C901, PLR0912 (one branch per chunk shape)
        """Count ``chunk`` and read what it adds; unknown chunks are counted only."""
        self.chunks += 1
        if isinstance(chunk, str):
            self._add_text(chunk)
            return
        marker = get(chunk, "object")
        if marker == "chat.completion.chunk":
            self._chat_chunk(chunk)
            return
        kind = get(chunk, "type")
        if not isinstance(kind, str):
            return
        if kind == "content_block_delta":
            delta = get(chunk, "delta")
            delta_type = get(delta, "type")
            if delta_type == "text_delta":
                self._add_text(get(delta, "text"))
            elif delta_type == "input_json_delta":
                self._add_arguments(get(chunk, "index"), get(delta, "partial_json"))
        elif kind == "message_start":
            message = get(chunk, "message")
            self.id = _str(get(message, "id")) or self.id
            self.model = _str(get(message, "model")) or self.model
            self._usage(get(message, "usage"))
        elif kind == "content_block_start":
            block = get(chunk, "content_block")
            if get(block, "type") == "tool_use":
                self._add_call(get(chunk, "index"), get(block, "id"), get(block, "name"))
        elif kind == "message_delta":
            reason = _str(get(get(chunk, "delta"), "stop_reason"))
            if reason:
                self._reasons[0] = reason
            self._usage(get(chunk, "usage"))
        elif kind == "response.output_text.delta":
            self._add_text(get(chunk, "delta"))
        elif kind in _FINAL_EVENTS:
            self._final = read_response(get(chunk, "response"))
        elif kind == "response.created":
            response = get(chunk, "response")
            self.id = _str(get(response, "id")) or self.id
            self.model = _str(get(response, "model")) or self.model
        elif kind == "chunk":  # openai's ChatCompletionStream wraps each raw chunk
            self.chunks -= 1
            self.feed(get(chunk, "chunk"))

    def _chat_chunk(self, chunk: object) -> None:
        self.id = self.id or _str(get(chunk, "id"))
        self.model = self.model or _str(get(chunk, "model"))
        choices = get(chunk, "choices")
        for choice in choices if isinstance(choices, (list, tuple)) else ():
            index = get(choice, "index")
            index = index if isinstance(index, int) else 0
            delta = get(choice, "delta")
            if delta is not None:
                self._add_text(get(delta, "content"))
                refusal = get(delta, "refusal")
                if isinstance(refusal, str):
                    self._refusal.append(refusal)
                calls = get(delta, "tool_calls")
                for call in calls if isinstance(calls, (list, tuple)) else ():
                    function = get(call, "function")
                    slot = get(call, "index")
                    self._add_call(slot, get(call, "id"), get(function, "name"))
                    self._add_arguments(slot, get(function, "arguments"))
            reason = _str(get(choice, "finish_reason"))
            if reason:
                self._reasons[index] = reason
        usage = get(chunk, "usage")
        if usage is not None:
            self._usage(usage)

    def _add_text(self, text: object) -> None:
        if isinstance(text, str) and text and self._text_chars < MAX_TEXT:
            piece = text[: MAX_TEXT - self._text_chars]
            self._text.append(piece)
            self._text_chars += len(piece)

    def _add_call(self, index: object, call_id: object, name: object) -> None:
        if not isinstance(index, int) or len(self._calls) >= _MAX_TOOL_CALLS:
            return
        slot = self._calls.setdefault(index, ["", "", ""])
        if isinstance(call_id, str) and call_id:
            slot[0] = call_id
        if isinstance(name, str) and name:
            slot[1] = name

    def _add_arguments(self, index: object, text: object) -> None:
        if isinstance(index, int) and isinstance(text, str) and text:
            slot = self._calls.get(index)
            if slot is not None and len(slot[2]) < MAX_ARGUMENTS:
                slot[2] = (slot[2] + text)[:MAX_ARGUMENTS]

    def _usage(self, usage: object) -> None:
        if usage is None:
            return
        for key in (
            "prompt_tokens",
            "completion_tokens",
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ):
            value = get(usage, key)
            if isinstance(value, int) and not isinstance(value, bool):
                self.usage[key] = value
        cached = get(get(usage, "prompt_tokens_details"), "cached_tokens")
        if isinstance(cached, int):
            self.usage["cache_read_input_tokens"] = cached
        reasoning = get(get(usage, "completion_tokens_details"), "reasoning_tokens")
        if isinstance(reasoning, int):
            self.usage["reasoning_output_tokens"] = reasoning

    def response(self) -> Response:
        """What the chunks so far add up to."""
        if self._final is not None:
            return dataclasses.replace(self._final, chunks=self.chunks)
        usage = self.usage
        return Response(
            model=self.model,
            id=self.id,
            finish_reasons=tuple(self._reasons[index] for index in sorted(self._reasons)),
            usage=Tokens(
                input_tokens=usage.get("input_tokens", usage.get("prompt_tokens")),
                output_tokens=usage.get("output_tokens", usage.get("completion_tokens")),
                cache_read_input_tokens=usage.get("cache_read_input_tokens"),
                cache_creation_input_tokens=usage.get("cache_creation_input_tokens"),
                reasoning_output_tokens=usage.get("reasoning_output_tokens"),
            )
            if usage
            else None,
            tool_calls=tuple(
                Call(name=name, id=call_id or None, arguments=arguments)
                for call_id, name, arguments in (self._calls[i] for i in sorted(self._calls))
                if name
            ),
            text="".join(self._text) if self._text else None,
            refusal="".join(self._refusal) if self._refusal else None,
            operation=self.operation,
            chunks=self.chunks,
        )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """How a stream ended, and what it delivered."""

    response: Response | None
    time_to_first_chunk: float | None
    """Seconds from the request to the first chunk; ``None`` when none arrived."""
    error: BaseException | None = None
    """The exception the stream raised, when it ended by one."""
    abandoned: bool = False
    """Closed, left or garbage-collected before its last chunk."""


class StreamState:
    """One stream's progress and its end callbacks, shared by the proxies that show it.

    Never raises: a failure while reading a chunk or in a callback is counted and logged,
    and the chunk still reaches the caller.
    """

    __slots__ = ("_assembler", "_callbacks", "_first_ns", "ended", "started_ns")

    def __init__(self, callback: Callable[[StreamEnd], None], started_ns: int | None) -> None:
        self._assembler: Assembler | None = Assembler()
        self._callbacks = [callback]
        self.started_ns = started_ns if started_ns is not None else time.time_ns()
        self._first_ns: int | None = None
        self.ended = False

    def add_callback(self, callback: Callable[[StreamEnd], None]) -> None:
        """Also call ``callback`` at the end (after the callbacks given before)."""
        self._callbacks.append(callback)

    def chunk(self, item: object) -> None:
        """Read one chunk as it passes."""
        if self._first_ns is None:
            self._first_ns = time.time_ns()
        assembler = self._assembler
        if assembler is not None:
            try:
                assembler.feed(item)
            except Exception as exc:
                internal_error("stream_chunk", exc)
                self._assembler = None  # the rest of this stream is counted no more

    def end(self, error: BaseException | None = None, *, abandoned: bool = False) -> None:
        """End the stream once: the first call wins; later ones do nothing."""
        if self.ended:
            return
        self.ended = True
        try:
            first = self._first_ns
            assembler = self._assembler
            end = StreamEnd(
                assembler.response() if assembler is not None else None,
                (first - self.started_ns) / 1e9 if first is not None else None,
                error,
                abandoned,
            )
        except Exception as exc:
            internal_error("stream_end", exc)
            end = StreamEnd(None, None, error, abandoned)
        for callback in self._callbacks:
            try:
                callback(end)
            except Exception as exc:  # noqa: PERF203 (each callback on its own)
                internal_error("stream_end", exc)


class StreamProxy(wrapt.ObjectProxy[Any]):
    """A sync stream, seen chunk by chunk; otherwise the stream itself."""

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state
        self._self_iterator: Any = None

    @property
    def agenttrace_state(self) -> StreamState:
        """The state of this stream (for a decorator that returns what a client gave it)."""
        return self._self_state

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        iterator = self._self_iterator
        if iterator is None:
            iterator = self._self_iterator = iter(self.__wrapped__)
        try:
            item = next(iterator)
        except StopIteration:
            self._self_state.end()
            raise
        except BaseException as exc:
            self._self_state.end(exc if isinstance(exc, Exception) else None, abandoned=True)
            raise
        self._self_state.chunk(item)
        return item

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_state.end(abandoned=True)

    def __enter__(self) -> Self:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Any:
        try:
            leave = getattr(self.__wrapped__, "__exit__", None)
            return leave(exc_type, exc, traceback) if leave is not None else None
        finally:
            self._self_state.end(abandoned=True)  # by the caller, even on its exception

    def __del__(self) -> None:
        _abandon(self)


class AsyncStreamProxy(wrapt.ObjectProxy[Any]):
    """An async stream, seen chunk by chunk; otherwise the stream itself."""

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state
        self._self_iterator: Any = None

    @property
    def agenttrace_state(self) -> StreamState:
        """The state of this stream (for a decorator that returns what a client gave it)."""
        return self._self_state

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        iterator = self._self_iterator
        if iterator is None:
            iterator = self._self_iterator = self.__wrapped__.__aiter__()
        try:
            item = await iterator.__anext__()
        except StopAsyncIteration:
            self._self_state.end()
            raise
        except BaseException as exc:
            self._self_state.end(exc if isinstance(exc, Exception) else None, abandoned=True)
            raise
        self._self_state.chunk(item)
        return item

    async def close(self) -> Any:
        try:
            return await _maybe_await(self.__wrapped__.close())
        finally:
            self._self_state.end(abandoned=True)

    async def aclose(self) -> Any:
        try:
            return await _maybe_await(self.__wrapped__.aclose())
        finally:
            self._self_state.end(abandoned=True)

    async def __aenter__(self) -> Self:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Any:
        try:
            leave = getattr(self.__wrapped__, "__aexit__", None)
            return await leave(exc_type, exc, traceback) if leave is not None else None
        finally:
            self._self_state.end(abandoned=True)  # by the caller, even on its exception

    def __del__(self) -> None:
        _abandon(self)


def _abandon(proxy: object) -> None:
    """End a proxy's stream as abandoned, unless it ended (the proxy is being collected)."""
    try:
        state = object.__getattribute__(proxy, "_self_state")
    except AttributeError:  # collected before __init__ finished
        return
    if not state.ended:
        state.end(abandoned=True)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _swap_raw_stream(stream: object, proxy_type: type[Any], state: StreamState) -> None:
    """Have a manager's stream read its raw stream through a proxy, if it has one."""
    raw = getattr(stream, "_raw_stream", None)
    if raw is not None and not isinstance(raw, (StreamProxy, AsyncStreamProxy)):
        stream._raw_stream = proxy_type(raw, state)  # type: ignore[attr-defined]


class ManagerProxy(wrapt.ObjectProxy[Any]):
    """A sync stream manager: the request is made, and the stream read, inside ``with``."""

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state

    @property
    def agenttrace_state(self) -> StreamState:
        """The state of this stream."""
        return self._self_state

    def __enter__(self) -> Any:
        state = self._self_state
        state.started_ns = time.time_ns()
        try:
            stream = self.__wrapped__.__enter__()
        except BaseException as exc:
            state.end(exc if isinstance(exc, Exception) else None, abandoned=True)
            raise
        try:
            _swap_raw_stream(stream, StreamProxy, state)
        except Exception as exc:
            internal_error("stream_manager", exc)
        return stream

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, traceback)
        finally:
            self._self_state.end(abandoned=True)  # by the caller, even on its exception

    def __del__(self) -> None:
        _abandon(self)


class AsyncManagerProxy(wrapt.ObjectProxy[Any]):
    """An async stream manager: as :class:`ManagerProxy`, with ``async with``."""

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state

    @property
    def agenttrace_state(self) -> StreamState:
        """The state of this stream."""
        return self._self_state

    async def __aenter__(self) -> Any:
        state = self._self_state
        state.started_ns = time.time_ns()
        try:
            stream = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            state.end(exc if isinstance(exc, Exception) else None, abandoned=True)
            raise
        try:
            _swap_raw_stream(stream, AsyncStreamProxy, state)
        except Exception as exc:
            internal_error("stream_manager", exc)
        return stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, traceback)
        finally:
            self._self_state.end(abandoned=True)  # by the caller, even on its exception

    def __del__(self) -> None:
        _abandon(self)


def wrap(
    value: object, kind: int, callback: Callable[[StreamEnd], None], started_ns: int | None
) -> Any:
    """``value`` behind the proxy for its ``kind``, ending with ``callback``.

    A value that is already a proxy keeps it, and ``callback`` is added after its own.
    """
    existing = _proxy_state(value)
    if existing is not None:
        existing[0].add_callback(callback)
        return value
    state = StreamState(callback, started_ns)
    if kind == SYNC:
        return StreamProxy(value, state)
    if kind == ASYNC:
        return AsyncStreamProxy(value, state)
    if kind == MANAGER:
        return ManagerProxy(value, state)
    return AsyncManagerProxy(value, state)


_PROXY_KINDS: Final[dict[type, int]] = {
    StreamProxy: SYNC,
    AsyncStreamProxy: ASYNC,
    ManagerProxy: MANAGER,
    AsyncManagerProxy: ASYNC_MANAGER,
}


def _proxy_state(value: object) -> tuple[StreamState, int] | None:
    """The state and kind of one of this module's proxies; ``None`` for anything else."""
    kind = _PROXY_KINDS.get(type(value))
    if kind is None:
        return None
    return object.__getattribute__(value, "_self_state"), kind
