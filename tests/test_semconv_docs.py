"""docs/semantic-conventions.md lists every key and value agenttrace writes."""

from __future__ import annotations

from pathlib import Path

from agenttrace import _semconv

DOC = (Path(__file__).parents[1] / "docs" / "semantic-conventions.md").read_text()


def test_every_constant_is_documented() -> None:
    """Each constant's value appears in backticks on the page."""
    values = {
        name: value
        for name, value in vars(_semconv).items()
        if name.isupper() and isinstance(value, str)
    }

    assert [f"{name}={value}" for name, value in values.items() if f"`{value}`" not in DOC] == []


def test_every_documented_agenttrace_key_exists() -> None:
    """Every key in the page's tables is a constant (the page cannot promise more)."""
    import re  # noqa: PLC0415

    documented = set(re.findall(r"^\| `((?:agenttrace|gen_ai)\.[a-z_.]+)`", DOC, re.MULTILINE))
    constants = {value for value in vars(_semconv).values() if isinstance(value, str)}

    assert set() == documented - constants
