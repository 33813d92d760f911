"""Callbacks: the HTTP sandbox pushes delivery receipts and inbound messages, and retries.

A stdlib receiver on 127.0.0.1 records what arrives; it can be told to fail the first N posts.
Counts are checked on both sides: what the receiver got and the sandbox's /sandbox/stats.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from attsms.sandbox import SandboxConfig
from attsms.sandbox.callbacks import CallbackConfig, check_callback_url
from attsms.sandbox.server import SandboxServer
from tests.helpers.sandbox_harness import CREDENTIALS, TOKEN_PATH

TOKEN_FORM = {"grant_type": "client_credentials", "scope": "SMS", **CREDENTIALS}
FAST: dict[str, Any] = {"first_backoff": 0.02, "max_backoff": 0.1}


class Receiver:
    """Records JSON bodies POSTed to it; answers `fail_first` of them 500 first."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[tuple[str, Any]] = []
        self.fail_left = fail_first
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    failing = receiver.fail_left > 0
                    if failing:
                        receiver.fail_left -= 1
                    else:
                        receiver.bodies.append((self.path, json.loads(body)))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(fail_first: int = 0) -> Receiver:
        made.append(Receiver(fail_first))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _sandbox(**callbacks: Any) -> SandboxServer:
    config = SandboxConfig(delivery_seconds=0.05)
    return SandboxServer(config, callbacks=CallbackConfig(**FAST, **callbacks)).start()


def _send(server: SandboxServer, addresses: list[str], notify: bool) -> str:
    with httpx.Client(base_url=server.url) as client:
        token = client.post(TOKEN_PATH, data=TOKEN_FORM).json()["access_token"]
        request: dict[str, Any] = {"address": addresses, "message": "hi"}
        request["notifyDeliveryStatus"] = notify
        body = {"outboundSMSRequest": request}
        resp = client.post(
            "/sms/v3/messaging/outbox", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.status_code == 201, resp.text
        message_id: str = resp.json()["outboundSMSResponse"]["messageId"]
        return message_id


def _stats(server: SandboxServer) -> Any:
    return httpx.get(f"{server.url}/sandbox/stats").json()


def test_notify_sends_get_one_receipt_per_recipient_whose_status_changes(
    receiver: Callable[..., Receiver],
) -> None:
    r = receiver()
    with _sandbox(delivery_url=f"{r.url}/d") as server:
        quiet = _send(server, ["tel:+12125550100"], notify=False)
        loud = _send(server, ["tel:2125550100", "tel:+12125550900", "tel:+12125550700"], True)
        _until(lambda: _stats(server)["callbacks"]["delivery"]["acknowledged"] == 2)
        time.sleep(0.2)  # nothing more comes: not for the quiet send, not for 07xx
        assert sorted(r.bodies, key=lambda b: json.dumps(b)) == [
            (
                "/d",
                {
                    "deliveryInfoNotification": {
                        "messageId": loud,
                        "deliveryInfo": {"address": address, "deliveryStatus": status},
                    }
                },
            )
            for address, status in [
                ("tel:+12125550100", "DeliveredToTerminal"),
                ("tel:+12125550900", "DeliveryImpossible"),
            ]
        ]
        assert quiet not in json.dumps(r.bodies)
        stats = _stats(server)["callbacks"]
        assert stats["delivery"] == {
            "queued": 2,
            "sent": 2,
            "acknowledged": 2,
            "retried": 0,
            "abandoned": 0,
        }
        assert stats["pending"] == 0


def test_inbound_callback_pushes_instead_of_queueing(receiver: Callable[..., Receiver]) -> None:
    r = receiver()
    with _sandbox(inbound_url=f"{r.url}/in") as server:
        injected = {"from": "2125550100", "text": "hi", "count": 3}
        resp = httpx.post(f"{server.url}/sandbox/inbox/12345", json=injected)
        assert resp.json() == {"injected": 3, "pending": 0, "pushed": 3}
        _until(lambda: len(r.bodies) == 3)
        bodies = sorted((b for _, b in r.bodies), key=lambda b: b["Message"])
        assert [b["Message"] for b in bodies] == ["hi #1", "hi #2", "hi #3"]
        assert {b["SenderAddress"] for b in bodies} == {"tel:+12125550100"}
        assert {b["DestinationAddress"] for b in bodies} == {"12345"}
        assert all(b["MessageId"].startswith("MSG") and b["DateTime"] for b in bodies)
        # Nothing was left for a pull.
        with httpx.Client(base_url=server.url) as client:
            token = client.post(TOKEN_PATH, data=TOKEN_FORM).json()["access_token"]
            listing = client.get(
                "/sms/v3/messaging/inbox/12345", headers={"Authorization": f"Bearer {token}"}
            ).json()["inboundSMSMessageList"]
        assert listing["numberOfMessagesInThisBatch"] == 0
        assert _stats(server)["callbacks"]["inbound"]["acknowledged"] == 3


def test_failed_callbacks_are_retried_until_acknowledged(
    receiver: Callable[..., Receiver],
) -> None:
    r = receiver(fail_first=3)
    with _sandbox(inbound_url=f"{r.url}/in") as server:
        httpx.post(f"{server.url}/sandbox/inbox/12345", json={"from": "2125550100", "text": "x"})
        _until(lambda: len(r.bodies) == 1)
        stats = _stats(server)["callbacks"]["inbound"]
        assert stats == {"queued": 1, "sent": 4, "acknowledged": 1, "retried": 3, "abandoned": 0}


def test_a_receiver_that_is_down_is_retried_then_given_up_on() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with _sandbox(inbound_url=f"http://127.0.0.1:{port}/in", attempts=3) as server:
        httpx.post(f"{server.url}/sandbox/inbox/12345", json={"from": "2125550100", "text": "x"})
        _until(lambda: _stats(server)["callbacks"]["inbound"]["abandoned"] == 1)
        stats = _stats(server)["callbacks"]
        assert stats["inbound"] == {
            "queued": 1,
            "sent": 3,
            "acknowledged": 0,
            "retried": 2,
            "abandoned": 1,
        }
        assert stats["pending"] == 0


def test_a_sandbox_without_callbacks_reports_zero_callbacks() -> None:
    with SandboxServer(SandboxConfig()).start() as server:
        stats = _stats(server)["callbacks"]
        assert stats["pending"] == 0
        assert set(stats["delivery"].values()) == {0}


@pytest.mark.parametrize(
    "url",
    ["http://example.com/x", "http://10.0.0.1/x", "https://127.0.0.1/x", "ftp://127.0.0.1/", "x"],
)
def test_callback_urls_must_be_http_on_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="callback URL"):
        check_callback_url(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/a", "http://localhost/a", "http://[::1]:9/"])
def test_loopback_callback_urls_are_taken(url: str) -> None:
    check_callback_url(url)


def test_sandbox_serve_refuses_a_callback_to_another_machine_in_one_line() -> None:
    import subprocess
    import sys

    serve = [sys.executable, "-m", "attsms", "sandbox", "serve", "--port", "0"]
    done = subprocess.run(
        [*serve, "--delivery-callback", "http://example.com/notify/x/delivery"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("attsms: error: callback URL 'http://example.com/")
    assert "loopback" in done.stderr and done.stderr.count("\n") == 1
