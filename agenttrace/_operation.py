"""The operation lifecycle: one object from start to end, for decorators and ``span()``.

An :class:`Operation` starts its span and makes it current, and ends it exactly once, as
``ok`` or ``failed``. It is the boundary between user code and telemetry: each of its
stages runs under :func:`~agenttrace._internal.internal_error`, so a telemetry failure costs
telemetry, never the user's result. User code itself is never called from here.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from . import _logs, _metrics, _spans
from . import _semconv as sc
from ._capture import Budget, capture, capture_arguments
from ._failures import (
    Detected,
    Failure,
    FailureMode,
    Policy,
    detect_exception,
    make_policy,
    mark_left,
)
from ._internal import count_usage_error, internal_error, log_limited
from ._models import DETECTORS, ModelCall, ModelOptions, make_options, request_attributes
from ._models._content import input_messages, output_messages, system_instructions
from ._redact import KEY_MARKER, is_sensitive_key
from ._runtime import resolve, state

if TYPE_CHECKING:
    from types import TracebackType

    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.util.types import AttributeValue


class Kind(str, Enum):
    """What an operation is, written as ``agenttrace.kind`` on its span."""

    AGENT = "agent"
    STEP = "step"
    TOOL = "tool"
    MODEL_CALL = "model_call"


_ATTRIBUTE_TYPES: Final = (str, bool, int, float)
CAPTURE_FAILED: Final = '"<capture failed>"'
"""What a captured value reads when capturing it failed (counted as an internal error)."""


def validate_attributes(
    attributes: Mapping[str, AttributeValue] | None, where: str
) -> dict[str, AttributeValue]:
    """Check static span attributes given to a decorator or ``span()``.

    Raises:
        TypeError: A key is not a non-empty string, or a value is not an OpenTelemetry
            attribute value (str, bool, int, float, or a homogeneous sequence of them).
    """
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise TypeError(f"{where}: attributes must be a mapping, not {type(attributes).__name__}")
    checked: dict[str, AttributeValue] = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"{where}: attribute keys must be non-empty strings, not {key!r}")
        if isinstance(value, _ATTRIBUTE_TYPES):
            checked[key] = value
        elif isinstance(value, Sequence) and all(
            isinstance(item, _ATTRIBUTE_TYPES) for item in value
        ):
            checked[key] = tuple(value)
        else:
            raise TypeError(
                f"{where}: attribute {key!r} must be a str, bool, int, float or a sequence of "
                f"them, not {type(value).__name__}"
            )
    return checked


_MAX_SEQUENCE_ATTRIBUTE: Final = 128


def _is_homogeneous_sequence(value: object) -> bool:
    """A short list or tuple of one primitive type: a valid attribute value as it is."""
    if type(value) not in (list, tuple) or not value or len(value) > _MAX_SEQUENCE_ATTRIBUTE:  # type: ignore[arg-type]
        return False
    first = type(value[0])  # type: ignore[index]
    return first in (str, bool, int, float) and all(type(v) is first for v in value)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Parameters:
    """How to name captured positional arguments, worked out once from the signature."""

    names: tuple[str, ...] = ()
    var_positional: str | None = None
    bound_first: bool = True
    """Whether the first name is ``self``/``cls`` when the call is bound to an instance."""

    @classmethod
    def of(cls, func: Callable[..., Any] | None) -> Parameters:
        """The parameters of ``func`` (a function, staticmethod or classmethod)."""
        if func is None:
            return cls()
        target = getattr(func, "__func__", func)
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):
            return cls()
        names: list[str] = []
        var_positional = None
        for parameter in signature.parameters.values():
            if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                names.append(parameter.name)
            elif parameter.kind is parameter.VAR_POSITIONAL:
                var_positional = parameter.name
        return cls(tuple(names), var_positional, not isinstance(func, staticmethod))


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """Everything about an operation that does not change from call to call."""

    kind: Kind
    name: str
    span_name: str
    span_kind: SpanKind
    attributes: Mapping[str, AttributeValue]
    capture: bool | None
    input_key: str
    output_key: str
    parameters: Parameters
    model_from_call: bool = False
    """A model call with no declared model: take it from the call's ``model=`` argument."""
    gen_ai_operation: str = ""
    policy: Policy | None = None
    """Declared failure modes, retry policy and fallbacks; ``None`` when none are declared."""
    model_options: ModelOptions | None = None
    """Model calls: which built-in detectors run, and the declared output type."""
    model: str | None = None
    """Model calls: the model given to the decorator."""


def make_spec(
    kind: Kind | str,
    name: str,
    *,
    func: Callable[..., Any] | None = None,
    provider: str | None = None,
    model: str | None = None,
    operation: str | None = None,
    description: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    capture: bool | None = None,
    failure_modes: Sequence[FailureMode] | None = None,
    retry: Any = None,
    fallbacks: Sequence[Any] | None = None,
    is_async: bool = False,
    where: str | None = None,
    detect: object = None,
    output: object = None,
    is_generator: bool = False,
) -> OperationSpec:
    """Build and check an operation's spec; every misuse is reported here, at decoration.

    Raises:
        TypeError: An option has the wrong type.
        ValueError: An option has a value that is not accepted.
    """
    try:
        kind = Kind(kind)
    except ValueError:
        accepted = ", ".join(repr(k.value) for k in Kind)
        raise ValueError(f"unknown operation kind {kind!r}; accepted: {accepted}") from None
    where = where or f"agenttrace.{kind.value}({name!r})"
    _check_options(kind, name, where, provider, model, operation, description, capture)
    model_options = _model_options(kind, where, detect, output)
    if model_options is not None and not is_generator:
        # A generator's items are the caller's before they can be read: no detectors.
        failure_modes = _with_detectors(failure_modes, model_options)
    policy = make_policy(where, failure_modes, retry, fallbacks, is_async=is_async)
    # The outcome is written as ok when the span starts, and overwritten only when the
    # operation ends otherwise: the happy path then sets no attribute at its end.
    static: dict[str, AttributeValue] = {
        sc.KIND: kind.value,
        sc.OPERATION: name,
        sc.OUTCOME: sc.OUTCOME_OK,
    }
    if policy is not None and policy.modes:
        # One string, not an array: the SDK checks every item of an array attribute on
        # every span, which would cost a step with modes ~10% of its span.
        static[sc.FAILURE_MODES] = ",".join(policy.names)
    function = getattr(func, "__func__", func)
    qualname = getattr(function, "__qualname__", None)
    if isinstance(qualname, str):
        module = getattr(function, "__module__", None)
        static[sc.CODE_FUNCTION_NAME] = f"{module}.{qualname}" if module else qualname
    input_key, output_key = sc.INPUT, sc.OUTPUT
    span_kind = SpanKind.INTERNAL
    gen_ai_operation = ""
    if kind is Kind.AGENT:
        span_name = _agent_attributes(static, name, description)
    elif kind is Kind.TOOL:
        span_name = _tool_attributes(static, name, description or _first_doc_line(func))
        input_key, output_key = sc.GEN_AI_TOOL_CALL_ARGUMENTS, sc.GEN_AI_TOOL_CALL_RESULT
    elif kind is Kind.MODEL_CALL:
        gen_ai_operation = operation or sc.OPERATION_CHAT
        span_name = _model_call_attributes(static, gen_ai_operation, provider, model)
        span_kind = SpanKind.CLIENT
    else:
        span_name = name
    for key, value in validate_attributes(attributes, where).items():
        static.setdefault(key, value)  # our own keys win: they are the contract
    return OperationSpec(
        kind=kind,
        name=name,
        span_name=span_name,
        span_kind=span_kind,
        attributes=static,
        capture=capture,
        input_key=input_key,
        output_key=output_key,
        parameters=Parameters.of(func),
        model_from_call=kind is Kind.MODEL_CALL and not model,
        gen_ai_operation=gen_ai_operation,
        policy=policy,
        model_options=model_options,
        model=model,
    )


def _model_options(kind: Kind, where: str, detect: object, output: object) -> ModelOptions | None:
    if kind is Kind.MODEL_CALL:
        return make_options(where, detect, output)
    if detect is not None or output is not None:
        raise TypeError(f"{where}: detect and output are options of model_call only")
    return None


def _with_detectors(
    failure_modes: Sequence[FailureMode] | None, options: ModelOptions
) -> Sequence[FailureMode] | None:
    """The declared modes plus each enabled built-in detector the user did not redeclare."""
    if not options.detect:
        return failure_modes
    declared = list(failure_modes) if isinstance(failure_modes, (list, tuple)) else failure_modes
    if declared is not None and not isinstance(declared, list):
        return failure_modes  # make_policy reports what is wrong with it
    names = {mode.name for mode in declared or () if isinstance(mode, FailureMode)}
    builtin = [m for m in DETECTORS if m.name in options.detect and m.name not in names]
    return [*(declared or ()), *builtin]


def _check_options(
    kind: Kind,
    name: str,
    where: str,
    provider: str | None,
    model: str | None,
    operation: str | None,
    description: str | None,
    capture: bool | None,
) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            f"agenttrace.{kind.value}: the name must be a non-empty string, not {name!r}"
        )
    for option, value in (
        ("provider", provider),
        ("model", model),
        ("operation", operation),
        ("description", description),
    ):
        if value is not None and (not isinstance(value, str) or not value):
            raise TypeError(f"{where}: {option} must be a non-empty string, not {value!r}")
    if kind is not Kind.MODEL_CALL and (provider or model or operation):
        raise TypeError(f"{where}: provider, model and operation are options of model_call only")
    if capture is not None and not isinstance(capture, bool):
        raise TypeError(f"{where}: capture must be True, False or None, not {capture!r}")


def _agent_attributes(static: dict[str, AttributeValue], name: str, description: str | None) -> str:
    static[sc.GEN_AI_OPERATION_NAME] = sc.OPERATION_INVOKE_AGENT
    static[sc.GEN_AI_AGENT_NAME] = name
    if description:
        static[sc.GEN_AI_AGENT_DESCRIPTION] = description
    return f"{sc.OPERATION_INVOKE_AGENT} {name}"


def _tool_attributes(static: dict[str, AttributeValue], name: str, description: str) -> str:
    static[sc.GEN_AI_OPERATION_NAME] = sc.OPERATION_EXECUTE_TOOL
    static[sc.GEN_AI_TOOL_NAME] = name
    static[sc.GEN_AI_TOOL_TYPE] = sc.TOOL_TYPE_FUNCTION
    if description:
        static[sc.GEN_AI_TOOL_DESCRIPTION] = description
    return f"{sc.OPERATION_EXECUTE_TOOL} {name}"


def _model_call_attributes(
    static: dict[str, AttributeValue], operation: str, provider: str | None, model: str | None
) -> str:
    static[sc.GEN_AI_OPERATION_NAME] = operation
    static[sc.GEN_AI_PROVIDER_NAME] = provider or "_OTHER"
    if model:
        static[sc.GEN_AI_REQUEST_MODEL] = model
        return f"{operation} {model}"
    return operation


def _first_doc_line(func: Callable[..., Any] | None) -> str:
    doc = inspect.getdoc(getattr(func, "__func__", func)) if func is not None else None
    return doc.strip().splitlines()[0][:256] if doc else ""


_current: Final[contextvars.ContextVar[Operation | None]] = contextvars.ContextVar(
    "agenttrace_operation", default=None
)


class Operation:
    """One run of an agent, step, tool or model call, from start to end.

    ``agenttrace.current()`` returns the innermost live one, to add attributes or events by
    hand. Every method is safe to call at any time: after the end, or on the no-op operation
    returned outside any operation, it does nothing.
    """

    __slots__ = (
        "_budget",
        "_ctx",
        "_ended",
        "_op_token",
        "_token",
        "_yielded",
        "attempt",
        "model_call",
        "recorded",
        "span",
        "spec",
    )

    def __init__(self, spec: OperationSpec) -> None:
        self.spec = spec
        self.span: Span = trace.INVALID_SPAN
        self._ctx: Context | None = None
        self._token: object = None
        self._op_token: contextvars.Token[Operation | None] | None = None
        self._budget: Budget | None = None
        self._ended = False
        self._yielded = 0
        self.recorded: list[Failure] | None = None
        """Failures declared with :meth:`record_failure` during the current attempt."""
        self.model_call: ModelCall | None = None
        """Model calls: what was asked and what the model did."""
        self.attempt = 1
        """The attempt running: 1 is the first try, then each retry or fallback counts on."""

    # --- public, for agenttrace.current() -----------------------------------------------

    @property
    def name(self) -> str:
        """The operation's name."""
        return self.spec.name

    @property
    def kind(self) -> str:
        """``agent``, ``step``, ``tool`` or ``model_call``."""
        return self.spec.kind.value

    @property
    def is_recording(self) -> bool:
        """Whether anything set on this operation is recorded."""
        return not self._ended and self.span.is_recording()

    @property
    def ended(self) -> bool:
        """Whether the operation has ended (its span, if any, with it)."""
        return self._ended

    @property
    def trace_id(self) -> str:
        """The trace id as 32 hex digits (zeros when not recorded)."""
        return format(self.span.get_span_context().trace_id, "032x")

    @property
    def span_id(self) -> str:
        """The span id as 16 hex digits (zeros when not recorded)."""
        return format(self.span.get_span_context().span_id, "016x")

    def set_attribute(self, key: str, value: object) -> None:
        """Set one span attribute; values that are not attribute values are captured as JSON.

        Never raises: a key that is not a string is ignored and counted.
        """
        self.set_attributes({key: value})

    def set_attributes(self, attributes: Mapping[str, object]) -> None:
        """Set several span attributes at once (see :meth:`set_attribute`)."""
        if self._ended or not self.span.is_recording():
            return
        try:
            self.span.set_attributes(self._coerce(attributes))
        except Exception as exc:
            internal_error("set_attribute", exc)

    def add_event(self, name: str, attributes: Mapping[str, object] | None = None) -> None:
        """Add a span event; attribute values are coerced like :meth:`set_attribute`'s."""
        if self._ended or not self.span.is_recording():
            return
        try:
            self.span.add_event(str(name), self._coerce(attributes or {}))
        except Exception as exc:
            internal_error("add_event", exc)

    def record_failure(self, mode: FailureMode | str, /, **details: object) -> None:
        """Declare that a failure mode occurred, without raising.

        The operation goes on; when it returns, the failure is handled as the mode says
        (``accept`` keeps the value as ``degraded``; ``fallback``, ``retry``, ``escalate``
        and ``abort`` act as if the value had been detected as that failure). A failure of
        a mode the operation does not declare is recorded as undeclared, and the value is
        kept (``degraded``). Never raises: outside any operation, or with something that
        is not a mode, the call is counted in ``stats().usage_errors`` and logged.

        Args:
            mode: The :class:`~agenttrace.FailureMode` (or its name).
            **details: What to record with it (bounded and redacted).

        Example:
            >>> import agenttrace
            >>> agenttrace.current().record_failure("low_confidence", confidence=0.41)
        """
        try:
            failure = Failure(mode, **details)
        except TypeError:
            count_usage_error("bad_failure")
            log_limited(
                "bad_failure",
                "agenttrace: record_failure() takes a FailureMode or its name, not %s; "
                "ignored (%d more since the last report)",
                type(mode).__name__,
            )
            return
        self._record(failure)

    def _record(self, failure: Failure) -> None:
        if self._ended:
            return
        if self.recorded is None:
            self.recorded = [failure]
        elif len(self.recorded) < _MAX_RECORDED:
            self.recorded.append(failure)

    def failure_details(self, details: Mapping[str, object]) -> dict[str, AttributeValue]:
        """``details`` as bounded, redacted attribute values (at most 16 keys)."""
        shown: dict[str, object] = {}
        for key, value in list(dict(details).items())[:_MAX_DETAILS]:
            name = str(key)[:64]
            shown[name] = KEY_MARKER if is_sensitive_key(name) else value
        return self._coerce(shown)

    def note_failure(self, detected: Detected, attempt: int) -> None:
        """Record one failure: an ``agenttrace.failure`` event, and a structured log event."""
        try:
            details = self.failure_details(detected.details) if detected.details else {}
            if self.span.is_recording() and not self._ended:
                self.span.add_event(
                    sc.FAILURE_EVENT, _spans.failure_attributes(detected, attempt, details)
                )
            _logs.failure(self, detected, attempt, details)
        except Exception as exc:
            internal_error("failure", exc)

    def _coerce(self, attributes: Mapping[str, object]) -> dict[str, AttributeValue]:
        coerced: dict[str, AttributeValue] = {}
        for key, value in dict(attributes).items():
            if not isinstance(key, str) or not key:
                internal_error("set_attribute", TypeError("attribute keys must be strings"))
                continue
            if isinstance(value, str):
                coerced[key] = _spans.bounded_text(value, state.limits.max_value_chars)
            elif isinstance(value, _ATTRIBUTE_TYPES):
                coerced[key] = value
            elif _is_homogeneous_sequence(value):
                coerced[key] = tuple(value)  # type: ignore[arg-type]
            else:
                coerced[key] = self._capture_output(value)
        return coerced

    # --- lifecycle ------------------------------------------------------------------------

    def start(
        self,
        tracer: Tracer,
        parent: Context | None,
        instance: object,
        args: tuple[Any, ...] | None,
        kwargs: Mapping[str, Any] | None,
        enter: bool = True,
    ) -> None:
        """Start the span (as a child of ``parent``, else of the current span); enter it."""
        spec = self.spec
        attributes = spec.attributes
        span_name = spec.span_name
        if spec.model_from_call and kwargs:
            model = kwargs.get("model")
            if isinstance(model, str) and model:
                attributes = {**attributes, sc.GEN_AI_REQUEST_MODEL: model}
                span_name = f"{spec.gen_ai_operation} {model}"
        if spec.model_options is not None:
            request = self.prepare_model(kwargs)
            if request:
                attributes = {**attributes, **request}
        if (state.capture_content if spec.capture is None else spec.capture) and args is not None:
            self._budget = Budget(state.limits)
            attributes = {
                **attributes,
                spec.input_key: self._capture_input(instance, args, kwargs or {}),
            }
        span = tracer.start_span(span_name, parent, spec.span_kind, attributes)
        self.span = span
        try:
            self._ctx = trace.set_span_in_context(span, parent)
            if enter:
                self.enter()
        except BaseException:
            span.end()
            raise

    def prepare_model(self, kwargs: Mapping[str, Any] | None) -> dict[str, AttributeValue]:
        """Read a model call's request from its keyword arguments; its start attributes."""
        try:
            self.model_call = ModelCall.start(self.spec.model, kwargs)
            request = self.model_call.request
            attributes = request_attributes(request) if request is not None else {}
            if kwargs and self.captures():
                attributes.update(self.input_content(kwargs))
        except Exception as exc:
            internal_error("model_request", exc)
            self.model_call = ModelCall(None)
            return {}
        return attributes

    def captures(self) -> bool:
        return state.capture_content if self.spec.capture is None else self.spec.capture

    def input_content(self, kwargs: Mapping[str, Any]) -> dict[str, AttributeValue]:
        """``gen_ai.input.messages`` and ``gen_ai.system_instructions``, captured."""
        attributes: dict[str, AttributeValue] = {}
        messages = input_messages(kwargs)
        if messages is not None:
            attributes[sc.GEN_AI_INPUT_MESSAGES] = capture(messages, state.limits)
        system = system_instructions(kwargs)
        if system is not None:
            attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = capture(system, state.limits)
        return attributes

    def model_attributes(self, result: object) -> dict[str, AttributeValue]:
        """A model call's response attributes, reading ``result`` unless a response is known."""
        model_call = self.model_call
        if model_call is None:
            return {}
        try:
            model_call.observe(result)
            attributes = model_call.attributes()
            response = model_call.response
            if response is not None and self.captures():
                messages = output_messages(response)
                if messages is not None:
                    attributes[sc.GEN_AI_OUTPUT_MESSAGES] = capture(messages, state.limits)
        except Exception as exc:
            internal_error("model_response", exc)
            return {}
        return attributes

    def _capture_input(
        self, instance: object, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> str:
        parameters = self.spec.parameters
        names = parameters.names
        if instance is not None and parameters.bound_first and names:
            names = names[1:]
        try:
            return capture_arguments(
                names, parameters.var_positional, args, kwargs, state.limits, self._budget
            )
        except Exception as exc:
            internal_error("capture", exc)
            return CAPTURE_FAILED

    def _capture_output(self, result: object) -> str:
        try:
            return capture(result, state.limits, self._budget)
        except Exception as exc:
            internal_error("capture", exc)
            return CAPTURE_FAILED

    def enter(self, ctx: Context | None = None) -> None:
        """Make this operation and its span (or ``ctx``) current, until :meth:`exit`."""
        ctx = ctx or self._ctx
        if ctx is not None:
            self._token = otel_context.attach(ctx)
        self._op_token = _current.set(self)

    def child_context(self, span: Span) -> Context | None:
        """A context with ``span`` (an attempt span) current under this operation."""
        return trace.set_span_in_context(span, self._ctx) if self._ctx is not None else None

    def exit(self) -> None:
        """Restore the context that was current before :meth:`enter`; never raises."""
        op_token, token = self._op_token, self._token
        self._op_token = self._token = None
        try:
            if op_token is not None:
                _current.reset(op_token)
            if token is not None:
                otel_context.detach(token)  # type: ignore[arg-type]
        except Exception as exc:
            internal_error("exit", exc)

    def yielded(self) -> None:
        """Count one item yielded by a generator operation."""
        self._yielded += 1

    def finish(self, result: object = None, *, abandoned: bool = False) -> None:
        """End as ``ok`` with ``result`` (captured if capture is on); exactly once.

        Failures recorded with :meth:`record_failure` on an operation that declares no
        failure modes are undeclared: each is noted, and the outcome is ``degraded``.
        """
        if self._ended:
            return
        if self.recorded:
            recorded, self.recorded = self.recorded, None
            for failure in recorded:
                self.note_failure(
                    Detected(failure.mode, None, "recorded", failure.details, value=result), 1
                )
            self.end_handled(result, sc.OUTCOME_DEGRADED, self.spec.name, 1)
            return
        self._ended = True
        try:
            extra: dict[str, AttributeValue] | None = None
            if self.model_call is not None:
                extra = self.model_attributes(result) or None
            if self._budget is not None and result is not None:
                extra = extra or {}
                extra[self.spec.output_key] = self._capture_output(result)
            if self._yielded or abandoned:
                extra = extra or {}
                extra[sc.YIELDED] = self._yielded
                if abandoned:
                    extra[sc.ABANDONED] = True
            _spans.end_ok(self.span, extra)
            if _metrics.maybe_on():
                _metrics.operation_ended(self, sc.OUTCOME_OK, None)
        except Exception as exc:
            self._end_quietly()
            internal_error("finish", exc)

    def end_handled(self, result: object, outcome: str, served_by: str, attempts: int) -> None:
        """End with ``outcome`` after failure handling: what served, how many attempts."""
        if self._ended:
            return
        self._ended = True
        try:
            extra: dict[str, AttributeValue] = {sc.OUTCOME: outcome, sc.SERVED_BY: served_by}
            if self.model_call is not None:
                extra.update(self.model_attributes(result))
            if attempts > 1:
                extra[sc.ATTEMPTS] = attempts
            if self._budget is not None and result is not None:
                extra[self.spec.output_key] = self._capture_output(result)
            _spans.end_ok(self.span, extra)
            _metrics.operation_ended(self, outcome, None)
        except Exception as exc:
            self._end_quietly()
            internal_error("finish", exc)

    def fail(self, exc: BaseException, detected: Detected | None = None, attempts: int = 1) -> None:
        """End as ``failed`` by ``exc`` (``GeneratorExit`` is an abandonment, not a failure).

        ``detected`` is the failure the handling loop already noted; without it, an
        ``Exception`` is noted here (declared by nobody, or propagated from a child).
        """
        if isinstance(exc, GeneratorExit):
            self.finish(abandoned=True)
            return
        if self._ended:
            return
        if detected is None and isinstance(exc, Exception):
            detected = detect_exception(None, exc)
            self.note_failure(detected, 1)
        mark_left(exc, self.spec.name)
        self._ended = True
        try:
            extra: dict[str, AttributeValue] = {}
            if self.model_call is not None:
                extra.update(self.model_call.attributes())
            if self._yielded:
                extra[sc.YIELDED] = self._yielded
            if attempts > 1:
                extra[sc.ATTEMPTS] = attempts
            if detected is not None and detected.mode is not None:
                extra[sc.FAILURE_MODE] = detected.mode
                extra[sc.FAILURE_DECLARED] = detected.declared is not None
            _spans.end_failed(self.span, exc, extra)
            _metrics.operation_ended(self, sc.OUTCOME_FAILED, exc)
        except Exception as error:
            self._end_quietly()
            internal_error("fail", error)

    def _end_quietly(self) -> None:
        # The caller counts the error; if even end() fails, the span is lost either way.
        with contextlib.suppress(Exception):
            self.span.end()


_MAX_RECORDED: Final = 16
_MAX_DETAILS: Final = 16


class _NoOpOperation(Operation):
    """What ``current()`` returns outside any operation, and ``span()`` when not recording."""

    __slots__ = ()

    def __init__(self, spec: OperationSpec) -> None:
        super().__init__(spec)
        self._ended = False

    def _record(self, failure: Failure) -> None:
        if self is NOOP:
            count_usage_error("record_failure_outside")
            log_limited(
                "record_failure_outside",
                "agenttrace: record_failure(%r) was called outside any operation; nothing "
                "handles it (%d more since the last report)",
                failure.mode,
            )
            return
        # An operation that is not recorded: the failure is still logged.
        _logs.failure(self, Detected(failure.mode, None, "recorded", failure.details), 1, {})

    def exit(self) -> None:
        pass

    def finish(self, result: object = None, *, abandoned: bool = False) -> None:
        pass

    def fail(self, exc: BaseException, detected: Detected | None = None, attempts: int = 1) -> None:
        pass


def begin(
    spec: OperationSpec,
    instance: object,
    args: tuple[Any, ...] | None,
    kwargs: Mapping[str, Any] | None,
    parent: Context | None = None,
    enter: bool = True,
) -> Operation | None:
    """Start an operation for ``spec``, or return ``None`` when it would not be recorded.

    ``None`` means: run the user's code as if undecorated. That is the answer when nothing
    is configured, when agenttrace is disabled, when the sampler is certain to drop the span,
    and when starting failed (counted, logged).
    """
    entry = state.entry or resolve()
    if entry is None or entry.drop_all:
        return None
    if entry.check_parent:
        parent_context = trace.get_current_span(parent).get_span_context()
        if parent_context.is_valid:
            if not parent_context.trace_flags.sampled:
                return None
        elif entry.drop_roots:
            return None
    operation = Operation(spec)
    try:
        operation.start(entry.tracer, parent, instance, args, kwargs, enter)
    except Exception as exc:
        internal_error("start", exc)
        return None
    return operation


def quiet(spec: OperationSpec) -> Operation:
    """The stand-in made current while an unrecorded operation runs.

    There is one per decorated function: ``current().record_failure()`` inside it is
    logged, not given to a parent.
    """
    return _NoOpOperation(spec)


def enter_quiet(operation: Operation) -> contextvars.Token[Operation | None]:
    """Make ``operation`` (from :func:`quiet`) current; reset with :func:`exit_quiet`."""
    return _current.set(operation)


def exit_quiet(token: contextvars.Token[Operation | None]) -> None:
    """Undo :func:`enter_quiet`."""
    _current.reset(token)


def begin_silent(spec: OperationSpec, kwargs: Mapping[str, Any] | None = None) -> Operation:
    """An operation that records nothing and is current all the same.

    Failure handling runs whether or not the operation is recorded (a dropped span must not
    change what the code does), and ``current().record_failure()`` needs the operation.
    """
    operation = Operation(spec)
    if spec.model_options is not None:
        operation.prepare_model(kwargs)
    operation.enter()
    return operation


def current() -> Operation:
    """The innermost live operation, or a no-op operation outside any.

    Example:
        >>> import agenttrace
        >>> agenttrace.current().set_attribute("ticket.priority", "high")  # never raises
    """
    return _current.get() or NOOP


NOOP: Final = _NoOpOperation(
    OperationSpec(
        kind=Kind.STEP,
        name="<none>",
        span_name="<none>",
        span_kind=SpanKind.INTERNAL,
        attributes={},
        capture=False,
        input_key=sc.INPUT,
        output_key=sc.OUTPUT,
        parameters=Parameters(),
    )
)


class OperationScope:
    """The context manager :func:`span` returns: starts on enter, ends on exit."""

    __slots__ = ("_operation", "_spec")

    def __init__(self, spec: OperationSpec) -> None:
        self._spec = spec
        self._operation: Operation | None = None

    def __enter__(self) -> Operation:
        operation = begin(self._spec, None, None, None)
        self._operation = operation
        return operation or _NoOpOperation(self._spec)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        operation, self._operation = self._operation, None
        if operation is None:
            return
        operation.exit()
        if exc is None:
            operation.finish()
        else:
            operation.fail(exc)

    async def __aenter__(self) -> Operation:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def span(
    name: str,
    kind: Kind | str = Kind.STEP,
    *,
    provider: str | None = None,
    model: str | None = None,
    operation: str | None = None,
    description: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> OperationScope:
    """An operation for code that is not a function, as a (sync or async) context manager.

    The span starts when the ``with`` block is entered and ends when it exits: ``ok``, or
    ``failed`` with the exception, which propagates untouched.

    Args:
        name: The operation's name.
        kind: ``"agent"``, ``"step"`` (default), ``"tool"`` or ``"model_call"``.
        provider: For model calls: ``gen_ai.provider.name``.
        model: For model calls: ``gen_ai.request.model``.
        operation: For model calls: ``gen_ai.operation.name`` (default ``chat``).
        description: For agents and tools: their description.
        attributes: Static span attributes.

    Returns:
        A context manager whose ``as`` target is the live :class:`Operation`.

    Raises:
        TypeError: An option has the wrong type.
        ValueError: The kind or the name is not accepted.

    Example:
        >>> import agenttrace
        >>> with agenttrace.span("rerank", kind="step") as op:
        ...     op.set_attribute("candidates", 12)
    """
    return OperationScope(
        make_spec(
            kind,
            name,
            provider=provider,
            model=model,
            operation=operation,
            description=description,
            attributes=attributes,
        )
    )
