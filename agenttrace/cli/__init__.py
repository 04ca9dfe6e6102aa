"""The ``agenttrace`` command: ``check``, ``export`` and ``contracts``.

Exit status: 0 when all went well, 1 when some work failed (spans not delivered, lines not
readable), 2 for a bad command line or configuration.
"""

from __future__ import annotations

import argparse
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
    return parser


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
