"""The report's HTML page in a real browser: Debian's chromium, headless, driven over the DevTools
protocol (tests/helpers/browser.py).

No console error, no request leaving the file, every chart drawn with a size, the figures on the
page equal to `--json`, and a screenshot kept in the test's tmp dir. Without chromium the test
skips, and fails instead when ATTSMS_TEST_REQUIRE_BROWSER=1 (CI, `.ci/run`): a browser that is
missing there must not pass unseen.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_report import expected_page_figures, sent_job  # noqa: F401  (a fixture)
from tests.helpers.browser import DevTools, launch, page_target
from tests.helpers.support import Cli


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[str]:
    """A headless chromium with its own profile dir; yields its DevTools WebSocket base URL."""
    with launch(tmp_path) as url:
        yield url


_FIGURES = "Object.fromEntries([...document.querySelectorAll('[data-key]')]"
_FIGURES += ".map(e => [e.dataset.key, e.textContent]))"
_CHARTS = "[...document.querySelectorAll('svg.chart')].map(s => {"
_CHARTS += "const r = s.getBoundingClientRect(); return [s.getAttribute('aria-label'),"
_CHARTS += " r.width, r.height]; })"


def test_the_page_in_a_real_browser(
    cli: Cli,
    sent_job: str,  # noqa: F811
    browser: str,
    tmp_path: Path,
) -> None:
    page = tmp_path / "report.html"
    result = cli("report", "--key", "job1", "--html", str(page), "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    tools = DevTools(page_target(browser))
    try:
        for domain in ("Page", "Runtime", "Network", "Log"):
            tools.call(f"{domain}.enable")
        tools.call("Page.navigate", url=page.as_uri())
        tools.wait_for("Page.loadEventFired")
        figures = tools.evaluate(_FIGURES)
        charts = tools.evaluate(_CHARTS)
        shot = tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    finally:
        tools.close()
    (tmp_path / "report.png").write_bytes(base64.b64decode(shot["data"]))
    assert (tmp_path / "report.png").stat().st_size > 1000
    requests = [
        e["params"]["request"]["url"]
        for e in tools.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert requests == [page.as_uri()]  # the file itself, nothing else
    assert tools.console_errors() == []
    assert figures == expected_page_figures(doc)
    assert figures["funnel.DeliveredToTerminal.count"] == "3"
    assert [c[0] for c in charts] == ["Funnel", "Time to delivery", "Timeline"]
    assert all(width > 0 and height > 0 for _, width, height in charts), charts
