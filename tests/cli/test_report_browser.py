"""The report's HTML page in a real browser: Debian's chromium, headless, driven over the DevTools
protocol (its `--remote-debugging-port` and a WebSocket).

No console error, no request leaving the file, every chart drawn with a size, the figures on the
page equal to `--json`, and a screenshot kept in the test's tmp dir. Without chromium the test
skips, and fails instead when ATTSMS_TEST_REQUIRE_BROWSER=1 (CI, `.ci/run`): a browser that is
missing there must not pass unseen.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_report import expected_page_figures, sent_job  # noqa: F401  (a fixture)
from tests.helpers.support import Cli

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)


def _require_browser() -> None:
    why_not = None
    if not os.access(CHROMIUM, os.X_OK):
        why_not = f"{CHROMIUM} is not installed (Debian's chromium package)"
    else:
        try:
            import websocket  # noqa: F401
        except ImportError:
            why_not = "websocket-client is not installed (the test extras)"
    if why_not is None:
        return
    if os.environ.get("ATTSMS_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"a browser is required here (ATTSMS_TEST_REQUIRE_BROWSER=1): {why_not}")
    pytest.skip(why_not)


class DevTools:
    """One page target of a headless chromium, over the DevTools protocol."""

    def __init__(self, url: str) -> None:
        import websocket

        self._ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        self._ws.send(json.dumps({"id": self._next, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == self._next:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            assert time.monotonic() < deadline, f"no {event}"
            self._ws.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self._ws.recv()))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def close(self) -> None:
        self._ws.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[str]:
    """A headless chromium with its own profile dir; yields its DevTools WebSocket base URL."""
    _require_browser()
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        for line in proc.stderr:
            if match := re.search(r"DevTools listening on (ws://\S+)", line):
                yield match.group(1)
                break
            assert time.monotonic() < deadline, "chromium did not start"
        else:
            pytest.fail(f"chromium exited ({proc.wait()}) without a DevTools port")
    finally:
        proc.kill()
        proc.wait(timeout=30)


def _page_target(browser_url: str) -> str:
    import urllib.request

    port = re.search(r":(\d+)/", browser_url)
    assert port is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/json/list") as answer:
        targets = json.load(answer)
    return str(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))


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
    tools = DevTools(_page_target(browser))
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
    errors = [
        e["params"]
        for e in tools.events
        if (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
        or e.get("method") == "Runtime.exceptionThrown"
    ]
    assert errors == []
    assert figures == expected_page_figures(doc)
    assert figures["funnel.DeliveredToTerminal.count"] == "3"
    assert [c[0] for c in charts] == ["Funnel", "Time to delivery", "Timeline"]
    assert all(width > 0 and height > 0 for _, width, height in charts), charts


def test_a_missing_browser_fails_where_one_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.cli.test_report_browser as this

    monkeypatch.setattr(this, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("ATTSMS_TEST_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="ATTSMS_TEST_REQUIRE_BROWSER"):
        _require_browser()
    monkeypatch.delenv("ATTSMS_TEST_REQUIRE_BROWSER")
    with pytest.raises(pytest.skip.Exception):
        _require_browser()
