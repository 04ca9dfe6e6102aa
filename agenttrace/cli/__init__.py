"""The ``agenttrace`` command: ``check``, ``export``, ``contracts``, ``report`` and ``diff``.

Exit status: 0 when all went well, 1 when some work failed (spans not delivered, lines not
readable) or ``diff --fail-on-regression`` found a regression, 2 for a bad command line or
configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from agenttrace._version import __version__
from agenttrace.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agenttrace", description="agenttrace: OpenTelemetry tracing for AI agents."
    )
    parser.add_argument("--version", action="version", version=f"agenttrace {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="print the effective configuration and where each value came from",
        description="Print the effective configuration, read from the environment as "
        "agenttrace.configure() would, and where each value came from.",
    )
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")

    export = commands.add_parser(
        "export",
        help="send a local trace file to an OTLP endpoint",
        description="Send OTLP/JSON-lines trace files (such as .agenttrace/traces.jsonl) "
        "to an OTLP endpoint, one request per line.",
    )
    export.add_argument("files", nargs="+", metavar="FILE", help="OTLP/JSON-lines files")
    export.add_argument(
        "--endpoint",
        help="the collector's base URL (default: the configured OTLP endpoint); "
        "/v1/traces is appended for HTTP unless present",
    )
    export.add_argument(
        "--protocol", choices=["http/protobuf", "grpc"], help="default: the configured protocol"
    )
    export.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a header to send (repeatable), e.g. x-project-name=replay",
    )
    export.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per request (default 10)"
    )
    listing = commands.add_parser(
        "contracts",
        help="list what the decorated operations of some modules declare",
        description="Import the given modules and list every decorated operation's "
        "contract: its failure modes with their handling, retry policy and fallbacks.",
    )
    listing.add_argument(
        "modules", nargs="*", metavar="MODULE", help="modules to import, e.g. myapp.agent"
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.add_argument(
        "--schema", action="store_true", help="print the JSON schema of a contract and exit"
    )
    _report_parsers(commands)
    return parser


def _confidence(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _report_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report",
        help="the reliability report of trace files: outcomes, failures, fallbacks, latency",
        description="Read OTLP/JSON-lines trace files (files, directories, globs, .gz, or - "
        "for stdin; default .agenttrace/) and report, per agent and operation, how calls "
        "ended, which failure modes fired and how they were handled, what served, latency, "
        "tokens and first-try success in nines. Needs the 'cli' extra.",
    )
    report.add_argument("sources", nargs="*", metavar="SOURCE", help="default: .agenttrace/")
    formats = report.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="print the report as JSON")
    formats.add_argument("--markdown", action="store_true", help="print a Markdown label")
    report.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page")
    report.add_argument(
        "--schema", action="store_true", help="print the JSON schema of --json's output and exit"
    )
    report.add_argument(
        "--since", metavar="TIME", help="operations started at or after TIME (ISO 8601, or 2h)"
    )
    report.add_argument("--until", metavar="TIME", help="operations started before TIME")
    report.add_argument(
        "--confidence", type=_confidence, default=0.95, help="interval level (default 0.95)"
    )

    diff = commands.add_parser(
        "diff",
        help="which failure rates changed between two runs, with a significance test",
        description="Compare two reports (trace input as for report, or a saved "
        "report --json): per operation, every failure rate in each, the change, and "
        "Fisher's exact test, adjusted for the number of rates compared. Needs the 'cli' "
        "extra.",
    )
    diff.add_argument("base", metavar="BASE", help="the baseline: trace input or report JSON")
    diff.add_argument("new", metavar="NEW", help="the run to judge: trace input or report JSON")
    diff.add_argument(
        "--alpha", type=_confidence, default=0.05, help="significance level (default 0.05)"
    )
    diff.add_argument(
        "--min-change",
        type=_fraction,
        default=0.0,
        metavar="RATE",
        help="ignore changes smaller than this, as a fraction (0.01 = 1 point; default 0)",
    )
    diff.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 when a rate got significantly worse",
    )
    diff.add_argument("--all", action="store_true", help="show unchanged rates too")
    diff_formats = diff.add_mutually_exclusive_group()
    diff_formats.add_argument("--json", action="store_true", help="print the diff as JSON")
    diff_formats.add_argument("--markdown", action="store_true", help="print Markdown")
    diff.add_argument(
        "--confidence", type=_confidence, default=0.95, help="interval level (default 0.95)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "check":
            from ._check import run_check  # noqa: PLC0415

            return run_check(as_json=args.json)
        if args.command == "contracts":
            from ._contracts import run_contracts  # noqa: PLC0415

            return run_contracts(args.modules, as_json=args.json, schema=args.schema)
        if args.command in {"report", "diff"}:
            return _run_report_command(args)
        from ._export import run_export  # noqa: PLC0415

        return run_export(
            args.files,
            endpoint=args.endpoint,
            protocol=args.protocol,
            headers=args.header,
            timeout=args.timeout,
        )
    except ConfigurationError as exc:
        print(f"agenttrace: {exc}", file=sys.stderr)  # noqa: T201 (a command's output)
        return EXIT_USAGE


def _run_report_command(args: argparse.Namespace) -> int:
    from . import _extra  # noqa: PLC0415

    if not _extra.require(args.command):
        return EXIT_USAGE
    output = "json" if args.json else "markdown" if args.markdown else "table"
    if args.command == "report":
        from ._report import run_report  # noqa: PLC0415

        if args.schema:
            from ._model import Report  # noqa: PLC0415

            print(json.dumps(Report.model_json_schema(), indent=2))  # noqa: T201 (output)
            return EXIT_OK

        return run_report(
            args.sources,
            output=output,
            html=args.html,
            confidence=args.confidence,
            since=args.since,
            until=args.until,
        )
    from ._diff import run_diff  # noqa: PLC0415

    return run_diff(
        args.base,
        args.new,
        alpha=args.alpha,
        min_change=args.min_change,
        fail_on_regression=args.fail_on_regression,
        output=output,
        show_all=args.all,
        confidence=args.confidence,
    )
