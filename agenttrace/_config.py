"""``configure()``, ``shutdown()`` and ``force_flush()``: the pipeline's lifecycle.

``configure()`` builds an OpenTelemetry ``TracerProvider`` with agenttrace's export
pipeline (the local file by default, OTLP with an endpoint) and installs it as the global
provider, unless the application installed one already: then agenttrace attaches to it and
leaves its processors and exporters alone. With an OTLP endpoint it also builds a
``LoggerProvider`` (log records through a second pipeline of the same kind) and a
``MeterProvider`` (metrics exported periodically), each installed as the global one
unless the application set its own. The SDK and the exporters are imported here, at
configuration time, never by ``import agenttrace``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace

from . import _runtime
from ._internal import internal_error, logger
from ._settings import Loaded, OtelSettings, load
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from os import PathLike

    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.trace import TracerProvider

    from ._export import Counts, Pipeline, Sink
    from ._otel_metrics import CountingMetricExporter
    from ._otlp import HttpSender

DEFAULT_HTTP_ENDPOINT: Final = "http://localhost:4318/v1/traces"
DEFAULT_GRPC_ENDPOINT: Final = "http://localhost:4317"
DEFAULT_HTTP_BASE: Final = "http://localhost:4318"
_NO_PROVIDER: Final = (
    "NoOpLoggerProvider",
    "ProxyLoggerProvider",
    "NoOpMeterProvider",
    "_ProxyMeterProvider",
)
"""The API's stand-ins for a global provider nobody set."""


@dataclass
class _Installed:
    """What one ``configure()`` call set up."""

    loaded: Loaded
    provider: TracerProvider
    owned: bool
    """agenttrace created the provider (and so may shut it down)."""
    pipeline: Pipeline | None
    console: SpanProcessor | None
    logs: Pipeline | None = None
    logger_provider: Any = None
    meter_provider: Any = None
    metric_exporter: CountingMetricExporter | None = None
    shut_down: bool = False


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.installed: _Installed | None = None
        self.at_exit_registered = False
        self.set_global = True
        """Install the provider as OpenTelemetry's global one (tests turn this off)."""
        self.built: weakref.WeakSet[object] = weakref.WeakSet()
        """The providers agenttrace built. OpenTelemetry's global providers can be set only
        once: after ``shutdown()``, a global one agenttrace built is shut down, and a new
        ``configure()`` builds anew instead of attaching to it."""


_state: Final = _State()


def configure(
    *,
    service_name: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | None = None,
    console: bool | None = None,
    directory: str | PathLike[str] | None = None,
    capture_content: bool | None = None,
    shutdown_timeout: float | None = None,
    tracer_provider: TracerProvider | None = None,
) -> None:
    """Set up export: the local file by default, OTLP when an endpoint is set.

    Every argument is optional and overrides its environment variable; zero arguments
    read everything from the environment. Calling it again with the same settings does
    nothing; with other settings it raises, until :func:`shutdown` is called.

    Args:
        service_name: The ``service.name`` resource attribute (``OTEL_SERVICE_NAME``).
        endpoint: The OTLP collector's base URL (``OTEL_EXPORTER_OTLP_ENDPOINT``);
            ``/v1/traces`` is appended for HTTP unless the URL ends with it.
        protocol: ``http/protobuf`` (default) or ``grpc`` (``OTEL_EXPORTER_OTLP_PROTOCOL``;
            gRPC needs the ``agenttrace[grpc]`` extra).
        headers: Sent with every export request (``OTEL_EXPORTER_OTLP_HEADERS``).
        console: Print each finished agent run as a tree on stderr (``AGENTTRACE_CONSOLE``).
        directory: Where the local trace file goes (``AGENTTRACE_DIR``).
        capture_content: Record arguments and results (``AGENTTRACE_CAPTURE_CONTENT``).
        shutdown_timeout: Seconds shutdown and flush may take (``AGENTTRACE_SHUTDOWN_TIMEOUT``).
        tracer_provider: Attach to this provider instead of the global one.

    Raises:
        ConfigurationError: A setting is not accepted, or agenttrace is already configured
            with other settings.

    Example:
        >>> import agenttrace
        >>> agenttrace.configure(service_name="support-bot")  # doctest: +SKIP
    """
    overrides: dict[str, object] = {
        "service_name": service_name,
        "endpoint": endpoint,
        "protocol": protocol,
        "console": console,
        "dir": directory,
        "capture_content": capture_content,
        "shutdown_timeout": shutdown_timeout,
    }
    if headers is not None:
        from ._otlp import format_headers  # noqa: PLC0415 (exporters load at configuration)

        overrides["headers"] = format_headers(headers)
    if endpoint is not None:
        overrides["traces_exporter"] = "otlp"
    loaded = load(overrides=overrides)
    with _state.lock:
        installed = _state.installed
        if installed is not None and not installed.shut_down:
            _check_same(installed, loaded, tracer_provider)
            return
        _state.installed = _install(loaded, tracer_provider)
        if not _state.at_exit_registered:
            atexit.register(_at_exit)
            _state.at_exit_registered = True


def _check_same(installed: _Installed, loaded: Loaded, provider: TracerProvider | None) -> None:
    old, new = installed.loaded, loaded
    changed = [
        name
        for model in ("settings", "otel")
        for name, value in getattr(new, model)
        if getattr(getattr(old, model), name) != value
    ]
    if provider is not None and provider is not installed.provider:
        changed.append("tracer_provider")
    if changed:
        msg = (
            f"agenttrace is already configured, with other values of: {', '.join(changed)}. "
            "Call agenttrace.shutdown() before configuring it again."
        )
        raise ConfigurationError(msg)


def _install(loaded: Loaded, given: TracerProvider | None) -> _Installed:
    settings, otel = loaded.settings, loaded.otel
    _runtime.apply_settings(
        settings.model_copy(update={"disabled": settings.disabled or otel.sdk_disabled})
    )
    existing = given or trace.get_tracer_provider()
    console = _console() if settings.console else None
    if given is not None or not _nobodys(existing):
        _announce_attach(existing, loaded)
        if console is not None and hasattr(existing, "add_span_processor"):
            existing.add_span_processor(console)
        _runtime.use_tracer_provider(existing)
        return _Installed(loaded, existing, owned=False, pipeline=None, console=console)

    from opentelemetry.sdk.resources import SERVICE_NAME, Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415

    from ._export import Pipeline  # noqa: PLC0415

    attributes = {SERVICE_NAME: otel.service_name} if otel.service_name else {}
    provider = TracerProvider(
        resource=Resource.create(attributes),
        sampler=_sampler(otel),
        shutdown_on_exit=False,
    )
    pipeline = None
    sink = _sink(loaded)
    if sink is not None:
        pipeline = Pipeline(
            sink,
            max_queue_spans=otel.max_queue_size,
            max_queue_bytes=settings.queue_max_bytes,
            max_span_bytes=settings.span_max_bytes,
            max_batch_spans=otel.max_export_batch_size,
            schedule_delay=otel.schedule_delay_ms / 1000,
            timeout=settings.shutdown_timeout,
        )
        provider.add_span_processor(pipeline)
    if console is not None:
        provider.add_span_processor(console)
    _state.built.add(provider)
    if _state.set_global and isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    _runtime.use_tracer_provider(provider)
    logger.debug("agenttrace: exporting to %s", sink.name if sink else "nowhere")
    installed = _Installed(loaded, provider, owned=True, pipeline=pipeline, console=console)
    _install_logs(installed, provider.resource)
    _install_metrics(installed, provider.resource)
    return installed


def signal_destination(loaded: Loaded, signal: str) -> tuple[str, str] | None:
    """Where ``logs`` or ``metrics`` go over OTLP: (protocol, URL), or ``None`` when not sent.

    Unless ``OTEL_{LOGS,METRICS}_EXPORTER`` says otherwise, they are sent when an endpoint
    is set: the signal's own (``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``…), or the base one.
    """
    otel = loaded.otel
    exporter = getattr(otel, f"{signal}_exporter")
    endpoint = getattr(otel, f"{signal}_endpoint")
    if exporter in ("none", "other") or (exporter is None and not (otel.endpoint or endpoint)):
        return None
    if otel.protocol == "grpc":
        return "grpc", endpoint or otel.endpoint or DEFAULT_GRPC_ENDPOINT
    if endpoint:
        return "http/protobuf", endpoint
    from ._otlp import TRACES_PATH, signal_url  # noqa: PLC0415

    base = (otel.endpoint or DEFAULT_HTTP_BASE).rstrip("/")
    base = base.removesuffix(TRACES_PATH)  # a base endpoint may be given as the traces URL
    return "http/protobuf", signal_url(base, f"/v1/{signal}")


def _install_logs(installed: _Installed, resource: Any) -> None:
    where = signal_destination(installed.loaded, "logs")
    if where is None:
        return
    from opentelemetry import _logs  # noqa: PLC0415

    if not _nobodys(_logs.get_logger_provider()):
        _announce_own("LoggerProvider", "log records")
        return
    from opentelemetry.sdk._logs import LoggerProvider  # noqa: PLC0415

    from . import _otel_logs  # noqa: PLC0415
    from ._export import LogProcessor, Pipeline, estimate_log_size  # noqa: PLC0415

    settings, otel = installed.loaded.settings, installed.loaded.otel
    pipeline = Pipeline(
        _logs_sink(installed.loaded, *where),
        max_queue_spans=otel.logs_max_queue_size,
        max_queue_bytes=settings.queue_max_bytes,
        max_span_bytes=settings.span_max_bytes,
        max_batch_spans=otel.logs_max_export_batch_size,
        schedule_delay=otel.logs_schedule_delay_ms / 1000,
        timeout=settings.shutdown_timeout,
        size=estimate_log_size,
        nouns=("log record", "log records"),
        hint=": a collector that takes traces only answers so; OTEL_LOGS_EXPORTER=none "
        "stops sending log records",
    )
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(LogProcessor(pipeline))
    _state.built.add(provider)
    if _state.set_global and type(_logs.get_logger_provider()).__name__ in _NO_PROVIDER:
        _logs.set_logger_provider(provider)
    _otel_logs.install(provider)
    installed.logs = pipeline
    installed.logger_provider = provider


def _nobodys(provider: object) -> bool:
    """Whether a global provider is nobody's to attach to.

    That is the API's stand-in for none, or one agenttrace built and shut down since.
    """
    return type(provider).__name__ in _NO_PROVIDER or (
        isinstance(provider, trace.ProxyTracerProvider) or provider in _state.built
    )


def _announce_own(provider: str, what: str) -> None:
    logger.info(
        "agenttrace: the application installed its own %s; it exports the %s, so "
        "agenttrace's OTLP settings are not used for them.",
        provider,
        what,
    )


def _logs_sink(loaded: Loaded, protocol: str, url: str) -> Sink:
    otel = loaded.otel
    headers = parse_headers(otel.headers)
    timeout = otel.timeout_ms / 1000
    if protocol == "grpc":
        from ._otlp import GrpcSink  # noqa: PLC0415

        return GrpcSink(grpc_exporter(url, headers, timeout, otel, signal="logs"), url)
    from opentelemetry.exporter.otlp.proto.common._log_encoder import (  # noqa: PLC0415
        encode_logs,
    )

    from ._otlp import HttpSink, rejected_log_records  # noqa: PLC0415

    return HttpSink(_http_sender(loaded, url, rejected_log_records), encoder=encode_logs)


def _install_metrics(installed: _Installed, resource: Any) -> None:
    where = signal_destination(installed.loaded, "metrics")
    if where is None:
        return
    from opentelemetry import metrics  # noqa: PLC0415
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader  # noqa: PLC0415

    from . import _metrics  # noqa: PLC0415
    from ._otel_metrics import CountingMetricExporter, metric_exporter  # noqa: PLC0415

    if not _nobodys(metrics.get_meter_provider()):
        _announce_own("MeterProvider", "metrics")  # and agenttrace records on it
        return

    otel = installed.loaded.otel
    from ._otlp import safe_url  # noqa: PLC0415

    name = f"otlp {where[0]} {safe_url(where[1])}"
    exporter = CountingMetricExporter(metric_exporter(*where, otel), name)
    reader = PeriodicExportingMetricReader(
        exporter,
        export_interval_millis=otel.metric_export_interval_ms,
        export_timeout_millis=otel.timeout_ms,
    )
    provider = MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)
    _state.built.add(provider)
    if _state.set_global and type(metrics.get_meter_provider()).__name__ in _NO_PROVIDER:
        metrics.set_meter_provider(provider)
    _metrics.use_meter_provider(provider)
    installed.meter_provider = provider
    installed.metric_exporter = exporter


def _announce_attach(provider: object, loaded: Loaded) -> None:
    export_settings = [
        name
        for name in ("endpoint", "traces_endpoint", "protocol", "headers", "traces_exporter")
        if loaded.source(name) != "default"
    ]
    level = logging.WARNING if export_settings else logging.INFO
    logger.log(
        level,
        "agenttrace: using the TracerProvider the application installed (%s.%s); its own "
        "processors export the spans%s.",
        type(provider).__module__,
        type(provider).__qualname__,
        f", so these settings are not used: {', '.join(export_settings)}"
        if export_settings
        else "",
    )


def _console() -> SpanProcessor:
    from ._console import ConsoleRenderer  # noqa: PLC0415

    return ConsoleRenderer()


def _sampler(otel: OtelSettings) -> Sampler | None:
    if otel.sampler is None:
        return None
    from opentelemetry.sdk.trace import sampling  # noqa: PLC0415

    ratio = 1.0 if otel.sampler_arg is None else otel.sampler_arg
    base: dict[str, Sampler] = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "traceidratio": sampling.TraceIdRatioBased(ratio),
    }
    name = otel.sampler
    if name.startswith("parentbased_"):
        return sampling.ParentBased(base[name.removeprefix("parentbased_")])
    return base[name]


def destination(loaded: Loaded) -> tuple[str, str | None]:
    """Where spans go: (``file``, path), (``http/protobuf`` or ``grpc``, URL), (``none``, None)."""
    settings, otel = loaded.settings, loaded.otel
    if otel.traces_exporter == "none":
        return "none", None
    if otel.traces_exporter is None and not (otel.endpoint or otel.traces_endpoint):
        from ._file import FILE_NAME  # noqa: PLC0415

        return "file", str(Path(settings.dir).resolve() / FILE_NAME)
    if otel.protocol == "grpc":
        return "grpc", otel.traces_endpoint or otel.endpoint or DEFAULT_GRPC_ENDPOINT
    if otel.traces_endpoint:
        return "http/protobuf", otel.traces_endpoint
    if otel.endpoint:
        from ._otlp import traces_url  # noqa: PLC0415

        return "http/protobuf", traces_url(otel.endpoint)
    return "http/protobuf", DEFAULT_HTTP_ENDPOINT


def _sink(loaded: Loaded) -> Sink | None:
    kind, where = destination(loaded)
    settings, otel = loaded.settings, loaded.otel
    if kind == "none" or where is None:
        return None
    if kind == "file":
        from ._file import JsonLinesFile  # noqa: PLC0415

        return JsonLinesFile(
            Path(where), max_bytes=settings.file_max_bytes, backups=settings.file_backups
        )
    from ._otlp import GrpcSink, HttpSink, rejected_spans  # noqa: PLC0415

    if kind == "grpc":
        headers = parse_headers(otel.headers)
        return GrpcSink(grpc_exporter(where, headers, otel.timeout_ms / 1000, otel), where)
    return HttpSink(_http_sender(loaded, where, rejected_spans))


def _http_sender(loaded: Loaded, url: str, rejected: Callable[[bytes], int]) -> HttpSender:
    from ._otlp import HttpSender  # noqa: PLC0415

    otel = loaded.otel
    cert: tuple[str, str] | str | None = None
    if otel.client_certificate and otel.client_key:
        cert = (str(otel.client_certificate), str(otel.client_key))
    elif otel.client_certificate:
        cert = str(otel.client_certificate)
    return HttpSender(
        url,
        headers=parse_headers(otel.headers),
        timeout=otel.timeout_ms / 1000,
        gzip=otel.compression == "gzip",
        verify=str(otel.certificate) if otel.certificate else True,
        cert=cert,
        rejected=rejected,
    )


def parse_headers(value: str | None) -> dict[str, str]:
    """Headers from the ``OTEL_EXPORTER_OTLP_HEADERS`` format."""
    from ._otlp import parse_headers as parse  # noqa: PLC0415

    return parse(value)


def grpc_exporter(
    endpoint: str,
    headers: dict[str, str],
    timeout: float,
    otel: OtelSettings,
    signal: str = "traces",
) -> Any:
    """The OpenTelemetry gRPC exporter of ``signal`` (``traces``, ``logs``, ``metrics``)."""
    try:
        from opentelemetry.exporter.otlp.proto.grpc import (  # noqa: PLC0415
            _log_exporter,
            metric_exporter,
            trace_exporter,
        )
    except ImportError:
        msg = (
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the gRPC exporter: "
            "pip install 'agenttrace[grpc]'."
        )
        raise ConfigurationError(msg) from None
    from grpc import Compression  # noqa: PLC0415

    exporters: dict[str, Any] = {
        "traces": trace_exporter.OTLPSpanExporter,
        "logs": _log_exporter.OTLPLogExporter,
        "metrics": metric_exporter.OTLPMetricExporter,
    }
    return exporters[signal](
        endpoint=endpoint,
        insecure=endpoint.startswith("http://"),
        headers=headers,
        timeout=timeout,
        compression=Compression.Gzip if otel.compression == "gzip" else Compression.NoCompression,
    )


def shutdown(timeout: float | None = None) -> bool:
    """Deliver what is queued, within ``timeout`` seconds, and stop exporting.

    Registered to run at exit by :func:`configure`. A provider agenttrace attached to is
    the application's to shut down and is left alone.

    Args:
        timeout: Seconds; ``AGENTTRACE_SHUTDOWN_TIMEOUT`` (2 s) by default.

    Returns:
        ``True`` when every queued span was delivered.
    """
    with _state.lock:
        installed = _state.installed
        if installed is None or installed.shut_down:
            return True
        installed.shut_down = True
    if timeout is None:
        timeout = installed.loaded.settings.shutdown_timeout
    end = time.monotonic() + timeout
    delivered = True
    if installed.pipeline is not None:
        delivered = installed.pipeline.close(timeout)
    if installed.logs is not None:
        from . import _otel_logs  # noqa: PLC0415

        _otel_logs.uninstall()
        delivered = installed.logs.close(_remaining(end)) and delivered
    if installed.meter_provider is not None:
        delivered = _shutdown_metrics(installed, _remaining(end)) and delivered
    if installed.owned:
        from ._export import bounded_call  # noqa: PLC0415

        bounded_call(
            getattr(installed.provider, "shutdown", _nothing), 0.1
        )  # the console renderer; the pipeline is done
    return delivered


def _nothing() -> None:
    pass


def _remaining(end: float) -> float:
    """What is left of a deadline shared by spans, logs and metrics; 0 once it passed."""
    return max(end - time.monotonic(), 0.0)


def _shutdown_metrics(installed: _Installed, timeout: float) -> bool:
    """Export the metrics one last time and stop recording them, within ``timeout``.

    The provider gets at least one export timeout of its own: given none left, the SDK's
    ``MeterProvider.shutdown`` skips its readers, and their thread would go on exporting
    for the life of the process. Only the wait here is bounded by ``timeout``; the rest
    finishes on a daemon thread.
    """
    from . import _metrics  # noqa: PLC0415

    _metrics.stop()
    own = max(timeout, installed.loaded.otel.timeout_ms / 1000)
    return _export_metrics(installed, "shutdown", timeout, own)


def _export_metrics(
    installed: _Installed, method: str, timeout: float, own: float | None = None
) -> bool:
    """Call the meter provider's ``shutdown`` or ``force_flush``, waiting ``timeout`` for it.

    ``own`` is the deadline the call itself is given, ``timeout`` unless said. ``True``
    when it returned in time and no export failed meanwhile.
    """
    from ._export import bounded_call  # noqa: PLC0415

    exporter = installed.metric_exporter
    failed = exporter.failed if exporter is not None else 0
    call = getattr(installed.meter_provider, method)
    millis = (timeout if own is None else own) * 1000
    done: list[object] = []
    bounded_call(lambda: done.append(call(timeout_millis=millis)), timeout)
    # shutdown() returns None; force_flush() says whether it finished
    return bool(done) and done[0] is not False and (exporter is None or exporter.failed == failed)


def force_flush(timeout: float | None = None) -> bool:
    """Export everything finished so far, waiting ``timeout`` seconds at most.

    Args:
        timeout: Seconds; ``AGENTTRACE_SHUTDOWN_TIMEOUT`` (2 s) by default.

    Returns:
        ``True`` when all of it was delivered in time; ``False`` when some could not be
        delivered or the deadline came first.
    """
    installed = _state.installed
    if installed is None:
        return True
    if timeout is None:
        timeout = installed.loaded.settings.shutdown_timeout
    end = time.monotonic() + timeout
    if installed.owned:
        delivered = True
        if installed.pipeline is not None:
            delivered = installed.pipeline.force_flush(int(timeout * 1000))
        if installed.logs is not None:
            delivered = installed.logs.force_flush(int(_remaining(end) * 1000)) and delivered
        if installed.meter_provider is not None:
            delivered = _export_metrics(installed, "force_flush", _remaining(end)) and delivered
        return delivered
    flush = getattr(installed.provider, "force_flush", None)
    if flush is None:
        return True
    from ._export import bounded_call  # noqa: PLC0415

    result: list[bool] = []
    bounded_call(lambda: result.append(bool(flush(int(timeout * 1000)))), timeout)
    return bool(result and result[0])


def log_counts() -> Counts | None:
    """The log pipeline's counters, when agenttrace exports log records."""
    installed = _state.installed
    if installed is None or installed.logs is None:
        return None
    return installed.logs.counts()


def metric_counts() -> tuple[str, int, int] | None:
    """Where metrics go, and how many exports succeeded and failed, when agenttrace sends them."""
    installed = _state.installed
    if installed is None or installed.metric_exporter is None:
        return None
    exporter = installed.metric_exporter
    return exporter.name, exporter.exported, exporter.failed


def pipeline_counts() -> Counts | None:
    """The export pipeline's counters, when agenttrace set one up."""
    installed = _state.installed
    if installed is None or installed.pipeline is None:
        return None
    return installed.pipeline.counts()


def _at_exit() -> None:
    try:
        shutdown()
    except Exception as exc:  # never a traceback at exit, not even in strict mode
        with contextlib.suppress(Exception):
            internal_error("shutdown", exc)


def reset() -> None:
    """Shut down and forget the configuration (for tests)."""
    shutdown(0.5)
    with _state.lock:
        _state.installed = None
    _runtime.use_tracer_provider(None)
    from . import _metrics  # noqa: PLC0415

    _metrics.use_meter_provider(None)
