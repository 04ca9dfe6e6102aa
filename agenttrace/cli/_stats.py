"""The statistics of reports and diffs, from SciPy: Wilson intervals, Fisher's exact test.

SciPy is imported here only, so the commands that need none of it start fast.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from scipy import stats

from ._model import FirstTry, Interval, NinesInterval

if TYPE_CHECKING:
    from collections.abc import Sequence


def wilson(successes: int, trials: int, confidence: float) -> Interval:
    """The Wilson score interval of ``successes`` in ``trials`` (0 to 1 when there are none).

    Example:
        >>> interval = wilson(990, 1000, 0.95)
        >>> round(interval.low, 4), round(interval.high, 4)
        (0.9817, 0.9946)
    """
    if trials == 0:
        return Interval(low=0.0, high=1.0)
    found = stats.binomtest(successes, trials).proportion_ci(confidence, method="wilson")
    return Interval(low=float(found.low), high=float(found.high))


def nines(rate: float) -> float:
    """``-log10(1 - rate)``: 0.9 is 1 nine, 0.999 is 3; infinite at 1.

    Example:
        >>> round(nines(0.999), 6)
        3.0
    """
    return math.inf if rate >= 1.0 else -math.log10(1.0 - rate)


def first_try(successes: int, calls: int, confidence: float) -> FirstTry:
    """The first-try success rate of an operation, with its interval in rate and in nines."""
    rate = successes / calls if calls else 0.0
    interval = wilson(successes, calls, confidence)
    value = nines(rate)
    return FirstTry(
        successes=successes,
        calls=calls,
        rate=rate,
        interval=interval,
        nines=None if math.isinf(value) else value,
        nines_interval=NinesInterval(
            low=nines(interval.low),
            high=None if interval.high >= 1.0 else nines(interval.high),
        ),
    )


def fisher(bad_base: int, calls_base: int, bad_new: int, calls_new: int) -> float:
    """Two-sided p-value of Fisher's exact test: are the two rates the same?

    Example:
        >>> round(fisher(10, 1000, 30, 1000), 4)
        0.002
    """
    if calls_base == 0 or calls_new == 0:
        return 1.0
    table = [[bad_base, calls_base - bad_base], [bad_new, calls_new - bad_new]]
    return float(stats.fisher_exact(table, alternative="two-sided").pvalue)


def adjust(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values: many rates compared at once, few false alarms.

    Example:
        >>> [round(p, 3) for p in adjust([0.01, 0.02, 0.5])]
        [0.03, 0.03, 0.5]
    """
    if not p_values:
        return []
    return [float(p) for p in stats.false_discovery_control(list(p_values), method="bh")]
