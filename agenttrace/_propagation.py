"""Carrying the current operation into threads and executors."""

from __future__ import annotations

import contextvars
import functools
from typing import TYPE_CHECKING, ParamSpec, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

P = ParamSpec("P")
R = TypeVar("R")


def bind(function: Callable[P, R]) -> Callable[P, R]:
    """Bind ``function`` to the caller's context, for running it in another thread.

    A new thread starts with an empty context, so operations started there become new
    traces. Operations started inside a bound function nest under the operation that was
    current when :func:`bind` was called. Each call runs in its own copy of that context, so
    one bound function may run in several threads at once.

    Args:
        function: Any callable.

    Returns:
        A callable with the same signature.

    Example:
        >>> import agenttrace
        >>> from concurrent.futures import ThreadPoolExecutor
        >>> def work(x: int) -> int:
        ...     return x * 2
        >>> with ThreadPoolExecutor() as pool:
        ...     pool.submit(agenttrace.bind(work), 21).result()
        42
    """
    context = contextvars.copy_context()

    @functools.wraps(function)
    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(function, *args, **kwargs)

    return bound
