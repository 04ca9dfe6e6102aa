"""Every decorated operation's contract is available at run time, and as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import agenttrace
from agenttrace import _contracts

LOW = agenttrace.FailureMode(
    "low_confidence", when=lambda v: v < 0.5, handling="fallback", description="unsure"
)
BAD = agenttrace.FailureMode("invalid_output", on=(ValueError, KeyError), handling="retry")


def rules(x: float) -> float:
    return x


def test_a_decorated_operation_registers_its_contract() -> None:
    """Modes with handling, severity, detection; retry policy; fallbacks by name, in order."""

    @agenttrace.step(
        "classify-contract",
        failure_modes=[LOW, BAD],
        retry=agenttrace.Retry(attempts=3),
        fallbacks=[rules, agenttrace.human("triage")],
    )
    def classify(x: float) -> float:
        return x

    [contract] = [c for c in agenttrace.contracts() if c.operation == "classify-contract"]

    assert {
        "operation": "classify-contract",
        "kind": "step",
        "function": f"{__name__}.test_a_decorated_operation_registers_its_contract.<locals>.classify",
        "failure_modes": [
            {
                "name": "low_confidence",
                "description": "unsure",
                "handling": "fallback",
                "severity": "warning",
                "on": [],
                "when": f"{__name__}.<lambda>",
            },
            {
                "name": "invalid_output",
                "description": "",
                "handling": "retry",
                "severity": "warning",
                "on": ["ValueError", "KeyError"],
                "when": None,
            },
        ],
        "retry": {
            "attempts": 3,
            "backoff": 0.0,
            "multiplier": 2.0,
            "max_backoff": 30.0,
            "jitter": True,
        },
        "fallbacks": ["rules", "human:triage"],
    } == contract.model_dump(mode="json")
    assert (
        ("classify-contract", "low_confidence", "fallback"),
        ("classify-contract", "invalid_output", "retry"),
    ) == contract.handled


def test_operations_without_modes_are_listed_too() -> None:
    """A plain tool has a contract with no modes: coverage and reports can list it."""

    @agenttrace.tool("plain-contract-tool")
    def lookup() -> None:
        return None

    [contract] = [c for c in agenttrace.contracts() if c.operation == "plain-contract-tool"]
    assert ("tool", (), ()) == (contract.kind, contract.failure_modes, contract.fallbacks)


def test_redecorating_the_same_function_replaces_its_contract() -> None:
    """A closure decorated on every call does not grow the registry."""
    before = len(agenttrace.contracts())
    for _ in range(50):

        @agenttrace.step("decorated-in-a-loop")
        def inner() -> None:
            return None

    assert before + 1 == len(agenttrace.contracts())


def test_the_registry_is_bounded(monkeypatch: object) -> None:
    """Past MAX_CONTRACTS new contracts are counted as a usage error, not kept."""
    import pytest  # noqa: PLC0415

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(_contracts, "MAX_CONTRACTS", len(agenttrace.contracts()))

    @agenttrace.step("one-too-many")
    def extra() -> None:
        return None

    assert [] == [c for c in agenttrace.contracts() if c.operation == "one-too-many"]
    assert 1 == agenttrace.stats().usage_errors["contracts_full"]


def test_the_contract_has_a_json_schema() -> None:
    """Contract.model_json_schema() describes the JSON that model_dump produces."""
    schema = agenttrace.Contract.model_json_schema()

    assert {"operation", "kind", "function", "failure_modes", "retry", "fallbacks"} == set(
        schema["properties"]
    )
    assert ["abort", "accept", "escalate", "fallback", "retry"] == sorted(
        schema["$defs"]["ModeContract"]["properties"]["handling"]["enum"]
    )


def test_the_contracts_command_lists_a_module(tmp_path: Path) -> None:
    """`agenttrace contracts MODULE` imports it and prints each operation and mode;
    --json prints the same as data."""
    (tmp_path / "shop.py").write_text(
        textwrap.dedent(
            """
            import agenttrace as at

            def rules(ticket):
                return "general"

            @at.step(
                failure_modes=[at.FailureMode("empty", when=lambda v: not v, handling="fallback")],
                fallbacks=[rules],
            )
            def classify(ticket):
                return ticket
            """
        )
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agenttrace", "contracts", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )

    table, as_json, missing = run("shop"), run("shop", "--json"), run("nosuch")

    assert [
        "step classify  (no retry; fallbacks: rules)",
        "  empty                    fallback  warning  when",
    ] == table.stdout.splitlines()
    assert ["classify"] == [c["operation"] for c in json.loads(as_json.stdout)]
    assert (2, "agenttrace: cannot import 'nosuch'") == (
        missing.returncode,
        missing.stderr.split(":  ")[0].split(": ModuleNotFoundError")[0],
    )
