"""How a model-call operation ends: on its response, or when its stream does.

Used by the decorators, whose model call may return a stream, and by the client
integrations, which record a call without any decorator or enrich the decorated model call
they run in.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from . import _logs
from . import _semconv as sc
from ._failures import Detected
from ._internal import internal_error
from ._models import request_attributes
from ._models._adapters import read_response
from ._models._streams import StreamEnd, stream_kind, wrap

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry.util.types import AttributeValue

    from ._failures import Policy
    from ._operation import Operation


def model_failure(
    operation: Operation,
    policy: Policy,
    result: object,
    skip: tuple[str, ...] = (),
) -> Detected | None:
    """The first built-in failure of a model call's response; the others are noted too."""
    options = operation.spec.model_options
    model_call = operation.model_call
    if options is None or model_call is None:
        return None
    try:
        found = model_call.failures(options, result)
    except Exception as exc:
        internal_error("model_response", exc)
        return None
    if not found:
        return None
    detected = [
        Detected(name, policy.by_name.get(name), "value", details, value=result, has_value=True)
        for name, details in found
        if name not in skip
    ]
    if not detected:
        return None
    detected[0].also = detected[1:]
    return detected[0]


def conclude(operation: Operation, result: object) -> None:
    """End a model call whose response can no longer be handled, only recorded.

    That is a stream (the caller has its chunks) or a client call recorded by an
    integration (nothing declares its handling): what the detectors find is noted, and the
    outcome is ``degraded``.
    """
    policy = operation.spec.policy
    detected = model_failure(operation, policy, result) if policy is not None else None
    if detected is None:
        operation.finish(result)
        return
    for found in (detected, *detected.also):
        operation.note_failure(found, 1)
    operation.end_handled(result, sc.OUTCOME_DEGRADED, operation.name, 1)
    _logs.outcome(operation, sc.OUTCOME_DEGRADED, operation.name, 1)


def deferred(operation: Operation, value: object, started_ns: int | None = None) -> Any:
    """``value`` behind a stream proxy that ends ``operation`` when the stream ends.

    ``None`` when ``value`` is not a stream, or the operation records nothing (then the
    stream is the caller's, untouched).
    """
    kind = stream_kind(value)
    if not kind or not operation.span.is_recording():
        return None
    try:
        if started_ns is None:
            started_ns = getattr(operation.span, "start_time", None)
        return wrap(value, kind, functools.partial(_end_stream, operation), started_ns)
    except Exception as exc:
        internal_error("stream", exc)
        return None


def _stream_attributes(operation: Operation, end: StreamEnd) -> None:
    """Give the operation the stream's response, and its span the stream's attributes."""
    model_call = operation.model_call
    if model_call is not None and end.response is not None:
        model_call.response = end.response
    span = operation.span
    if span.is_recording() and not operation.ended:
        attributes: dict[str, AttributeValue] = {}
        if end.time_to_first_chunk is not None:
            attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = end.time_to_first_chunk
        if end.abandoned:
            attributes[sc.ABANDONED] = True
        span.set_attributes(attributes)


def _end_stream(operation: Operation, end: StreamEnd) -> None:
    _stream_attributes(operation, end)
    if end.error is not None:
        operation.fail(end.error)
    elif end.abandoned:
        operation.finish(None)  # the caller stopped early: a part is no answer to judge
    else:
        conclude(operation, None)


# --- a client call inside a decorated model call -------------------------------------------


def merge_request(operation: Operation, kwargs: Mapping[str, Any]) -> None:
    """Add a client call's request to the decorated model call it runs in."""
    model_call = operation.model_call
    if model_call is None:
        return
    try:
        model_call.client_calls += 1
        had_model = model_call.request is not None and model_call.request.model is not None
        model_call.merge_request(kwargs)
        request = model_call.request
        # A retry's or fallback's request is recorded on its attempt span.
        span = model_call.attempt_span or operation.span
        if request is None or not span.is_recording():
            return
        attributes = request_attributes(request)
        if request.model and model_call.later:
            attributes[sc.GEN_AI_REQUEST_MODEL] = request.model
        elif request.model and not had_model:
            attributes[sc.GEN_AI_REQUEST_MODEL] = request.model
            span.update_name(f"{operation.spec.gen_ai_operation} {request.model}")
        if operation.captures():
            attributes.update(operation.input_content(kwargs))
        span.set_attributes(attributes)
    except Exception as exc:
        internal_error("model_request", exc)


def merge_response(operation: Operation, result: object) -> Any:
    """Give the decorated model call a client call's response; a stream comes back wrapped."""
    model_call = operation.model_call
    if model_call is None:
        return result
    try:
        kind = stream_kind(result)
        if kind:
            if not operation.span.is_recording():
                return result
            return wrap(result, kind, functools.partial(_stream_attributes, operation), None)
        response = read_response(result)
        if response is not None:
            model_call.response = response
    except Exception as exc:
        internal_error("model_response", exc)
    return result
