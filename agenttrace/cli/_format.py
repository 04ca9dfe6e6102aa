"""How figures read in the report's tables: percentages, durations, nines, token counts."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ._model import FirstTry, Tokens

# En dash, single angle quote, multiplication sign: spelled out, as ruff asks of look-alikes.
DASH: Final = "\u2013"
NEXT: Final = "\u203a"
TIMES: Final = "\u00d7"


def percent(rate: float) -> str:
    """``0.0833`` → ``8.3%``; a small non-zero share never reads as zero.

    Example:
        >>> percent(0.0833), percent(0.0004), percent(0.0)
        ('8.3%', '<0.1%', '0%')
    """
    if rate == 0:
        return "0%"
    if rate < 0.001:  # noqa: PLR2004 (the smallest share one decimal shows)
        return "<0.1%"
    return f"{rate * 100:.1f}%"


def duration(seconds: float) -> str:
    """``0.0123`` → ``12.3 ms``; three significant figures, the unit that reads best.

    Example:
        >>> duration(0.0123), duration(2.5), duration(0.00004)
        ('12.3 ms', '2.50 s', '40.0 µs')
    """
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale or unit == "µs":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value >= 100 else f"{value:#.3g} {unit}"  # noqa: PLR2004
    return f"{seconds} s"  # pragma: no cover - the loop always returns


def nines(first_try: FirstTry) -> str:
    """The first-try success rate in nines with its interval, e.g. ``1.14 (0.97-1.36)``.

    When every call succeeded the point estimate is infinite; the interval's lower end says
    what the calls show: ``≥2.2 (all ok)``.
    """
    low = first_try.nines_interval.low
    if first_try.calls == 0:
        return "-"
    if first_try.nines is None:
        return f"≥{low:.2g} (all ok)"
    high = first_try.nines_interval.high
    high_text = "∞" if high is None else f"{high:.2f}"
    return f"{first_try.nines:.2f} ({low:.2f}–{high_text})"  # noqa: RUF001 (an en dash)


def interval(first_try: FirstTry) -> str:
    """The first-try success rate with its Wilson interval, e.g. ``92.7% (89.1-95.2%)``."""
    low, high = first_try.interval.low, first_try.interval.high
    return f"{percent(first_try.rate)} ({low * 100:.1f}–{high * 100:.1f}%)"  # noqa: RUF001


def tokens(used: Tokens | None) -> str:
    """``12,345 / 678`` (input / output), or ``-``."""
    return "-" if used is None else f"{used.input:,} / {used.output:,}"


def timestamp(seconds: float | None) -> str:
    """Unix seconds as UTC, to the second."""
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def elapsed(seconds: float) -> str:
    """A stretch of time in the two largest units that matter: ``2 h 5 min``."""
    if seconds < 60:  # noqa: PLR2004 (a minute)
        return f"{seconds:.3g} s"
    minutes, _ = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
