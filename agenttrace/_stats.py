"""``agenttrace.stats()``: counters of what agenttrace could not do, for health checks."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ._internal import internal_error_counts


class Stats(BaseModel):
    """A snapshot of agenttrace's counters."""

    model_config = ConfigDict(frozen=True)

    internal_errors: dict[str, int] = Field(default_factory=dict)
    """Errors in agenttrace's own code, by stage (``start``, ``finish``, ``capture``…).

    Each one cost telemetry only: the user's code ran and returned as if undecorated.
    """

    @property
    def internal_errors_total(self) -> int:
        """All internal errors, whatever the stage."""
        return sum(self.internal_errors.values())


def stats() -> Stats:
    """The counters as they are now.

    Example:
        >>> import agenttrace
        >>> agenttrace.stats().internal_errors_total
        0
    """
    return Stats(internal_errors=internal_error_counts())
