"""The lenient parsers: every shape the real service has used parses to the same result."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attsms.api.faults import error_from_response
from attsms.api.parsers import (
    as_int,
    parse_delivery_status,
    parse_error_body,
    parse_inbox,
    parse_send,
    parse_token,
)
from attsms.core.errors import ExitCode


def _case(name: str, style: str) -> str:
    if style == "pascal":
        return name[0].upper() + name[1:]
    if style == "upper":
        return name.upper()
    return name


styles = st.sampled_from(["camel", "pascal", "upper"])


def _recase(value: Any, style: str) -> Any:
    if isinstance(value, dict):
        return {_case(k, style): _recase(v, style) for k, v in value.items()}
    if isinstance(value, list):
        return [_recase(v, style) for v in value]
    return value


counts = st.integers(min_value=0, max_value=10_000)


@given(style=styles, pending=counts, as_string=st.booleans())
def test_inbox_any_key_case_and_string_counts(style: str, pending: int, as_string: bool) -> None:
    body = {
        "inboundSMSMessageList": {
            "inboundSMSMessage": [
                {
                    "messageId": "m1",
                    "message": "STOP",
                    "senderAddress": "tel:12125550100",
                    "destinationAddress": "12345",
                    "dateTime": "2026-04-19T14:30:00Z",
                }
            ],
            "numberOfMessagesInThisBatch": "1" if as_string else 1,
            "totalNumberOfPendingMessages": str(pending) if as_string else pending,
        }
    }
    batch = parse_inbox(_recase(body, style))
    assert batch.pending == pending
    assert [(m.message_id, m.message, m.sender) for m in batch.messages] == [
        ("m1", "STOP", "tel:+12125550100")
    ]


def test_inbox_single_message_as_object_not_list() -> None:
    body = {"InboundSMSMessageList": {"InboundSMSMessage": {"MessageId": "m1", "Message": "hi"}}}
    assert [m.message_id for m in parse_inbox(body).messages] == ["m1"]


@pytest.mark.parametrize(
    ("sender", "when", "kept_sender", "kept_when"),
    [
        # Listen's rule (core.inbound): a valid sender in its wire form, a time trimmed.
        ("+447700900123", " 2026-04-19T14:30:00Z ", "tel:+447700900123", "2026-04-19T14:30:00Z"),
        ("12345", None, "short:12345", ""),
        # Not a sender, not a time: kept as they came (the service has forgotten the message).
        ("garbage", "garbage", "garbage", "garbage"),
        ("tel:+1212", 1.5, "tel:+1212", "1.5"),
        (None, True, "", "true"),
        (None, ["x"], "", '["x"]'),
    ],
)
def test_inbox_sender_and_time_by_listens_rule_or_as_they_came(
    sender: str | None, when: Any, kept_sender: str, kept_when: str
) -> None:
    item = {"messageId": "m1", "message": "STOP", "senderAddress": sender, "dateTime": when}
    [message] = parse_inbox({"inboundSMSMessageList": {"inboundSMSMessage": item}}).messages
    assert (message.sender, message.received_at) == (kept_sender, kept_when)


@given(style=styles)
def test_delivery_status_any_case(style: str) -> None:
    body = {
        "deliveryInfoList": {
            "deliveryInfo": [{"address": "tel:2125550100", "deliveryStatus": "MessageWaiting"}],
            "resourceURL": "https://x/outbox/m1",
        }
    }
    status = parse_delivery_status(_recase(body, style), "m1")
    assert [(d.address, d.status) for d in status.deliveries] == [
        ("tel:+12125550100", "MessageWaiting")
    ]


def test_send_without_resource_reference() -> None:
    result = parse_send({"OutboundSMSResponse": {"MessageId": "m9"}}, ["tel:+12125550100"])
    assert (result.message_id, result.resource_url) == ("m9", None)


def test_send_without_message_id_is_an_error() -> None:
    with pytest.raises(ValueError, match="messageId"):
        parse_send({"outboundSMSResponse": {}}, ["tel:+12125550100"])


@given(expires=st.integers(min_value=1, max_value=10**7), as_string=st.booleans())
def test_token_expiry_from_number_or_string(expires: int, as_string: bool) -> None:
    body = {"access_token": "a", "expires_in": str(expires) if as_string else expires}
    token = parse_token(body, now=1000.0)
    assert token.expires_at == 1000.0 + expires
    assert token.refresh_token is None


def test_token_expires_in_zero_means_never() -> None:
    token = parse_token({"access_token": "a", "expires_in": 0, "refresh_token": "r"}, now=5.0)
    assert token.expires_at is None


@given(st.one_of(st.none(), st.text(), st.lists(st.integers()), st.booleans(), st.floats()))
def test_as_int_never_raises(value: Any) -> None:
    assert isinstance(as_int(value), int)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ("address", "Invalid input value for message part address"),
        (["address"], "Invalid input value for message part address"),
        ("tel:+1,tel:+2", "Invalid input value for message part tel:+1,tel:+2"),
        (None, "Invalid input value for message part %1"),
    ],
)
def test_error_variables_string_or_list(variables: Any, expected: str) -> None:
    body = {
        "RequestError": {
            "ServiceException": {
                "MessageId": "SVC0002",
                "Text": "Invalid input value for message part %1",
                "Variables": variables,
            }
        }
    }
    fault = parse_error_body(body)
    assert fault is not None
    assert (fault.code, fault.text) == ("SVC0002", expected)


def test_error_two_variables_in_one_string() -> None:
    body = {
        "requestError": {
            "policyException": {
                "messageId": "POL0003",
                "text": "%1 > %2",
                "variables": "address,50",
            }
        }
    }
    fault = parse_error_body(body)
    assert fault is not None
    assert fault.text == "address > 50"


@given(st.text(max_size=300))
def test_error_mapping_never_raises_on_any_body(body: str) -> None:
    response = httpx.Response(500, content=body.encode(), request=httpx.Request("GET", "http://x"))
    error = error_from_response(response, "doing it")
    assert "HTTP 500" in error.message
    assert error.exit_code == ExitCode.TEMPFAIL


@given(
    st.recursive(
        st.none() | st.integers() | st.text(max_size=5),
        lambda kids: (
            st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_error_body_parser_never_raises_on_any_json(body: Any) -> None:
    response = httpx.Response(
        400, content=json.dumps(body).encode(), request=httpx.Request("GET", "http://x")
    )
    assert error_from_response(response, "x").status == 400
