"""agenttrace._capture: any value becomes bounded, valid, redacted JSON, without raising."""

from __future__ import annotations

import copy
import dataclasses
import enum
import json
import math
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from agenttrace import _capture
from agenttrace._capture import Budget, CaptureLimits, capture, capture_arguments

LIMITS = CaptureLimits()
SMALL = CaptureLimits(max_value_chars=200, max_span_chars=500, max_depth=4, max_items=5)


def strict_loads(text: str) -> Any:
    """json.loads that rejects NaN/Infinity, after checking strict UTF-8."""
    text.encode("utf-8")

    def reject(token: str) -> None:
        raise ValueError(token)

    return json.loads(text, parse_constant=reject)


class Probe:
    """Counts every attempt to look inside it."""

    calls = 0

    def _count(self, *args: Any) -> Any:
        type(self).calls += 1
        raise RuntimeError("touched")

    __repr__ = __str__ = __len__ = __iter__ = __hash__ = __bool__ = _count  # type: ignore[assignment]
    __getattr__ = _count

    def __eq__(self, other: object) -> bool:
        return bool(self._count())

    @property
    def shape(self) -> Any:
        return self._count()


class Color(enum.Enum):
    RED = "r"


@dataclasses.dataclass
class Point:
    x: int
    y: int
    password: str = "hunter2-secret"


class User(BaseModel):
    name: str
    token: str = "tok_should_not_appear"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (42, 42),
        (2.5, 2.5),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (2**70, str(2**70)),
        pytest.param(1 << 16609, "<int 16610 bits>", id="huge-int"),
        ("hello", "hello"),
        (b"\x00\xff", "<bytes len=2>"),
        (bytearray(3), "<bytearray len=3>"),
        (memoryview(b"abcd"), "<memoryview nbytes=4>"),
        ([1, "a"], [1, "a"]),
        ((1, 2), [1, 2]),
        (frozenset([3]), [3]),
        ({"a": 1, 2: "b", None: 3}, {"a": 1, "2": "b", "None": 3}),
        (Color.RED, f"<{__name__}.Color.RED>"),
        (Point(1, 2), {"x": 1, "y": 2, "password": "[REDACTED]"}),
        (User(name="ann"), {"name": "ann", "token": "[REDACTED]"}),
        (SecretStr("s3cr3t-value"), "[REDACTED:secret]"),
        (object(), "<object>"),
        (len, "<builtin_function_or_method>"),
    ],
)
def test_known_types(value: object, expected: object) -> None:
    """Each known type is rendered structurally; unknown ones by type name."""
    assert expected == strict_loads(capture(value, LIMITS))


def test_unknown_objects_are_never_touched() -> None:
    """No method or property of an unknown object is called, even nested or as a key."""
    Probe.calls = 0
    probe = Probe()
    value = {"p": probe, "l": [probe, (probe,)], "n": {"deep": probe}}

    assert {"p": f"<{__name__}.Probe>"} == {"p": strict_loads(capture(value, LIMITS))["p"]}
    assert f"<{__name__}.Probe>" == strict_loads(capture(probe, LIMITS))
    assert 0 == Probe.calls


def test_numpy_like_objects_are_named_by_type_only() -> None:
    """An array-like whose attributes raise is rendered from its type: shape is never read."""

    def boom(self: object) -> Any:
        raise RuntimeError("touched")

    ndarray = type("ndarray", (), {"__module__": "numpy", "shape": property(boom), "__len__": boom})

    assert "<numpy.ndarray>" == strict_loads(capture([ndarray()], LIMITS))[0]


def test_dict_subclass_overrides_are_not_called() -> None:
    """A dict subclass is read through dict's own methods."""

    class Sneaky(dict[str, int]):
        def items(self) -> Any:
            raise RuntimeError("items")

        def __iter__(self) -> Any:
            raise RuntimeError("iter")

    assert {"a": 1} == strict_loads(capture(Sneaky(a=1), LIMITS))


def test_cycles_are_marked() -> None:
    """Self-referencing dicts, lists and dataclasses end in "<cycle>"."""
    d: dict[str, Any] = {}
    d["self"] = d
    lst: list[Any] = []
    lst.append(lst)

    @dataclasses.dataclass
    class Node:
        next: Any = None

    node = Node()
    node.next = node

    assert {"self": "<cycle>"} == strict_loads(capture(d, LIMITS))
    assert ["<cycle>"] == strict_loads(capture(lst, LIMITS))
    assert {"next": "<cycle>"} == strict_loads(capture(node, LIMITS))


def test_shared_but_acyclic_values_are_not_cycles() -> None:
    """The same list twice side by side is repeated, not marked as a cycle."""
    shared = [1]

    assert [[1], [1]] == strict_loads(capture([shared, shared], LIMITS))


def test_ten_thousand_deep_nesting_is_cut_quickly() -> None:
    """10 000 nested lists: cut at max_depth, no RecursionError, fast."""
    value: list[Any] = []
    for _ in range(10_000):
        value = [value]

    start = time.perf_counter()
    text = capture(value, LIMITS)
    elapsed = time.perf_counter() - start

    assert "<max depth>" in text
    assert elapsed < 0.05


def test_huge_string_costs_the_cap() -> None:
    """A 100 MB string is cut to the cap with its length noted, in well under 50 ms."""
    huge = "a" * 100_000_000

    start = time.perf_counter()
    text = capture(huge, LIMITS)
    elapsed = time.perf_counter() - start

    assert text == json.dumps("a" * 2048 + f"...[+{100_000_000 - 2048} chars]")
    assert elapsed < 0.05


def test_huge_list_reads_only_max_items() -> None:
    """A 10-million-item list reads 64 items and counts the rest."""
    items = strict_loads(capture(list(range(10_000_000)), LIMITS))

    assert 65 == len(items)
    assert "<+9999936 more>" == items[-1]


def test_span_budget_is_shared() -> None:
    """Values captured on one span share its budget; once spent, values are "<truncated>"."""
    budget = Budget(SMALL)

    first = strict_loads(capture("x" * 1000, SMALL, budget))
    second = strict_loads(capture("y" * 1000, SMALL, budget))
    third = strict_loads(capture("z" * 1000, SMALL, budget))

    assert (200, 200) == (first.index("..."), second.index("..."))
    assert third.startswith("z" * 50)
    assert "<truncated>" == strict_loads(capture("w", SMALL, budget))


def test_mutation_during_capture_is_a_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A container changed by another thread while read becomes a marker; the rest goes on."""

    def changed(*args: Any) -> Any:
        raise RuntimeError("dictionary changed size during iteration")

    monkeypatch.setattr(_capture.itertools, "islice", changed)

    assert "<changed while captured>" == strict_loads(capture({"a": 1}, LIMITS))


def test_internal_failure_gives_a_marker_not_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a bug inside capture returns valid JSON naming the type."""
    monkeypatch.setattr(_capture._Walker, "walk", lambda *a: 1 / 0)

    assert "<unserialisable: dict>" == strict_loads(capture({"a": 1}, LIMITS))


def test_hostile_text_stays_valid() -> None:
    """Lone surrogates, NUL, ANSI escapes and RTL overrides come out as strict JSON, one line."""
    nasty = "a\ud800b\x00c\x1b[31md\u202ee\n"

    text = capture({nasty: nasty}, LIMITS)

    assert "\n" not in text
    value = strict_loads(text)
    assert ["a?b\x00c\x1b[31md\u202ee\n"] == list(value.values())


def test_capture_arguments_names_parameters() -> None:
    """Positional arguments by name, extras under *args' name, keywords by key."""
    text = capture_arguments(("a", "b"), "rest", (1, 2, 3, 4), {"k": "v"}, LIMITS)

    assert {"a": 1, "b": 2, "rest": [3, 4], "k": "v"} == strict_loads(text)


def test_capture_arguments_redacts_sensitive_parameters() -> None:
    """An argument whose parameter name is sensitive is redacted whole, whatever its type."""
    text = capture_arguments(
        ("query", "api_key"), None, ("q", {"nested": 1}), {"password": 5}, LIMITS
    )

    assert {"query": "q", "api_key": "[REDACTED]", "password": "[REDACTED]"} == strict_loads(text)


def test_capture_does_not_mutate_its_input() -> None:
    """The captured value is read, never changed."""
    value = {"a": [1, {"b": "c" * 5000}], "d": Point(1, 2)}
    before = copy.deepcopy(value)

    capture(value, LIMITS)

    assert before == value


# --- properties -------------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(categories=["L", "M", "N", "P", "S", "Z", "C", "Cs"]))
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
    | st.binary()
)
VALUES = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children)
        | st.tuples(children, children)
        | st.dictionaries(TEXT | st.integers(), children)
        | st.frozensets(st.integers() | TEXT)
    ),
    max_leaves=60,
)
PROPERTY = settings(max_examples=200, deadline=500, suppress_health_check=[HealthCheck.too_slow])


def bound(limits: CaptureLimits) -> int:
    """The most characters one capture may produce: content, plus markers and structure."""
    return 8 * limits.max_value_chars + 512


@PROPERTY
@given(VALUES)
def test_property_total_valid_bounded_deterministic(value: Any) -> None:
    """Never raises; strict JSON; strict UTF-8; bounded; same input, same output."""
    text = capture(value, SMALL)

    strict_loads(text)
    assert len(text) <= bound(SMALL)
    assert text == capture(value, SMALL)


@PROPERTY
@given(VALUES)
def test_property_input_unchanged(value: Any) -> None:
    """Capturing never changes the value captured."""
    before = repr(value)

    capture(value, SMALL)

    assert before == repr(value)


@PROPERTY
@example(["ASIA"], {})  # found by hypothesis: a word that starts like an AWS key id
@given(
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1) | TEXT, max_size=20),
    st.dictionaries(TEXT, st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=5),
)
def test_property_small_json_values_round_trip(items: list[Any], mapping: dict[str, int]) -> None:
    """Small JSON-compatible values without secrets come back as they went in (int64 range:
    larger integers are captured as strings, since OTLP integers are 64-bit)."""
    limits = CaptureLimits(max_value_chars=1_000_000, max_span_chars=10_000_000, max_items=100)
    clean = [i for i in items if not isinstance(i, str) or (i.isascii() and i.isalnum())]
    keys = {k: v for k, v in mapping.items() if k.isascii() and k.isalpha() and len(k) < 4}
    keys = {k: v for k, v in keys.items() if k.lower() not in {"pwd", "key", "sig", "dsn", "jwt"}}

    assert clean == strict_loads(capture(clean, limits))
    assert keys == strict_loads(capture(keys, limits))


def test_non_finite_numbers_inside_containers() -> None:
    """NaN nested in a container is a string too, so the JSON stays strict."""
    assert [["NaN"], {"x": "Infinity"}] == strict_loads(
        capture([[math.nan], {"x": math.inf}], LIMITS)
    )
