"""The public surface: __all__ is sorted, complete, and import is cheap and side-effect free."""

from __future__ import annotations

import subprocess
import sys

import agenttrace


def test_all_is_sorted_and_matches_the_public_names() -> None:
    """Every public name in the package namespace is in __all__, and __all__ is sorted."""
    # "@py_builtins" and "@pytest_ar": pytest rewrites the asserts of every module of a
    # package that ships a pytest plugin, and its helpers land in the namespace.
    public = {
        name
        for name in vars(agenttrace)
        if not name.startswith(("_", "@"))
        and name
        not in {
            "cli",
            "detectors",
            "environment_variables",
            "exceptions",
            "integrations",
            "processors",
            "testing",
        }
    }

    assert sorted(agenttrace.__all__) == agenttrace.__all__
    assert public | {"__version__"} == set(agenttrace.__all__)


def test_import_starts_no_thread_and_imports_no_vendor_sdk() -> None:
    """`import agenttrace` starts no thread and imports neither openai nor anthropic."""
    code = (
        "import sys, threading; import agenttrace; "
        "print(threading.active_count(), 'openai' in sys.modules, 'anthropic' in sys.modules, "
        "'opentelemetry.sdk.trace' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "1 False False False"
