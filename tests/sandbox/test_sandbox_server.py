"""The HTTP server: concurrency, keep-alive, quiet logs, chunked bodies, run() and Ctrl-C."""

from __future__ import annotations

import http.client
import io
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from attsms.sandbox import SandboxConfig
from attsms.sandbox.server import SandboxServer
from tests.helpers.sandbox_harness import CREDENTIALS, TOKEN_PATH

TOKEN_FORM = {"grant_type": "client_credentials", "scope": "SMS", **CREDENTIALS}


def test_slow_answers_overlap_instead_of_queueing() -> None:
    # A property check, not a benchmark: 16 answers of 50 ms each in well under 16 x 50 ms.
    limits = httpx.Limits(max_connections=32)
    with (
        SandboxServer(SandboxConfig(latency_ms=50)).start() as server,
        httpx.Client(base_url=server.url, limits=limits, verify=False) as client,  # noqa: S501
    ):
        barrier = threading.Barrier(16)

        def one(_: int) -> int:
            barrier.wait()
            return client.post(TOKEN_PATH, data=TOKEN_FORM).status_code

        started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(one, range(16)))
        elapsed = time.perf_counter() - started
    assert statuses == [200] * 16
    assert 0.05 <= elapsed < 0.4


def test_connections_are_kept_alive() -> None:
    with SandboxServer().start() as server:
        host, port = server.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            conn.request("GET", "/sandbox/stats")
            first = conn.getresponse()
            assert first.version == 11
            json.loads(first.read())
            sock = conn.sock
            conn.request("GET", "/nowhere")
            second = conn.getresponse()
            assert second.status == 404
            json.loads(second.read())
            assert conn.sock is sock  # the same socket: no reconnect happened
        finally:
            conn.close()


def test_requests_are_not_logged_unless_asked(capfd: pytest.CaptureFixture[str]) -> None:
    with SandboxServer().start() as server, httpx.Client(base_url=server.url) as client:
        client.get("/sandbox/stats")
        client.get("/nowhere")
        client.post(TOKEN_PATH, data={**TOKEN_FORM, "client_secret": "wrong"})
    assert capfd.readouterr() == ("", "")
    log = io.StringIO()
    with SandboxServer(log=log).start() as server:
        httpx.get(f"{server.url}/sandbox/stats")
    assert '"GET /sandbox/stats HTTP/1.1" 200' in log.getvalue()


def test_chunked_request_bodies_are_read() -> None:
    def chunks() -> object:
        yield b'{"from": "+15555550100",'
        yield b' "text": "chunked"}'

    with SandboxServer().start() as server:
        resp = httpx.post(f"{server.url}/sandbox/inbox/12345", content=chunks())  # type: ignore[arg-type]
        assert resp.request.headers["Transfer-Encoding"] == "chunked"
        assert resp.json() == {"injected": 1, "pending": 1}


def test_stop_is_idempotent_and_the_port_is_freed() -> None:
    server = SandboxServer().start()
    url = server.url
    assert url.startswith("http://127.0.0.1:")
    server.stop()
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/sandbox/stats")


RUN = (
    "from attsms.sandbox import SandboxConfig; from attsms.sandbox.server import run; "
    "run(SandboxConfig(client_id='me', client_secret='s3cret'), '127.0.0.1', 0)"
)


def test_run_prints_where_and_how_then_stops_cleanly_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = first.split()[-1]
        assert url.startswith("http://127.0.0.1:")
        banner = first + "".join(proc.stdout.readline() for _ in range(4))
        assert "me" in banner
        assert "s3cret" in banner
        assert "12345" in banner
        form = {**TOKEN_FORM, "client_id": "me", "client_secret": "s3cret"}
        assert httpx.post(f"{url}{TOKEN_PATH}", data=form).status_code == 200
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert stderr == ""


@pytest.mark.parametrize(
    "head",
    [
        b"POST /sandbox/reset HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /sandbox/reset HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
        b"POST /sandbox/reset HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n",
        b"POST /sandbox/reset HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_request_bodies_get_a_spec_shaped_400(head: bytes) -> None:
    with SandboxServer().start() as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(head)
            answer = sock.makefile("rb").read()  # the server closes after answering
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request"
    body = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert body["RequestError"]["ServiceException"]["Variables"] == "body"


def test_an_upgrade_request_is_answered_and_its_connection_closed() -> None:
    # Nothing is upgraded here; an answer and a close, never a connection left hanging with
    # whatever came after the Upgrade request unread.
    head = (
        b"GET /sandbox/stats HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"\r\nGET /sandbox/stats HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with SandboxServer().start() as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(head)
            answer = sock.makefile("rb").read()  # to the close: a timeout here fails the test
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.count(b"HTTP/1.1 ") == 1
