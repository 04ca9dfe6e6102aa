"""AGENTTRACE_* variables: validated, with one clear error naming the variable."""

from __future__ import annotations

import logging

import pytest

import agenttrace
from agenttrace import _runtime
from agenttrace import environment_variables as env
from agenttrace._settings import Settings, settings_from_env
from tests.conftest import Recorder


def test_defaults_when_nothing_is_set() -> None:
    """No variables: capture off, not disabled, not strict, 2048/16384 characters."""
    assert Settings() == settings_from_env({})


def test_values_are_read_and_parsed() -> None:
    """Booleans accept the usual words; numbers are whole numbers."""
    settings = settings_from_env(
        {
            env.AGENTTRACE_CAPTURE_CONTENT: "TRUE",
            env.AGENTTRACE_DISABLED: "0",
            env.AGENTTRACE_STRICT: "yes",
            env.AGENTTRACE_CAPTURE_MAX_VALUE_CHARS: " 4096 ",
        }
    )

    assert (
        settings.capture_content,
        settings.disabled,
        settings.strict,
        settings.capture_max_value_chars,
    ) == (True, False, True, 4096)


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        (env.AGENTTRACE_CAPTURE_CONTENT, "maybe", "true, false, 1, 0, yes, no, on, off"),
        (env.AGENTTRACE_CAPTURE_MAX_VALUE_CHARS, "12", "a whole number from 64 to 1048576"),
        (env.AGENTTRACE_CAPTURE_MAX_SPAN_CHARS, "lots", "a whole number from 256 to 16777216"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_is_accepted(
    name: str, value: str, accepted: str
) -> None:
    """The error says which variable, which value, and what would have been accepted."""
    with pytest.raises(agenttrace.ConfigurationError) as caught:
        settings_from_env({name: value})

    message = str(caught.value)
    assert message.startswith(f"{name}={value!r} is not accepted")
    assert message.endswith(f"Accepted: {accepted}.")


def test_a_bad_value_read_at_run_time_is_logged_and_defaults_apply(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, recorder: Recorder
) -> None:
    """Read lazily by a decorated call, a bad value never breaks the call: logged once, defaults."""
    monkeypatch.setenv(env.AGENTTRACE_CAPTURE_CONTENT, "maybe")
    _runtime.state.settings = None
    _runtime.state.entry = None

    @agenttrace.step
    def work() -> int:
        return 1

    assert [work(), work()] == [1, 1]
    errors = [r for r in caplog.records if r.name == "agenttrace" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "AGENTTRACE_CAPTURE_CONTENT='maybe'" in errors[0].getMessage()
    assert recorder.names() == ["work", "work"]


def test_every_setting_has_a_documented_variable() -> None:
    """Each Settings field has an AGENTTRACE_* constant, and each constant a row in the docs."""
    from pathlib import Path  # noqa: PLC0415

    names = {f"AGENTTRACE_{field.upper()}" for field in Settings.model_fields}
    constants = {name for name in dir(env) if name.startswith("AGENTTRACE_")}
    docs = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text()

    assert names == constants
    assert [name for name in sorted(names) if f"`{name}`" not in docs] == []
