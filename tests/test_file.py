"""The embedded default: an OTLP/JSON-lines file, capped and rotated, replayable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import agenttrace
from agenttrace import _config
from agenttrace._file import JsonLinesFile
from agenttrace.cli import main
from tests.collector import running


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AGENTTRACE_STRICT", "true")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10")
    monkeypatch.setattr(_config._state, "set_global", False)
    yield
    _config.reset()


@agenttrace.step
def work(n: int) -> int:
    return n


def spans_in(path: Path) -> list[dict[str, object]]:
    return [
        span
        for line in path.read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]


def test_lines_are_otlp_json(tmp_path: Path) -> None:
    """One ExportTraceServiceRequest per line: camelCase keys, hex ids, numeric enums."""
    agenttrace.configure(directory=tmp_path)
    with agenttrace.span("outer"):
        work(1)
    agenttrace.shutdown()

    inner, outer = spans_in(tmp_path / "traces.jsonl")
    assert (inner["name"], outer["name"]) == ("work", "outer")
    assert inner["parentSpanId"] == outer["spanId"]
    assert (len(str(inner["traceId"])), len(str(inner["spanId"])), inner["kind"]) == (32, 16, 1)
    int(str(inner["traceId"]), 16)


def test_the_file_rotates_at_its_cap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Past AGENTTRACE_FILE_MAX_BYTES the file becomes traces.1.jsonl…; only
    AGENTTRACE_FILE_BACKUPS old files are kept and none is over the cap."""
    monkeypatch.setenv("AGENTTRACE_FILE_MAX_BYTES", str(64 * 1024))
    monkeypatch.setenv("AGENTTRACE_FILE_BACKUPS", "2")
    agenttrace.configure(directory=tmp_path)
    for n in range(3000):
        work(n)
        if n % 100 == 0:
            agenttrace.force_flush()
    agenttrace.shutdown()

    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["traces.1.jsonl", "traces.2.jsonl", "traces.jsonl"]
    assert max((tmp_path / name).stat().st_size for name in files) <= 64 * 1024
    kept = sum(len(spans_in(tmp_path / name)) for name in files)
    assert 0 < kept < 3000


def test_no_backups_means_one_file(tmp_path: Path) -> None:
    """With backups=0 the full file is replaced, never renamed."""
    sink = JsonLinesFile(tmp_path / "traces.jsonl", max_bytes=65536, backups=0)
    sink._write(b"x" * 60000 + b"\n")
    sink._write(b"y" * 10000 + b"\n")

    assert [p.name for p in tmp_path.iterdir()] == ["traces.jsonl"]
    assert (tmp_path / "traces.jsonl").read_bytes() == b"y" * 10000 + b"\n"


def test_a_rotated_file_is_noticed_by_another_writer(tmp_path: Path) -> None:
    """Two writers on one path: when one rotates, the other writes to the new file."""
    first = JsonLinesFile(tmp_path / "traces.jsonl", max_bytes=65536, backups=1)
    second = JsonLinesFile(tmp_path / "traces.jsonl", max_bytes=65536, backups=1)
    first._write(b"a" * 60000 + b"\n")
    second._write(b"b\n")
    first._write(b"c" * 10000 + b"\n")
    second._write(b"d\n")

    assert (tmp_path / "traces.jsonl").read_bytes() == b"c" * 10000 + b"\nd\n"
    assert (tmp_path / "traces.1.jsonl").read_bytes() == b"a" * 60000 + b"\nb\n"


def test_export_replays_every_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`agenttrace export FILE --endpoint URL` sends each span once and says so."""
    agenttrace.configure(directory=tmp_path)
    for n in range(25):
        work(n)
    agenttrace.shutdown()

    with running("up") as collector:
        code = main(["export", str(tmp_path / "traces.jsonl"), "--endpoint", collector.url])

    assert (code, collector.received, collector.requests) == (0, 25, 3)
    assert "25 spans delivered" in capsys.readouterr().err


def test_export_reports_bad_lines_and_dead_endpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable line is named by file and line; undelivered spans make exit status 1."""
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"resourceSpans": []}\nnot json\n')
    with running("up") as collector:
        assert main(["export", str(path), "--endpoint", collector.url]) == 1
    assert f"{path}:2: not an OTLP/JSON trace request" in capsys.readouterr().err

    with running("status", status=400) as collector:
        agenttrace.configure(directory=tmp_path)
        work(1)
        agenttrace.shutdown()
        assert main(["export", str(tmp_path / "traces.jsonl"), "--endpoint", collector.url]) == 1
    assert "1 spans not delivered (HTTP 400)" in capsys.readouterr().err
