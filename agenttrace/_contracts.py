"""The contract registry: what every decorated operation declares, readable at run time.

Each decorator application registers its operation's contract (name, kind, function,
failure modes with their handling, retry policy, fallbacks). The testing toolkit measures
failure-mode coverage against it, and the report lists modes that never fired. Contracts
are pydantic models: ``contract.model_dump(mode="json")`` serialises one, and
``Contract.model_json_schema()`` is its JSON schema.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from ._failures import Handling, Retry, Severity
from ._internal import count_usage_error, log_limited

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._failures import FailureMode
    from ._operation import OperationSpec

MAX_CONTRACTS: Final = 10_000
"""Contracts kept; decorating in a loop with ever new names stops registering past it."""


def _qualified(obj: object) -> str:
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(name, str):
        return type(obj).__name__
    return f"{module}.{name}" if isinstance(module, str) and module != "builtins" else name


class ModeContract(BaseModel):
    """One declared failure mode, as data."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str = ""
    handling: Handling
    severity: Severity
    on: tuple[str, ...] = ()
    """The exception classes that are this failure, by qualified name."""
    when: str | None = None
    """The value predicate's qualified name, when there is one."""

    @classmethod
    def of(cls, mode: FailureMode) -> ModeContract:
        """The contract form of ``mode``."""
        return cls(
            name=mode.name,
            description=mode.description,
            handling=mode.handling,
            severity=mode.severity,
            on=tuple(_qualified(error) for error in mode.on),
            when=_qualified(mode.when) if mode.when is not None else None,
        )


class Contract(BaseModel):
    """What one decorated operation declares: its failure modes, retries and fallbacks.

    Example:
        >>> import agenttrace
        >>> schema = agenttrace.Contract.model_json_schema()
        >>> sorted(schema["properties"])[:3]
        ['failure_modes', 'fallbacks', 'function']
    """

    model_config = ConfigDict(frozen=True)

    operation: str
    """The operation's name."""
    kind: Literal["agent", "step", "tool", "model_call"]
    function: str | None = None
    """The decorated function's qualified name."""
    failure_modes: tuple[ModeContract, ...] = ()
    retry: Retry | None = None
    fallbacks: tuple[str, ...] = ()
    """The fallbacks' names, in order (``human:{queue}`` for hand-offs)."""

    @property
    def handled(self) -> tuple[tuple[str, str, str], ...]:
        """``(operation, mode, handling)`` for each declared mode."""
        return tuple((self.operation, mode.name, mode.handling) for mode in self.failure_modes)


class _Registry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.contracts: dict[tuple[str, str, str | None], Contract] = {}


_registry: Final = _Registry()


def register(spec: OperationSpec, function: Callable[..., Any]) -> None:
    """Record the contract of a decorated operation (the latest declaration of a key wins)."""
    policy = spec.policy
    qualified = _qualified(function)
    contract = Contract(
        operation=spec.name,
        kind=spec.kind.value,
        function=qualified,
        failure_modes=tuple(ModeContract.of(mode) for mode in policy.modes) if policy else (),
        retry=policy.retry if policy else None,
        fallbacks=tuple(fallback.name for fallback in policy.fallbacks) if policy else (),
    )
    key = (spec.kind.value, spec.name, qualified)
    with _registry.lock:
        full = key not in _registry.contracts and len(_registry.contracts) >= MAX_CONTRACTS
        if not full:
            _registry.contracts[key] = contract
    if full:
        count_usage_error("contracts_full")
        log_limited(
            "contracts_full",
            "agenttrace: %d contracts are registered; the contract of %r is not kept (%d more "
            "since the last report)",
            MAX_CONTRACTS,
            spec.name,
        )


def contracts() -> tuple[Contract, ...]:
    """Every decorated operation's contract, sorted by kind and name.

    Operations register when their decorator is applied, so this lists what has been
    imported so far.

    Example:
        >>> import agenttrace
        >>> @agenttrace.tool("find_order")
        ... def find_order(order_id: str) -> str:
        ...     return order_id
        >>> [c.kind for c in agenttrace.contracts() if c.operation == "find_order"]
        ['tool']
    """
    with _registry.lock:
        found = list(_registry.contracts.values())
    return tuple(sorted(found, key=lambda c: (c.kind, c.operation, c.function or "")))
