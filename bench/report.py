"""How fast ``agenttrace report`` reads trace files, against parsing the same lines alone.

Run it with ``python bench/report.py`` (``--spans N`` to change the size, 1 000 000 by
default). It writes a trace file of N spans shaped like agenttrace's own output (agent runs
with steps, tools and model calls, failures, retries, fallbacks and hand-offs; 50 spans a
line, as an exporter batches them), then times, in this order:

- the floor: reading the file and ``json.loads`` of every line, nothing else;
- ``read_report()`` on the file, in this process;
- ``agenttrace report FILE --json`` as a command, interpreter start-up and imports included.

Target: the command reports on 1 000 000 spans in under 60 s on a 2-core machine. The
report's peak memory (maximum resident set size of the command) is printed, to show it does
not grow with the file.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agenttrace.cli._read import read_report
from tests.tracegen import Call, Fail, TraceFile

TARGET_SECONDS = 60.0
SPANS_PER_LINE = 50


def _calls(rng: random.Random) -> list[Call]:
    roll = rng.random()
    duration = rng.lognormvariate(-4.5, 0.8)
    if roll < 0.85:
        classify = Call("classify", duration=duration)
    elif roll < 0.90:
        classify = Call("classify", outcome="recovered", retries=1, served_by="classify",
                        failures=[Fail("invalid_output", handling="retry")], duration=duration)  # fmt: skip
    elif roll < 0.96:
        classify = Call("classify", outcome="degraded", served_by="keyword_rules",
                        failures=[Fail("low_confidence", handling="fallback")], duration=duration)  # fmt: skip
    else:
        classify = Call("classify", outcome="escalated", served_by="human:triage",
                        failures=[Fail("low_confidence", handling="fallback")], duration=duration)  # fmt: skip
    lookup = (
        Call("lookup_order", kind="tool", outcome="failed", error_type="KeyError",
             failures=[Fail(declared=False, error_type="KeyError")], duration=0.0002)
        if rng.random() < 0.04
        else Call("lookup_order", kind="tool", duration=0.0002)
    )  # fmt: skip
    answer = (
        Call("complete", kind="model_call", outcome="degraded", served_by="complete",
             tokens=(900, 512), failures=[Fail("truncated", handling="accept")], duration=1.2)
        if rng.random() < 0.02
        else Call("complete", kind="model_call", tokens=(900, 150), duration=rng.uniform(0.3, 2))
    )  # fmt: skip
    return [classify, lookup, answer]


def write_file(path: Path, spans: int, seed: int = 1) -> int:
    """Agent runs until ``spans`` spans; the number written."""
    rng = random.Random(seed)
    written = 0
    with path.open("w", encoding="utf-8") as out:
        while written < spans:
            traces = TraceFile(
                spans_per_line=SPANS_PER_LINE, start_ns=1_790_000_000 * 10**9 + written * 10**6
            )
            traces._ids = written * 8
            while len(traces._spans) < 20_000:
                traces.run("support-bot", _calls(rng))
            for line in traces.lines():
                out.write(line + "\n")
            written += len(traces._spans)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "traces.jsonl"
        started = time.perf_counter()
        spans = write_file(path, args.spans)
        size = path.stat().st_size
        print(f"wrote {spans:,} spans ({size / 2**20:,.0f} MiB) in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip

        started = time.perf_counter()
        with path.open("rb") as lines:
            for line in lines:
                json.loads(line)
        floor = time.perf_counter() - started

        started = time.perf_counter()
        report = read_report([str(path)])
        in_process = time.perf_counter() - started
        assert report.inputs.spans == spans, report.inputs

        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "agenttrace", "report", str(path), "--json"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        command = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print(
        f"{'json.loads of every line (the floor)':<44} {floor:7.1f} s  {spans / floor:>10,.0f} spans/s"
    )
    print(f"{'read_report()':<44} {in_process:7.1f} s  {spans / in_process:>10,.0f} spans/s  "
          f"{in_process / floor:.2f}x the floor")  # fmt: skip
    verdict = "ok" if command < TARGET_SECONDS * spans / 1_000_000 else "MISSED"
    print(f"{'agenttrace report FILE --json (command)':<44} {command:7.1f} s  "
          f"{spans / command:>10,.0f} spans/s  target < {TARGET_SECONDS:.0f} s per 1M: {verdict}")  # fmt: skip
    print(f"peak memory of the command: {peak:,.0f} MiB for a {size / 2**20:,.0f} MiB file")


if __name__ == "__main__":
    main()
