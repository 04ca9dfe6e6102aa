"""The pytest plugin: the ``agenttrace_capture`` fixture and the ``agenttrace_inject`` marker.

Loaded in every pytest run where agenttrace is installed, so it costs nothing until a test
asks for it: the fixture makes its capture when requested, and the marker's injections are
set up only around the tests that carry it.

    import pytest

    @pytest.mark.agenttrace_inject("classify", "low_confidence")
    def test_low_confidence_goes_to_the_rules(agenttrace_capture):
        assert classify("where is my order?") == "shipping"
        agenttrace_capture.assert_served_by("classify", "keyword_rules")
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator

    from agenttrace.testing import Capture

MARKER: Final = "agenttrace_inject"
_MARKER_HELP: Final = (
    f"{MARKER}(operation, mode, times=1, details=None): make the declared failure mode "
    "`mode` of the operation named `operation` fire on its next `times` attempts while the "
    "test runs (agenttrace.testing.inject); several markers stack"
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``agenttrace_inject`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line("markers", _MARKER_HELP)


@pytest.fixture
def agenttrace_capture() -> Iterator[Capture]:
    """A started :class:`agenttrace.testing.Capture`, for this test alone.

    agenttrace records into it while the test runs, whether or not the application
    called ``agenttrace.configure()``; the provider in force before is put back after.
    """
    from agenttrace.testing import Capture  # noqa: PLC0415 (only for tests that ask)

    with Capture() as capture:
        yield capture


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Run the test inside the injections its ``agenttrace_inject`` markers ask for."""
    markers = list(item.iter_markers(MARKER))
    if not markers:
        return (yield)
    from agenttrace.testing import InjectionError, inject  # noqa: PLC0415

    stack = contextlib.ExitStack()
    problem = None
    try:
        # iter_markers gives the closest first, and the lowest decorator first among a
        # function's own: reversed, they read in source order, top to bottom.
        for mark in reversed(markers):
            operation, mode, times, details = _arguments(*mark.args, **mark.kwargs)
            stack.enter_context(inject(operation, mode, times=times, details=details))
    except (InjectionError, TypeError, ValueError) as exc:
        stack.close()
        problem = str(exc)
    if problem is not None:  # failed here, not in the except: the message stands alone
        pytest.fail(f"@pytest.mark.{MARKER}: {problem}", pytrace=False)
    with stack:
        return (yield)


def _arguments(
    operation: object, mode: object, times: object = 1, details: object = None
) -> tuple[str, str, int | None, dict[str, Any] | None]:
    """The marker's arguments, checked: they come from user code, untyped."""
    if not (isinstance(operation, str) and isinstance(mode, str)):
        msg = f"takes an operation's name and a failure mode's name, not {operation!r}, {mode!r}"
        raise TypeError(msg)
    if times is not None and (not isinstance(times, int) or isinstance(times, bool)):
        msg = f"times= takes a whole number from 1, or None for every attempt, not {times!r}"
        raise TypeError(msg)
    if details is not None and not isinstance(details, dict):
        msg = f"details= takes a dict, not {details!r}"
        raise TypeError(msg)
    return operation, mode, times, details
