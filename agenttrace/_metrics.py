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
from typing import TYPE_CHECKING, Final, cast

from opentelemetry import metrics
from opentelemetry.metrics import Observation
from opentelemetry.metrics import _internal as _api

from . import _semconv as sc
from ._internal import internal_error
from ._runtime import state as runtime
from ._spans import error_type

if TYPE_CHECKING:
    from collections.abc import Iterable

    from opentelemetry.metrics import CallbackOptions, Histogram, MeterProvider
    from opentelemetry.util.types import AttributeValue

    from ._failures import Detected
    from ._operation import Operation

OPERATIONS: Final = "agenttrace.operations"
FAILURES: Final = "agenttrace.failures"
RETRIES: Final = "agenttrace.retries"
FALLBACKS: Final = "agenttrace.fallbacks"
DURATION: Final = "gen_ai.client.operation.duration"
TOKENS: Final = "gen_ai.client.token.usage"

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
_UNKNOWN: Final = object()


class _Tally:
    """Cumulative counts by attribute values, reported at each collection.

    Adding to an SDK counter costs about 10 µs here (views, attribute sets, locks); the
    operations counter would cost every operation that much. Counting into a dict costs
    well under a microsecond, and an observable counter reports the totals when the reader
    collects (every export interval).
    """

    __slots__ = ("counts", "lock", "names")

    def __init__(self, *names: str) -> None:
        self.names = names
        self.counts: dict[tuple[AttributeValue | None, ...], int] = {}
        self.lock = threading.Lock()

    def add(self, *values: AttributeValue | None) -> None:
        with self.lock:
            self.counts[values] = self.counts.get(values, 0) + 1

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        """The totals, one observation per attribute set (``None`` values left out)."""
        del options
        with self.lock:
            counts = list(self.counts.items())
        return [
            Observation(
                count, {k: v for k, v in zip(self.names, values, strict=True) if v is not None}
            )
            for values, count in counts
        ]


class _Instruments:
    __slots__ = ("duration", "failures", "fallbacks", "operations", "retries", "tokens")

    def __init__(self, provider: MeterProvider) -> None:
        from . import __version__  # noqa: PLC0415 (the package imports this module)

        meter = provider.get_meter("agenttrace", __version__)
        self.operations = _Tally(sc.OPERATION, sc.KIND, sc.OUTCOME)
        self.failures = _Tally(
            sc.OPERATION, sc.FAILURE_DECLARED, sc.FAILURE_HANDLING, sc.FAILURE_MODE, sc.ERROR_TYPE
        )
        self.retries = _Tally(sc.OPERATION)
        self.fallbacks = _Tally(sc.OPERATION, sc.ATTEMPT_TYPE, sc.FALLBACK_NAME)
        for name, tally, unit, description in (
            (OPERATIONS, self.operations, "{operation}", "Operations ended, by outcome."),
            (FAILURES, self.failures, "{failure}", "Failures, declared or not, by mode."),
            (RETRIES, self.retries, "{retry}", "Retries started."),
            (FALLBACKS, self.fallbacks, "{fallback}", "Fallbacks and escalations started."),
        ):
            meter.create_observable_counter(
                name, callbacks=[tally.observe], unit=unit, description=description
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
        self.looked = False
        """``metrics.get_meter_provider()`` was called once."""


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


def maybe_on() -> bool:
    """Whether a provider may be set: agenttrace was given one, or a global one exists.

    The check every operation makes first, about 0.1 µs: without a provider there is
    nothing to count, and the rest is skipped.
    """
    return state.provider is not None or _api._METER_PROVIDER is not None


def _global_provider() -> MeterProvider:
    """The global provider, as ``metrics.get_meter_provider()`` returns it, but faster.

    That function reads the environment on every call while no provider is set (about a
    microsecond); after a first call, which loads a provider named by the environment, the
    API's module variable says the same.
    """
    if not state.looked:
        state.looked = True
        return metrics.get_meter_provider()
    provider = getattr(_api, "_METER_PROVIDER", _UNKNOWN)
    if provider is _UNKNOWN:
        return metrics.get_meter_provider()
    return cast("MeterProvider", provider or _api._PROXY_METER_PROVIDER)


def instruments() -> _Instruments | None:
    """The instruments to record on now, or ``None`` when no real provider is set.

    Also ``None`` while agenttrace records nothing (disabled, or no ``TracerProvider``):
    metrics count what agenttrace sees, and it sees nothing then.
    """
    if runtime.entry is None:
        return None
    provider = state.provider or _global_provider()
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
        spec = operation.spec
        made.operations.add(_capped(sc.OPERATION, spec.name), spec.kind.value, outcome)
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
            _capped(sc.OPERATION, name), kind, sc.OUTCOME_FAILED if failed else sc.OUTCOME_OK
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
        attributes[sc.ERROR_TYPE] = _capped(sc.ERROR_TYPE, error_type(error))
    made.duration.record(max(time.perf_counter() - model_call.started, 0.0), attributes)
    usage = model_call.attributes()  # a failed call's earlier attempts may have spent some
    for key, token_type in (
        (sc.GEN_AI_USAGE_INPUT_TOKENS, "input"),
        (sc.GEN_AI_USAGE_OUTPUT_TOKENS, "output"),
    ):
        count = usage.get(key)
        if isinstance(count, int) and count >= 0:
            made.tokens.record(count, {**attributes, sc.GEN_AI_TOKEN_TYPE: token_type})


def failure(operation: Operation, detected: Detected) -> None:
    """Count one failure of ``operation``."""
    made = instruments()
    if made is None:
        return
    try:
        declared, mode, exc = detected.declared, detected.mode, detected.exc
        made.failures.add(
            _capped(sc.OPERATION, operation.spec.name),
            declared is not None,
            declared.handling if declared is not None else "none",
            _capped(sc.FAILURE_MODE, mode) if mode is not None else None,
            _capped(sc.ERROR_TYPE, error_type(exc)) if exc is not None else None,
        )
    except Exception as exc:
        internal_error("metrics", exc)


def attempt(operation: Operation, kind: str, fallback: str | None) -> None:
    """Count one retry, fallback or escalation of ``operation``."""
    made = instruments()
    if made is None:
        return
    try:
        name = _capped(sc.OPERATION, operation.spec.name)
        if kind == sc.ATTEMPT_RETRY:
            made.retries.add(name)
            return
        made.fallbacks.add(name, kind, _capped(sc.FALLBACK_NAME, fallback) if fallback else None)
    except Exception as exc:
        internal_error("metrics", exc)
