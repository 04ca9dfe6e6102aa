"""Every failure mode the examples declare, fired by injection and handled as declared.

Together these tests exercise each (operation, mode, handling) of ``examples/``: the test
command's failure-mode coverage gate (``--agenttrace-cov=examples``) holds them to 100 %.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import agenttrace
from agenttrace.integrations import anthropic as anthropic_integration
from agenttrace.integrations import openai as openai_integration
from agenttrace.testing import Capture, inject

EXAMPLES = Path(__file__).parents[1] / "examples"
INTEGRATIONS = {"openai_agent": openai_integration, "anthropic_agent": anthropic_integration}
NAMES = ("support_agent", "openai_agent", "anthropic_agent", "quickstart")


def load(name: str) -> ModuleType:
    """An example as ``examples.NAME`` (what ``--agenttrace-cov=examples`` counts), with
    ``examples/`` on the path for its own imports."""
    qualified = f"examples.{name}"
    spec = importlib.util.spec_from_file_location(qualified, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def declared() -> list[tuple[str, str, str, str]]:
    """(example, operation, mode, handling) for every mode each example declares."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        modules = {name: load(name) for name in NAMES}
    finally:
        sys.path.remove(str(EXAMPLES))
    return sorted(
        (name, contract.operation, mode.name, mode.handling)
        for contract in agenttrace.contracts()
        for name, module in modules.items()
        if (contract.function or "").startswith(f"{module.__name__}.")
        for mode in contract.failure_modes
    )


CASES = declared()


@pytest.fixture
def example(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    name: str = request.param
    monkeypatch.syspath_prepend(str(EXAMPLES))
    module = load(name)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    if name in INTEGRATIONS:
        INTEGRATIONS[name].instrument()
    yield module
    if name in INTEGRATIONS:
        INTEGRATIONS[name].uninstrument()


def drive(module: ModuleType) -> Any:
    """One run of the example's agent on an ordinary ticket, against the fake model."""
    name = module.__name__.removeprefix("examples.")
    with module.FakeModelServer() as server:
        if name == "support_agent":
            order = min(module.ORDERS)
            ticket = module.Ticket(
                "T-0001",
                f"I was charged twice for order {order}. [fake-model: label=billing]",
            )
            return module.handle(server.client(), ticket)
        if name == "quickstart":
            return module.handle(server.client(), "Where is my order A-1001?")
        connect = server.anthropic_client if name == "anthropic_agent" else server.client
        with connect() as client:
            return module.handle(client, "Where is my order A-1001?")


HANDLED: dict[str, Callable[[Any, str], bool]] = {
    "retry": lambda op, mode: any(a.type == "retry" and a.reason == mode for a in op.attempts),
    "fallback": lambda op, mode: any(
        a.type == "fallback" and a.reason == mode for a in op.attempts
    ),
    "escalate": lambda op, mode: any(
        a.type == "escalation" and a.reason == mode for a in op.attempts
    ),
    "accept": lambda op, mode: op.outcome == "degraded",
}


@pytest.mark.parametrize(
    ("example", "operation", "mode", "handling"),
    CASES,
    indirect=["example"],
    ids=[f"{name}:{operation}:{mode}" for name, operation, mode, _ in CASES],
)
def test_each_declared_mode_is_handled_as_declared(
    example: ModuleType,
    operation: str,
    mode: str,
    handling: str,
    agenttrace_capture: Capture,
) -> None:
    with inject(operation, mode) as injection:
        drive(example)

    assert injection.fired == 1, agenttrace_capture.tree()
    [fired] = [
        op
        for op in agenttrace_capture.operations(name=operation)
        if any(f.mode == mode and f.source == "injected" for f in op.failures)
    ]
    assert HANDLED[handling](fired, mode), agenttrace_capture.tree()


def test_every_example_declares_failure_modes() -> None:
    """The examples declare modes of each handling they show: a coverage of 100 % means
    something only if the set is not empty."""
    assert {handling for *_, handling in CASES} == {"retry", "fallback", "escalate", "accept"}
    assert {name for name, *_ in CASES} == set(NAMES)
