"""`dialect="codekit"`: the GET inbox and delivery-status answers in the shapes AT&T's SDKs parse
(codekit-php tests/sms/SMS_GetSMSResponseTest.php and SMS_DeliveryStatusTest.php, codekit-java
SMSGetResponseTest.java and SMSStatusTest.java); everything else as in the spec dialect. Run
in-process and over HTTP, as every sandbox test."""

from __future__ import annotations

from typing import Any

import pytest

from attsms.sandbox import SandboxConfig
from tests.helpers.sandbox_harness import INBOX_PATH, SEND_PATH, Harness, MakeSandbox, error_of

CODEKIT = SandboxConfig(dialect="codekit", delivery_seconds=2.0)


@pytest.fixture
def ck(make_sandbox: MakeSandbox) -> Harness:
    return make_sandbox(CODEKIT)


def _base(sb: Harness) -> str:
    return str(sb.client.base_url).rstrip("/")


def test_codekit_inbox_has_the_sdk_test_shape_with_counts_as_strings(ck: Harness) -> None:
    ck.inject(**{"from": "+12125550100", "text": "Hello"})
    ck.inject(**{"from": "2125550199", "text": "second"})
    ck.client.post("/sandbox/inbox/12345", json={"from": "+12125550100", "text": "x", "count": 2})
    body = ck.inbox().json()
    assert list(body) == ["InboundSmsMessageList"]
    listing = body["InboundSmsMessageList"]
    assert set(listing) == {
        "InboundSmsMessage",
        "NumberOfMessagesInThisBatch",
        "ResourceUrl",
        "TotalNumberOfPendingMessages",
    }
    assert listing["NumberOfMessagesInThisBatch"] == "4"
    assert listing["TotalNumberOfPendingMessages"] == "0"
    assert listing["ResourceUrl"] == f"{_base(ck)}{INBOX_PATH}/12345"
    first = listing["InboundSmsMessage"][0]
    assert first.pop("MessageId").startswith("MSG")
    assert first == {
        "Message": "Hello",
        "SenderAddress": "tel:2125550100",  # as the SDKs' tests show it: tel: and ten digits
        "DestinationAddress": "12345",
        "DateTime": "2027-01-15T08:00:00.000Z",
    }
    assert [m["SenderAddress"] for m in listing["InboundSmsMessage"][1:]] == [
        "tel:2125550199",
        "tel:2125550100",
        "tel:2125550100",
    ]


def test_codekit_inbox_batches_count_what_is_left(make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox(SandboxConfig(dialect="codekit", inbox_batch_size=2))
    sb.client.post("/sandbox/inbox/12345", json={"from": "+12125550100", "text": "x", "count": 5})
    counts = []
    for _ in range(4):
        listing = sb.inbox().json()["InboundSmsMessageList"]
        counts.append(
            (listing["NumberOfMessagesInThisBatch"], listing["TotalNumberOfPendingMessages"])
        )
    assert counts == [("2", "3"), ("2", "1"), ("1", "0"), ("0", "0")]
    assert sb.inbox().json()["InboundSmsMessageList"]["InboundSmsMessage"] == []


def test_codekit_delivery_status_has_the_sdk_test_shape(ck: Harness) -> None:
    message_id = ck.send_ok(["tel:+12125550100", "tel:2125550900", "short:12345"])
    url = f"{_base(ck)}{SEND_PATH}/{message_id}"

    def infos() -> list[dict[str, Any]]:
        resp = ck.status(message_id)
        assert resp.status_code == 200
        body = resp.json()
        assert list(body) == ["DeliveryInfoList"]
        assert set(body["DeliveryInfoList"]) == {"DeliveryInfo", "ResourceUrl"}
        assert body["DeliveryInfoList"]["ResourceUrl"] == url
        info: list[dict[str, Any]] = body["DeliveryInfoList"]["DeliveryInfo"]
        return info

    waiting = {"Id": message_id, "DeliveryStatus": "MessageWaiting"}
    assert infos() == [
        {**waiting, "Address": "+12125550100"},  # +1…, no tel:, as in SMS_DeliveryStatusTest.php
        {**waiting, "Address": "+12125550900"},
        {**waiting, "Address": "short:12345"},
    ]
    ck.clock.advance(2.0)
    assert [(i["Address"], i["DeliveryStatus"]) for i in infos()] == [
        ("+12125550100", "DeliveredToTerminal"),
        ("+12125550900", "DeliveryImpossible"),
        ("short:12345", "DeliveredToNetwork"),
    ]


def test_send_token_and_errors_are_the_same_in_both_dialects(make_sandbox: MakeSandbox) -> None:
    answers = []
    for dialect in ("spec", "codekit"):
        sb = make_sandbox(SandboxConfig(dialect=dialect, seed=7))
        token = sb.get_token().json()
        sent = sb.send("tel:+12125550100").text.replace(_base(sb), "BASE")  # servers' ports differ
        errors = [
            error_of(sb.status("SMS0000000000000000")),
            error_of(sb.inbox("99999")),
            error_of(sb.send("tel:123")),
        ]
        answers.append((set(token), token["token_type"], token["expires_in"], sent, errors))
    spec, codekit = answers
    assert codekit == spec
    assert f'"resourceURL": "BASE{SEND_PATH}/SMS' in spec[3]


def test_both_dialects_carry_the_same_facts(make_sandbox: MakeSandbox) -> None:
    seen: list[list[tuple[str, ...]]] = []
    for dialect in ("spec", "codekit"):
        sb = make_sandbox(SandboxConfig(dialect=dialect, seed=3))
        sb.inject(**{"from": "+12125550100", "text": "STOP"})
        message_id = sb.send_ok(["tel:+12125550100", "tel:+12125550800"])
        sb.clock.advance(5)
        inbox, status = sb.inbox().json(), sb.status(message_id).json()
        if dialect == "codekit":
            (m,) = inbox["InboundSmsMessageList"]["InboundSmsMessage"]
            facts: list[tuple[str, ...]] = [
                (m["MessageId"], m["Message"], "tel:+1" + m["SenderAddress"][4:])
            ]
            facts += [
                ("tel:" + i["Address"], i["DeliveryStatus"])
                for i in status["DeliveryInfoList"]["DeliveryInfo"]
            ]
        else:
            (m,) = inbox["inboundSMSMessageList"]["inboundSMSMessage"]
            facts = [(m["messageId"], m["message"], m["senderAddress"])]
            facts += [
                (i["address"], i["deliveryStatus"])
                for i in status["deliveryInfoList"]["deliveryInfo"]
            ]
        seen.append(facts)
    assert seen[0] == seen[1]
    assert seen[0][1:] == [
        ("tel:+12125550100", "DeliveredToTerminal"),
        ("tel:+12125550800", "DeliveredToNetwork"),
    ]


def test_an_unknown_dialect_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="invalid sandbox setting: dialect"):
        SandboxConfig(dialect="pascal")
