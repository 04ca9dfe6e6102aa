"""``agenttrace contracts``: what the decorated operations of some modules declare."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agenttrace._contracts import Contract, contracts

from . import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from collections.abc import Sequence


def _import(modules: Sequence[str]) -> str | None:
    """Import each module (from the current directory too); the first error, as text."""
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)
    module = ""
    try:
        for module in modules:
            importlib.import_module(module)
    except Exception as exc:
        return f"cannot import {module!r}: {type(exc).__name__}: {exc}"
    return None


def _table(found: Sequence[Contract]) -> str:
    lines = []
    for contract in found:
        fallbacks = " -> ".join(contract.fallbacks) or "-"
        retry = f"retry x{contract.retry.attempts}" if contract.retry else "no retry"
        lines.append(f"{contract.kind} {contract.operation}  ({retry}; fallbacks: {fallbacks})")
        for mode in contract.failure_modes:
            detection = ", ".join(
                [*(f"on {name}" for name in mode.on), *(["when"] if mode.when else [])]
            )
            lines.append(
                f"  {mode.name:<24} {mode.handling:<9} {mode.severity:<8} {detection or 'explicit'}"
            )
        if not contract.failure_modes:
            lines.append("  (no failure modes declared)")
    return "\n".join(lines)


def run_contracts(modules: Sequence[str], *, as_json: bool, schema: bool) -> int:
    """Print the contracts registered by importing ``modules`` (or their JSON schema)."""
    if schema:
        print(json.dumps(Contract.model_json_schema(), indent=2))  # noqa: T201 (output)
        return EXIT_OK
    error = _import(modules)
    if error is not None:
        print(f"agenttrace: {error}", file=sys.stderr)  # noqa: T201 (a command's output)
        return EXIT_USAGE
    found = [c for c in contracts() if (c.function or "").split(".")[0] != "agenttrace"]
    if as_json:
        print(json.dumps([c.model_dump(mode="json") for c in found], indent=2))  # noqa: T201
    else:
        print(_table(found) or "no decorated operations found")  # noqa: T201
    return EXIT_OK
