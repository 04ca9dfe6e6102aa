"""Secrets never survive capture: by key, by pattern, across truncation, at any position."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from agenttrace._capture import CaptureLimits, capture, capture_arguments
from agenttrace._redact import is_sensitive_key, redact_text

# (kind, full text as it appears, the secret part that must never leak)
CORPUS = [
    ("openai", "sk-Zq8vT3xLm2Np4Rs6Uw8Yb0Cd2Ef4Gh6Ij8K", "Zq8vT3xLm2Np4Rs6Uw8Yb0Cd2Ef4Gh6Ij8K"),
    ("openai_project", "sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vX7zB9", "Ab3dE5gH7jK9mN1pQ3sT5vX7zB9"),
    ("anthropic", "sk-ant-api03-Qw7Er5Ty3Ui1Op9As7Df5Gh3Jk1", "Qw7Er5Ty3Ui1Op9As7Df5Gh3Jk1"),
    ("aws", "AKIAQ7W5E3R1T9Y7U5I3", "Q7W5E3R1T9Y7U5I3"),
    ("github", "ghp_Wq2Er4Ty6Ui8Op0As2Df4Gh6Jk8Lz0Xc2Vb4", "Wq2Er4Ty6Ui8Op0As2Df4Gh6Jk8Lz0Xc2Vb4"),
    ("github_pat", "github_pat_11ABCDEFG0xyzXYZ123456789abcd", "11ABCDEFG0xyzXYZ123456789abcd"),
    ("slack", "xoxb-2948-1029384756-Zq8vT3xLm2Np4Rs6", "2948-1029384756-Zq8vT3xLm2Np4Rs6"),
    (
        "jwt",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    ("bearer", "Authorization: Bearer Zx9Cv7Bn5Mq3Wt1Ey9Ru7Iy5", "Zx9Cv7Bn5Mq3Wt1Ey9Ru7Iy5"),
    ("dsn", "postgresql://app:Pg5Secret9Pass7Word@db.internal:5432/app", "Pg5Secret9Pass7Word"),
    ("url_query", "https://api.example.com/v1?api_key=Qk7Lm9Np2Rs4Tu6&x=1", "Qk7Lm9Np2Rs4Tu6"),
    (
        "pem",
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6\n"
            "-----END RSA PRIVATE KEY-----"
        ),
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6",
    ),
]
LIMITS = CaptureLimits(max_value_chars=300, max_span_chars=100_000)


def leaks(secret: str, output: str) -> list[str]:
    """Every 8-character piece of ``secret`` found in ``output``."""
    return [secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in output]


@pytest.mark.parametrize(("kind", "text", "secret"), CORPUS, ids=[c[0] for c in CORPUS])
def test_each_secret_is_redacted_in_free_text(kind: str, text: str, secret: str) -> None:
    """Embedded in a sentence, each kind of secret is replaced by a marker."""
    output = redact_text(f"before {text} after")

    assert [] == leaks(secret, output)
    assert "[REDACTED" in output
    assert output.startswith("before ")


@pytest.mark.parametrize(("kind", "text", "secret"), CORPUS, ids=[c[0] for c in CORPUS])
def test_secrets_in_every_position_of_a_call(kind: str, text: str, secret: str) -> None:
    """Positional, keyword, nested in lists and dicts, as a dict key's value: always redacted."""
    output = capture_arguments(
        ("a", "b"),
        "rest",
        (text, [{"deep": f"x {text} y"}], text),
        {"kw": {"list": [text]}, "client_secret": text},
        LIMITS,
    )

    assert [] == leaks(secret, output)


@pytest.mark.parametrize(("kind", "text", "secret"), CORPUS, ids=[c[0] for c in CORPUS])
def test_secrets_straddling_the_cut_do_not_leak_a_prefix(kind: str, text: str, secret: str) -> None:
    """Wherever the cut falls inside a secret, no 8-character piece of it survives."""
    for offset in range(len(text)):
        padding = "p" * (LIMITS.max_value_chars - offset - 1) + " "
        output = capture(padding + text + " tail", LIMITS)

        assert [] == leaks(secret, output), offset


def test_sensitive_keys_are_redacted_whole() -> None:
    """Values under secret-sounding keys are replaced, whatever their type."""
    value = {
        "password": "x",
        "API-Key": 123,
        "Authorization": ["Basic abc"],
        "session_id": {"a": 1},
        "author": "Ann",
        "authors": ["Ann"],
    }

    assert {
        "password": "[REDACTED]",
        "API-Key": "[REDACTED]",
        "Authorization": "[REDACTED]",
        "session_id": "[REDACTED]",
        "author": "Ann",
        "authors": ["Ann"],
    } == json.loads(capture(value, LIMITS))


def test_secret_str_is_redacted() -> None:
    """pydantic SecretStr never shows its value, even nested."""
    output = capture({"cfg": [SecretStr("Hx7Jk9Lm2Np4Qr6")]}, LIMITS)

    assert "Hx7Jk9Lm" not in output
    assert "[REDACTED:secret]" in output


@pytest.mark.parametrize(
    "text",
    [
        "the author said hello",
        "https://example.com/path?q=1&page=2",
        "sk- alone is not a key",
        "task-manager-abcdefghijklmnopqrstuvwxyz",
        "monkey=banana",
        "the bearer of bad news",
        "ASIA is a continent",
        "we shipped to ASIA",
        "ends with sk-abc",
        "a = b + c",
    ],
)
def test_benign_text_is_unchanged(text: str) -> None:
    """Ordinary text that merely resembles a secret is left alone."""
    assert text == redact_text(text)


def test_a_token_cut_short_by_the_window_is_redacted() -> None:
    """At the end of a cut window, what is left of a token is redacted; uncut, it is a word."""
    assert ("x [REDACTED:truncated_token]", "x ASIA") == (
        redact_text("x ASIAQ7W5", cut=True),
        redact_text("x ASIA"),
    )


def test_markers_never_echo_the_secret() -> None:
    """A marker names the kind of secret, never any of its characters."""
    output = redact_text("key sk-proj-Zq8vT3xLm2Np4Rs6Uw8Yb0")

    assert "key [REDACTED:api_key]" == output


def test_key_sensitivity() -> None:
    """Sensitive names are matched case-insensitively, inside longer names, but not "author"."""
    assert [True, True, True, True, False, False] == [
        is_sensitive_key(name)
        for name in ("x_api_key", "AccessToken", "db_password", "authorization", "author", "query")
    ]


def test_token_counts_are_not_secrets() -> None:
    """Token counts, limits and tokenizers are kept; tokens themselves are redacted."""
    kept = ("max_tokens", "input_tokens", "token_count", "total_token_usage", "tokenizer")
    redacted = ("token", "access_token", "refresh_token", "id_token", "X-Auth-Token")
    assert ([False] * 5, [True] * 5) == (
        [is_sensitive_key(name) for name in kept],
        [is_sensitive_key(name) for name in redacted],
    )


# --- property: a canary anywhere never survives ---------------------------------------

NOISE = st.text(alphabet=st.characters(categories=["L", "N", "P", "Z"]), max_size=80)


@st.composite
def with_canary(draw: st.DrawFn) -> tuple[Any, str]:
    """A random value with one corpus secret planted at a random place."""
    _, text, secret = draw(st.sampled_from(CORPUS))
    planted = draw(NOISE) + " " + text + " " + draw(NOISE)
    shape = draw(st.integers(0, 3))
    value: Any
    if shape == 0:
        value = planted
    elif shape == 1:
        value = [draw(NOISE), {"note": planted}]
    elif shape == 2:
        value = {draw(NOISE): [draw(NOISE), (planted,)]}
    else:
        value = {"x": {"y": {"z": [planted]}}}
    return value, secret


@settings(max_examples=200, deadline=500, suppress_health_check=[HealthCheck.too_slow])
@given(with_canary(), st.integers(min_value=64, max_value=400))
def test_property_canary_never_survives(planted: tuple[Any, str], cap: int) -> None:
    """Wherever a secret is planted and whatever the cap, no 8-char piece of it is output."""
    value, secret = planted

    output = capture(value, CaptureLimits(max_value_chars=cap, max_span_chars=100_000))

    assert [] == leaks(secret, output)


@settings(max_examples=200, deadline=500)
@given(NOISE)
def test_property_redaction_is_idempotent(text: str) -> None:
    """Redacting twice is redacting once."""
    once = redact_text(text)

    assert once == redact_text(once)
