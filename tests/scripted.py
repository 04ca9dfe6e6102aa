"""Scripted behaviour for the functions tests decorate: raise this, then return that."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def in_turn(*results: Any) -> Callable[[], Any]:
    """A function that gives each of ``results`` in turn, raising those that are exceptions.

    Example:
        >>> attempt = in_turn(ValueError("bad"), "ok")
        >>> try:
        ...     attempt()
        ... except ValueError:
        ...     pass
        >>> attempt()
        'ok'
    """
    remaining = iter(results)

    def next_result() -> Any:
        result = next(remaining)
        if isinstance(result, BaseException):
            raise result
        return result

    return next_result
