"""Status GETs fanned out from one thread (`attsms.api.fanout`, `StatusPool(fanout=True)`), over
real HTTP: the same answers as the threads on httpx give, under each fault the sandbox makes and
each framing a raw server sends; what the fanout cannot take is asked again the usual way.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from attsms.api.client import AttClient
from attsms.core.errors import AttsmsError, NetworkError
from attsms.core.models import DeliveryStatus
from attsms.track.pool import StatusPool
from tests.api.test_lean import (
    BODY,
    FAULTS,
    FRAMINGS,
    OUTBOX,
    RETRY,
    _clients,
    _ok,
    _tls_server,
    _Tokens,
    raw_server,
    tls_files,
)
from tests.helpers.support import SandboxHttp

__all__ = ["raw_server", "tls_files"]  # the fixtures, shared with test_lean

StartSandbox = Callable[..., SandboxHttp]


class _Counted:
    """A client whose usual-way status calls are counted (the fanout's fallbacks)."""

    def __init__(self, client: AttClient) -> None:
        self.client = client
        self.usual = 0
        self.status_fanout = client.status_fanout

    def delivery_status(self, message_id: str) -> DeliveryStatus:
        self.usual += 1
        return self.client.delivery_status(message_id)


def _shape(answer: DeliveryStatus | AttsmsError, message_id: str) -> tuple[Any, ...]:
    """An answer without its message ID, so answers can be compared as a multiset."""
    if isinstance(answer, DeliveryStatus):
        return ("status", tuple((d.address, d.status) for d in answer.deliveries))
    return (type(answer).__name__, answer.message.replace(message_id, "ID"))


def _fanned(client: AttClient, ids: list[str], width: int = 3) -> tuple[list[Any], int]:
    counted = _Counted(client)
    with StatusPool(counted, width, fanout=True) as pool:
        assert pool._fanout is not None
        answers = list(pool.ask(ids))
    return answers, counted.usual


@pytest.mark.parametrize("fault", FAULTS)
def test_fanned_out_answers_are_those_of_the_threads(
    sandbox_http: StartSandbox, fault: str
) -> None:
    server = sandbox_http(delivery_seconds=0)
    lean, full = _clients(server)
    with lean, full:
        ids = [
            full.send(["tel:+12125550100", f"tel:+1212555090{i}"], "hi").message_id
            for i in range(6)
        ]
        seen = []
        for fan in (True, False):
            # "Every try" is every request here: the fanout's own try comes first.
            rules = [{**r, "count": 999} if r["count"] > 1 else r for r in FAULTS[fault]]
            server.faults(*[{"method": "GET", "path_prefix": OUTBOX, **r} for r in rules])
            if fan:
                answers, usual = _fanned(lean, ids)
            else:
                with StatusPool(full, 3) as pool:
                    answers = list(pool.ask(ids))
            server.faults()
            seen.append(Counter(_shape(a, i) for a, i in zip(answers, ids, strict=True)))
        assert seen[0] == seen[1]
        if fault == "ok":
            assert usual == 0  # every answer taken by the fanout
            assert sum(seen[0].values()) == 6
            assert all(shape[0] == "status" for shape in seen[0])


@FRAMINGS
def test_each_framing_is_read_by_the_fanout(raw_server: Any, answer: bytes) -> None:
    def serve(conn: socket.socket, n: int) -> bool:
        # In two writes, so an answer comes in parts as well.
        conn.sendall(answer[:30])
        time.sleep(0.001)
        conn.sendall(answer[30:])
        return b"Connection: close" not in answer

    with AttClient(raw_server(serve), tokens=_Tokens("t"), retry=RETRY) as client:
        answers, usual = _fanned(client, [f"SMS{i}" for i in range(7)], width=2)
    assert [a.deliveries[0].status for a in answers] == ["DeliveredToTerminal"] * 7
    assert usual == 0


def test_a_kept_alive_connection_the_server_closed_is_replaced_not_given_up(
    raw_server: Any,
) -> None:
    def serve(conn: socket.socket, n: int) -> bool:
        conn.sendall(_ok(f"Content-Length: {len(BODY)}\r\n", BODY))
        return False  # closed after one answer, though it said nothing of it

    with AttClient(raw_server(serve), tokens=_Tokens("t"), retry=RETRY) as client:
        answers, usual = _fanned(client, [f"SMS{i}" for i in range(6)], width=2)
    assert all(isinstance(a, DeliveryStatus) for a in answers)
    assert usual == 0


def test_an_answer_broken_off_stops_the_fanout_and_is_asked_the_usual_way(
    raw_server: Any,
) -> None:
    def serve(conn: socket.socket, n: int) -> bool:
        conn.sendall(_ok(f"Content-Length: {len(BODY)}\r\n", BODY[:20]))
        return False

    with AttClient(raw_server(serve), tokens=_Tokens("t"), retry=RETRY) as client:
        answers, usual = _fanned(client, ["SMS1", "SMS2"], width=2)
    assert usual == 2
    assert all(isinstance(a, NetworkError) and "broke off" in a.message for a in answers)


def test_an_answer_that_never_comes_is_asked_again_then_a_network_error(raw_server: Any) -> None:
    def serve(conn: socket.socket, n: int) -> bool:
        time.sleep(2)
        return False

    url = raw_server(serve)
    with AttClient(url, tokens=_Tokens("t"), retry=RETRY, timeout=0.3) as client:
        answers, usual = _fanned(client, ["SMS1", "SMS2"], width=2)
    assert usual == 2
    assert all(isinstance(a, NetworkError) and "no answer" in a.message for a in answers)


def test_a_refused_token_is_refreshed_the_usual_way(raw_server: Any) -> None:
    class Tokens:
        def __init__(self) -> None:
            self.token, self.refreshed = "old", 0
            self.lock = threading.Lock()  # the usual way asks on two threads

        def access_token(self, *, stale: str | None = None) -> str:
            with self.lock:
                if stale == self.token:
                    self.token, self.refreshed = "new", self.refreshed + 1
                return self.token

    def serve(conn: socket.socket, n: int, head: bytes) -> bool:
        if b"Authorization: Bearer old" in head:
            conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
        else:
            conn.sendall(_ok(f"Content-Length: {len(BODY)}\r\n", BODY))
        return True

    tokens = Tokens()
    url = raw_server(serve, with_head=True)
    with AttClient(url, tokens=tokens, retry=RETRY) as client:
        counted = _Counted(client)
        with StatusPool(counted, 2, fanout=True) as pool:
            first = list(pool.ask(["SMS1", "SMS2"]))
            second = list(pool.ask(["SMS3", "SMS4"]))
    assert all(isinstance(a, DeliveryStatus) for a in first + second)
    assert tokens.refreshed == 1
    assert counted.usual == 4  # after a refusal, the rest the usual way


def test_https_through_the_fanout(
    tls_files: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    url = _tls_server(*tls_files)
    with AttClient(url, tokens=_Tokens("t"), retry=RETRY) as client:
        answers, usual = _fanned(client, ["SMS1", "SMS2"], width=2)
    assert usual == 2  # not a certificate it trusts: the usual way says so
    assert all(isinstance(a, NetworkError) and "cannot reach" in a.message for a in answers)
    trusting = ssl.create_default_context(cafile=tls_files[0])
    monkeypatch.setattr("attsms.api.client._ssl_context", lambda: trusting)
    with AttClient(url, tokens=_Tokens("t"), retry=RETRY) as client:
        answers, usual = _fanned(client, [f"SMS{i}" for i in range(5)], width=2)
    assert usual == 0
    assert [a.deliveries[0].status for a in answers] == ["DeliveredToTerminal"] * 5


def test_an_answer_declared_too_large_is_left_to_the_usual_way(raw_server: Any) -> None:
    def serve(conn: socket.socket, n: int) -> bool:
        conn.sendall(_ok("Content-Length: 999999999\r\n", b"{"))
        return False

    with AttClient(raw_server(serve), tokens=_Tokens("t"), retry=RETRY) as client:
        answers, usual = _fanned(client, ["SMS1", "SMS2"], width=2)
    assert usual == 2
    assert all(
        isinstance(a, AttsmsError) and "more than any real answer" in a.message for a in answers
    )
