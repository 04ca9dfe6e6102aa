"""The decorated callable looks and behaves like the undecorated one, for every shape."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import wrapt

import agenttrace
from tests.conftest import Recorder

DECORATORS = {
    "agent": agenttrace.agent,
    "step": agenttrace.step,
    "tool": agenttrace.tool,
    "model_call": agenttrace.model_call,
}


def make_shapes(decorate: Callable[[Any], Any]) -> dict[str, Any]:
    """One decorated callable of each shape, plus its undecorated twin."""

    def function(a: int, b: int = 2, *, c: int = 3) -> int:
        """Add three numbers."""
        return a + b + c

    async def coroutine(a: int, b: int = 2) -> int:
        """Add two numbers, later."""
        await asyncio.sleep(0)
        return a + b

    def generator(n: int) -> Iterator[int]:
        """Count to n."""
        yield from range(n)

    async def async_generator(n: int) -> AsyncIterator[int]:
        """Count to n, later."""
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    return {
        "function": (decorate(function), function),
        "coroutine": (decorate(coroutine), coroutine),
        "generator": (decorate(generator), generator),
        "async_generator": (decorate(async_generator), async_generator),
    }


PREDICATES = (
    inspect.iscoroutinefunction,
    inspect.isgeneratorfunction,
    inspect.isasyncgenfunction,
    inspect.isfunction,
    callable,
)


@pytest.mark.parametrize("form", ["bare", "called"])
@pytest.mark.parametrize("decorator", sorted(DECORATORS))
def test_function_metadata_is_the_wrapped_functions(decorator: str, form: str) -> None:
    """__name__, __qualname__, __doc__, __module__, signature and inspect predicates carry over."""
    decorate = DECORATORS[decorator] if form == "bare" else DECORATORS[decorator]()

    for shape, (decorated, original) in make_shapes(decorate).items():
        assert decorated.__name__ == original.__name__, shape
        assert decorated.__qualname__ == original.__qualname__, shape
        assert decorated.__doc__ == original.__doc__, shape
        assert decorated.__module__ == original.__module__, shape
        assert inspect.signature(decorated) == inspect.signature(original), shape
        assert decorated.__wrapped__ is original, shape
        for predicate in PREDICATES:
            assert predicate(decorated) == predicate(original), (shape, predicate.__name__)


async def test_every_shape_returns_what_the_function_returns(recorder: Recorder) -> None:
    """Each shape gives the same result decorated as undecorated, and records one span."""
    shapes = make_shapes(agenttrace.step)
    function, coroutine = shapes["function"][0], shapes["coroutine"][0]
    generator, async_generator = shapes["generator"][0], shapes["async_generator"][0]

    results = [
        function(1, c=10),
        await coroutine(1),
        list(generator(3)),
        [i async for i in async_generator(3)],
    ]

    assert results == [13, 3, [0, 1, 2], [0, 1, 2]]
    assert recorder.names() == ["function", "coroutine", "generator", "async_generator"]


class Service:
    """A class with every kind of method decorated, in both stacking orders."""

    factor = 10

    def __init__(self) -> None:
        self.offset = 1

    @agenttrace.step
    def method(self, x: int) -> int:
        """A method."""
        return x * self.factor + self.offset

    @agenttrace.step
    async def async_method(self, x: int) -> int:
        """An async method."""
        return x + self.offset

    @agenttrace.step
    def gen_method(self, n: int) -> Iterator[int]:
        """A generator method."""
        for i in range(n):
            yield i + self.offset

    @classmethod
    @agenttrace.step
    def class_outer(cls, x: int) -> int:
        """classmethod outside the decorator."""
        return x * cls.factor

    @agenttrace.step
    @classmethod
    def class_inner(cls, x: int) -> int:
        """classmethod inside the decorator."""
        return x * cls.factor

    @staticmethod
    @agenttrace.step
    def static_outer(x: int) -> int:
        """staticmethod outside the decorator."""
        return x + 100

    @agenttrace.step
    @staticmethod
    def static_inner(x: int) -> int:
        """staticmethod inside the decorator."""
        return x + 200


async def test_methods_bind_like_undecorated_methods(recorder: Recorder) -> None:
    """Instance, class and static methods get self/cls as usual, via instance and class."""
    service = Service()

    results = [
        service.method(2),
        Service.method(service, 2),
        await service.async_method(2),
        list(service.gen_method(2)),
        service.class_outer(2),
        Service.class_outer(2),
        service.class_inner(2),
        Service.class_inner(2),
        service.static_outer(2),
        Service.static_outer(2),
        service.static_inner(2),
        Service.static_inner(2),
    ]

    assert results == [21, 21, 3, [1, 2], 20, 20, 20, 20, 102, 102, 202, 202]
    assert len(results) == len(recorder.spans)


def test_method_metadata_and_predicates() -> None:
    """Methods keep their qualname, docstring and signature through binding."""
    service = Service()

    assert service.method.__qualname__ == "Service.method"
    assert service.method.__doc__ == "A method."
    assert list(inspect.signature(service.method).parameters) == ["x"]
    assert inspect.iscoroutinefunction(service.async_method)
    assert inspect.isgeneratorfunction(Service.gen_method)
    assert Service.class_inner.__qualname__ == "Service.class_inner"
    assert list(inspect.signature(Service.static_inner).parameters) == ["x"]


def plain_decorator(function: Callable[..., Any]) -> Callable[..., Any]:
    """A functools.wraps decorator, as users write them."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs) * 2

    return wrapper


@wrapt.decorator
def wrapt_decorator(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """A wrapt decorator, as other libraries write them."""
    return wrapped(*args, **kwargs) + 1


def test_stacks_with_other_decorators(recorder: Recorder) -> None:
    """agenttrace decorators stack above and below other decorators, both kinds."""

    @agenttrace.step
    @plain_decorator
    def above(x: int) -> int:
        """Doc."""
        return x

    @plain_decorator
    @agenttrace.step
    def below(x: int) -> int:
        return x

    @agenttrace.tool
    @wrapt_decorator
    def above_wrapt(x: int) -> int:
        return x

    @wrapt_decorator
    @agenttrace.tool
    def below_wrapt(x: int) -> int:
        return x

    @agenttrace.step
    @agenttrace.step("inner")
    def twice(x: int) -> int:
        return x

    assert [above(2), below(2), above_wrapt(2), below_wrapt(2), twice(2)] == [4, 4, 3, 3, 2]
    assert above.__doc__ == "Doc."
    assert list(inspect.signature(above).parameters) == ["x"]
    assert recorder.names() == [
        "above",
        "below",
        "execute_tool above_wrapt",
        "execute_tool below_wrapt",
        "inner",
        "twice",
    ]


def test_decorating_a_lambda_and_a_partial_needs_a_name_only_for_the_partial() -> None:
    """A lambda is named "<lambda>"; a partial has no __name__, so it needs one."""
    named = agenttrace.step(lambda x: x + 1)
    partial = functools.partial(int, base=2)

    assert named.__name__ == "<lambda>"
    with pytest.raises(TypeError, match="give a name"):
        agenttrace.step(partial)
    assert agenttrace.step("parse")(partial)("101") == 5
