"""Metrics through the OpenTelemetry metrics API: how operations end, how they fail.

Instruments (``docs/metrics.md`` has their units, attributes and alert rules):

- ``agenttrace.operations``: operations ended, by operation, kind and outcome;
- ``agenttrace.failures``: failures, by operation, mode, declared and handling;
- ``agenttrace.retries`` and ``agenttrace.fallbacks``: attempts started, by operation
  (and for fallbacks, which fallback and whether it escalated to a human);
- ``gen_ai.client.operation.duration`` and ``gen_ai.client.token.usage``: the GenAI
  semantic conventions' histograms (v1.41), one measurement per model call.

They are recorded on the global ``MeterProvider`` (the one ``configure()`` builds when it
exports metrics over OTLP, or the application's own), and not at all while none is set, so
an application without metrics pays one check per operation. Attribute values are names
from the code (operations, modes, fallbacks, handlings, outcomes) and model names, never
argument values. Each attribute takes at most :data:`MAX_VALUES` distinct values; later
ones are recorded as ``_OTHER``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Final

from opentelemetry import metrics

from . import _semconv as sc
from ._internal import internal_error

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.util.types import AttributeValue

    from ._failures import Detected
    from ._operation import Operation

OPERATIONS: Final = "agenttrace.operations"
FAILURES: Final = "agenttrace.failures"
RETRIES: Final = "agenttrace.retries"
FALLBACKS: Final = "agenttrace.fallbacks"
DURATION: Final = "gen_ai.client.operation.duration"
TOKENS: Final = "gen_ai.client.token.usage"

GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"  # noqa: S105 (an attribute name)
OTHER: Final = "_OTHER"
MAX_VALUES: Final = 256
"""Distinct values kept per attribute; later ones are recorded as ``_OTHER``."""

# GenAI semantic conventions v1.41: the advised bucket boundaries.
DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip

_GEN_AI_KEYS: Final = (sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME)
_NO_PROVIDER: Final = ("NoOpMeterProvider", "_ProxyMeterProvider")


class _Instruments:
    __slots__ = ("duration", "failures", "fallbacks", "operations", "retries", "tokens")

    def __init__(self, provider: MeterProvider) -> None:
        from . import __version__  # noqa: PLC0415 (the package imports this module)

        meter = provider.get_meter("agenttrace", __version__)
        self.operations: Counter = meter.create_counter(
            OPERATIONS, unit="{operation}", description="Operations ended, by outcome."
        )
        self.failures: Counter = meter.create_counter(
            FAILURES, unit="{failure}", description="Failures, declared or not, by mode."
        )
        self.retries: Counter = meter.create_counter(
            RETRIES, unit="{retry}", description="Retries started."
        )
        self.fallbacks: Counter = meter.create_counter(
            FALLBACKS, unit="{fallback}", description="Fallbacks and escalations started."
        )
        self.duration: Histogram = meter.create_histogram(
            DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.tokens: Histogram = meter.create_histogram(
            TOKENS,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS),
        )


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.provider: MeterProvider | None = None
        """A provider agenttrace was given; ``None`` means the global one."""
        self.seen: object = None
        """The provider the instruments below were made for."""
        self.instruments: _Instruments | None = None
        self.values: dict[str, set[str]] = {}
        self.stopped = False
        """agenttrace's own provider was shut down: record nothing until the next one."""


state: Final = _State()


def use_meter_provider(provider: MeterProvider | None) -> None:
    """Record on ``provider`` instead of the global provider (``None``: the global)."""
    with state.lock:
        state.provider = provider
        state.seen = None
        state.instruments = None
        state.stopped = False


def stop() -> None:
    """Record nothing more (the provider agenttrace built is shutting down)."""
    with state.lock:
        state.stopped = True
        state.seen = None
        state.instruments = None


def instruments() -> _Instruments | None:
    """The instruments to record on now, or ``None`` when no real provider is set."""
    provider = state.provider or metrics.get_meter_provider()
    if provider is state.seen or state.stopped:
        return state.instruments
    made = None
    if type(provider).__name__ not in _NO_PROVIDER:
        try:
            made = _Instruments(provider)
        except Exception as exc:
            internal_error("metrics", exc)
    with state.lock:
        state.seen, state.instruments = provider, made
    return made


def _capped(key: str, value: str) -> str:
    """``value``, or ``_OTHER`` once ``key`` has taken :data:`MAX_VALUES` others."""
    seen = state.values.get(key)
    if seen is None:
        seen = state.values.setdefault(key, set())
    if value in seen:
        return value
    if len(seen) >= MAX_VALUES:
        return OTHER
    seen.add(value)
    return value


def operation_ended(operation: Operation, outcome: str, error: BaseException | None) -> None:
    """Count one ended operation; for a model call, its duration and tokens too."""
    made = instruments()
    if made is None:
        return
    try:
        name = _capped(sc.OPERATION, operation.spec.name)
        made.operations.add(
            1, {sc.OPERATION: name, sc.KIND: operation.spec.kind.value, sc.OUTCOME: outcome}
        )
        if operation.model_call is not None:
            _model_call(made, operation, error)
    except Exception as exc:
        internal_error("metrics", exc)


def quiet_operation_ended(name: str, kind: str, failed: bool) -> None:
    """Count an operation that ran unrecorded (its span sampled out)."""
    made = instruments()
    if made is None:
        return
    try:
        made.operations.add(
            1,
            {
                sc.OPERATION: _capped(sc.OPERATION, name),
                sc.KIND: kind,
                sc.OUTCOME: sc.OUTCOME_FAILED if failed else sc.OUTCOME_OK,
            },
        )
    except Exception as exc:
        internal_error("metrics", exc)


def _model_call(made: _Instruments, operation: Operation, error: BaseException | None) -> None:
    import time  # noqa: PLC0415 (model calls only)

    model_call = operation.model_call
    assert model_call is not None  # noqa: S101 (the caller checked)
    static = operation.spec.attributes
    attributes: dict[str, AttributeValue] = {
        key: static[key] for key in _GEN_AI_KEYS if key in static
    }
    request, response = model_call.request, model_call.response
    if request is not None and request.model:
        attributes[sc.GEN_AI_REQUEST_MODEL] = _capped(sc.GEN_AI_REQUEST_MODEL, request.model)
    elif sc.GEN_AI_REQUEST_MODEL in static:
        attributes[sc.GEN_AI_REQUEST_MODEL] = static[sc.GEN_AI_REQUEST_MODEL]
    if response is not None and response.model:
        attributes[sc.GEN_AI_RESPONSE_MODEL] = _capped(sc.GEN_AI_RESPONSE_MODEL, response.model)
    if error is not None:
        attributes[sc.ERROR_TYPE] = _capped(sc.ERROR_TYPE, type(error).__qualname__)
    made.duration.record(max(time.perf_counter() - model_call.started, 0.0), attributes)
    if error is not None:
        return
    usage = model_call.attributes()
    for key, token_type in (
        (sc.GEN_AI_USAGE_INPUT_TOKENS, "input"),
        (sc.GEN_AI_USAGE_OUTPUT_TOKENS, "output"),
    ):
        count = usage.get(key)
        if isinstance(count, int) and count >= 0:
            made.tokens.record(count, {**attributes, GEN_AI_TOKEN_TYPE: token_type})


def failure(operation: Operation, detected: Detected) -> None:
    """Count one failure of ``operation``."""
    made = instruments()
    if made is None:
        return
    try:
        declared = detected.declared
        attributes: dict[str, AttributeValue] = {
            sc.OPERATION: _capped(sc.OPERATION, operation.spec.name),
            sc.FAILURE_DECLARED: declared is not None,
            sc.FAILURE_HANDLING: declared.handling if declared is not None else "none",
        }
        if detected.mode is not None:
            attributes[sc.FAILURE_MODE] = _capped(sc.FAILURE_MODE, detected.mode)
        if detected.exc is not None:
            attributes[sc.ERROR_TYPE] = _capped(sc.ERROR_TYPE, type(detected.exc).__qualname__)
        made.failures.add(1, attributes)
    except Exception as exc:
        internal_error("metrics", exc)


def attempt(operation: Operation, kind: str, fallback: str | None) -> None:
    """Count one retry, fallback or escalation of ``operation``."""
    made = instruments()
    if made is None:
        return
    try:
        attributes: dict[str, AttributeValue] = {
            sc.OPERATION: _capped(sc.OPERATION, operation.spec.name)
        }
        if kind == sc.ATTEMPT_RETRY:
            made.retries.add(1, attributes)
            return
        attributes[sc.ATTEMPT_TYPE] = kind
        if fallback is not None:
            attributes[FALLBACK] = _capped(FALLBACK, fallback)
        made.fallbacks.add(1, attributes)
    except Exception as exc:
        internal_error("metrics", exc)


FALLBACK: Final = "agenttrace.fallback"
"""The attribute naming the fallback that ran, on ``agenttrace.fallbacks``."""
