"""The project's two entry points, each setting up its own virtualenv.

nox -s demo    run examples/quickstart.py, then examples/support_agent.py
nox -s test    lint, type check, docs build and the whole test suite, the end-to-end
               tests against Arize Phoenix and the Rotel collector included (each installed
               in its own virtualenv under .nox/, started on 127.0.0.1, stopped afterwards;
               AGENTTRACE_E2E=0 skips them) and the HTML report's test in headless Chromium
               (Debian's package, installed with apt-get when missing), then the examples'
               failure-mode coverage, which must be 100 %
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).parent / "tests"))
import browser  # tests/browser.py: standard library only at import, so it runs under nox too
import phoenix  # tests/e2e/phoenix.py: idem
import rotel  # tests/e2e/rotel.py: idem

nox.options.sessions = ["test"]
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True


@nox.session
def demo(session: nox.Session) -> None:
    """Install agenttrace with the examples' extras; run the quickstart, then the support agent."""
    session.install("-e", ".[examples]")
    session.run("python", "examples/quickstart.py")
    session.run("python", "examples/support_agent.py")


@nox.session
def test(session: nox.Session) -> None:
    """Lint, type-check, build the docs, run the tests (extra pytest arguments pass through)."""
    session.install("-e", ".[test,lint,docs,grpc]")
    _install_chromium(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    with tempfile.TemporaryDirectory() as site:
        session.run(
            "mkdocs",
            "build",
            "--strict",
            "--quiet",
            "--site-dir",
            site,
            env={"NO_MKDOCS_2_WARNING": "1"},
        )
    if os.environ.get("AGENTTRACE_E2E") == "0":
        session.run("pytest", *session.posargs)
    else:
        _tests_with_backends(session)
    # Failure-mode coverage of the examples: every mode they declare, fired and handled.
    session.run(
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/test_example_failure_modes.py",
        "--agenttrace-cov=examples",
        "--agenttrace-fail-under=100",
    )


def _install_chromium(session: nox.Session) -> None:
    """Debian's Chromium for the HTML report's browser test, when it is not there yet."""
    try:
        session.log(f"chromium: {browser.ensure_chromium()}")
    except browser.ChromiumUnavailableError as exc:
        if browser.browser_required():
            session.error(str(exc))
        session.warn(f"{exc}; the browser tests will be skipped")


def _tests_with_backends(session: nox.Session) -> None:
    """The whole suite, with Phoenix and Rotel running for the end-to-end tests."""
    venvs = Path(__file__).parent / ".nox"
    phoenix_venv = venvs / f"phoenix-{phoenix.VERSION}"
    rotel_venv = venvs / f"rotel-{rotel.VERSION}"
    phoenix.ensure_installed(phoenix_venv)
    rotel.ensure_installed(rotel_venv)
    with (
        tempfile.TemporaryDirectory() as work,
        phoenix.running(phoenix_venv, Path(work)) as server,
        rotel.running(rotel_venv, Path(work)) as collector,
    ):
        environment = {**server.environment(), **collector.environment()}
        session.run("pytest", *session.posargs, env=environment)
