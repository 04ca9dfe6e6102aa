"""The project's two entry points, each setting up its own virtualenv.

nox -s demo    run examples/quickstart.py
nox -s test    lint, type check, docs build and the whole test suite
"""

from __future__ import annotations

import tempfile

import nox

nox.options.sessions = ["test"]
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True


@nox.session
def demo(session: nox.Session) -> None:
    """Install agenttrace with the examples' extras and run the quickstart."""
    session.install("-e", ".[examples]")
    session.run("python", "examples/quickstart.py")


@nox.session
def test(session: nox.Session) -> None:
    """Lint, type-check, build the docs, run the tests (extra pytest arguments pass through)."""
    session.install("-e", ".[test,lint,docs]")
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
    session.run("pytest", *session.posargs)
