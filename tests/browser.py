"""Headless Chromium, for the HTML report's screenshot test and the docs' screenshot.

The browser is Debian's ``chromium`` package, never one Playwright downloads: CI installs it
with :func:`ensure_chromium` before the tests run. Standard library only at import, so the
noxfile can import this module from nox's own virtualenv (with ``tests`` on the path);
:func:`screenshot` imports Playwright when it is called.

Example:
    Render a report and keep its picture::

        chromium = ensure_chromium()
        problems = screenshot(Path("report.html"), Path("report.png"), chromium=chromium)
        assert not problems, problems
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
"""Where Debian's ``chromium`` package puts the browser."""

INSTALL = ("apt-get", "install", "-y", "--no-install-recommends", "chromium")
UPDATE = ("apt-get", "update")

REQUIRED_VARIABLE = "AGENTTRACE_BROWSER_REQUIRED"
"""Set to ``1`` (as CI does) to fail, not skip, the browser tests when Chromium is absent."""

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Chromium's launch flags: headless, and no connection of its own to anywhere."""

DRAW_TIMEOUT_MS = 30_000
"""How long the page may take to draw its charts (2 slow cores, 5 MB of plotly.js)."""

_APT_TIMEOUT = 900.0
_OUTPUT_TAIL = 2000

# Every chart of the page, how far it got: the container, plotly's SVG, and the marks drawn
# in the plot area (bar and line paths with a real outline; an empty bar is "M0,0Z").
_CHART_STATE = """() => Array.from(document.querySelectorAll("[data-chart]")).map((box) => ({
    id: box.id,
    plotly: box.classList.contains("js-plotly-plot"),
    svg: box.querySelectorAll("svg.main-svg").length,
    marks: Array.from(box.querySelectorAll(".cartesianlayer .trace path"))
        .filter((p) => (p.getAttribute("d") || "").length > 6).length,
}))"""

_SETTLED = """() => {
    const state = document.documentElement.dataset.charts;
    return state === "drawn" || state === "failed" || state === "none" || window.__uncaught;
}"""

# An uncaught error can stop the charts from ever being flagged: stop waiting at the first.
_WATCH_ERRORS = """window.addEventListener("error", () => { window.__uncaught = true; });
window.addEventListener("unhandledrejection", () => { window.__uncaught = true; });"""


class ChromiumUnavailableError(RuntimeError):
    """Chromium is not installed and could not be installed."""


@dataclass
class Chart:
    """One chart container of the page, as the browser drew it."""

    id: str
    plotly: bool
    """plotly.js took the container over."""
    svg: int
    """plotly's ``svg.main-svg`` layers in it."""
    marks: int
    """Bars and lines drawn in its plot area."""

    @property
    def drawn(self) -> bool:
        """The chart shows something: plotly drew its SVG and at least one mark."""
        return self.plotly and self.svg > 0 and self.marks > 0


@dataclass
class Rendering:
    """What happened when the browser opened a page."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    state: str | None = None
    """The page's ``data-charts`` flag: ``drawn``, ``failed``, ``none``; ``None`` if unset."""

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and charts left undrawn, one line each."""
        found = [f"console error: {text}" for text in self.console_errors]
        found += [f"page error: {text}" for text in self.page_errors]
        found += [f"chart not drawn: {chart}" for chart in self.charts if not chart.drawn]
        if self.state not in ("drawn", "none"):
            found.append(f"charts did not finish drawing (data-charts={self.state!r})")
        return found


def chromium_path() -> str | None:
    """The Chromium binary, if installed."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    return shutil.which("chromium")


def browser_required() -> bool:
    """Whether a missing Chromium fails the browser tests instead of skipping them."""
    return os.environ.get(REQUIRED_VARIABLE) == "1"


def _apt(command: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=environment,
        timeout=_APT_TIMEOUT,
        check=False,
    )


def ensure_chromium() -> str:
    """The path of Chromium, installing Debian's ``chromium`` package first when it is missing.

    Raises:
        ChromiumUnavailableError: Chromium is absent and apt-get cannot install it (no
            apt-get, not root, or the install failed); the message says why.
    """
    found = chromium_path()
    if found is not None:
        return found
    hint = f"install it with: {' '.join(INSTALL)}"
    if shutil.which("apt-get") is None:
        raise ChromiumUnavailableError(f"Chromium is not installed and there is no apt-get; {hint}")
    if os.geteuid() != 0:
        raise ChromiumUnavailableError(f"Chromium is not installed; as root, {hint}")
    result = _apt(INSTALL)
    if result.returncode != 0:
        # A fresh container has no package lists: "Unable to locate package chromium".
        update = _apt(UPDATE)
        if update.returncode != 0:
            raise ChromiumUnavailableError(
                f"{' '.join(UPDATE)} failed:\n{update.stderr[-_OUTPUT_TAIL:]}"
            )
        result = _apt(INSTALL)
    found = chromium_path()
    if result.returncode != 0 or found is None:
        raise ChromiumUnavailableError(
            f"{' '.join(INSTALL)} failed (exit status {result.returncode}):\n"
            f"{(result.stdout + result.stderr)[-_OUTPUT_TAIL:]}"
        )
    return found


def render(
    html_path: Path, png_path: Path, *, width: int = 1280, chromium: str | None = None
) -> Rendering:
    """Open ``html_path`` in headless Chromium, wait for its charts, save a full-page PNG.

    The page is opened from a ``file://`` URL with every network request refused, so a
    resource fetched from elsewhere shows up as a console error. A fresh, empty profile is
    used and removed afterwards.

    Args:
        html_path: The page.
        png_path: Where the screenshot goes.
        width: The viewport's width in CSS pixels.
        chromium: The browser; by default the installed Chromium.

    Raises:
        ChromiumUnavailableError: Chromium is not installed.
    """
    executable = chromium or chromium_path()
    if executable is None:
        raise ChromiumUnavailableError(f"Chromium is not installed; {' '.join(INSTALL)}")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _render(html_path, png_path, width, executable)
    # Playwright's sync API refuses to run inside an event loop: give it a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(_render, html_path, png_path, width, executable).result()


def _render(html_path: Path, png_path: Path, width: int, executable: str) -> Rendering:
    # Playwright is imported here: the noxfile imports this module without it.
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError  # noqa: PLC0415
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    rendering = Rendering()
    url = html_path.resolve().as_uri()
    with (
        tempfile.TemporaryDirectory(prefix="agenttrace-chromium-") as profile,
        sync_playwright() as p,
    ):
        # Playwright takes the profile directory as an argument of its own; it refuses it as
        # a --user-data-dir flag.
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=list(FLAGS),
            viewport={"width": width, "height": 900},
            offline=True,
        )
        try:
            page = context.new_page()
            page.add_init_script(_WATCH_ERRORS)
            page.on(
                "console",
                lambda message: (
                    rendering.console_errors.append(message.text)
                    if message.type == "error"
                    else None
                ),
            )
            page.on("pageerror", lambda error: rendering.page_errors.append(str(error)))
            # Anything but the page itself is a fetch the report must not make.
            page.route(
                "**/*",
                lambda route: route.continue_() if route.request.url == url else route.abort(),
            )
            page.goto(url, wait_until="load")
            try:
                page.wait_for_function(_SETTLED, timeout=DRAW_TIMEOUT_MS)
            except PlaywrightTimeoutError as error:
                rendering.page_errors.append(f"waiting for the charts: {error}")
            rendering.state = page.evaluate("() => document.documentElement.dataset.charts ?? null")
            rendering.charts = [Chart(**state) for state in page.evaluate(_CHART_STATE)]
            page.screenshot(path=str(png_path), full_page=True)
        finally:
            context.close()
    return rendering


def screenshot(
    html_path: Path, png_path: Path, width: int = 1280, *, chromium: str | None = None
) -> list[str]:
    """Save a full-page PNG of ``html_path``; return what went wrong (console errors…).

    The list is empty when the page loaded without a console error or an uncaught exception
    and every chart was drawn.
    """
    return render(html_path, png_path, width=width, chromium=chromium).problems()
