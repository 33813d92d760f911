"""A real browser for tests: Debian's chromium, headless, driven over the DevTools protocol (its
`--remote-debugging-port` and a WebSocket, websocket-client from the test extras).

    def test_page(chromium_url: str) -> None:       # or: with launch(tmp_path) as browser_url
        tools = DevTools(page_target(browser_url))
        tools.call("Page.navigate", url=...)

Without chromium (or websocket-client) `require_browser()` skips the test, and fails it instead
when ATTSMS_TEST_REQUIRE_BROWSER=1 (CI, `.ci/run`): a browser missing there must not pass unseen.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

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


def require_browser() -> None:
    """Skip the test without chromium and websocket-client; fail it where they are required."""
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


@contextmanager
def launch(scratch: Path, *extra_flags: str) -> Iterator[str]:
    """A headless chromium with its profile under `scratch`; yields its DevTools WebSocket URL."""
    require_browser()
    profile = scratch / "chromium-profile"
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, *extra_flags, f"--user-data-dir={profile}", "about:blank"],
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


def page_target(browser_url: str) -> str:
    """The WebSocket URL of the browser's (first) page."""
    port = re.search(r":(\d+)/", browser_url)
    assert port is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/json/list") as answer:
        targets = json.load(answer)
    return str(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))


class DevTools:
    """One page target of a headless chromium, over the DevTools protocol. Events that arrive
    while waiting for an answer are kept in `events`, in order."""

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
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = 10, every: float = 0.05) -> Any:
        """Poll a JavaScript expression until it is truthy; its value, or AssertionError."""
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression)):
            assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
            time.sleep(every)
        return value

    def console_errors(self) -> list[dict[str, Any]]:
        """Console errors, logged errors and uncaught exceptions seen so far (Runtime and Log
        enabled)."""
        return [
            e["params"]
            for e in self.events
            if (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
            or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
            or e.get("method") == "Runtime.exceptionThrown"
        ]

    def close(self) -> None:
        self._ws.close()
