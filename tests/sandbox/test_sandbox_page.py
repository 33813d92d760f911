"""The page's JSON and files (attsms/sandbox/pageapi.py): phones by recency, threads with the
sandbox's own segment count, a phone's next delivery outcome, and cross-origin writes refused.
The page itself in a real browser: tests/cli/test_sandbox_page_browser.py."""

from __future__ import annotations

import random
import re
import time
from importlib import resources

import pytest

from attsms.sandbox import SandboxConfig
from attsms.sandbox.core import Sandbox
from attsms.sandbox.phones import MAX_EVENTS, PhoneBook
from attsms.sandbox.segments import billing
from tests.helpers.sandbox_harness import (
    FakeClock,
    Harness,
    core_request,
    core_send,
    core_token,
    error_of,
)

A, B, C = "tel:+15555550100", "tel:+15555550101", "tel:+15555550102"


def _set_outcome(sb: Harness, number: str, outcome: str | None) -> None:
    answer = sb.client.post(f"/sandbox/phones/{number}/outcome", json={"outcome": outcome})
    assert answer.status_code == 200, answer.text


def test_a_phones_outcome_overrides_its_digits_until_cleared(sb: Harness) -> None:
    _set_outcome(sb, "+15555550100", "DeliveryImpossible")
    _set_outcome(sb, "+15555550901", "DeliveredToTerminal")  # 09xx: impossible by its digits
    _set_outcome(sb, "+15555550102", "MessageWaiting")
    first = sb.send_ok([A, "tel:+15555550901", C, B])
    sb.clock.advance(3)
    assert sb.statuses(first) == {
        A: "DeliveryImpossible",
        "tel:+15555550901": "DeliveredToTerminal",
        C: "MessageWaiting",
        B: "DeliveredToTerminal",
    }
    _set_outcome(sb, "tel:+15555550100", None)
    second = sb.send_ok(A)
    sb.clock.advance(3)
    assert sb.statuses(second) == {A: "DeliveredToTerminal"}
    assert sb.statuses(first)[A] == "DeliveryImpossible"  # chosen when it was sent


def test_an_outcome_must_be_one_the_page_offers(sb: Harness) -> None:
    answer = sb.client.post(f"/sandbox/phones/{A}/outcome", json={"outcome": "Lost"})
    assert error_of(answer)[1] == "SVC0002"
    answer = sb.client.post("/sandbox/phones/12/outcome", json={"outcome": None})
    assert answer.status_code == 400


def test_phones_newest_first_paged_and_filtered() -> None:
    sandbox = Sandbox(SandboxConfig(), clock=FakeClock())
    token = core_token(sandbox)
    for address in (A, B, C):
        assert core_send(sandbox, token, address, "hi").status == 201
    core_request(sandbox, "POST", "/sandbox/inbox/12345", json={"from": A, "text": "yo"})
    listing = core_request(sandbox, "GET", "/sandbox/phones?limit=2").json()
    assert [p["address"] for p in listing["phones"]] == [A, C]
    assert listing["total"] == 3
    assert listing["phones"][0] | {"lastActivity": ""} == {
        "address": A,
        "number": "+15555550100",
        "lastActivity": "",
        "received": 1,
        "sent": 1,
        "outcome": None,
    }
    rest = core_request(sandbox, "GET", "/sandbox/phones?limit=2&offset=2").json()
    assert [p["address"] for p in rest["phones"]] == [B]
    only = core_request(sandbox, "GET", "/sandbox/phones?q=%2B1%20555-555-0101").json()
    assert ([p["address"] for p in only["phones"]], only["total"]) == ([B], 1)
    assert core_request(sandbox, "GET", "/sandbox/phones?limit=1000").status == 400


def test_a_thread_in_time_order_with_segments_status_and_when() -> None:
    clock = FakeClock()
    sandbox = Sandbox(SandboxConfig(delivery_seconds=2), clock=clock)
    token = core_token(sandbox)
    long_text = "€" + "x" * 200  # GSM-7 with one escape: 202 septets, 2 segments
    core_send(sandbox, token, A, long_text)
    core_request(sandbox, "POST", "/sandbox/inbox/12345", json={"from": A, "text": "Stop."})
    core_send(sandbox, token, [A, "tel:+15555550700"], "привет")
    before = core_request(sandbox, "GET", f"/sandbox/phones/{A}").json()
    assert [(e["kind"], e["text"]) for e in before["events"]] == [
        ("received", long_text),
        ("sent", "Stop."),
        ("received", "привет"),
    ]
    first, sent, last = before["events"]
    assert (first["encoding"], first["segments"], first["units"]) == ("GSM-7", 2, 202)
    assert (last["encoding"], last["segments"]) == ("UCS-2", 1)
    assert (first["status"], first["final"], first["statusAt"]) == ("MessageWaiting", False, None)
    assert first["finalStatus"] == "DeliveredToTerminal" and first["finalAt"]
    assert sent["to"] == "12345"
    assert before["refreshInMs"] == 2000
    clock.advance(2)
    after = core_request(sandbox, "GET", f"/sandbox/phones/{A}").json()
    assert after["events"][0]["status"] == "DeliveredToTerminal"
    assert after["events"][0]["statusAt"] == first["finalAt"]
    assert after["refreshInMs"] is None
    waiting = core_request(sandbox, "GET", "/sandbox/phones/+15555550700").json()
    assert waiting["events"][0]["finalAt"] is None  # 07xx: never final
    empty = core_request(sandbox, "GET", "/sandbox/phones/5555550199").json()
    assert (empty["address"], empty["events"]) == ("tel:+15555550199", [])


def test_every_change_moves_the_version_the_page_polls() -> None:
    sandbox = Sandbox(SandboxConfig(), clock=FakeClock())

    def version() -> int:
        value: int = core_request(sandbox, "GET", "/sandbox/changes").json()["version"]
        return value

    seen = [version()]
    core_send(sandbox, core_token(sandbox), A, "hi")
    seen.append(version())
    core_request(sandbox, "POST", "/sandbox/faults", json={"rules": [{"count": 2}]})
    seen.append(version())
    assert core_request(sandbox, "GET", "/sandbox/faults").json()["rules"][0]["count"] == 2
    core_request(sandbox, "POST", f"/sandbox/phones/{A}/outcome", json={"outcome": None})
    seen.append(version())
    core_request(sandbox, "POST", "/sandbox/reset")
    seen.append(version())
    assert seen == sorted(set(seen))
    assert core_request(sandbox, "GET", "/sandbox/phones").json()["phones"] == []


def test_a_page_of_100000_phones_costs_its_own_size() -> None:
    sandbox = Sandbox(SandboxConfig(), clock=FakeClock())
    numbers = [f"tel:+1555{n:07d}" for n in range(100_000)]
    random.Random(1).shuffle(numbers)
    for n, address in enumerate(numbers):
        sandbox.phones.received(address, f"SMS{n}", "hi", float(n), "DeliveredToTerminal")
    started = time.perf_counter()
    page = core_request(sandbox, "GET", "/sandbox/phones?offset=50&limit=50").json()
    first_page = time.perf_counter() - started
    assert [p["address"] for p in page["phones"]] == numbers[-51:-101:-1]
    assert page["total"] == 100_000
    started = time.perf_counter()
    found = core_request(sandbox, "GET", "/sandbox/phones?q=5550000123").json()
    filtered = time.perf_counter() - started
    assert [p["address"] for p in found["phones"]] == ["tel:+15550000123"]
    # Generous bounds for a busy shared box: a walk of 100,000 in Python takes ~10 ms.
    assert first_page < 0.2, first_page
    assert filtered < 1.0, filtered


ORIGIN = "http://127.0.0.1:8765"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example", "Host": "127.0.0.1:8765"},
        {"Origin": "http://127.0.0.1:9999", "Host": "127.0.0.1:8765"},
        {"Origin": "null", "Host": "127.0.0.1:8765"},
        {"Sec-Fetch-Site": "cross-site", "Host": "127.0.0.1:8765"},
        {"Sec-Fetch-Site": "same-site", "Origin": ORIGIN, "Host": "127.0.0.1:8765"},
        # DNS rebinding: a hostile name pointed at 127.0.0.1 is its own origin, and refused.
        {"Origin": "http://rebound.example:8765", "Host": "rebound.example:8765"},
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/sandbox/reset"),
        ("POST", "/sandbox/inbox/12345"),
        ("POST", "/sandbox/faults"),
        ("DELETE", "/sandbox/faults"),
        ("POST", f"/sandbox/phones/{A}/outcome"),
    ],
)
def test_a_write_from_another_origin_is_refused_and_changes_nothing(
    headers: dict[str, str], method: str, path: str
) -> None:
    sandbox = Sandbox(SandboxConfig(), clock=FakeClock())
    core_send(sandbox, core_token(sandbox), A, "kept")
    core_request(sandbox, "POST", "/sandbox/faults", json={"rules": [{"count": 3}]})
    before = [core_request(sandbox, "GET", p).body for p in ("/sandbox/phones", "/sandbox/faults")]
    body = b'{"from": "+15555550100", "text": "STOP", "rules": [{}], "outcome": null}'
    answer = sandbox.handle(method, path, headers, body)
    assert answer.status == 403
    assert answer.json()["RequestError"]["PolicyException"]["MessageId"] == "POL0010"
    after = [core_request(sandbox, "GET", p).body for p in ("/sandbox/phones", "/sandbox/faults")]
    assert after == before
    assert core_request(sandbox, "GET", "/sandbox/outbox").json()["total"] == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, httpx, attsms: no Origin
        {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin", "Host": "127.0.0.1:8765"},
        {"Origin": "http://localhost:8765", "Host": "localhost:8765"},
        {"Origin": "http://[::1]:8765", "Host": "[::1]:8765"},
    ],
)
def test_the_pages_own_writes_and_tools_without_an_origin_pass(headers: dict[str, str]) -> None:
    sandbox = Sandbox(SandboxConfig(), clock=FakeClock())
    answer = sandbox.handle("POST", "/sandbox/reset", headers, b"")
    assert answer.status == 200, answer.body


def test_the_page_and_its_files_run_only_their_own_script() -> None:
    sandbox = Sandbox(SandboxConfig())
    page = sandbox.handle("GET", "/", {}, b"")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    html = page.body.decode()
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/sandbox/page/app.js" defer>']
    assert "http" not in re.sub(r'content="[^"]*"', "", html).replace("http-equiv", "")
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        answer = sandbox.handle("GET", f"/sandbox/page/{name}", {}, b"")
        assert (answer.status, answer.headers["Content-Type"]) == (200, f"{kind}; charset=utf-8")
    script = resources.files("attsms.sandbox").joinpath("page", "app.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert sandbox.handle("GET", "/sandbox/page/secret.py", {}, b"").status == 404


@pytest.mark.parametrize(
    "text",
    ["hi", "€" * 80, "x" * 161, "[" * 77 + "a", "é😀" * 40, "a" * 70 + "😀", "ü" * 160, "\n" * 153],
)
def test_segments_agree_with_the_clients_own_reading(text: str) -> None:
    # Two readings of the spec, written apart: the sandbox may not import the client's.
    from attsms.core.segments import analyze

    client = analyze(text)
    mine = billing(text)
    assert (mine.encoding, mine.units, mine.segments) == (
        client.encoding,
        client.units,
        client.segments,
    )


def test_the_pages_reply_is_pushed_and_an_outcome_is_what_the_receipt_says() -> None:
    import httpx

    from attsms.sandbox.callbacks import CallbackConfig
    from attsms.sandbox.server import SandboxServer
    from tests.sandbox.test_sandbox_callbacks import FAST, Receiver, _send, _until

    r = Receiver()
    callbacks = CallbackConfig(**FAST, inbound_url=f"{r.url}/in", delivery_url=f"{r.url}/d")
    config = SandboxConfig(delivery_seconds=0.05)
    try:
        with SandboxServer(config, callbacks=callbacks).start() as server:
            origin = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
            with httpx.Client(base_url=server.url, headers=origin) as page:
                outcome = {"outcome": "DeliveryImpossible"}
                assert page.post(f"/sandbox/phones/{A}/outcome", json=outcome).status_code == 200
                reply = page.post("/sandbox/inbox/12345", json={"from": A, "text": "Stop."})
                assert reply.json()["pushed"] == 1
                _send(server, [A], notify=True)
                _until(lambda: len(r.bodies) == 2)
                thread = page.get(f"/sandbox/phones/{A}").json()
            pushed = dict(r.bodies)
            assert pushed["/in"]["Message"] == "Stop."
            receipt = pushed["/d"]["deliveryInfoNotification"]["deliveryInfo"]
            assert receipt == {"address": A, "deliveryStatus": "DeliveryImpossible"}
            assert [e["kind"] for e in thread["events"]] == ["sent", "received"]
    finally:
        r.close()


def test_a_phone_keeps_its_newest_events_only() -> None:
    book = PhoneBook()
    for n in range(MAX_EVENTS + 3):
        book.received(A, f"SMS{n}", "hi", float(n), "DeliveredToTerminal")
    texted = {"messageId": "MSG1", "message": "yo", "dateTime": "t", "destinationAddress": "1"}
    book.sent(A, texted, 9e3)
    phone = book.phone(A)
    assert phone is not None
    assert (phone.received, phone.sent, len(phone.events)) == (MAX_EVENTS + 3, 1, MAX_EVENTS)
    ids = [event["messageId"] for event in phone.events]
    assert ids == [f"SMS{n}" for n in range(4, MAX_EVENTS + 3)] + ["MSG1"]
    assert book.version == MAX_EVENTS + 4  # one change a delivery or text in
