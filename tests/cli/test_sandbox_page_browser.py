"""The sandbox's page in a real browser (headless chromium, tests/helpers/browser.py), against
`sandbox serve`'s HTTP server, with attsms commands run against that server.

Sends show in each phone's thread within 2 s with their segments; "Stop." replied as a phone is
pulled and skips the number on the next send; a phone set to DeliveryImpossible makes
`send --wait` exit 4; hostile texts show as text; a page of another origin changes nothing; no
console error; screenshots (wide and phone-sized) kept in the test's tmp dir.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import browser
from tests.helpers.browser import DevTools, launch, page_target
from tests.helpers.support import Cli, SandboxHttp

NUMBERS = ("+15555550100", "+15555550101", "+15555550102")
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
Server = Callable[..., SandboxHttp]
UNNAMED_CONTROLS = """[...document.querySelectorAll('input, select, textarea, button')]
    .filter(e => !e.hidden && !e.closest('[hidden]'))
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
        && !e.textContent.trim())
    .map(e => e.outerHTML)"""
SENT_TEXTS = "[...document.querySelectorAll('#events .sent .text')].map(e => e.textContent)"


@pytest.fixture
def tools(tmp_path: Path) -> Iterator[DevTools]:
    """A page of a fresh headless chromium, with its events recorded."""
    with launch(tmp_path) as browser_url:
        devtools = DevTools(page_target(browser_url))
        try:
            for domain in ("Page", "Runtime", "Log"):
                devtools.call(f"{domain}.enable")
            yield devtools
        finally:
            devtools.close()


def _open(tools: DevTools, url: str) -> None:
    tools.call("Page.navigate", url=url)
    tools.wait_for("Page.loadEventFired")
    tools.wait_until("document.getElementById('live').textContent.startsWith('Live')")


def _js(value: str) -> str:
    return json.dumps(value)


def _open_phone(tools: DevTools, number: str) -> None:
    button = f"document.querySelector('#phone-list button[data-address={_js('tel:' + number)}]')"
    tools.wait_until(f"{button} !== null", timeout=2)
    tools.evaluate(f"{button}.click()")
    tools.wait_until(f"document.getElementById('thread-title').textContent === {_js(number)}")


def _texts(tools: DevTools) -> list[str]:
    value: list[str] = tools.evaluate(
        "[...document.querySelectorAll('#events .text')].map(e => e.textContent)"
    )
    return value


def _shot(tools: DevTools, path: Path) -> None:
    shot = tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 5000


def test_threads_replies_and_outcomes_in_a_real_browser(
    cli: Cli,
    sandbox_http: Server,
    use_server: Callable[[SandboxHttp], SandboxHttp],
    tools: DevTools,
    tmp_path: Path,
) -> None:
    server = use_server(sandbox_http(delivery_seconds=0.3))
    _open(tools, server.url + "/")
    texts = {n: f"Hello {n[-4:]}, your code is 4242" for n in NUMBERS}
    texts[NUMBERS[2]] = "Long: " + "ab" * 80  # 166 septets: 2 segments
    for number in NUMBERS:
        assert cli("send", number, "-m", texts[number]).exit_code == 0
        sent = time.monotonic()
        _open_phone(tools, number)
        tools.wait_until(
            f"document.querySelector('#events .text')?.textContent === {_js(texts[number])}",
            timeout=2,
        )
        assert time.monotonic() - sent < 2
        meta = tools.evaluate("document.querySelector('#events .meta').textContent")
        segments = "2 segments" if number == NUMBERS[2] else "1 segment"
        assert f"GSM-7, {segments}" in meta, meta
        tools.wait_until(
            "document.querySelector('#events .meta').textContent.includes('DeliveredToTerminal at')"
        )

    # A hostile text, received and sent, shows as text and runs nothing.
    alice, bob, carol = NUMBERS
    assert cli("send", carol, "-m", HOSTILE).exit_code == 0
    tools.wait_until(
        f"document.querySelectorAll('#events .text')[1]?.textContent === {_js(HOSTILE)}"
    )

    # Reply as the phone: the label names it; "Stop." reaches the inbox as a POST would.
    _open_phone(tools, alice)
    label = tools.evaluate("document.querySelector('label[for=reply-text]').textContent")
    assert label == f"Reply as {alice}"
    tools.evaluate("document.getElementById('reply-text').value = 'Stop.'")
    tools.evaluate("document.querySelector('#reply button[type=submit]').click()")
    tools.wait_until(f"{SENT_TEXTS}.pop() === {_js('Stop.')}")
    tools.evaluate(f"document.getElementById('reply-text').value = {_js(HOSTILE)}")
    tools.evaluate("document.getElementById('reply').requestSubmit()")
    tools.wait_until(f"{SENT_TEXTS}.includes({_js(HOSTILE)})")
    assert tools.evaluate("window.pwned === undefined && !document.querySelector('#events img')")

    pulled = cli("inbox", "pull", "12345", "--jsonl")
    assert pulled.exit_code == 0, pulled.stderr
    assert [json.loads(line)["text"] for line in pulled.lines] == ["Stop.", HOSTILE]
    skipped = cli("send", alice, bob, "-m", "Second round", "--json")
    assert skipped.exit_code == 0, skipped.stderr
    results = {r["to"]: r["result"] for r in skipped.json()["messages"]}
    assert results == {alice: "opted-out", bob: "accepted"}

    # Make it fail: bob's next deliveries are impossible; `send --wait` exits 4.
    _open_phone(tools, bob)
    tools.evaluate(
        "document.querySelector('input[name=outcome][value=DeliveryImpossible]').click()"
    )
    tools.wait_until("document.getElementById('live').textContent.includes('DeliveryImpossible')")
    assert server.admin("GET", f"/sandbox/phones/{bob}")["outcome"] == "DeliveryImpossible"
    failed = cli("send", bob, "-m", "This one fails", "--wait")
    assert failed.exit_code == 4, (failed.stdout, failed.stderr)
    tools.wait_until(
        "[...document.querySelectorAll('#events .received .meta')].pop()"
        ".textContent.includes('DeliveryImpossible at')"
    )

    # Faults: armed from the page, listed, cleared.
    tools.evaluate("document.getElementById('fault-kind').value = 'drop'")
    tools.evaluate("document.querySelector('#fault-form button[type=submit]').click()")
    tools.wait_until("document.getElementById('armed').textContent.includes('dropped connection')")
    assert server.admin("GET", "/sandbox/faults")["rules"][0]["drop_connection"] is True
    tools.evaluate("document.getElementById('clear-faults').click()")
    tools.wait_until("document.getElementById('armed').textContent === 'None.'")

    # The filter by number finds one phone among them.
    tools.evaluate(
        "const f = document.getElementById('filter'); f.value = '555-0102';"
        "f.dispatchEvent(new Event('input'))"
    )
    tools.wait_until("document.querySelectorAll('#phone-list li').length === 1")

    # Every control has a name a screen reader says, and the keyboard reaches the phones.
    unnamed = tools.evaluate(UNNAMED_CONTROLS)
    assert unnamed == []
    tools.evaluate("document.querySelector('#phone-list button').focus()")
    assert tools.evaluate("document.activeElement.dataset.address") == f"tel:{carol}"
    _shot(tools, tmp_path / "sandbox-page.png")
    tools.call(
        "Emulation.setDeviceMetricsOverride",
        width=390,
        height=844,
        deviceScaleFactor=1,
        mobile=True,
    )
    tools.wait_until("document.documentElement.clientWidth === 390")
    assert tools.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sideways
    _shot(tools, tmp_path / "sandbox-page-phone.png")
    assert tools.console_errors() == []


def test_a_page_of_another_origin_changes_nothing(
    cli: Cli,
    sandbox_http: Server,
    use_server: Callable[[SandboxHttp], SandboxHttp],
    tools: DevTools,
) -> None:
    target = use_server(sandbox_http())
    assert cli("send", NUMBERS[0], "-m", "kept").exit_code == 0
    before = target.admin("GET", "/sandbox/phones")
    with _hostile_site() as hostile:  # another port: another origin, as any web page would be
        tools.call("Page.navigate", url=hostile)
        tools.wait_for("Page.loadEventFired")
        _attempt_writes(tools, target)
    after = target.admin("GET", "/sandbox/phones")
    assert after == before
    assert target.admin("GET", "/sandbox/outbox")["total"] == 1
    assert target.admin("GET", "/sandbox/faults")["rules"] == []
    assert target.admin("GET", "/sandbox/stats")["attempts"]["inbox"] == 0


@contextmanager
def _hostile_site() -> Iterator[str]:
    """A plain web page on a port of its own, without the sandbox's Content-Security-Policy."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>elsewhere</title><p>another site"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _attempt_writes(tools: DevTools, target: SandboxHttp) -> None:
    attempts = [
        ("/sandbox/inbox/12345", {"from": NUMBERS[0], "text": "STOP"}),
        ("/sandbox/reset", {}),
        (f"/sandbox/phones/tel:{NUMBERS[0]}/outcome", {"outcome": "DeliveryImpossible"}),
        ("/sandbox/faults", {"rules": [{"count": 5}]}),
    ]
    for path, body in attempts:
        # no-cors, text/plain: the "simple" request any page may send without asking first.
        init = f"{{method: 'POST', mode: 'no-cors', body: {_js(json.dumps(body))}}}"
        sent = tools.evaluate(f"fetch({_js(target.url + path)}, {init}).then(() => 1, String)")
        assert sent == 1  # it went out (and came back opaque): the sandbox itself refused it


def test_a_missing_browser_fails_where_one_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("ATTSMS_TEST_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="ATTSMS_TEST_REQUIRE_BROWSER"):
        browser.require_browser()
    monkeypatch.delenv("ATTSMS_TEST_REQUIRE_BROWSER")
    with pytest.raises(pytest.skip.Exception):
        browser.require_browser()
