"""What the hot path reads on every call: the tracer to use, its sampling shortcut, settings.

Decorating works before any configuration: the tracer is resolved at the first call after
a real ``TracerProvider`` exists (the global one, or one agenttrace was given), then cached.
The global provider can be set only once, so a cached resolution stays right.

Sampling shortcut: a span that the provider's sampler is certain to drop is never started.
The certainty comes from the sampler's own description (public API), read once per provider:
``AlwaysOffSampler`` drops everything; the default ``ParentBased`` sampler drops the roots its
root sampler drops and every child of an unsampled parent. Any other sampler is always asked.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from opentelemetry import trace

from ._capture import CaptureLimits
from ._internal import set_strict
from ._settings import Settings, settings_or_defaults

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

INSTRUMENTATION_NAME: Final = "agenttrace"

_ALWAYS_ON: Final = "AlwaysOnSampler"
_ALWAYS_OFF: Final = "AlwaysOffSampler"
_PARENT_BASED_TAIL: Final = (
    ",remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,"
    "localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"
)


@dataclass(frozen=True, slots=True)
class TracerEntry:
    """A resolved tracer and what its sampler lets the hot path skip."""

    tracer: Tracer
    drop_all: bool = False
    """Every span would be dropped: start none."""
    drop_roots: bool = False
    """Spans without a valid parent would be dropped."""
    check_parent: bool = False
    """Spans whose parent is valid but unsampled would be dropped."""


def _entry_for(tracer: Tracer) -> TracerEntry:
    sampler = getattr(tracer, "sampler", None)
    if sampler is None or not type(sampler).__module__.startswith("opentelemetry.sdk."):
        return TracerEntry(tracer)
    try:
        description = str(sampler.get_description())
    except Exception:  # an odd sampler is simply always asked
        return TracerEntry(tracer)
    if description == _ALWAYS_OFF:
        return TracerEntry(tracer, drop_all=True)
    prefix = "ParentBased{root:"
    if description.startswith(prefix) and description.endswith(_PARENT_BASED_TAIL):
        root = description[len(prefix) : -len(_PARENT_BASED_TAIL)]
        if root == _ALWAYS_ON:
            # Only a remote unsampled parent can drop a span here: rare, and the SDK
            # handles it; checking the parent on every call would cost every call.
            return TracerEntry(tracer)
        return TracerEntry(tracer, drop_roots=root == _ALWAYS_OFF, check_parent=True)
    return TracerEntry(tracer)


class _State:
    """Process-wide runtime state; replaced wholesale, read without locks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.provider: TracerProvider | None = None
        """A provider agenttrace was given; ``None`` means the global one."""
        self.override: TracerProvider | None = None
        """A test capture's provider: it wins over the others while set."""
        self.entry: TracerEntry | None = None
        self.settings: Settings | None = None
        self.limits = CaptureLimits()
        self.disabled = False
        self.capture_content = False


state: Final = _State()


def load_settings() -> Settings:
    """The settings in force, read from the environment on first use."""
    current = state.settings
    if current is None:
        apply_settings(settings_or_defaults())
        current = state.settings
        assert current is not None  # noqa: S101 (set just above)
    return current


def apply_settings(settings: Settings) -> None:
    """Put ``settings`` in force."""
    state.limits = CaptureLimits(
        max_value_chars=settings.capture_max_value_chars,
        max_span_chars=settings.capture_max_span_chars,
    )
    state.disabled = settings.disabled
    state.capture_content = settings.capture_content
    set_strict(settings.strict)
    with state.lock:
        state.settings = settings
        state.entry = None


def resolve() -> TracerEntry | None:
    """The tracer entry to use now, or ``None`` when no real provider exists yet."""
    entry = state.entry
    if entry is not None:
        return entry
    disabled = load_settings().disabled
    provider = state.override  # a test capture records even when agenttrace is disabled
    if provider is None:
        if disabled:
            return None
        provider = state.provider
    if provider is None:
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider):
            return None  # nothing configured: nothing would be recorded
    from . import __version__  # noqa: PLC0415 (the package imports this module)

    entry = _entry_for(provider.get_tracer(INSTRUMENTATION_NAME, __version__))
    with state.lock:
        state.entry = entry
    return entry


def override_tracer_provider(provider: TracerProvider | None) -> None:
    """Record with ``provider`` whatever else is configured (``None``: stop overriding).

    For the testing toolkit's capture: a ``configure()`` while it runs sets the provider
    that applies once the override is lifted.
    """
    with state.lock:
        state.override = provider
        state.entry = None


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Record spans with ``provider`` instead of the global provider (``None``: the global)."""
    with state.lock:
        state.provider = provider
        state.entry = None
