"""Settings: agenttrace's own ``AGENTTRACE_*`` variables and the standard ``OTEL_*`` ones.

Both sets are frozen pydantic models. Values come from, in order of precedence, the
arguments given to :func:`agenttrace.configure`, the environment, and the defaults; every
value remembers where it came from, for ``agenttrace check``. A bad value is one
:class:`~agenttrace.exceptions.ConfigurationError` that names its source (the variable or
the argument), the value, and what is accepted.

Settings are also read lazily, the first time a decorated operation runs without
``configure()``; read that way, a bad value is logged once and the defaults are used, so a
typo in the environment never breaks the host application at run time.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import environment_variables as env
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

_logger: Final = logging.getLogger("agenttrace")

_BOOL_WORDS: Final = "true, false, 1, 0, yes, no, on, off"
_MIB: Final = 1024 * 1024


class Settings(BaseModel):
    """agenttrace's settings. Each field has an ``AGENTTRACE_*`` variable of the same name."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    disabled: bool = False
    """Decorators call straight through (``AGENTTRACE_DISABLED``)."""
    capture_content: bool = False
    """Record arguments and return values (``AGENTTRACE_CAPTURE_CONTENT``)."""
    capture_max_value_chars: int = Field(default=2048, ge=64, le=1_048_576)
    """Characters kept of one captured value (``AGENTTRACE_CAPTURE_MAX_VALUE_CHARS``)."""
    capture_max_span_chars: int = Field(default=16384, ge=256, le=16_777_216)
    """Characters kept of all captured values of a span (``AGENTTRACE_CAPTURE_MAX_SPAN_CHARS``)."""
    strict: bool = False
    """Internal errors raise (``AGENTTRACE_STRICT``)."""
    console: bool = False
    """Print each finished agent run as a tree on stderr (``AGENTTRACE_CONSOLE``)."""
    dir: Path = Path(".agenttrace")
    """Where the local trace file goes when no endpoint is set (``AGENTTRACE_DIR``)."""
    file_max_bytes: int = Field(default=16 * _MIB, ge=64 * 1024, le=1024**4)
    """The local trace file's size cap before rotation (``AGENTTRACE_FILE_MAX_BYTES``)."""
    file_backups: int = Field(default=3, ge=0, le=100)
    """Rotated local trace files kept (``AGENTTRACE_FILE_BACKUPS``)."""
    shutdown_timeout: float = Field(default=2.0, ge=0.0, le=60.0)
    """Seconds ``shutdown()`` and ``force_flush()`` may take (``AGENTTRACE_SHUTDOWN_TIMEOUT``)."""
    queue_max_bytes: int = Field(default=32 * _MIB, ge=_MIB, le=1024**3)
    """Estimated bytes of finished spans waiting for export (``AGENTTRACE_QUEUE_MAX_BYTES``)."""
    span_max_bytes: int = Field(default=4 * _MIB, ge=4096, le=64 * _MIB)
    """Estimated bytes above which a span is dropped as too large (``AGENTTRACE_SPAN_MAX_BYTES``).

    Also the most one export request carries.
    """

    @field_validator("dir", mode="before")
    @classmethod
    def _non_empty_path(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            msg = "the path is empty"
            raise ValueError(msg)
        return value


Protocol = Literal["http/protobuf", "grpc"]
Exporter = Literal["otlp", "none", "other"]
Sampler = Literal[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
]

_HEADER_NAME: Final = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


class OtelSettings(BaseModel):
    """The standard ``OTEL_*`` variables agenttrace honours when it builds the pipeline."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    sdk_disabled: bool = False
    """``OTEL_SDK_DISABLED``: record nothing."""
    service_name: str | None = None
    """``OTEL_SERVICE_NAME``: the ``service.name`` resource attribute."""
    resource_attributes: str | None = None
    """``OTEL_RESOURCE_ATTRIBUTES``: ``key=value`` pairs, comma-separated."""
    traces_exporter: Literal["otlp", "none"] | None = None
    """``OTEL_TRACES_EXPORTER``: ``otlp`` even without an endpoint, or ``none``."""
    endpoint: str | None = None
    """``OTEL_EXPORTER_OTLP_ENDPOINT``: the collector's base URL."""
    traces_endpoint: str | None = None
    """``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``: the full traces URL, used as given."""
    logs_exporter: Exporter | None = None
    """``OTEL_LOGS_EXPORTER``: ``otlp`` even without an endpoint, or ``none``; unset, log
    records go out over OTLP when an endpoint is set. Any other value (``console``, a
    comma-separated list without ``otlp``) is ``other``: the application's own exporters,
    set up outside agenttrace, take the signal."""
    logs_endpoint: str | None = None
    """``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``: the full logs URL, used as given."""
    metrics_exporter: Exporter | None = None
    """``OTEL_METRICS_EXPORTER``: as ``OTEL_LOGS_EXPORTER``, for metrics."""
    metrics_endpoint: str | None = None
    """``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``: the full metrics URL, used as given."""
    metric_export_interval_ms: int = Field(default=60_000, ge=100, le=86_400_000)
    """``OTEL_METRIC_EXPORT_INTERVAL``: milliseconds between two metric exports."""
    protocol: Protocol = "http/protobuf"
    """``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL``."""
    headers: str | None = None
    """``OTEL_EXPORTER_OTLP_[TRACES_]HEADERS``: ``name=value`` pairs, comma-separated."""
    timeout_ms: int = Field(default=10_000, ge=1, le=600_000)
    """``OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT``: milliseconds one export may take."""
    compression: Literal["none", "gzip"] = "none"
    """``OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION``."""
    certificate: Path | None = None
    """``OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE``: CA bundle for TLS."""
    client_certificate: Path | None = None
    """``OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE``: client certificate for mTLS."""
    client_key: Path | None = None
    """``OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_KEY``: client key for mTLS."""
    sampler: Sampler | None = None
    """``OTEL_TRACES_SAMPLER``; unset means the SDK default (``parentbased_always_on``)."""
    sampler_arg: float | None = Field(default=None, ge=0.0, le=1.0)
    """``OTEL_TRACES_SAMPLER_ARG``: the ratio for the ``traceidratio`` samplers."""
    schedule_delay_ms: int = Field(default=1000, ge=1, le=3_600_000)
    """``OTEL_BSP_SCHEDULE_DELAY``: the longest a finished span waits before export."""
    max_queue_size: int = Field(default=2048, ge=1, le=1_000_000)
    """``OTEL_BSP_MAX_QUEUE_SIZE``: finished spans waiting for export, at most."""
    max_export_batch_size: int = Field(default=512, ge=1, le=1_000_000)
    """``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``: spans per export request, at most."""
    logs_schedule_delay_ms: int = Field(default=1000, ge=1, le=3_600_000)
    """``OTEL_BLRP_SCHEDULE_DELAY``: the longest a log record waits before export."""
    logs_max_queue_size: int = Field(default=2048, ge=1, le=1_000_000)
    """``OTEL_BLRP_MAX_QUEUE_SIZE``: log records waiting for export, at most."""
    logs_max_export_batch_size: int = Field(default=512, ge=1, le=1_000_000)
    """``OTEL_BLRP_MAX_EXPORT_BATCH_SIZE``: log records per export request, at most."""

    @field_validator("endpoint", "traces_endpoint", "logs_endpoint", "metrics_endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            msg = "not an http:// or https:// URL with a host"
            raise ValueError(msg)
        try:
            _ = parts.port
        except ValueError:
            msg = "the port is not a number from 0 to 65535"
            raise ValueError(msg) from None
        return value

    @field_validator("logs_exporter", "metrics_exporter", mode="before")
    @classmethod
    def _exporter(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        names = [name.strip().lower() for name in value.split(",") if name.strip()]
        if "otlp" in names:
            return "otlp"
        return "none" if names == ["none"] else "other"

    @field_validator("headers", "resource_attributes")
    @classmethod
    def _pairs(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for position, item in enumerate(value.split(","), start=1):
            name, equals, _ = item.partition("=")
            # The value may be a secret: errors name only the pair's position.
            if not item.strip():
                continue
            if not equals or not _HEADER_NAME.fullmatch(name.strip()):
                msg = f"pair {position} is not name=value"
                raise ValueError(msg)
        return value


@dataclass(frozen=True)
class _Source:
    """Where a field's value may come from: variables, in order of precedence."""

    variables: tuple[str, ...]
    accepted: str | None = None
    """What is accepted, when the field's type does not say it well."""


GENAI_CAPTURE_MESSAGE_CONTENT: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The OpenTelemetry GenAI instrumentations' content switch, honoured after agenttrace's own."""
_VALUE_MAPS: Final = {
    # Its values: true/false, or where content goes; agenttrace records content on spans only.
    GENAI_CAPTURE_MESSAGE_CONTENT: {
        "no_content": "false",
        "event_only": "false",
        "span_only": "true",
        "span_and_event": "true",
    },
}

_SETTINGS_SOURCES: Final = {
    "disabled": _Source((env.AGENTTRACE_DISABLED,)),
    "capture_content": _Source((env.AGENTTRACE_CAPTURE_CONTENT, GENAI_CAPTURE_MESSAGE_CONTENT)),
    "capture_max_value_chars": _Source((env.AGENTTRACE_CAPTURE_MAX_VALUE_CHARS,)),
    "capture_max_span_chars": _Source((env.AGENTTRACE_CAPTURE_MAX_SPAN_CHARS,)),
    "strict": _Source((env.AGENTTRACE_STRICT,)),
    "console": _Source((env.AGENTTRACE_CONSOLE,)),
    "dir": _Source((env.AGENTTRACE_DIR,), "a directory path"),
    "file_max_bytes": _Source((env.AGENTTRACE_FILE_MAX_BYTES,)),
    "file_backups": _Source((env.AGENTTRACE_FILE_BACKUPS,)),
    "shutdown_timeout": _Source((env.AGENTTRACE_SHUTDOWN_TIMEOUT,)),
    "queue_max_bytes": _Source((env.AGENTTRACE_QUEUE_MAX_BYTES,)),
    "span_max_bytes": _Source((env.AGENTTRACE_SPAN_MAX_BYTES,)),
}


def _otlp(name: str) -> tuple[str, str]:
    return (f"OTEL_EXPORTER_OTLP_TRACES_{name}", f"OTEL_EXPORTER_OTLP_{name}")


_OTEL_SOURCES: Final = {
    "sdk_disabled": _Source(("OTEL_SDK_DISABLED",)),
    "service_name": _Source(("OTEL_SERVICE_NAME",)),
    "resource_attributes": _Source(
        ("OTEL_RESOURCE_ATTRIBUTES",), "key=value pairs, comma-separated"
    ),
    "traces_exporter": _Source(("OTEL_TRACES_EXPORTER",)),
    "endpoint": _Source(("OTEL_EXPORTER_OTLP_ENDPOINT",), "an http:// or https:// URL"),
    "traces_endpoint": _Source(
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",), "an http:// or https:// URL"
    ),
    "logs_exporter": _Source(("OTEL_LOGS_EXPORTER",)),
    "logs_endpoint": _Source(("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",), "an http:// or https:// URL"),
    "metrics_exporter": _Source(("OTEL_METRICS_EXPORTER",)),
    "metrics_endpoint": _Source(
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",), "an http:// or https:// URL"
    ),
    "metric_export_interval_ms": _Source(("OTEL_METRIC_EXPORT_INTERVAL",)),
    "protocol": _Source(_otlp("PROTOCOL")),
    "headers": _Source(_otlp("HEADERS"), "name=value pairs, comma-separated"),
    "timeout_ms": _Source(_otlp("TIMEOUT")),
    "compression": _Source(_otlp("COMPRESSION")),
    "certificate": _Source(_otlp("CERTIFICATE"), "a file path"),
    "client_certificate": _Source(_otlp("CLIENT_CERTIFICATE"), "a file path"),
    "client_key": _Source(_otlp("CLIENT_KEY"), "a file path"),
    "sampler": _Source(("OTEL_TRACES_SAMPLER",)),
    "sampler_arg": _Source(("OTEL_TRACES_SAMPLER_ARG",)),
    "schedule_delay_ms": _Source(("OTEL_BSP_SCHEDULE_DELAY",)),
    "max_queue_size": _Source(("OTEL_BSP_MAX_QUEUE_SIZE",)),
    "max_export_batch_size": _Source(("OTEL_BSP_MAX_EXPORT_BATCH_SIZE",)),
    "logs_schedule_delay_ms": _Source(("OTEL_BLRP_SCHEDULE_DELAY",)),
    "logs_max_queue_size": _Source(("OTEL_BLRP_MAX_QUEUE_SIZE",)),
    "logs_max_export_batch_size": _Source(("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",)),
}

_SECRET_FIELDS: Final = frozenset({"headers"})
"""Fields whose values are never printed or put in error messages."""

_CONFIGURE: Final = "configure()"

DEFAULT = "default"
"""The source of a value nobody set."""


def _accepted(model: type[BaseModel], name: str, source: _Source) -> str:
    if source.accepted:
        return source.accepted
    info = model.model_fields[name]
    annotation = info.annotation
    if annotation is bool:
        return _BOOL_WORDS
    args = getattr(annotation, "__args__", ())
    literals = [a for arg in args for a in getattr(arg, "__args__", (arg,)) if isinstance(a, str)]
    if literals:
        return ", ".join(literals)
    low = high = None
    for meta in info.metadata:
        low = getattr(meta, "ge", low)
        high = getattr(meta, "le", high)
    noun = "a number" if float in (annotation, *args) else "a whole number"
    return f"{noun} from {low} to {high}"


def _validate(
    model: type[BaseModel],
    sources: Mapping[str, _Source],
    raw: dict[str, Any],
    origin: dict[str, str],
) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0])
        shown = "<hidden>" if name in _SECRET_FIELDS else repr(raw.get(name))
        where = (
            f"configure({name}={shown})"
            if origin[name] == _CONFIGURE
            else f"{origin[name]}={shown}"
        )
        raise ConfigurationError(
            f"{where} is not accepted: {first['msg']}. "
            f"Accepted: {_accepted(model, name, sources[name])}."
        ) from None


def _read(
    sources: Mapping[str, _Source],
    environ: Mapping[str, str],
    overrides: Mapping[str, object],
) -> tuple[dict[str, Any], dict[str, str]]:
    raw: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, source in sources.items():
        if name in overrides and overrides[name] is not None:
            raw[name] = overrides[name]
            origin[name] = _CONFIGURE
            continue
        for variable in source.variables:
            value = environ.get(variable, "").strip()
            if variable in _VALUE_MAPS:
                value = _VALUE_MAPS[variable].get(value.lower(), value)
            if value:
                raw[name] = value
                origin[name] = variable
                break
    return raw, origin


@dataclass(frozen=True)
class Loaded:
    """Settings in force, and where each value came from."""

    settings: Settings
    otel: OtelSettings
    origin: dict[str, str] = field(default_factory=dict)
    """Field name to its source: a variable, ``configure()``, or ``default``."""

    def source(self, name: str) -> str:
        """Where the value of field ``name`` came from."""
        return self.origin.get(name, DEFAULT)


def load(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None
) -> Loaded:
    """Read and validate every setting.

    Args:
        environ: The environment to read; ``os.environ`` by default.
        overrides: Values given in code, by field name; ``None`` values are ignored.

    Returns:
        The settings, with where each value came from.

    Raises:
        ConfigurationError: A value is not accepted; the message names its source.
    """
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    unknown = set(overrides) - set(_SETTINGS_SOURCES) - set(_OTEL_SOURCES)
    if unknown:
        msg = f"unknown settings: {', '.join(sorted(unknown))}"
        raise ConfigurationError(msg)
    raw, origin = _read(_SETTINGS_SOURCES, environ, overrides)
    settings = _validate(Settings, _SETTINGS_SOURCES, raw, origin)
    otel_raw, otel_origin = _read(_OTEL_SOURCES, environ, overrides)
    otel = _validate(OtelSettings, _OTEL_SOURCES, otel_raw, otel_origin)
    if otel.max_export_batch_size > otel.max_queue_size:
        msg = (
            f"{otel_origin.get('max_export_batch_size', 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE')}="
            f"{otel.max_export_batch_size} is not accepted: it is larger than the queue "
            f"({otel.max_queue_size}). Accepted: a whole number up to the queue size."
        )
        raise ConfigurationError(msg)
    if otel.logs_max_export_batch_size > otel.logs_max_queue_size:
        msg = (
            f"{otel_origin.get('logs_max_export_batch_size', 'OTEL_BLRP_MAX_EXPORT_BATCH_SIZE')}="
            f"{otel.logs_max_export_batch_size} is not accepted: it is larger than the queue "
            f"({otel.logs_max_queue_size}). Accepted: a whole number up to the queue size."
        )
        raise ConfigurationError(msg)
    return Loaded(settings, otel, {**origin, **otel_origin})


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read agenttrace's own settings from ``AGENTTRACE_*`` variables.

    Args:
        environ: The environment to read; ``os.environ`` by default.

    Returns:
        The validated settings; unset variables take their defaults.

    Raises:
        ConfigurationError: A variable has a value that is not accepted.
    """
    environ = os.environ if environ is None else environ
    raw, origin = _read(_SETTINGS_SOURCES, environ, {})
    settings: Settings = _validate(Settings, _SETTINGS_SOURCES, raw, origin)
    return settings


def settings_or_defaults() -> Settings:
    """Read the settings from the environment, logging a bad value once and using defaults."""
    try:
        return settings_from_env()
    except ConfigurationError as exc:
        _logger.error("agenttrace: %s Using the defaults for every setting.", exc)  # noqa: TRY400
        return Settings()


def variables(name: str) -> tuple[str, ...]:
    """The environment variables that set field ``name``, in order of precedence."""
    source = _SETTINGS_SOURCES.get(name) or _OTEL_SOURCES[name]
    return source.variables


def is_secret(name: str) -> bool:
    """Whether field ``name`` holds values never to print."""
    return name in _SECRET_FIELDS
