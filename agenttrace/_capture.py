"""Safe, bounded, redacted serialisation of user values to JSON text for span attributes.

The rules, in order of importance:

- **Never raise.** Any value, however hostile, becomes valid, strict JSON (no ``NaN``) that
  encodes to UTF-8 (lone surrogates are replaced).
- **Bounded before serialising.** Strings and bytes are sliced before anything scans or
  copies them; containers are read up to ``max_items`` entries and ``max_depth`` levels;
  every node costs at least one character of an allowance, so the work done is bounded by
  the allowance, not by the input. A 100 MB string costs what its first few KiB cost.
- **Never touch unknown objects.** Anything that is not a known type is rendered from its
  *type* only (``"<mymodule.Thing>"``): no ``__repr__``, ``__str__``, ``__getattr__``,
  ``__iter__``, ``__len__`` or property of the object is ever called. Known containers are
  read through their base type's own methods (``dict.items(obj)``), so overrides in
  subclasses are not called either.
- **Redact.** Values under sensitive keys or parameter names become ``[REDACTED]``;
  secrets inside strings become ``[REDACTED:kind]`` (see :mod:`agenttrace._redact`).
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import json
import math
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, SecretBytes, SecretStr

from ._redact import KEY_MARKER, is_sensitive_key, redact_text

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

_REDACT_MARGIN: Final = 256
"""Characters past a cut that are scanned for secrets first, so none straddles the cut."""
_MAX_KEY_CHARS: Final = 128
_INT64: Final = 2**63
_MAX_INT_BITS: Final = 4096
_SECRET_MARKER: Final = "[REDACTED:secret]"  # noqa: S105 (a marker, not a password)

TRUNCATED: Final = "<truncated>"
CYCLE: Final = "<cycle>"
MAX_DEPTH: Final = "<max depth>"


@dataclasses.dataclass(frozen=True, slots=True)
class CaptureLimits:
    """How much of a value is kept."""

    max_value_chars: int = 2048
    """Characters kept of one value (one argument, one result)."""
    max_span_chars: int = 16384
    """Characters kept of all values captured on one span."""
    max_depth: int = 8
    """Container levels read; deeper ones become ``"<max depth>"``."""
    max_items: int = 64
    """Entries read per container; the rest are counted in a ``"<+N more>"`` entry."""


class Budget:
    """The characters a span has left for captured values; one per span."""

    __slots__ = ("remaining",)

    def __init__(self, limits: CaptureLimits) -> None:
        self.remaining = limits.max_span_chars


def _type_name(cls: type) -> str:
    try:
        module = type.__getattribute__(cls, "__module__")
        qualname = type.__getattribute__(cls, "__qualname__")
    except Exception:
        return "<object>"
    name = qualname if module in {"builtins", None} else f"{module}.{qualname}"
    return f"<{str(name)[:200]}>"


class _Walker:
    """One capture: turns a value into JSON-ready data within an allowance."""

    __slots__ = ("allowance", "limits", "path")

    def __init__(self, limits: CaptureLimits, allowance: int) -> None:
        self.limits = limits
        self.allowance = allowance
        self.path: set[int] = set()

    def text(self, value: str) -> str:
        allowance = self.allowance
        if allowance <= 0:
            return TRUNCATED
        limit = min(allowance, self.limits.max_value_chars)
        size = len(value)
        if size <= limit:
            kept = redact_text(value)
        else:
            # Redact a window a little past the cut, then cut: a secret that straddles the
            # cut is whole inside the window, or is a remnant the patterns match at its end.
            window = redact_text(value[: limit + _REDACT_MARGIN], cut=True)
            kept = f"{window[:limit]}...[+{size - limit} chars]"
        self.allowance = allowance - max(len(kept), 1)
        return kept

    def key(self, key: object) -> str:
        cls = type(key)
        if cls is str or issubclass(cls, str):
            text = str.__str__(key)
        elif cls in (int, float, bool) or key is None:
            text = repr(key)
        else:
            text = _type_name(cls)
        return redact_text(text[:_MAX_KEY_CHARS])

    def walk(self, value: Any, depth: int) -> Any:  # noqa: C901, PLR0911, PLR0912 (one dispatch)
        if self.allowance <= 0:
            return TRUNCATED
        cls = type(value)
        if value is None or cls is bool:
            self.allowance -= 1
            return value
        if cls is str:
            return self.text(value)
        if cls is int or (issubclass(cls, int) and not issubclass(cls, enum.Enum)):
            return self.integer(int.__int__(value))
        if cls is float or issubclass(cls, float):
            self.allowance -= 8
            number = float.__float__(value)
            if math.isfinite(number):
                return number
            return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
        if issubclass(cls, str):
            return self.text(str.__str__(value))
        if issubclass(cls, (bytes, bytearray)):
            self.allowance -= 16
            return f"<{cls.__name__} len={len(value)}>"
        if issubclass(cls, memoryview):
            self.allowance -= 16
            return f"<memoryview nbytes={memoryview.nbytes.__get__(value)}>"
        if issubclass(cls, (SecretStr, SecretBytes)):
            self.allowance -= len(_SECRET_MARKER)
            return _SECRET_MARKER
        if issubclass(cls, enum.Enum):
            self.allowance -= 16
            name = object.__getattribute__(value, "_name_")
            return f"{_type_name(cls)[:-1]}.{str(name)[:100]}>"
        if depth >= self.limits.max_depth:
            self.allowance -= len(MAX_DEPTH)
            return MAX_DEPTH
        if issubclass(cls, dict):
            return self.container(value, depth, lambda: dict.items(value), dict.__len__(value))
        if issubclass(cls, (list, tuple, set, frozenset)):
            base = next(b for b in (list, tuple, set, frozenset) if issubclass(cls, b))
            return self.container(value, depth, None, base.__len__(value), base.__iter__(value))
        if issubclass(cls, BaseModel):
            fields = type.__getattribute__(cls, "model_fields")
            state = object.__getattribute__(value, "__dict__")
            items = [(name, state[name]) for name in fields if name in state]
            return self.container(value, depth, lambda: items, len(items))
        if hasattr(cls, "__dataclass_fields__") and not issubclass(cls, type):
            names = [f.name for f in dataclasses.fields(cls)]
            items = [(name, object.__getattribute__(value, name)) for name in names]
            return self.container(value, depth, lambda: items, len(items))
        name = _type_name(cls)
        self.allowance -= len(name)
        return name

    def integer(self, number: int) -> int | str:
        if -_INT64 <= number < _INT64:
            self.allowance -= 4
            return number
        bits = number.bit_length()
        if bits > _MAX_INT_BITS:
            self.allowance -= 16
            return f"<int {bits} bits>"
        return self.text(str(number))

    def container(
        self,
        value: object,
        depth: int,
        items: Any,
        size: int,
        iterator: Any = None,
    ) -> Any:
        identity = id(value)
        if identity in self.path:
            self.allowance -= len(CYCLE)
            return CYCLE
        self.path.add(identity)
        self.allowance -= 2
        limit = self.limits.max_items
        try:
            if items is not None:
                out: Any = {}
                for key, item in itertools.islice(items(), limit):
                    name = self.key(key)
                    self.allowance -= len(name)
                    out[name] = KEY_MARKER if is_sensitive_key(name) else self.walk(item, depth + 1)
                if size > limit:
                    out[f"<+{size - limit} more>"] = "..."
            else:
                out = [self.walk(item, depth + 1) for item in itertools.islice(iterator, limit)]
                if size > limit:
                    out.append(f"<+{size - limit} more>")
        except RuntimeError:  # changed size during iteration (another thread mutated it)
            out = "<changed while captured>"
        finally:
            self.path.discard(identity)
        return out


_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
"""Made once: ``json.dumps`` with options builds an encoder on every call."""


def _dumps(data: Any) -> str:
    text = _ENCODER.encode(data)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: not encodable, so not exportable
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _unserialisable(value: object) -> str:
    return json.dumps(f"<unserialisable: {_type_name(type(value))[1:-1]}>")


def capture(value: object, limits: CaptureLimits, budget: Budget | None = None) -> str:
    """JSON text for ``value``: bounded, redacted, never raising.

    Args:
        value: Anything.
        limits: How much to keep.
        budget: The span's remaining characters, shared by its captured values.

    Returns:
        JSON text: at most about ``limits.max_value_chars`` characters of content, plus
        markers.
    """
    allowance = (
        limits.max_value_chars if budget is None else min(limits.max_value_chars, budget.remaining)
    )
    walker = _Walker(limits, allowance)
    try:
        text = _dumps(walker.walk(value, 0))
    except Exception:
        return _unserialisable(value)
    if budget is not None:
        budget.remaining -= allowance - walker.allowance
    return text


def capture_arguments(
    names: Sequence[str],
    var_positional: str | None,
    args: tuple[object, ...],
    kwargs: Mapping[str, object],
    limits: CaptureLimits,
    budget: Budget | None = None,
) -> str:
    """JSON object text of a call's arguments by parameter name; never raising.

    Positional arguments are named from ``names`` in order; any beyond them go in a list
    under ``var_positional`` (or ``"args"``). Each argument has its own ``max_value_chars``,
    all drawn from ``budget``. Arguments with sensitive names are redacted whole.
    """
    walker = _Walker(limits, 0)
    remaining = limits.max_span_chars if budget is None else budget.remaining
    out: dict[str, Any] = {}
    try:
        pairs: list[tuple[str, object]] = list(zip(names, args, strict=False))
        if len(args) > len(names):
            pairs.append((var_positional or "args", list(args[len(names) :])))
        pairs.extend(kwargs.items())
        for name, value in pairs:
            if is_sensitive_key(name):
                out[name] = KEY_MARKER
                continue
            allowance = min(limits.max_value_chars, remaining)
            walker.allowance = allowance
            out[name] = walker.walk(value, 1) if allowance > 0 else TRUNCATED
            remaining -= allowance - walker.allowance
        text = _dumps(out)
    except Exception:
        return _unserialisable(args)
    if budget is not None:
        budget.remaining = remaining
    return text
