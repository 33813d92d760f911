"""`attsms listen` by property, in process: any JSON at its parsers, any bytes at its ASGI app.

The contract for malformed input: an answer of its own (2xx or 4xx), never a 5xx, never a
traceback in an answer or a log line, and a request refused 400 stores nothing (nothing of it
reaches the sink, so no opt-out either). What is stored has a valid sender and time
(`core.inbound`, the rule `inbox pull` shares). The app is called directly (no socket, no
uvicorn): a few milliseconds an example. tests/receive/test_listen_hostile.py has the same over
real HTTP, and the transport-level hostility (slow bodies, huge bodies, wrong methods).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from attsms.core.inbound import is_sender, time_text
from attsms.receive.listen import (
    InboundPush,
    ListenApp,
    Notification,
    ShapeError,
    parse_delivery,
    parse_inbound,
)
from attsms.receive.sink import StoreSink
from attsms.receive.writer import Writer
from tests.helpers.support import profile_sender, store_settings
from tests.receive.test_listen_hostile import (
    _any_value,
    _hostile_text,
    _valid_sender,
    _valid_time,
    delivery_bodies,
    inbound_bodies,
    receipts,
)

TOKEN = "fuzz-test-token-0123456789"
_VALID_ADDRESS = re.compile(r"tel:\+[1-9][0-9]{6,14}|short:[0-9]{3,8}")
fuzz = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any JSON Python's reader gives back: NaN and infinities, huge integers, lone surrogates.
_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["STOP", "tel:+12125550100", "short:12345", "2026-12-01T00:00:00Z", ""])
)
any_json = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)


def _wrapped(body: dict[str, Any]) -> dict[str, Any]:
    return {"inboundSMSMessageNotification": {"inboundSMSMessage": body}}


@st.composite
def near_valid_inbound(draw: st.DrawFn) -> dict[str, Any]:
    """A valid inbound message, or one with one field spoiled: most get past the first check."""
    body: dict[str, Any] = {
        "MessageId": f"FUZZ{draw(st.integers(0, 10**12))}",
        "SenderAddress": draw(_valid_sender),
        "DateTime": draw(_valid_time | st.none() | st.just("")),
        "Message": draw(st.sampled_from(["STOP", "START", "hello"]) | _hostile_text),
        "DestinationAddress": "12345",
    }
    spoiled = draw(st.sampled_from([None, None, *body]))
    if spoiled is not None:
        body[spoiled] = draw(_hostile_text | _any_value)
    return body


notifications = st.one_of(
    any_json,
    inbound_bodies(),
    near_valid_inbound(),
    near_valid_inbound().map(_wrapped),
    delivery_bodies(),
    receipts().map(lambda case: case[0]),
)


@fuzz
@given(notifications)
def test_fuzz_the_parsers_take_a_notification_or_raise_a_shape_error(body: Any) -> None:
    for parse in (parse_delivery, parse_inbound):
        try:
            parsed = parse(body)
        except ShapeError:
            continue
        if isinstance(parsed, InboundPush):
            message = parsed.message
            assert is_sender(message.sender) and _VALID_ADDRESS.fullmatch(message.sender)
            assert time_text(message.received_at) == message.received_at, message
        else:
            assert all(is_sender(d.address) for d in parsed.deliveries), parsed


# --- the ASGI app ----------------------------------------------------------------------------


class _Recording:
    """The real sink, recording what reaches it: a refused request must never get here."""

    def __init__(self) -> None:
        self.seen: list[Notification] = []
        self.inner = StoreSink(profile_sender(), store_settings())

    def store(self, notifications: Sequence[Notification]) -> list[bool]:
        self.seen.extend(notifications)
        return self.inner.store(notifications)

    def close(self) -> None:
        self.inner.close()


class _App:
    def __init__(self) -> None:
        self.sink = _Recording()
        self.writer = Writer(lambda: self.sink).start()
        self.logs: list[str] = []
        self.app = ListenApp(
            TOKEN, self.writer, default_registration="12345", log=self.logs.append, max_body=4096
        )

    def post(self, kind: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> Any:
        return asyncio.run(self._post(kind, chunks, headers))

    async def _post(
        self, kind: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
    ) -> tuple[int, bytes]:
        events = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return events.pop(0) if events else {"type": "http.disconnect"}

        async def send(event: dict[str, Any]) -> None:
            sent.append(event)

        scope = {
            "type": "http",
            "method": "POST",
            "path": f"/notify/{TOKEN}/{kind}",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
        }
        await self.app(scope, receive, send)
        assert [e["type"] for e in sent] == ["http.response.start", "http.response.body"]
        return sent[0]["status"], sent[1]["body"]


@pytest.fixture
def app() -> Iterator[_App]:
    served = _App()
    yield served
    served.writer.stop()


_EXAMPLES = itertools.count()
_garbage = st.binary(max_size=300)
_json_bytes = notifications.map(lambda v: json.dumps(v).encode())  # NaN as NaN, \udXXX escapes
_spoiled = st.tuples(_json_bytes, st.integers(0, 300), _garbage).map(
    lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]  # garbage (invalid UTF-8 too) inside JSON
)
_content_types = st.sampled_from(
    [b"application/json", b"application/json; charset=utf-8", b"TEXT/JSON"]
)


@fuzz
@given(
    st.sampled_from(["inbound", "delivery"]),
    st.one_of(_json_bytes, _json_bytes, _garbage, _spoiled),
    st.integers(1, 4),
    _content_types,
    st.booleans(),
)
def test_fuzz_any_body_gets_2xx_or_4xx_and_a_400_stores_nothing(
    app: _App, kind: str, raw: bytes, pieces: int, content_type: bytes, length: bool
) -> None:
    if kind == "inbound" and raw.startswith(b'{"MessageId": "FUZZ'):
        # One store for every example: a message ID stored before would answer "duplicate".
        raw = raw.replace(b'"FUZZ', f'"R{next(_EXAMPLES)}-'.encode(), 1)
    size = max(1, -(-len(raw) // pieces))
    chunks = [raw[i : i + size] for i in range(0, len(raw), size)] or [b""]
    headers = [(b"content-type", content_type)]
    if length:
        headers.append((b"content-length", str(len(raw)).encode()))
    seen = len(app.sink.seen)

    status, answer = app.post(kind, chunks, headers)
    event(f"{kind} {status}")

    assert status in (200, 400, 413), (status, answer, raw)
    assert b"Traceback" not in answer and not any("Traceback" in line for line in app.logs)
    reply = json.loads(answer)
    if status != 200:
        assert len(app.sink.seen) == seen, raw  # refused: nothing of it reached the store
        assert set(reply) == {"error"}
        return
    assert len(app.sink.seen) == seen + 1
    notification = app.sink.seen[-1]
    if isinstance(notification, InboundPush):
        message = notification.message
        assert _VALID_ADDRESS.fullmatch(message.sender), message
        assert time_text(message.received_at) == message.received_at, message
        if reply["stored"]:
            _assert_stored(message.message_id)


def _assert_stored(message_id: str) -> None:
    from attsms.store import open_inbox, opt_outs

    with open_inbox(store_settings(), "default") as inbox:
        stored = {m.message_id: m for m in inbox.messages(limit=50)}
    opted = {o.address for o in opt_outs(store_settings(), profile_sender())}
    assert message_id in stored
    assert all(is_sender(m.sender) for m in stored.values())
    assert all(_VALID_ADDRESS.fullmatch(a) for a in opted), opted
