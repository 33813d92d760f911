"""`inbox pull` against whatever the service hands out, by property (issue 23, receive side).

A pull cannot refuse: the service forgot each message as it answered. So for any answer the
parser either gives a batch or raises ValueError (never anything else), and for any batch:
- every message it holds is in the store afterwards (once per message ID);
- a sender that is not a phone number or short code never touches the opt-out list (its STOP
  and START are no keywords), and every address on the list is a valid wire address;
- a DateTime that is not a time is not the message's time: it is dated when stored, so no
  `--since` after the pull finds it;
- the pull counts exactly the new messages whose sender or time is unreadable.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attsms.api.parsers import parse_inbox
from attsms.core.inbound import is_sender, sender_address, timestamp
from attsms.core.models import InboxBatch
from attsms.receive.pull import InboxPull
from attsms.store.consent import ConsentStore
from attsms.store.inbox import InboxStore
from tests.helpers.support import sender
from tests.receive.test_listen_hostile import (
    _TEL_FORMS,
    _hostile_text,
    _json,
    _numbers,
    _valid_time,
)

_VALID_ADDRESS = re.compile(r"tel:\+[1-9][0-9]{6,14}|short:[0-9]{3,8}")
fuzz = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_valid_sender = (
    st.sampled_from(_TEL_FORMS).flatmap(lambda f: _numbers.map(f.format))
    | st.from_regex(r"short:[0-9]{3,8}", fullmatch=True)
    | st.sampled_from(["+447700900123", "tel:+33612345678", "12345"])
)
_any_value = st.one_of(_hostile_text, st.none(), st.integers(), st.floats(), st.booleans(), _json)


def _key(name: str) -> st.SearchStrategy[str]:
    """A key in the spellings the service has used."""
    return st.sampled_from([name, name[0].upper() + name[1:], name.lower()])


@st.composite
def inbound_items(draw: st.DrawFn) -> dict[str, Any]:
    item: dict[str, Any] = {
        draw(_key("messageId")): draw(
            st.from_regex(r"M[0-9]{1,3}", fullmatch=True) | st.text(min_size=1, max_size=6)
        )
    }
    item[draw(_key("senderAddress"))] = draw(_valid_sender | _hostile_text | _any_value)
    item[draw(_key("dateTime"))] = draw(_valid_time | _hostile_text | _any_value)
    item[draw(_key("message"))] = draw(
        st.sampled_from(["STOP", "START", "stop.", "hello"]) | _hostile_text
    )
    if draw(st.booleans()):
        item["destinationAddress"] = draw(st.just("12345") | _any_value)
    return item


@st.composite
def inbox_bodies(draw: st.DrawFn) -> Any:
    items = draw(st.lists(inbound_items(), max_size=6))
    messages: Any = items[0] if len(items) == 1 and draw(st.booleans()) else items
    pending = draw(st.sampled_from([0, "0", None, -1]) | _any_value)
    listing = {"inboundSMSMessage": messages, "totalNumberOfPendingMessages": pending}
    return {"inboundSMSMessageList": listing}


def _parsed(body: Any) -> InboxBatch | None:
    try:
        return parse_inbox(body)
    except ValueError:  # the client makes it an ApiError: one line, exit 1
        return None


@fuzz
@given(
    st.binary(max_size=200)
    | _json.map(lambda v: json.dumps(v).encode())
    | inbox_bodies().map(lambda b: json.dumps(b).encode())
)
def test_fuzz_any_answer_is_a_batch_or_a_value_error(raw: bytes) -> None:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # the client's own reading of a body that is no JSON
        return
    batch = _parsed(body)
    if batch is None:
        return
    for message in batch.messages:
        assert message.message_id
        # Valid senders come out in listen's wire form; the rest as they came.
        assert sender_address(message.sender) in (None, message.sender)
        message.received_at.encode("utf-8")  # a UTF-8 store and terminal can take it
        message.sender.encode("utf-8")


class _Once:
    """The service: hands out one batch, then nothing."""

    def __init__(self, batch: InboxBatch) -> None:
        self.batch: InboxBatch | None = batch

    def inbox(self, registration_id: str) -> InboxBatch:
        batch, self.batch = self.batch or InboxBatch((), 0), None
        return InboxBatch(batch.messages, 0, batch.resource_url)  # one batch: drained


@fuzz
@given(inbox_bodies())
def test_fuzz_a_pull_stores_every_message_and_no_unreadable_sender_opts_out(body: Any) -> None:
    batch = _parsed(body)
    if batch is None:
        return
    who = sender("fuzz")
    with (
        tempfile.TemporaryDirectory() as tmp,
        InboxStore.open("fuzz", path=Path(tmp) / "i.db") as store,
        ConsentStore.open(path=Path(tmp) / "c.db") as consent,
    ):
        before = time.time() - 1
        with InboxPull(_Once(batch), who, "12345", store=store, consent=consent) as pull:
            for _ in pull.batches():
                pass
        after = time.time() + 1
        stored = {m.message_id: m for m in store.messages()}
        opted = {o.address for o in consent.all_rows()}
        late = {m.message_id for m in store.iter_messages(since=after)}
        recent = {m.message_id for m in store.iter_messages(since=before)}

    ids = {m.message_id for m in batch.messages}
    assert set(stored) == ids  # nothing pulled is lost
    summary = pull.summary
    assert summary.new == len(ids) and summary.fetched == len(batch.messages)
    assert summary.unreadable == sum(not m.readable for m in stored.values())
    assert all(_VALID_ADDRESS.fullmatch(a) for a in opted), opted
    for message in stored.values():
        if not is_sender(message.sender):
            assert message.keyword is None, message
            assert message.sender not in opted
        when = timestamp(message.received_at) if message.received_at.strip() else None
        if when is None:  # dated when stored: no --since after the pull finds it
            assert message.message_id in recent and message.message_id not in late, message
        else:
            assert (message.message_id in late) == (when >= after), message
