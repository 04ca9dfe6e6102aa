"""What the model actually did: requests, responses and detectors, for ``model_call`` spans.

:class:`ModelCall` is the per-call state of a model-call operation: the request read from
the call's keyword arguments when it starts, the response read from what it returns (or
handed over by a client integration), and the attributes both become.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from opentelemetry.trace import INVALID_SPAN
from pydantic import TypeAdapter, ValidationError

from agenttrace import _semconv as sc

from ._adapters import read_request, read_response
from ._detectors import DETECTORS, NAMES, detect
from ._records import ModelResponse, Request, Response, Tokens, ToolCall, Usage

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from opentelemetry.trace import Span
    from opentelemetry.util.types import AttributeValue

__all__ = [
    "DETECTORS",
    "NAMES",
    "ModelCall",
    "ModelOptions",
    "ModelResponse",
    "Request",
    "Response",
    "ToolCall",
    "Usage",
    "make_options",
    "read_request",
    "read_response",
    "request_attributes",
    "response_attributes",
]

_MAX_ERROR: Final = 200


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """A model call's detection settings, fixed when the decorator is applied."""

    detect: frozenset[str]
    validate_output: Callable[[str], str | None] | None = None


def make_options(where: str, detect_: object, output: object) -> ModelOptions:
    """Check ``detect=`` and ``output=`` of a model call.

    Raises:
        TypeError: ``detect`` is not a bool or a collection of names; ``output`` is not a type
            pydantic can validate.
        ValueError: ``detect`` names an unknown detector.
    """
    if detect_ is True or detect_ is None:
        enabled = frozenset(NAMES)
    elif detect_ is False:
        enabled = frozenset()
    elif isinstance(detect_, (list, tuple, set, frozenset)) and all(
        isinstance(name, str) for name in detect_
    ):
        unknown = sorted(set(detect_) - set(NAMES))
        if unknown:
            raise ValueError(
                f"{where}: unknown detector {unknown[0]!r}; the detectors are {', '.join(NAMES)}"
            )
        enabled = frozenset(detect_)
    else:
        raise TypeError(f"{where}: detect= takes True, False or a list of detector names")
    validate = None
    if output is not None:
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(cast("Any", output))
        except Exception as exc:  # pydantic's errors for unusable types vary
            message = f"{where}: output= must be a type pydantic can validate ({exc})"
            raise TypeError(message) from exc

        def validate(text: str) -> str | None:
            try:
                adapter.validate_json(text)
            except ValidationError as error:
                errors = error.errors()
                if not errors:
                    return str(error)[:_MAX_ERROR]
                at = ".".join(str(part) for part in errors[0]["loc"])
                return f"{at + ': ' if at else ''}{errors[0]['msg']}"[:_MAX_ERROR]
            return None
    else:
        enabled = enabled - {"invalid_output"}
    return ModelOptions(enabled, validate)


class ModelCall:
    """The request and response of one model-call operation, over its attempts.

    A retry or fallback is a new attempt: what an instrumented client call asks for in it
    replaces the request (its detectors judge it against what it asked for), and the
    tokens of the attempts before it are kept, so the span counts every token the call
    spent.
    """

    __slots__ = ("attempt_span", "client_calls", "request", "response", "spent", "started")

    def __init__(self, request: Request | None) -> None:
        self.started = time.perf_counter()
        """When the call began (``time.perf_counter()``), for the duration metric."""
        self.request = request
        self.response: Response | None = None
        self.client_calls = 0
        """Instrumented client calls made in the current attempt."""
        self.spent: Tokens | None = None
        """The tokens of the attempts before the current one."""
        self.attempt_span: Span | None = None
        """The current attempt's span, from the first retry or fallback on (see ``later``)."""

    @property
    def later(self) -> bool:
        """Whether the current attempt is a retry or fallback (its span may be unrecorded)."""
        return self.attempt_span is not None

    def next_attempt(self, span: Span | None) -> None:
        """Start a retry or fallback, whose span is ``span`` (a non-recording one if none)."""
        response = self.response
        if response is not None and response.usage is not None:
            self.spent = total_usage(self.spent, response.usage)
        self.response = None
        self.client_calls = 0
        self.attempt_span = span or INVALID_SPAN

    @classmethod
    def start(cls, model: str | None, kwargs: Mapping[str, Any] | None) -> ModelCall:
        """The request of a call: its keyword arguments, with the declared model as default."""
        request = read_request(kwargs) if kwargs else None
        if model:
            if request is None:
                request = Request(model=model)
            elif request.model is None:
                request.model = model  # read just now: this call's own
        return cls(request)

    def merge_request(self, kwargs: Mapping[str, Any]) -> None:
        """Add what a client call inside the operation asked for (an integration's view).

        In a retry or fallback it is the attempt's request, replacing the one before.
        """
        found = read_request(kwargs)
        if self.later:
            self.request = found
            return
        if found is None:
            return
        self.request = found if self.request is None else self.request.merged(found)

    def observe(self, value: object) -> Response | None:
        """Read the response from a returned value, unless one was already handed over."""
        if self.response is None:
            self.response = read_response(value)
        return self.response

    def failures(self, options: ModelOptions, value: object) -> list[tuple[str, dict[str, Any]]]:
        """The built-in failures of the call's response."""
        response = self.observe(value)
        if response is None or not options.detect:
            return []
        return detect(self.request, response, options.detect, options.validate_output)

    def attributes(self) -> dict[str, AttributeValue]:
        """The response's attributes, the tokens of every attempt counted."""
        response = self.response
        spent = self.spent
        if response is None:
            return usage_attributes(spent) if spent is not None else {}
        attributes = response_attributes(response, usage=spent is None)
        if spent is not None:
            attributes.update(usage_attributes(total_usage(spent, response.usage)))
        return attributes


def total_usage(first: Tokens | None, second: Tokens | None) -> Tokens:
    """The token counts of two calls together; a count neither gives stays ``None``."""
    if first is None or second is None:
        return first or second or Tokens()

    counts: dict[str, int | None] = {}
    for _, name in _USAGE_ATTRIBUTES:
        a, b = getattr(first, name), getattr(second, name)
        counts[name] = b if a is None else a if b is None else a + b
    return Tokens(**counts)


def request_attributes(request: Request) -> dict[str, AttributeValue]:
    """``gen_ai.request.*`` of a request (model aside: it is in the span's name)."""
    attributes = _given(request, _REQUEST_ATTRIBUTES)
    if request.stop_sequences:
        attributes[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = request.stop_sequences
    if request.tools:
        attributes[sc.REQUEST_TOOLS] = tuple(request.tools)
    return attributes


_REQUEST_ATTRIBUTES: Final = (
    (sc.GEN_AI_REQUEST_TEMPERATURE, "temperature"),
    (sc.GEN_AI_REQUEST_TOP_P, "top_p"),
    (sc.GEN_AI_REQUEST_TOP_K, "top_k"),
    (sc.GEN_AI_REQUEST_MAX_TOKENS, "max_tokens"),
    (sc.GEN_AI_REQUEST_SEED, "seed"),
    (sc.GEN_AI_REQUEST_STREAM, "stream"),
    (sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, "frequency_penalty"),
    (sc.GEN_AI_REQUEST_PRESENCE_PENALTY, "presence_penalty"),
    (sc.GEN_AI_REQUEST_CHOICE_COUNT, "choice_count"),
)
_USAGE_ATTRIBUTES: Final = (
    (sc.GEN_AI_USAGE_INPUT_TOKENS, "input_tokens"),
    (sc.GEN_AI_USAGE_OUTPUT_TOKENS, "output_tokens"),
    (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, "cache_read_input_tokens"),
    (sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, "cache_creation_input_tokens"),
    (sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, "reasoning_output_tokens"),
)


def usage_attributes(usage: Tokens) -> dict[str, AttributeValue]:
    """``gen_ai.usage.*``: the counts the provider gave."""
    return _given(usage, _USAGE_ATTRIBUTES)


def _given(record: object, keys: tuple[tuple[str, str], ...]) -> dict[str, AttributeValue]:
    """Each ``(attribute, field)`` of ``keys`` whose field ``record`` has set."""
    attributes: dict[str, AttributeValue] = {}
    for key, name in keys:
        value = getattr(record, name)
        if value is not None:
            attributes[key] = value
    return attributes


def response_attributes(response: Response, *, usage: bool = True) -> dict[str, AttributeValue]:
    """``gen_ai.response.*``, ``gen_ai.usage.*`` (unless not ``usage``) and the tool calls."""
    attributes: dict[str, AttributeValue] = {}
    if response.model:
        attributes[sc.GEN_AI_RESPONSE_MODEL] = response.model
    if response.id:
        attributes[sc.GEN_AI_RESPONSE_ID] = response.id
    if response.finish_reasons:
        attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = response.finish_reasons
    if usage and response.usage is not None:
        attributes.update(usage_attributes(response.usage))
    if response.tool_calls:
        attributes[sc.TOOL_CALLS] = tuple(call.name for call in response.tool_calls)
        ids = tuple(call.id or "" for call in response.tool_calls)
        if any(ids):
            attributes[sc.TOOL_CALL_IDS] = ids
    if response.chunks is not None:
        attributes[sc.STREAM_CHUNKS] = response.chunks
    return attributes
