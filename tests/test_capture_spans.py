"""Captured arguments and results on spans: opt-in, bounded, redacted end to end."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from pydantic import SecretStr

import agenttrace
from agenttrace import _semconv as sc
from tests.conftest import Recorder, apply

CANARIES = {
    "openai": "sk-proj-Zq8vT3xLm2Np4Rs6Uw8Yb0Cd2Ef4Gh6Ij8Kl0Mn2",
    "anthropic": "sk-ant-api03-Qw7Er5Ty3Ui1Op9As7Df5Gh3Jk1Lz9Xc7Vb5Nm3",
    "aws": "AKIAQ7W5E3R1T9Y7U5I3",
    "github": "ghp_Wq2Er4Ty6Ui8Op0As2Df4Gh6Jk8Lz0Xc2Vb4",
    "bearer": "Zx9Cv7Bn5Mq3Wt1Ey9Ru7Iy5Op3As1Df9",
    "dsn_password": "Pg5Secret9Pass7Word",
    "private_key_body": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
    "secret_str": "SecretStrValue9Q7W5E3R",
}


def planted() -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Arguments that carry every canary, in every place a secret can hide."""
    args = (
        f"my key is {CANARIES['openai']} please",
        {"nested": [{"note": f"x-api-key {CANARIES['anthropic']}"}]},
    )
    kwargs = {
        "api_key": CANARIES["aws"],
        "headers": {"Authorization": f"Bearer {CANARIES['bearer']}"},
        "text": f"token {CANARIES['github']} and more",
        "dsn": f"postgresql://app:{CANARIES['dsn_password']}@db.internal:5432/app",
        "pem": "-----BEGIN PRIVATE KEY-----\n"
        + CANARIES["private_key_body"]
        + "\n-----END PRIVATE KEY-----",
        "password": SecretStr(CANARIES["secret_str"]),
    }
    return args, kwargs


def exported_bytes(recorder: Recorder) -> bytes:
    """Everything the OTLP exporter would send for the recorded spans."""
    return encode_spans(recorder.spans).SerializeToString()


def assert_no_canary(blob: str) -> None:
    for name, secret in CANARIES.items():
        for start in range(len(secret) - 7):
            assert secret[start : start + 8] not in blob, f"{name} leaked"


def test_capture_is_off_by_default(recorder: Recorder) -> None:
    """Without opting in, no argument or result is recorded."""

    @agenttrace.step
    def work(text: str) -> str:
        return text

    work("hello")

    attributes = recorder.one("work").attributes or {}
    assert (sc.INPUT not in attributes, sc.OUTPUT not in attributes) == (True, True)


def test_the_setting_turns_capture_on_and_the_option_overrides_it(recorder: Recorder) -> None:
    """AGENTTRACE_CAPTURE_CONTENT turns it on; capture=False on a decorator keeps it off."""
    apply(capture_content=True)

    @agenttrace.step
    def on(text: str, *, n: int = 1) -> dict[str, Any]:
        return {"text": text, "n": n}

    @agenttrace.step(capture=False)
    def off(text: str) -> str:
        return text

    on("hello", n=2)
    off("hello")

    attributes = recorder.one("on").attributes or {}
    assert {"text": "hello", "n": 2} == json.loads(str(attributes[sc.INPUT]))
    assert {"text": "hello", "n": 2} == json.loads(str(attributes[sc.OUTPUT]))
    assert sc.INPUT not in (recorder.one("off").attributes or {})


def test_tools_capture_into_the_gen_ai_keys(recorder: Recorder) -> None:
    """A tool's arguments and result go to gen_ai.tool.call.arguments / .result."""

    @agenttrace.tool(capture=True)
    def lookup(order_id: str) -> dict[str, str]:
        return {"id": order_id}

    lookup("A1")

    attributes = recorder.one("execute_tool lookup").attributes or {}
    assert {"order_id": "A1"} == json.loads(str(attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]))
    assert {"id": "A1"} == json.loads(str(attributes[sc.GEN_AI_TOOL_CALL_RESULT]))


def test_methods_capture_without_self(recorder: Recorder) -> None:
    """The bound instance is not captured; parameters are named from the signature."""

    class Agent:
        @agenttrace.step(capture=True)
        def answer(self, question: str, *extra: str) -> str:
            return question

    Agent().answer("q", "a", "b")

    assert {"question": "q", "extra": ["a", "b"]} == json.loads(
        str((recorder.one("answer").attributes or {})[sc.INPUT])
    )


def test_planted_secrets_never_leave_the_process(recorder: Recorder) -> None:
    """Secrets in args, kwargs, nested values, results and exception messages are redacted."""
    args, kwargs = planted()

    @agenttrace.tool(capture=True)
    def leaky(*args: Any, **kwargs: Any) -> Any:
        return {"echo": args, "again": kwargs}

    @agenttrace.step(capture=True)
    def raises(secret: str) -> None:
        raise ValueError(f"auth failed for key {secret}")

    leaky(*args, **kwargs)
    with pytest.raises(ValueError, match="auth failed"):
        raises(CANARIES["openai"])
    with agenttrace.span("manual") as op:
        op.set_attribute("note", f"Authorization: Bearer {CANARIES['bearer']}")
        op.set_attribute("config", {"token": CANARIES["github"]})

    blob = exported_bytes(recorder).decode("utf-8", "replace")
    assert "[REDACTED" in blob
    assert_no_canary(blob)


def test_huge_values_cost_the_cap(recorder: Recorder) -> None:
    """A 50 MB argument and result are cut to the per-value cap before anything is copied."""
    apply(capture_content=True, capture_max_value_chars=1000, capture_max_span_chars=4000)
    huge = "y" * 50_000_000

    @agenttrace.step
    def echo(text: str) -> str:
        return text

    assert echo(huge) is huge

    attributes = recorder.one("echo").attributes or {}
    assert len(str(attributes[sc.INPUT])) < 1200
    assert len(str(attributes[sc.OUTPUT])) < 1200
    assert str(attributes[sc.OUTPUT]).endswith('...[+49999000 chars]"')


def test_hostile_arguments_never_break_the_call(recorder: Recorder) -> None:
    """Objects whose repr, str and attribute access raise are captured by type name only."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("repr")

        def __str__(self) -> str:
            raise RuntimeError("str")

        def __getattr__(self, name: str) -> Any:
            raise RuntimeError(name)

    cycle: list[Any] = []
    cycle.append(cycle)

    @agenttrace.step(capture=True)
    def work(a: object, b: object, c: bytes) -> object:
        return a

    hostile = Hostile()
    assert work(hostile, cycle, b"\x00\xff") is hostile

    captured = json.loads(str((recorder.one("work").attributes or {})[sc.INPUT]))
    assert "Hostile" in captured["a"]
    assert "<cycle>" in json.dumps(captured["b"])


def test_long_stack_traces_keep_their_end_from_a_whole_line(recorder: Recorder) -> None:
    """A stack trace longer than the cap keeps its end, starting at a line, and says so."""

    @agenttrace.step
    def deep() -> None:
        raise ValueError("context line\n" * 2000 + "bottom")

    with pytest.raises(ValueError, match="bottom"):
        deep()

    failed = [s for s in recorder.spans if s.status.status_code.name == "ERROR"]
    stack = str(failed[0].events[-1].attributes["exception.stacktrace"])  # type: ignore[index]
    assert len(stack) <= 8192 + 32
    assert stack.split("\n", 1)[0].endswith("chars cut]")
    assert stack.endswith("context line\nbottom\n")
