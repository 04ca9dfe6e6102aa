"""``agenttrace check``: the effective configuration and where each value came from."""

from __future__ import annotations

import json
import sys

from agenttrace._config import destination, signal_destination
from agenttrace._settings import DEFAULT, Loaded, is_secret, load, variables

from . import EXIT_OK


def _shown(name: str, value: object) -> str:
    if value is None:
        return "-"
    if is_secret(name):
        return f"<{len(str(value).split(','))} set, values hidden>"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def rows(loaded: Loaded) -> list[dict[str, str]]:
    """One row per setting: its variable, value as shown, and source."""
    result = []
    for model in (loaded.settings, loaded.otel):
        for name, value in model:
            source = loaded.source(name)
            variable = source if source != DEFAULT else variables(name)[-1]
            result.append(
                {
                    "setting": name,
                    "variable": variable,
                    "value": _shown(name, value),
                    "source": "environment" if source != DEFAULT else DEFAULT,
                }
            )
    return result


def run_check(*, as_json: bool) -> int:
    """Print the configuration ``configure()`` would use now."""
    loaded = load()
    kind, where = destination(loaded)
    if kind == "grpc":
        from agenttrace._config import grpc_exporter  # noqa: PLC0415

        grpc_exporter(where or "", {}, 1.0, loaded.otel)  # raises without the extra
    table = rows(loaded)
    signals = {signal: signal_destination(loaded, signal) for signal in ("logs", "metrics")}
    if as_json:
        places = {"destination": {"kind": kind, "where": where}}
        for signal, place in signals.items():
            places[f"{signal}_destination"] = (
                {"kind": place[0], "where": place[1]} if place else {"kind": "none", "where": None}
            )
        json.dump({**places, "settings": table}, sys.stdout)
        sys.stdout.write("\n")
        return EXIT_OK
    width = max(len(row["variable"]) for row in table)
    value_width = min(max(len(row["value"]) for row in table), 48)
    out = [f"spans go to: {kind}" + (f" {where}" if where else "")]
    for signal, place in signals.items():
        exporter = getattr(loaded.otel, f"{signal}_exporter")
        why = {
            "none": f"none (OTEL_{signal.upper()}_EXPORTER=none)",
            "other": "the application's own exporters",
        }.get(exporter, "nowhere from agenttrace (no OTLP endpoint is set)")
        out.append(f"{signal} go to: {place[0]} {place[1]}" if place else f"{signal} go to: {why}")
    out.append("")
    out.append(f"{'variable':<{width}}  {'value':<{value_width}}  source")
    out += [
        f"{row['variable']:<{width}}  {row['value']:<{value_width}}  {row['source']}"
        for row in table
    ]
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK
