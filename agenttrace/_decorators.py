"""``agent``, ``step``, ``tool`` and ``model_call``: decorators on wrapt.

Each decorator works bare (``@step``) and called (``@step("plan", capture=True)``), on
functions, coroutines, generators, async generators, methods, classmethods and
staticmethods. The shape is read once, when the decorator is applied, and one wrapper per
shape is built; every misuse is reported then, never on a call. wrapt keeps the decorated
callable transparent: name, qualname, docstring, signature, ``inspect`` predicates and
descriptor binding are the wrapped function's.

Only the user's own call sits inside the ``try`` whose ``except`` re-raises: the exception
that leaves a decorated function is the very object the function raised.
"""

from __future__ import annotations

import inspect
from collections.abc import (
    AsyncGenerator,
    Callable,
    Collection,
    Generator,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any, Final, TypeVar, overload

import wrapt
from opentelemetry import context as otel_context

from . import _metrics
from ._contracts import register
from ._failures import mark_left
from ._handling import handled_async, handled_sync
from ._operation import (
    Kind,
    Operation,
    OperationSpec,
    begin,
    begin_silent,
    enter_quiet,
    exit_quiet,
    make_spec,
    quiet,
)
from ._runtime import resolve, state
from ._streaming import deferred

if TYPE_CHECKING:
    from typing import ParamSpec

    from opentelemetry.context import Context
    from opentelemetry.util.types import AttributeValue

    from ._failures import FailureMode, Human, Retry

    P = ParamSpec("P")

R = TypeVar("R")
Wrapper = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]

_SHAPES: Final = "a function, coroutine function, generator function or async generator function"


def _count_quiet(spec: OperationSpec, *, failed: bool) -> None:
    """Count an operation the sampler left unrecorded: metrics are not sampled."""
    if state.entry is not None:  # configured (else nothing is recorded anywhere)
        _metrics.quiet_operation_ended(spec.name, spec.kind.value, failed)


def _silent_model_call(spec: OperationSpec, kwargs: Mapping[str, Any]) -> Operation | None:
    """An unrecorded model call still measured, when metrics are recorded (see begin_silent)."""
    if spec.model_options is None or state.entry is None or _metrics.instruments() is None:
        return None
    return begin_silent(spec, kwargs)


def _sync(spec: OperationSpec) -> Wrapper:
    stand_in = quiet(spec)

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        operation = begin(spec, instance, args, kwargs) or _silent_model_call(spec, kwargs)
        if operation is None:
            token = enter_quiet(stand_in)
            try:
                result = wrapped(*args, **kwargs)
            except BaseException as exc:
                mark_left(exc, spec.name)
                _count_quiet(spec, failed=True)
                raise
            finally:
                exit_quiet(token)
            _count_quiet(spec, failed=False)
            return result
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            operation.exit()
            operation.fail(exc)
            raise
        operation.exit()
        if spec.model_options is not None:
            streamed = deferred(operation, result)
            if streamed is not None:
                return streamed
        operation.finish(result)
        return result

    return wrapper


def _coroutine(spec: OperationSpec) -> Wrapper:
    stand_in = quiet(spec)

    async def wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        operation = begin(spec, instance, args, kwargs) or _silent_model_call(spec, kwargs)
        if operation is None:
            token = enter_quiet(stand_in)
            try:
                result = await wrapped(*args, **kwargs)
            except BaseException as exc:
                mark_left(exc, spec.name)
                _count_quiet(spec, failed=True)
                raise
            finally:
                exit_quiet(token)
            _count_quiet(spec, failed=False)
            return result
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            operation.exit()
            operation.fail(exc)
            raise
        operation.exit()
        if spec.model_options is not None:
            streamed = deferred(operation, result)
            if streamed is not None:
                return streamed
        operation.finish(result)
        return result

    return wrapper


def _would_record() -> bool:
    entry = state.entry or resolve()
    return entry is not None and not entry.drop_all


def _generator(spec: OperationSpec) -> Wrapper:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        generator = wrapped(*args, **kwargs)
        if not _would_record():
            return generator
        return _traced_generator(
            spec, generator, otel_context.get_current(), instance, args, kwargs
        )

    return wrapper


def _traced_generator(
    spec: OperationSpec,
    generator: Generator[Any, Any, Any],
    parent: Context,
    instance: object,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Generator[Any, Any, Any]:
    # The span starts at the first next(), as a child of the context the generator was
    # created in. The span's context is current only while the generator's own code runs:
    # it is never held across a yield, so the consumer's context is never disturbed and
    # nothing is detached in a context it was not attached in.
    operation = begin(spec, instance, args, kwargs, parent, enter=False)
    if operation is None:
        return (yield from generator)
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        operation.enter()
        try:
            if to_throw is None:
                item = generator.send(to_send)
            else:
                error, to_throw = to_throw, None
                item = generator.throw(error)
        except StopIteration as stop:
            operation.exit()
            operation.finish(stop.value)
            return stop.value
        except BaseException as exc:
            operation.exit()
            operation.fail(exc)
            raise
        operation.exit()
        operation.yielded()
        try:
            to_send = yield item
        except GeneratorExit:
            # close(), an early break, or garbage collection: close the user's generator
            # inside the span, then end it as abandoned.
            operation.enter()
            try:
                generator.close()
            except BaseException as exc:
                operation.exit()
                operation.fail(exc)
                raise
            operation.exit()
            operation.finish(abandoned=True)
            raise
        except BaseException as exc:
            to_send, to_throw = None, exc


def _async_generator(spec: OperationSpec) -> Wrapper:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        generator = wrapped(*args, **kwargs)
        if not _would_record():
            return generator
        return _traced_async_generator(
            spec, generator, otel_context.get_current(), instance, args, kwargs
        )

    return wrapper


async def _traced_async_generator(  # noqa: C901, PLR0912 (as _traced_generator)
    spec: OperationSpec,
    generator: AsyncGenerator[Any, Any],
    parent: Context,
    instance: object,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> AsyncGenerator[Any, Any]:
    # As _traced_generator. When begin() declines (a sampler drop decided at the first
    # step, or an internal error), the operation is None and this only forwards.
    operation = begin(spec, instance, args, kwargs, parent, enter=False)
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        if operation is not None:
            operation.enter()
        try:
            if to_throw is None:
                item = await generator.asend(to_send)
            else:
                error, to_throw = to_throw, None
                item = await generator.athrow(error)
        except StopAsyncIteration:
            if operation is not None:
                operation.exit()
                operation.finish()
            return
        except BaseException as exc:
            if operation is not None:
                operation.exit()
                operation.fail(exc)
            raise
        if operation is not None:
            operation.exit()
            operation.yielded()
        try:
            to_send = yield item
        except GeneratorExit:
            if operation is not None:
                operation.enter()
            try:
                await generator.aclose()
            except BaseException as exc:
                if operation is not None:
                    operation.exit()
                    operation.fail(exc)
                raise
            if operation is not None:
                operation.exit()
                operation.finish(abandoned=True)
            raise
        except BaseException as exc:
            to_send, to_throw = None, exc


def _wrapper_for(spec: OperationSpec, function: Callable[..., Any]) -> Wrapper:
    if spec.policy is not None:
        if inspect.isasyncgenfunction(function) or inspect.isgeneratorfunction(function):
            raise TypeError(
                f"agenttrace.{spec.kind.value}({spec.name!r}): failure_modes, retry and "
                "fallbacks apply to functions and coroutine functions, not generators (what a "
                "generator yielded is consumed before it fails, so it cannot be re-run)"
            )
        if inspect.iscoroutinefunction(function):
            return handled_async(spec)
        return handled_sync(spec)
    if inspect.isasyncgenfunction(function):
        return _async_generator(spec)
    if inspect.isgeneratorfunction(function):
        return _generator(spec)
    if inspect.iscoroutinefunction(function):
        return _coroutine(spec)
    return _sync(spec)


def _decorate(kind: Kind, target: Any, name: str | None, options: dict[str, Any]) -> Any:
    function = target.__func__ if isinstance(target, (classmethod, staticmethod)) else target
    if inspect.isclass(function) or not callable(function):
        raise TypeError(
            f"agenttrace.{kind.value} decorates {_SHAPES} (or a method), "
            f"not {type(target).__name__}"
        )
    if name is None:
        name = getattr(function, "__name__", None)
        if not isinstance(name, str):
            raise TypeError(f"agenttrace.{kind.value}: give a name for {type(function).__name__}")
    is_async = inspect.iscoroutinefunction(function)
    is_generator = inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function)
    spec = make_spec(
        kind, name, func=target, is_async=is_async, is_generator=is_generator, **options
    )
    wrapper = wrapt.FunctionWrapper(target, _wrapper_for(spec, function))
    # Names a decorated function used as a fallback (wrapt keeps _self_ attributes).
    wrapper._self_agenttrace_spec = spec  # type: ignore[attr-defined]
    register(spec, function)
    return wrapper


def _apply(kind: Kind, target: Any, options: dict[str, Any]) -> Any:
    if target is None or isinstance(target, str):
        name = target
        # Check the options now, so a bad one is reported where the decorator is written
        # (whether the function is async is known only when it comes: allow both).
        where = None if name is not None else f"agenttrace.{kind.value}(...)"
        make_spec(kind, "unnamed" if name is None else name, is_async=True, where=where, **options)

        def decorate(function: Any) -> Any:
            return _decorate(kind, function, name, options)

        return decorate
    return _decorate(kind, target, None, options)


def _handling_options(
    failure_modes: Sequence[FailureMode] | None,
    retry: Retry | None,
    fallbacks: Sequence[Callable[..., Any] | Human] | None,
) -> dict[str, Any]:
    return {"failure_modes": failure_modes, "retry": retry, "fallbacks": fallbacks}


# The overloads give both forms exact types: bare, the decorated function keeps its
# signature; called, a decorator that does the same.


@overload
def agent(func: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def agent(
    name: str | None = None,
    /,
    *,
    description: str | None = None,
    capture: bool | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    failure_modes: Sequence[FailureMode] | None = None,
    retry: Retry | None = None,
    fallbacks: Sequence[Callable[..., Any] | Human] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
def agent(
    func_or_name: Any = None,
    /,
    *,
    description: str | None = None,
    capture: bool | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    failure_modes: Sequence[FailureMode] | None = None,
    retry: Retry | None = None,
    fallbacks: Sequence[Callable[..., Any] | Human] | None = None,
) -> Any:
    """Trace each call as one invocation of an agent: an ``invoke_agent {name}`` span.

    Args:
        func_or_name: The function (bare form) or the agent's name (called form; default:
            the function's ``__name__``).
        description: ``gen_ai.agent.description``.
        capture: Record arguments and return value; ``None`` follows
            ``AGENTTRACE_CAPTURE_CONTENT``.
        attributes: Static span attributes.
        failure_modes: The declared ways this operation can fail
            (:class:`~agenttrace.FailureMode`); see ``docs/failure-modes.md``.
        retry: How ``retry`` failure modes re-run it (:class:`~agenttrace.Retry`).
        fallbacks: Tried in order when a failure is to fall back (or retries run out):
            functions with the same signature, decorated operations, or
            :func:`~agenttrace.human` hand-offs.

    Example:
        >>> import agenttrace
        >>> @agenttrace.agent("support-bot")
        ... def handle(ticket: str) -> str:
        ...     return "answer"
    """
    options = {
        "description": description,
        "capture": capture,
        "attributes": attributes,
        **_handling_options(failure_modes, retry, fallbacks),
    }
    return _apply(Kind.AGENT, func_or_name, options)


@overload
def step(func: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def step(
    name: str | None = None,
    /,
    *,
    capture: bool | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    failure_modes: Sequence[FailureMode] | None = None,
    retry: Retry | None = None,
    fallbacks: Sequence[Callable[..., Any] | Human] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
def step(
    func_or_name: Any = None,
    /,
    *,
    capture: bool | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    failure_modes: Sequence[FailureMode] | None = None,
    retry: Retry | None = None,
    fallbacks: Sequence[Callable[..., Any] | Human] | None = None,
) -> Any:
    """Trace each call as a step of agent logic: a ``{name}`` span, ``agenttrace.kind=step``.

    Args:
        func_or_name: The function (bare form) or the step's name (called form; default:
            the function's ``__name__``).
        capture: Record arguments and return value; ``None`` follows
            ``AGENTTRACE_CAPTURE_CONTENT``.
        attributes: Static span attributes.
        failure_modes: The declared ways this operation can fail
            (:class:`~agenttrace.FailureMode`); see ``docs/failure-modes.md``.
        retry: How ``retry`` failure modes re-run it (:class:`~agenttrace.Retry`).
        fallbacks: Tried in order when a failure is to fall back (or retries run out):
            functions with the same signature, decorated operations, or
            :func:`~agenttrace.human` hand-offs.

    Example:
        >>> import agenttrace
        >>> @agenttrace.step
        ... def classify(ticket: str) -> str:
        ...     return "billing"
    """
    options = {
        "capture": capture,
        "attributes": attributes,
        **_handling_options(failure_modes, retry, fallbacks),
    }
    return _apply(Kind.STEP, func_or_name, options)


@overload
def tool(func: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def tool(
    name: str | None = None,
    /,
    *,
    description: str | None = None,
    capture: bool | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    failure_modes: Sequence[FailureMode] | None = None,
    retry: Retry | None = None,
    fallbacks: Sequence[Callable[..., Any] | Human] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
def tool(
    func_or_name: Any = None,
    /,
    *,
    description: str | None = None,
    capture: bool | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    failure_modes: Sequence[FailureMode] | None = None,
    retry: Retry | None = None,
    fallbacks: Sequence[Callable[..., Any] | Human] | None = None,
) -> Any:
    """Trace each call as a tool execution: an ``execute_tool {name}`` span.

    Captured arguments and results go to ``gen_ai.tool.call.arguments`` and
    ``gen_ai.tool.call.result``.

    Args:
        func_or_name: The function (bare form) or the tool's name (called form; default:
            the function's ``__name__``).
        description: ``gen_ai.tool.description`` (default: the docstring's first line).
        capture: Record arguments and result; ``None`` follows ``AGENTTRACE_CAPTURE_CONTENT``.
        attributes: Static span attributes.
        failure_modes: The declared ways this operation can fail
            (:class:`~agenttrace.FailureMode`); see ``docs/failure-modes.md``.
        retry: How ``retry`` failure modes re-run it (:class:`~agenttrace.Retry`).
        fallbacks: Tried in order when a failure is to fall back (or retries run out):
            functions with the same signature, decorated operations, or
            :func:`~agenttrace.human` hand-offs.

    Example:
        >>> import agenttrace
        >>> @agenttrace.tool
        ... def lookup_order(order_id: str) -> dict[str, str]:
        ...     return {"id": order_id, "status": "shipped"}
    """
    options = {
        "description": description,
        "capture": capture,
        "attributes": attributes,
        **_handling_options(failure_modes, retry, fallbacks),
    }
    return _apply(Kind.TOOL, func_or_name, options)


@overload
def model_call(func: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def model_call(
    name: str | None = None,
    /,
    *,
    provider: str | None = None,
    model: str | None = None,
    operation: str | None = None,
    capture: bool | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    failure_modes: Sequence[FailureMode] | None = None,
    retry: Retry | None = None,
    fallbacks: Sequence[Callable[..., Any] | Human] | None = None,
    detect: bool | Collection[str] = True,
    output: Any = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
def model_call(
    func_or_name: Any = None,
    /,
    *,
    provider: str | None = None,
    model: str | None = None,
    operation: str | None = None,
    capture: bool | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    failure_modes: Sequence[FailureMode] | None = None,
    retry: Retry | None = None,
    fallbacks: Sequence[Callable[..., Any] | Human] | None = None,
    detect: bool | Collection[str] = True,
    output: Any = None,
) -> Any:
    """Trace each call as one call to a model: a ``{operation} {model}`` span, e.g. ``chat gpt-4o``.

    Args:
        func_or_name: The function (bare form) or the operation's name (called form;
            default: the function's ``__name__``).
        provider: ``gen_ai.provider.name``, e.g. ``"openai"`` (default ``"_OTHER"``).
        model: ``gen_ai.request.model``. Without it, a string ``model=`` keyword argument of
            each call is used.
        operation: ``gen_ai.operation.name`` (default ``"chat"``).
        capture: Record arguments and return value; ``None`` follows
            ``AGENTTRACE_CAPTURE_CONTENT``.
        attributes: Static span attributes.
        failure_modes: The declared ways this operation can fail
            (:class:`~agenttrace.FailureMode`); see ``docs/failure-modes.md``.
        retry: How ``retry`` failure modes re-run it (:class:`~agenttrace.Retry`).
        fallbacks: Tried in order when a failure is to fall back (or retries run out):
            functions with the same signature, decorated operations, or
            :func:`~agenttrace.human` hand-offs.

        detect: Which built-in detectors run on the response (``True``: all; ``False``:
            none; or their names): ``truncated``, ``refused``, ``content_filtered``,
            ``empty_output``, ``model_substituted``, ``unknown_tool``,
            ``invalid_tool_arguments``, ``invalid_output``. Each is a failure mode handled
            ``accept`` unless ``failure_modes`` declares one of the same name.
        output: A type (a pydantic model, a ``list[...]``…) the output text must validate as
            JSON; ``invalid_output`` when it does not.

    Example:
        >>> import agenttrace
        >>> @agenttrace.model_call(provider="openai", model="gpt-4o-mini")
        ... def complete(messages: list[dict[str, str]]) -> str:
        ...     return "hello"
    """
    options = {
        "provider": provider,
        "model": model,
        "operation": operation,
        "capture": capture,
        "attributes": attributes,
        **_handling_options(failure_modes, retry, fallbacks),
        "detect": detect,
        "output": output,
    }
    return _apply(Kind.MODEL_CALL, func_or_name, options)
