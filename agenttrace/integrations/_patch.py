"""Patching a client library's methods with wrapt, and undoing it.

Each patched method becomes a model-call operation of its own, or, when it runs inside a
function decorated with ``@agenttrace.model_call``, part of that one: its request and
response enrich the decorated call's span, and no second span is made.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import wrapt

from agenttrace import _semconv as sc
from agenttrace._internal import logger
from agenttrace._operation import Kind, Operation, OperationSpec, begin, current, make_spec
from agenttrace._streaming import conclude, deferred, merge_request, merge_response

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["Integration", "Target"]

_DISTRIBUTION: Final = "agenttrace"


@dataclass(frozen=True, slots=True)
class Target:
    """A method to patch: ``module.owner.attribute``, and the operation it records."""

    module: str
    owner: str
    attribute: str
    name: str
    """The operation's name (``agenttrace.name``), such as ``openai.chat.completions``."""
    operation: str
    """``gen_ai.operation.name``: ``chat`` or ``embeddings``."""
    is_async: bool = False


def _outer(spec: OperationSpec) -> Operation | None:
    """The decorated model call a client call runs in, unless it already made one."""
    operation = current()
    model_call = operation.model_call
    if model_call is None or model_call.client_calls or operation.ended:
        return None
    declared = operation.spec.attributes.get(sc.GEN_AI_PROVIDER_NAME)
    if declared not in ("_OTHER", spec.attributes.get(sc.GEN_AI_PROVIDER_NAME)):
        return None  # a model call declared for another provider: this call is its own
    return operation


def _sync_wrapper(spec: OperationSpec) -> Callable[..., Any]:
    def wrapper(wrapped: Any, _instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        outer = _outer(spec)
        if outer is not None:
            merge_request(outer, kwargs)
            return merge_response(outer, wrapped(*args, **kwargs))
        operation = begin(spec, None, None, kwargs)
        if operation is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            operation.exit()
            operation.fail(exc)
            raise
        operation.exit()
        streamed = deferred(operation, result)
        if streamed is not None:
            return streamed
        conclude(operation, result)
        return result

    return wrapper


def _async_wrapper(spec: OperationSpec) -> Callable[..., Any]:
    async def wrapper(
        wrapped: Any, _instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        outer = _outer(spec)
        if outer is not None:
            merge_request(outer, kwargs)
            return merge_response(outer, await wrapped(*args, **kwargs))
        operation = begin(spec, None, None, kwargs)
        if operation is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            operation.exit()
            operation.fail(exc)
            raise
        operation.exit()
        streamed = deferred(operation, result)
        if streamed is not None:
            return streamed
        conclude(operation, result)
        return result

    return wrapper


class Integration:
    """The patches of one client library: applied once, undone together."""

    def __init__(self, provider: str, package: str, targets: Sequence[Target]) -> None:
        self.provider = provider
        self.package = package
        self.targets = tuple(targets)
        self._lock = threading.Lock()
        self._patched: list[tuple[type, str, Any]] = []

    @property
    def instrumented(self) -> bool:
        """Whether the library's methods are patched now."""
        return bool(self._patched)

    def instrument(self) -> None:
        """Patch every target the installed library has; a second call does nothing.

        Raises:
            ImportError: The library is not installed.
        """
        with self._lock:
            if self._patched:
                return
            try:
                importlib.import_module(self.package)
            except ImportError as exc:
                message = (
                    f"agenttrace.integrations.{self.provider} needs the {self.package!r} "
                    f'package: pip install "agenttrace[{self.provider}]"'
                )
                raise ImportError(message) from exc
            self._check_version()
            for target in self.targets:
                self._patch(target)

    def uninstrument(self) -> None:
        """Put the original methods back; a call when nothing is patched does nothing."""
        with self._lock:
            patched, self._patched = self._patched, []
            for owner, attribute, original in reversed(patched):
                setattr(owner, attribute, original)

    def _patch(self, target: Target) -> None:
        try:
            module = importlib.import_module(target.module)
            owner = getattr(module, target.owner)
            original = owner.__dict__[target.attribute]
        except (ImportError, AttributeError, KeyError):
            # Not in this version of the library: nothing to record there.
            logger.debug(
                "agenttrace: %s.%s.%s not found; not patched",
                target.module,
                target.owner,
                target.attribute,
            )
            return
        spec = make_spec(
            Kind.MODEL_CALL,
            target.name,
            provider=self.provider,
            operation=target.operation,
            is_async=target.is_async,
            where=f"agenttrace.integrations.{self.provider}",
        )
        make = _async_wrapper if target.is_async else _sync_wrapper
        setattr(owner, target.attribute, wrapt.FunctionWrapper(original, make(spec)))
        self._patched.append((owner, target.attribute, original))

    def _check_version(self) -> None:
        """Warn when the installed library is outside the range agenttrace declares for it."""
        try:
            from packaging.requirements import Requirement  # noqa: PLC0415 (optional)
        except ImportError:
            return
        try:
            installed = importlib.metadata.version(self.package)
            for line in importlib.metadata.requires(_DISTRIBUTION) or ():
                requirement = Requirement(line)
                marker = requirement.marker
                if (
                    requirement.name != self.package
                    or marker is None
                    or not marker.evaluate({"extra": self.provider})
                ):
                    continue
                if not requirement.specifier.contains(installed, prereleases=True):
                    logger.warning(
                        "agenttrace: %s %s is outside the supported range %s; "
                        "calls are recorded as far as their responses can be read",
                        self.package,
                        installed,
                        requirement.specifier,
                    )
                return
        except Exception as exc:  # metadata of an unusual install: no check, no failure
            logger.debug("agenttrace: could not check the %s version: %r", self.package, exc)
