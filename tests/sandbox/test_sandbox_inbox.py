"""Inbound messages: injection, FIFO batches, removal on read, pending counts."""

from __future__ import annotations

from typing import Any

import pytest

from attsms.sandbox import SandboxConfig
from tests.helpers.sandbox_harness import INBOX_PATH, Harness, MakeSandbox, error_of


def test_empty_inbox(sb: Harness) -> None:
    base = str(sb.client.base_url).rstrip("/")
    assert sb.inbox().json() == {
        "inboundSMSMessageList": {
            "inboundSMSMessage": [],
            "numberOfMessagesInThisBatch": 0,
            "resourceURL": f"{base}{INBOX_PATH}/12345",
            "totalNumberOfPendingMessages": 0,
        }
    }


def test_injected_message_arrives_in_wire_shape_and_is_removed(sb: Harness) -> None:
    assert sb.inject(text="STOP").json() == {"injected": 1, "pending": 1}
    listing = sb.inbox().json()["inboundSMSMessageList"]
    (message,) = listing["inboundSMSMessage"]
    assert set(message) == {
        "messageId",
        "message",
        "senderAddress",
        "destinationAddress",
        "dateTime",
    }
    assert message["message"] == "STOP"
    assert message["senderAddress"] == "tel:+15555550100"
    assert message["destinationAddress"] == "12345"
    assert message["dateTime"] == "2027-01-15T08:00:00.000Z"  # the fake clock's start
    assert listing["numberOfMessagesInThisBatch"] == 1
    assert listing["totalNumberOfPendingMessages"] == 0
    assert sb.inbox().json()["inboundSMSMessageList"]["inboundSMSMessage"] == []


def test_batches_are_fifo_and_count_what_is_left(make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox(SandboxConfig(inbox_batch_size=100))
    assert sb.inject(text="m", count=120).json() == {"injected": 120, "pending": 120}
    assert sb.inject(text="last").json() == {"injected": 1, "pending": 121}
    seen: list[str] = []
    pending = []
    for _ in range(3):
        listing = sb.inbox().json()["inboundSMSMessageList"]
        batch = listing["inboundSMSMessage"]
        assert listing["numberOfMessagesInThisBatch"] == len(batch)
        seen += [m["message"] for m in batch]
        pending.append(listing["totalNumberOfPendingMessages"])
    assert pending == [21, 0, 0]
    assert seen == [f"m #{n}" for n in range(1, 121)] + ["last"]
    assert sb.stats()["operations"]["inbox"] == 3


def test_message_ids_are_unique(sb: Harness) -> None:
    sb.inject(count=30)
    ids = [m["messageId"] for m in sb.inbox().json()["inboundSMSMessageList"]["inboundSMSMessage"]]
    assert len(set(ids)) == 30


def test_unknown_registration_is_404_until_something_is_injected(sb: Harness) -> None:
    resp = sb.inbox("99999")
    assert resp.status_code == 404
    assert error_of(resp)[1:] == ("SVC0002", "Not found: %1", "registration 99999")
    assert sb.inject("99999").status_code == 200
    listing = sb.inbox("99999").json()["inboundSMSMessageList"]
    assert listing["inboundSMSMessage"][0]["destinationAddress"] == "99999"
    assert sb.inbox("99999").status_code == 200  # the registration stays once created


def test_configured_registrations(make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox(SandboxConfig(registration_ids=frozenset({"777", "888"})))
    assert sb.inbox("777").status_code == 200
    assert sb.inbox("12345").status_code == 404


@pytest.mark.parametrize(
    "sender", ["+15555550100", "15555550100", "5555550100", "tel:+15555550100", "tel:5555550100"]
)
def test_sender_forms(sb: Harness, sender: str) -> None:
    assert sb.inject(**{"from": sender}).status_code == 200
    message = sb.inbox().json()["inboundSMSMessageList"]["inboundSMSMessage"][0]
    assert message["senderAddress"] == "tel:+15555550100"


@pytest.mark.parametrize(
    ("payload", "variables"),
    [
        ({"from": "12345"}, "from"),
        ({"from": "short:12345"}, "from"),
        ({"from": 15555550100}, "from"),
        ({"text": None}, "text"),
        ({"count": 0}, "count"),
        ({"count": 10_001}, "count"),
        ({"count": "3"}, "count"),
        ({"count": True}, "count"),
    ],
)
def test_inject_errors(sb: Harness, payload: dict[str, Any], variables: str) -> None:
    resp = sb.inject(**payload)
    assert resp.status_code == 400
    assert error_of(resp)[1:] == ("SVC0002", "Invalid input value for message part %1", variables)


def test_inject_needs_a_json_object(sb: Harness) -> None:
    for body in (b"[1]", b"nope"):
        resp = sb.client.post("/sandbox/inbox/12345", content=body)
        assert resp.status_code == 400
        assert error_of(resp)[3] == "body"


def test_inbox_needs_a_token(sb: Harness) -> None:
    sb.inject()
    resp = sb.client.get(f"{INBOX_PATH}/12345")
    assert resp.status_code == 401
    assert sb.inbox().json()["inboundSMSMessageList"]["numberOfMessagesInThisBatch"] == 1
