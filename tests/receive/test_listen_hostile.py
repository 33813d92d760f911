"""The listener against hostile and broken input, on a real uvicorn on 127.0.0.1 (in a thread, so
the body timeout can be short), storing through the real stores; and its parsers, by property.

Every hostile request gets its status, no answer or log holds a traceback, and nothing is stored.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attsms.receive.listen import (
    ListenApp,
    ShapeError,
    parse_delivery,
    parse_inbound,
)
from attsms.receive.sink import StoreSink
from attsms.receive.wire import http_protocol
from attsms.receive.writer import Writer
from tests.helpers.support import Cli, profile_sender, store_settings

TOKEN = "hostile-test-token-0123456789"
INBOUND = {
    "DateTime": "2026-12-01T00:00:00Z",
    "MessageId": "MSG1",
    "Message": "hello",
    "SenderAddress": "tel:+12125550100",
    "DestinationAddress": "12345",
}


class Served:
    def __init__(self, app: ListenApp, writer: Writer, url: str, logs: list[str]) -> None:
        self.app, self.writer, self.url, self.logs = app, writer, url, logs
        self.port = int(url.rsplit(":", 1)[1])

    def post(self, kind: str, body: Any, token: str = TOKEN, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}/notify/{token}/{kind}", json=body, timeout=10, **kwargs)


@pytest.fixture
def served(caplog: pytest.LogCaptureFixture) -> Iterator[Served]:
    logs: list[str] = []
    writer = Writer(lambda: StoreSink(profile_sender(), store_settings())).start()
    app = ListenApp(TOKEN, writer, log=logs.append, body_timeout=0.5, max_body=16_384)
    with _serving(app, writer, logs, caplog) as served:
        yield served


@contextlib.contextmanager
def _serving(
    app: ListenApp, writer: Writer, logs: list[str], caplog: pytest.LogCaptureFixture
) -> Iterator[Served]:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    # What `serve` runs: httptools on a gathering transport (h11 where httptools is missing).
    config = uvicorn.Config(
        app,
        http=http_protocol(),
        lifespan="off",
        access_log=False,
        log_level="warning",
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    with caplog.at_level(logging.ERROR):
        yield Served(app, writer, f"http://127.0.0.1:{sock.getsockname()[1]}", logs)
        server.should_exit = True
        thread.join(10)
        writer.stop()
        sock.close()
    # uvicorn logs an application's exception with its traceback: there must be none.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not any("Traceback" in line or TOKEN in line for line in logs)


def _stored(cli: Cli) -> list[str]:
    listed = cli("inbox", "list", "--limit", "0", "--jsonl")
    assert listed.exit_code == 0, listed.stderr
    return [json.loads(line)["message_id"] for line in listed.lines]


def _raw(port: int, data: bytes, pause: float = 0.0, rest: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if pause:
            time.sleep(pause)
        if rest:
            with contextlib.suppress(OSError):
                sock.sendall(rest)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_each_hostile_request_gets_its_status_and_nothing_is_stored(
    served: Served, cli: Cli
) -> None:
    url = served.url
    cases: list[tuple[str, httpx.Response, int]] = [
        ("wrong token", served.post("inbound", INBOUND, token="x" * len(TOKEN)), 404),
        ("no token", httpx.post(f"{url}/notify//inbound", json=INBOUND), 404),
        ("unknown kind", served.post("outbound", INBOUND), 404),
        ("unknown path", httpx.get(f"{url}/../etc/passwd"), 404),
        ("wrong method", httpx.get(f"{url}/notify/{TOKEN}/inbound"), 405),
        ("wrong method on healthz", httpx.post(f"{url}/healthz"), 405),
        (
            "wrong content type",
            httpx.post(f"{url}/notify/{TOKEN}/inbound", content=json.dumps(INBOUND)),
            415,
        ),
        (
            "form body",
            httpx.post(f"{url}/notify/{TOKEN}/inbound", data={"MessageId": "MSG1"}),
            415,
        ),
        ("huge", served.post("inbound", {**INBOUND, "Message": "x" * 100_000}), 413),
        (
            "huge, chunked",
            httpx.post(
                f"{url}/notify/{TOKEN}/inbound",
                content=iter([b"[" * 8000, b"1" * 8000, b"]" * 8000]),
                headers={"Content-Type": "application/json"},
            ),
            413,
        ),
        (
            "deep JSON",
            httpx.post(
                f"{url}/notify/{TOKEN}/inbound",
                content=b"[" * 10_000 + b"]" * 5_000,
                headers={"Content-Type": "application/json"},
            ),
            400,
        ),
        (
            "deep JSON object",
            httpx.post(
                f"{url}/notify/{TOKEN}/inbound",
                content=b'{"a":' * 2000 + b"1" + b"}" * 2000,
                headers={"Content-Type": "application/json"},
            ),
            400,
        ),
        (
            "malformed JSON",
            httpx.post(
                f"{url}/notify/{TOKEN}/inbound",
                content=b'{"MessageId": ',
                headers={"Content-Type": "application/json"},
            ),
            400,
        ),
        (
            "not UTF-8",
            httpx.post(
                f"{url}/notify/{TOKEN}/inbound",
                content=b'{"MessageId": "\xff"}',
                headers={"Content-Type": "application/json"},
            ),
            400,
        ),
        ("unknown shape", served.post("inbound", {"hello": "world"}), 400),
        ("a list", served.post("inbound", [INBOUND]), 400),
        ("inbound at delivery", served.post("delivery", INBOUND), 400),
        ("receipt without status", served.post("delivery", _receipt(status=None)), 400),
    ]
    for name, response, status in cases:
        assert response.status_code == status, (name, response.text)
        assert "Traceback" not in response.text, name
    # A body that stops arriving (slow loris): 408 after the body timeout, not a held worker.
    head = (
        f"POST /notify/{TOKEN}/inbound HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    ).encode()
    started = time.monotonic()
    answer = _raw(served.port, head + b'{"MessageId": "MSG', pause=1.0, rest=b'2"}')
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < 5
    # A declared length over the cap is refused before the body is read.
    big = head.replace(b"Content-Length: 500", b"Content-Length: 999999999")
    assert _raw(served.port, big).startswith(b"HTTP/1.1 413")

    assert served.app.counters.stored == 0
    assert _stored(cli) == []
    # The listener still works: the same message, well formed, is stored.
    assert served.post("inbound", INBOUND).json() == {"stored": True}
    assert _stored(cli) == ["MSG1"]
    assert httpx.get(f"{url}/healthz").json() == {"ok": True}


def test_a_body_in_one_segment_or_in_parts_is_stored_alike(
    served: Served, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body uvicorn already holds is read without a deadline (nearly every push: one
    segment); one that comes after its head, whole or in parts, within the deadline."""
    from attsms.receive import listen

    seen: list[bool] = []
    body_in = listen._body_in

    def recorded(receive: Any) -> bool:
        seen.append(body_in(receive))
        return seen[-1]

    monkeypatch.setattr(listen, "_body_in", recorded)

    def request(message_id: str) -> tuple[bytes, bytes]:
        body = json.dumps({**INBOUND, "MessageId": message_id}).encode()
        head = (
            f"POST /notify/{TOKEN}/inbound HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        return head, body

    head, body = request("ONE")
    assert b'{"stored": true}' in _raw(served.port, head + body)
    head, body = request("HEAD-FIRST")
    assert b'{"stored": true}' in _raw(served.port, head, pause=0.2, rest=body)
    head, body = request("IN-PARTS")
    assert b'{"stored": true}' in _raw(served.port, head + body[:9], pause=0.2, rest=body[9:])
    assert seen == [True, False, True]  # the last: its first part was in
    assert sorted(_stored(cli)) == ["HEAD-FIRST", "IN-PARTS", "ONE"]


def test_a_duplicate_is_stored_once_and_answered_2xx_both_times(served: Served, cli: Cli) -> None:
    first = served.post("inbound", INBOUND)
    again = served.post("inbound", {k.lower(): v for k, v in INBOUND.items()})  # any key case
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.json(), again.json()) == ({"stored": True}, {"stored": False})
    assert _stored(cli) == ["MSG1"]


def test_a_store_that_cannot_be_written_answers_503_and_stores_nothing(
    served: Served, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = os.environ["ATTSMS_DATA_DIR"]
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("ATTSMS_DATA_DIR", str(blocker / "data"))
    refused = served.post("inbound", INBOUND)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert "Traceback" not in refused.text
    # The service pushes again later; by then the store is back, and the message is stored.
    monkeypatch.setenv("ATTSMS_DATA_DIR", data_dir)
    assert served.post("inbound", INBOUND).status_code == 200
    assert _stored(cli) == ["MSG1"]
    assert any(" 503 " in line and "store unavailable" in line for line in served.logs)


def _receipt(
    message_id: str = "SMS1", address: str = "tel:+12125550100", status: str | None = "Delivered"
) -> dict[str, Any]:
    info: dict[str, Any] = {"address": address}
    if status is not None:
        info["deliveryStatus"] = status
    return {"deliveryInfoNotification": {"messageId": message_id, "deliveryInfo": info}}


# --- the parsers, by property ----------------------------------------------------------------


def _recase(draw: st.DrawFn, key: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(key), max_size=len(key)))
    return "".join(c.upper() if f else c.lower() for c, f in zip(key, flips, strict=True))


_TEL_FORMS = ("tel:+1{}", "tel:1{}", "tel:{}", "+1{}", "{}")
_numbers = st.from_regex(r"[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True)


@st.composite
def receipts(draw: st.DrawFn) -> tuple[dict[str, Any], str, str, str]:
    number = draw(_numbers)
    address = draw(st.sampled_from(_TEL_FORMS)).format(number)
    status = draw(st.sampled_from(["DeliveredToTerminal", "DeliveryImpossible", "Waiting"]))
    message_id = draw(st.from_regex(r"[A-Za-z0-9]{1,20}", fullmatch=True))
    extra = draw(st.dictionaries(st.sampled_from(["foo", "Bar", "_x"]), st.integers()))
    info = {_recase(draw, "address"): address, _recase(draw, "deliveryStatus"): status, **extra}
    note = {_recase(draw, "messageId"): message_id, _recase(draw, "deliveryInfo"): info, **extra}
    return {_recase(draw, "deliveryInfoNotification"): note}, message_id, number, status


@given(receipts())
def test_receipts_parse_in_any_key_case_and_address_form(
    case: tuple[dict[str, Any], str, str, str],
) -> None:
    body, message_id, number, status = case
    receipt = parse_delivery(body)
    assert receipt.message_id == message_id
    assert [(d.address, d.status) for d in receipt.deliveries] == [(f"tel:+1{number}", status)]


@given(st.sampled_from(_TEL_FORMS), _numbers, st.data())
def test_inbound_parses_in_any_key_case_and_sender_form(
    form: str, number: str, data: st.DataObject
) -> None:
    body = {data.draw(st.sampled_from([k, k.lower(), k.upper()])): v for k, v in INBOUND.items()}
    body[next(k for k in body if k.lower() == "senderaddress")] = form.format(number)
    push = parse_inbound(body)
    assert push.registration_id == "12345"
    assert push.message.sender == f"tel:+1{number}"
    assert (push.message.message_id, push.message.message) == ("MSG1", "hello")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_json)
def test_any_json_is_a_notification_or_a_shape_error(value: Any) -> None:
    for parse in (parse_delivery, parse_inbound):
        with contextlib.suppress(ShapeError):
            parse(value)


# --- what is stored is valid (issue 23 §5) ---------------------------------------------------


def _opt_outs(cli: Cli) -> list[str]:
    listed = cli("optout", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    return [row["address"] for row in listed.json()]


@pytest.mark.parametrize(
    ("kind", "body", "said"),
    [
        ("inbound", {**INBOUND, "SenderAddress": "garbage", "Message": "STOP"}, "SenderAddress"),
        ("inbound", {**INBOUND, "SenderAddress": "tel:+1212", "Message": "STOP"}, "SenderAddress"),
        ("inbound", {**INBOUND, "SenderAddress": "short:", "Message": "STOP"}, "SenderAddress"),
        ("inbound", {**INBOUND, "DateTime": "garbage", "Message": "STOP"}, "DateTime"),
        ("inbound", {**INBOUND, "DateTime": "2026-13-45T99:00:00Z"}, "DateTime"),
        ("inbound", {**INBOUND, "DestinationAddress": "not a code"}, "DestinationAddress"),
        ("delivery", _receipt(address="garbage"), "address"),
        ("delivery", _receipt(address="tel:+1"), "address"),
    ],
)
def test_a_notification_with_an_invalid_address_or_time_is_400_and_not_stored(
    served: Served, cli: Cli, kind: str, body: dict[str, Any], said: str
) -> None:
    refused = served.post(kind, body)
    assert refused.status_code == 400, refused.text
    assert said in refused.json()["error"]
    assert served.app.counters.stored == 0
    assert _stored(cli) == []
    assert _opt_outs(cli) == []  # the STOP of a `garbage` sender is no opt-out either


def test_a_short_code_sender_and_a_message_without_a_time_are_still_taken(
    served: Served, cli: Cli
) -> None:
    taken = served.post("inbound", {**INBOUND, "SenderAddress": "short:55555"})
    assert taken.json() == {"stored": True}
    undated = {k: v for k, v in INBOUND.items() if k != "DateTime"} | {"MessageId": "MSG2"}
    assert served.post("inbound", undated).json() == {"stored": True}
    assert sorted(_stored(cli)) == ["MSG1", "MSG2"]


# --- the fuzzer: any body is stored valid (2xx) or refused 400, never 5xx ---------------------

_hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["garbage", "STOP", "", " ", "tel:", "short:", "+1", "tel:+1", "\x00", "∞"]),
    st.integers().map(str),
)
_valid_sender = st.sampled_from(_TEL_FORMS).flatmap(
    lambda f: _numbers.map(f.format)
) | st.from_regex(r"short:[0-9]{3,8}", fullmatch=True)
_valid_time = st.datetimes(timezones=st.just(__import__("datetime").UTC)).map(
    lambda d: d.isoformat().replace("+00:00", "Z")
)
_any_value = st.one_of(_hostile_text, st.none(), st.integers(), st.booleans(), _json)


@st.composite
def inbound_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"MessageId": f"FUZZ{draw(st.integers(0, 10**12))}"}
    body["SenderAddress"] = draw(_valid_sender | _hostile_text | _any_value)
    body["DateTime"] = draw(_valid_time | _hostile_text | _any_value)
    body["Message"] = draw(st.sampled_from(["STOP", "START", "hello"]) | _hostile_text)
    if draw(st.booleans()):
        body["DestinationAddress"] = draw(st.just("12345") | _hostile_text)
    return body


@st.composite
def delivery_bodies(draw: st.DrawFn) -> dict[str, Any]:
    address = draw(_valid_sender | _hostile_text | _any_value)
    status = draw(st.sampled_from(["DeliveredToTerminal", "Waiting"]) | _hostile_text)
    return _receipt(message_id=draw(_hostile_text), address=address, status=status)


def _valid_stored(message: Any) -> bool:
    from datetime import datetime

    from attsms.core.numbers import canonical

    if message.sender != canonical(message.sender) or not re.fullmatch(
        r"tel:\+[1-9][0-9]{6,14}|short:[0-9]{3,8}", message.sender
    ):
        return False
    if message.received_at:
        datetime.fromisoformat(message.received_at)  # raises if it is not a time
    return True


_EXAMPLES = itertools.count()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.one_of(
        inbound_bodies().map(lambda b: ("inbound", b)),
        delivery_bodies().map(lambda b: ("delivery", b)),
    )
)
def test_fuzz_any_body_is_stored_valid_or_refused_400_never_5xx(
    served: Served, case: tuple[str, dict[str, Any]]
) -> None:
    from attsms.store import open_inbox, opt_outs

    kind, body = case
    if kind == "inbound":  # one store for every example: an ID stored before is no finding
        body = {**body, "MessageId": f"{body['MessageId']}-{next(_EXAMPLES)}"}
    answer = httpx.post(  # json.dumps writes inf as Infinity, which Python's JSON reads back
        f"{served.url}/notify/{TOKEN}/{kind}",
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code in (200, 400), (body, answer.text)
    assert "Traceback" not in answer.text
    if kind != "inbound":
        return
    inbox = open_inbox(store_settings(), "default")
    try:
        stored = {m.message_id: m for m in inbox.messages()}
    finally:
        inbox.close()
    opted = {o.address for o in opt_outs(store_settings(), profile_sender())}
    mine = stored.get(str(body["MessageId"]))
    if answer.status_code == 400:
        assert mine is None, body
    elif answer.json()["stored"]:
        assert mine is not None and _valid_stored(mine), (body, mine)
    assert all(re.fullmatch(r"tel:\+[1-9][0-9]{6,14}|short:[0-9]{3,8}", a) for a in opted), opted


# --- a reader of the printed rows that goes away (issue 23 §4) --------------------------------


def test_a_notification_stored_but_not_printed_is_answered_2xx_then_listen_stops(
    cli: Cli, caplog: pytest.LogCaptureFixture
) -> None:
    from attsms.receive.listen import OutputClosed

    logs: list[str] = []
    printed: list[dict[str, Any]] = []

    def on_stored(row: dict[str, Any]) -> None:
        if printed:
            raise OutputClosed  # the reader took one row, then left
        printed.append(row)

    writer = Writer(lambda: StoreSink(profile_sender(), store_settings())).start()
    app = ListenApp(TOKEN, writer, on_stored=on_stored, log=logs.append)
    stops: list[bool] = []
    app.stop_serving = lambda: stops.append(True)
    with _serving(app, writer, logs, caplog) as served:
        assert served.post("inbound", INBOUND).json() == {"stored": True}
        second = served.post("inbound", {**INBOUND, "MessageId": "MSG2"})
        # Stored before the print failed: a 2xx, never a 5xx whose retry no handler would see.
        assert (second.status_code, second.json()) == (200, {"stored": True})
        assert app.output_closed and stops == [True]
        third = served.post("inbound", {**INBOUND, "MessageId": "MSG3"})
        assert third.status_code == 503  # not stored: the service pushes it again later
        assert third.headers["Retry-After"] == "5"
    assert [row["message_id"] for row in printed] == ["MSG1"]
    assert sorted(_stored(cli)) == ["MSG1", "MSG2"]
    assert stops == [True]
    assert any("stored, not printed: stdout closed" in line for line in logs)


_VALID_ADDRESS = re.compile(r"tel:\+[1-9][0-9]{6,14}|short:[0-9]{3,8}")


@settings(max_examples=500)
@given(inbound_bodies() | _json)
def test_a_parsed_inbound_message_has_a_valid_sender_and_time(body: Any) -> None:
    from datetime import datetime

    try:
        push = parse_inbound(body, default_registration="12345")
    except ShapeError:
        return
    assert _VALID_ADDRESS.fullmatch(push.message.sender), push
    assert re.fullmatch(r"\+?[0-9]{3,15}", push.registration_id), push
    if push.message.received_at:
        datetime.fromisoformat(push.message.received_at)


@settings(max_examples=500)
@given(delivery_bodies() | _json)
def test_a_parsed_receipt_has_valid_addresses(body: Any) -> None:
    try:
        receipt = parse_delivery(body)
    except ShapeError:
        return
    assert all(_VALID_ADDRESS.fullmatch(d.address) for d in receipt.deliveries), receipt
