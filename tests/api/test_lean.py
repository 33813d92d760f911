"""The lean status GET and send POST (`attsms.api.lean`) against the httpx path, over real HTTP.

Every status GET and send of a client with no transport of its own goes the lean way; a client
given httpx's own transport goes through httpx. Under each fault the sandbox can make, both give
the same typed answer or the same error (type, message, status), after the same number of
requests, and a send reaches its recipients as often either way (never twice).
A raw socket server covers the framings the sandbox does not send: chunks, an answer up to the
close, a keep-alive connection closed while idle, an answer that never comes.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from attsms.api.client import AttClient, RetryPolicy
from attsms.core.errors import ApiError, AttsmsError, NetworkError, UnknownOutcomeError
from attsms.core.models import DeliveryStatus
from tests.helpers.support import SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
OUTBOX = "/sms/v3/messaging/outbox"
RETRY = RetryPolicy(attempts=2, base_delay=0, max_delay=0)


class _Tokens:
    def __init__(self, token: str) -> None:
        self.token = token

    def access_token(self, *, stale: str | None = None) -> str:
        return self.token


def _clients(server: SandboxHttp, **options: Any) -> tuple[AttClient, AttClient]:
    """(lean, httpx) clients of `server`, with a token of the sandbox."""
    with AttClient(server.url) as plain:
        token = plain.fetch_token(server.config.client_id, server.config.client_secret)
    tokens = _Tokens(token.access_token)
    lean = AttClient(server.url, tokens=tokens, retry=RETRY, **options)
    full = AttClient(
        server.url, tokens=tokens, retry=RETRY, transport=httpx.HTTPTransport(), **options
    )
    assert lean._lean is not None and full._lean is None
    return lean, full


def _sent(server: SandboxHttp, client: AttClient) -> str:
    return client.send(["tel:+12125550100", "tel:+12125550901"], "hi").message_id


def _outcome(client: AttClient, message_id: str) -> DeliveryStatus | tuple[type, str, Any]:
    try:
        return client.delivery_status(message_id)
    except AttsmsError as error:
        return type(error), error.message, getattr(error, "status", None)


def _attempts(server: SandboxHttp) -> int:
    return int(server.stats()["attempts"].get("status", 0))


FAULTS: dict[str, list[dict[str, Any]]] = {
    "ok": [],
    "500 once": [{"status": 500, "count": 1}],
    "500 every try": [{"status": 500, "count": 9}],
    "502 html": [
        {"status": 502, "count": 9, "body": "<html>bad</html>", "content_type": "text/html"}
    ],
    "429": [{"status": 429, "count": 9, "headers": {"Retry-After": "0"}}],
    "429 once": [{"status": 429, "count": 1, "headers": {"Retry-After": "0"}}],
    "garbage json": [{"status": 200, "count": 1, "body": '{"deliveryInfoList": {"deli'}],
    "empty body": [{"status": 200, "count": 1, "body": ""}],
    "wrong shape": [{"status": 200, "count": 1, "body": '{"x": 1}'}],
    "dropped": [{"drop_connection": True, "count": 9}],
    "dropped once": [{"drop_connection": True, "count": 1}],
    "404": [{"status": 404, "count": 1}],
}


@pytest.mark.parametrize("fault", FAULTS)
def test_the_lean_path_answers_as_httpx_does(sandbox_http: StartSandbox, fault: str) -> None:
    server = sandbox_http(delivery_seconds=0)
    lean, full = _clients(server)
    with lean, full:
        message_id = _sent(server, full)
        seen = []
        for client in (lean, full):
            before = _attempts(server)
            rules = [{"method": "GET", "path_prefix": OUTBOX, **rule} for rule in FAULTS[fault]]
            if rules:
                server.faults(*rules)
            seen.append((_outcome(client, message_id), _attempts(server) - before))
            server.faults()  # what is left of a rule does not reach the next client
        assert seen[0] == seen[1]
        if fault == "ok":
            answer = seen[0][0]
            assert isinstance(answer, DeliveryStatus)
            assert [d.address for d in answer.deliveries] == [
                "tel:+12125550100",
                "tel:+12125550901",
            ]


def test_a_timeout_is_a_network_error_asked_again(sandbox_http: StartSandbox) -> None:
    server = sandbox_http(delivery_seconds=0)
    lean, full = _clients(server, timeout=0.3)
    with lean, full:
        message_id = _sent(server, full)
        seen = []
        for client in (lean, full):
            server.faults({"method": "GET", "path_prefix": OUTBOX, "delay_ms": 1500, "count": 9})
            before = _attempts(server)
            with pytest.raises(NetworkError) as caught:
                client.delivery_status(message_id)
            seen.append((caught.value.message.split(" (")[0], _attempts(server) - before))
            server.faults()
        assert seen[0] == seen[1]
        assert "no answer from" in seen[0][0]


def test_connections_are_kept_and_used_again(sandbox_http: StartSandbox) -> None:
    server = sandbox_http(delivery_seconds=0)
    lean, full = _clients(server)
    with lean, full:
        message_id = _sent(server, full)
        for _ in range(5):
            assert isinstance(lean.delivery_status(message_id), DeliveryStatus)
        assert lean._lean is not None and len(lean._lean._idle) == 1


def test_a_connection_refused_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = AttClient(f"http://127.0.0.1:{port}", tokens=_Tokens("t"), retry=RETRY)
    with client, pytest.raises(NetworkError, match="cannot reach"):
        client.delivery_status("SMS1")


def test_a_proxy_in_the_environment_keeps_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    with AttClient("https://api.example") as client:
        assert client._lean is None


SEND_FAULTS: dict[str, list[dict[str, Any]]] = {
    "ok": [],
    "500": [{"status": 500, "count": 1}],
    "503 every try": [{"status": 503, "count": 9}],
    "502 html": [
        {"status": 502, "count": 9, "body": "<html>bad</html>", "content_type": "text/html"}
    ],
    "429 once": [{"status": 429, "count": 1, "headers": {"Retry-After": "0"}}],
    "400": [{"status": 400, "count": 1}],
    "garbage json": [{"status": 201, "count": 1, "body": '{"outboundSMSResponse": {"mes'}],
    "empty body": [{"status": 201, "count": 1, "body": ""}],
    "wrong shape": [{"status": 201, "count": 1, "body": '{"x": 1}'}],
    "dropped": [{"drop_connection": True, "count": 9}],
}
NUMBERS = ["tel:+12125550100", "tel:+12125550901"]


def _send_outcome(client: AttClient) -> tuple[Any, ...]:
    try:
        result = client.send(NUMBERS, "hi")
    except AttsmsError as error:
        return type(error), error.message, getattr(error, "status", None)
    return "sent", bool(result.message_id), result.addresses


def _reached(server: SandboxHttp) -> int:
    return sum(server.stats()["delivered_to"].get(n, 0) for n in NUMBERS)


@pytest.mark.parametrize("fault", SEND_FAULTS)
def test_a_lean_send_answers_as_httpx_does(sandbox_http: StartSandbox, fault: str) -> None:
    server = sandbox_http(delivery_seconds=0)
    lean, full = _clients(server)
    with lean, full:
        full.send(NUMBERS[:1], "warm")  # both clients hold a kept-alive connection
        lean.send(NUMBERS[:1], "warm")
        seen = []
        for client in (lean, full):
            attempts, reached = server.stats()["send_requests"], _reached(server)
            rules = [
                {"method": "POST", "path_prefix": OUTBOX, **rule} for rule in SEND_FAULTS[fault]
            ]
            if rules:
                server.faults(*rules)
            outcome = _send_outcome(client)
            stats = server.stats()
            seen.append((outcome, stats["send_requests"] - attempts, _reached(server) - reached))
            server.faults()
        assert seen[0] == seen[1]
        assert seen[0][2] <= len(NUMBERS)  # nobody texted twice
        if fault == "ok":
            assert seen[0] == (("sent", True, tuple(NUMBERS)), 1, 2)


SEND_ANSWER = b'{"outboundSMSResponse": {"messageId": "SMS1"}}'


def _created(conn: socket.socket) -> None:
    conn.sendall(
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(SEND_ANSWER)}\r\n\r\n".encode()
        + SEND_ANSWER
    )


def test_a_send_dropped_on_a_kept_alive_connection_is_unknown_and_never_sent_again(
    raw_server: Any,
) -> None:
    # A GET would be asked again on a new connection; a send may have been read and acted on.
    requests: list[int] = []

    def serve(conn: socket.socket, n: int) -> bool:
        requests.append(n)
        if n == 0:
            _created(conn)
            return True
        return False  # read, then closed without a word

    client = AttClient(raw_server(serve), tokens=_Tokens("t"), retry=RETRY)
    with client:
        assert client._lean is not None
        assert client.send(NUMBERS, "hi").message_id == "SMS1"
        with pytest.raises(UnknownOutcomeError, match="no answer from the service"):
            client.send(NUMBERS, "hi")
    assert requests == [0, 1]


def test_a_send_does_not_go_out_on_an_idle_connection_the_server_closed(
    raw_server: Any,
) -> None:
    requests: list[int] = []

    def serve(conn: socket.socket, n: int) -> bool:
        requests.append(n)
        _created(conn)
        return False  # closed after one answer, though it said nothing of it

    client = AttClient(raw_server(serve), tokens=_Tokens("t"), retry=RetryPolicy(attempts=1))
    with client:
        for _ in range(3):
            assert client.send(NUMBERS, "hi").message_id == "SMS1"
            time.sleep(0.2)  # the server's close reaches this end while the connection idles
    assert requests == [0, 0, 0]  # each on a connection of its own, each sent once


# --- framings the sandbox does not send, from a raw server --------------------------------

BODY = (
    b'{"deliveryInfoList": {"deliveryInfo": [{"address": "tel:+12125550100",'
    b' "deliveryStatus": "DeliveredToTerminal"}]}}'
)


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket, int], bool]], str]]:
    """A server that answers each request on a connection with `answer(conn, n)` (n counts the
    connection's requests from 0); False closes the connection. `with_head`: called as
    `answer(conn, n, the request's head)`. Yields a starter of base URLs."""
    listeners: list[socket.socket] = []

    def start(answer: Callable[..., bool], *, with_head: bool = False) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve(conn: socket.socket) -> None:
            with conn:
                buffer, n = b"", 0
                while True:
                    while b"\r\n\r\n" not in buffer:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buffer += data
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    if not (answer(conn, n, head) if with_head else answer(conn, n)):
                        return
                    n += 1

        def accept() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for listener in listeners:
        listener.close()


def _ok(headers: str, body: bytes) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{headers}\r\n".encode() + body


# The framings an answer may come in: a length, chunks, up to the close, after a 100 Continue.
FRAMINGS = pytest.mark.parametrize(
    "answer",
    [
        _ok(f"Content-Length: {len(BODY)}\r\n", BODY),
        _ok("Transfer-Encoding: chunked\r\n", b"10\r\n" + BODY[:16] + b"\r\n"
            + f"{len(BODY) - 16:x}\r\n".encode() + BODY[16:] + b"\r\n0\r\n\r\n"),
        _ok("Connection: close\r\n", BODY),
        b"HTTP/1.1 100 Continue\r\n\r\n" + _ok(f"Content-Length: {len(BODY)}\r\n", BODY),
    ],
    ids=["length", "chunked", "to the close", "100 first"],
)  # fmt: skip


@FRAMINGS
def test_each_framing_is_read(raw_server: Any, answer: bytes) -> None:
    def serve(conn: socket.socket, n: int) -> bool:
        conn.sendall(answer)
        return b"Connection: close" not in answer

    client = AttClient(raw_server(serve), tokens=_Tokens("t"), retry=RETRY)
    with client:
        for _ in range(2):
            status = client.delivery_status("SMS1")
            assert status.deliveries[0].status == "DeliveredToTerminal"


def test_an_idle_connection_the_server_closed_is_replaced(raw_server: Any) -> None:
    def serve(conn: socket.socket, n: int) -> bool:
        conn.sendall(_ok(f"Content-Length: {len(BODY)}\r\n", BODY))
        return False  # closed after one answer, though it said nothing of it

    client = AttClient(raw_server(serve), tokens=_Tokens("t"), retry=RetryPolicy(attempts=1))
    with client:
        for _ in range(3):  # no retries left: only the reconnect makes the second one work
            assert isinstance(client.delivery_status("SMS1"), DeliveryStatus)


def test_an_answer_broken_off_in_its_body_is_a_network_error(raw_server: Any) -> None:
    def serve(conn: socket.socket, n: int) -> bool:
        conn.sendall(_ok(f"Content-Length: {len(BODY)}\r\n", BODY[:20]))
        return False

    client = AttClient(raw_server(serve), tokens=_Tokens("t"), retry=RETRY)
    with client, pytest.raises(NetworkError, match="broke off"):
        client.delivery_status("SMS1")


def test_an_answer_too_large_is_not_read(raw_server: Any) -> None:
    def serve(conn: socket.socket, n: int) -> bool:
        conn.sendall(_ok("Content-Length: 999999999\r\n", b"{"))
        return False

    client = AttClient(raw_server(serve), tokens=_Tokens("t"), retry=RETRY)
    with client, pytest.raises(ApiError, match="more than any real answer"):
        client.delivery_status("SMS1")


# --- HTTPS --------------------------------------------------------------------------------


@pytest.fixture
def tls_files(tmp_path: Any) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl), or the test is skipped."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate with")
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _tls_server(cert: str, key: str) -> str:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(raw, server_side=True) as conn:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(65536)
                    conn.sendall(_ok(f"Content-Length: {len(BODY)}\r\nConnection: close\r\n", BODY))
            except OSError:
                continue

    threading.Thread(target=serve, daemon=True).start()
    return f"https://127.0.0.1:{listener.getsockname()[1]}"


def test_https_is_verified_as_httpx_verifies_it(
    tls_files: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    url = _tls_server(*tls_files)
    with AttClient(url, tokens=_Tokens("t"), retry=RETRY) as client:
        assert client._lean is not None
        with pytest.raises(NetworkError, match="cannot reach"):  # not a certificate it trusts
            client.delivery_status("SMS1")
    trusting = ssl.create_default_context(cafile=tls_files[0])
    monkeypatch.setattr("attsms.api.client._ssl_context", lambda: trusting)
    with AttClient(url, tokens=_Tokens("t"), retry=RETRY) as client:
        status = client.delivery_status("SMS1")
        assert status.deliveries[0].status == "DeliveredToTerminal"


def test_a_header_holding_a_line_break_is_refused_before_anything_is_sent(
    raw_server: Any,
) -> None:
    from attsms.api.lean import LeanHttp

    asked: list[int] = []

    def serve(conn: socket.socket, n: int) -> bool:
        asked.append(n)
        conn.sendall(_ok(f"Content-Length: {len(BODY)}\r\n", BODY))
        return True

    lean = LeanHttp(
        raw_server(serve), timeout=5, connect_timeout=5, user_agent="t", max_answer=1 << 20,
        max_error=1 << 16,
    )  # fmt: skip
    smuggled = {"Authorization": "Bearer t\r\nX-Smuggled: 1"}
    with pytest.raises(httpx.LocalProtocolError):  # as httpx's h11 refuses such a header
        lean.get("/x", smuggled)
    assert lean.get("/x", {"Authorization": "Bearer t"}).status_code == 200
    assert asked == [0]
    lean.close()
