"""Send: the request checks of the real service, in its error codes, and what is recorded."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.sandbox_harness import SEND_PATH, Harness, error_of

A = "tel:+12125551234"
B = "tel:+13125550142"


def test_send_answers_201_with_id_and_resource_url(sb: Harness) -> None:
    resp = sb.send([A, B], "Your code is 482910", notifyDeliveryStatus=True)
    assert resp.status_code == 201
    out = resp.json()["outboundSMSResponse"]
    assert out["messageId"]
    base = str(sb.client.base_url).rstrip("/")
    assert out["resourceReference"]["resourceURL"] == f"{base}{SEND_PATH}/{out['messageId']}"
    assert sb.stats()["delivered_to"] == {A: 1, B: 1}


def test_each_send_gets_a_new_id(sb: Harness) -> None:
    ids = {sb.send_ok(A) for _ in range(5)}
    assert len(ids) == 5
    assert sb.stats()["delivered_to"] == {A: 5}


@pytest.mark.parametrize(
    "address",
    [A, "tel:12125551234", "tel:2125551234", "short:123", "short:12345678", [A], ["short:55555"]],
)
def test_every_documented_address_form_is_accepted(sb: Harness, address: Any) -> None:
    assert sb.send(address).status_code == 201


def test_tel_forms_are_recorded_in_their_canonical_form(sb: Harness) -> None:
    message_id = sb.send_ok(["tel:2125551234", "tel:13125550142", "short:99999"])
    assert set(sb.statuses(message_id)) == {A, B, "short:99999"}


def test_fifty_addresses_are_fine(sb: Harness) -> None:
    addresses = [f"tel:+1212555{n:04d}" for n in range(1000, 1050)]
    assert sb.send(addresses).status_code == 201


ERRORS: list[tuple[Any, Any, str, str]] = [
    # (address, message, MessageId, Variables)
    ([f"tel:+1212555{n:04d}" for n in range(1000, 1051)], "hi", "POL0003", "address"),
    ([A, "tel:2125551234"], "hi", "POL0013", A),
    ([A, B, "tel:12125551234", "tel:+13125550142"], "hi", "POL0013", f"{A}, {B}"),
    ([A], "", "SVC0002", "message"),
    ([A], "x" * 4097, "SVC0280", "4096"),
    ([A], "é" * 2049, "SVC0280", "4096"),  # 4098 bytes: the budget is UTF-8 bytes
    ([A, "tel:+1212555123"], "hi", "SVC0002", "tel:+1212555123"),
    ([A, "12125551234", "short:12"], "hi", "SVC0002", "12125551234, short:12"),
    (["+12125551234"], "hi", "SVC0004", "address"),
    (["tel:+44 20 7946 0958", "mailto:x@y"], "hi", "SVC0004", "address"),
    ([], "hi", "SVC0004", "address"),
    ([A, 12125551234], "hi", "SVC0002", "address"),
    (None, "hi", "SVC0002", "address"),
    ({"tel": A}, "hi", "SVC0002", "address"),
    ([A], None, "SVC0002", "message"),
    ([A], ["hi"], "SVC0002", "message"),
    # +1 numbers outside the US and its territories: the service does not deliver to them.
    (["tel:+14165550100"], "hi", "SVC0004", "address"),  # Toronto
    (["tel:+18765550100", "tel:6045550100"], "hi", "SVC0004", "address"),  # Jamaica, Vancouver
    ([A, "tel:+14165550100"], "hi", "SVC0002", "tel:+14165550100"),
    ([A, "tel:18095550100", B], "hi", "SVC0002", "tel:18095550100"),  # Dominican Republic
    ([A, "tel:+16005550100", "short:12"], "hi", "SVC0002", "tel:+16005550100, short:12"),
]


@pytest.mark.parametrize(("address", "message", "message_id", "variables"), ERRORS)
def test_send_errors(
    sb: Harness, address: Any, message: Any, message_id: str, variables: str
) -> None:
    resp = sb.send(address, message)
    assert resp.status_code == 400
    kind, got_id, text, got_variables = error_of(resp)
    assert (got_id, got_variables) == (message_id, variables)
    assert kind == ("PolicyException" if message_id.startswith("POL") else "ServiceException")
    assert "%1" in text
    assert sb.stats()["delivered_to"] == {}


CANADA = "tel:+14165550100"  # Toronto
JAMAICA = "tel:+18765550100"


@pytest.mark.parametrize(
    "address",
    [
        CANADA,
        JAMAICA,
        "tel:14165550100",  # every tel form, not only the canonical one
        "tel:8765550100",
        "tel:+15145550100",  # Montreal
        "tel:+16045550100",  # Vancouver
        "tel:+18675550100",  # Yukon, Northwest Territories, Nunavut
        "tel:+16005550100",  # Canada, non-geographic
        "tel:+18095550100",  # Dominican Republic
        "tel:+12425550100",  # Bahamas
        "tel:+14415550100",  # Bermuda
        "tel:+18685550100",  # Trinidad and Tobago
    ],
)
def test_canadian_and_caribbean_numbers_are_refused_naming_them(sb: Harness, address: str) -> None:
    resp = sb.send(address)
    assert resp.status_code == 400
    assert error_of(resp)[1:] == (
        "SVC0004",
        "No valid addresses provided in message part %1",
        "address",
    )
    resp = sb.send([A, address])
    assert resp.status_code == 400
    assert error_of(resp) == (
        "ServiceException",
        "SVC0002",
        "Invalid input value for message part %1",
        address,
    )
    assert sb.stats()["delivered_to"] == {}


def test_a_mix_of_us_and_canadian_numbers_is_refused_whole(sb: Harness) -> None:
    before = sb.stats()
    resp = sb.send([A, CANADA, B, JAMAICA], notifyDeliveryStatus=True)
    assert resp.status_code == 400
    assert error_of(resp)[1:] == (
        "SVC0002",
        "Invalid input value for message part %1",
        f"{CANADA}, {JAMAICA}",
    )
    after = sb.stats()
    assert after["delivered_to"] == before["delivered_to"] == {}
    assert after["operations"]["send"] == before["operations"]["send"]
    assert sb.client.get("/sandbox/outbox").json() == {"outbox": [], "total": 0}
    # The US numbers alone go through.
    message_id = sb.send_ok([A, B])
    assert set(sb.statuses(message_id)) == {A, B}
    assert sb.stats()["delivered_to"] == {A: 1, B: 1}


@pytest.mark.parametrize(
    "address",
    [
        "tel:+17875550100",  # Puerto Rico
        "tel:+19395550100",  # Puerto Rico
        "tel:+13405550100",  # US Virgin Islands
        "tel:+16715550100",  # Guam
        "tel:+16845550100",  # American Samoa
        "tel:+16705550100",  # Northern Mariana Islands
        "tel:+19075550100",  # Alaska
        "tel:+18085550100",  # Hawaii
        "tel:+18005550100",  # toll-free, shared by the US and Canada: the US number is reachable
        "tel:+15555550100",  # NANP, no country: the test range
    ],
)
def test_us_states_and_territories_are_accepted(sb: Harness, address: str) -> None:
    message_id = sb.send_ok([address, "tel:2125551234"])
    assert set(sb.statuses(message_id)) == {address, A}
    assert sb.stats()["delivered_to"] == {address: 1, A: 1}


def test_message_of_exactly_4096_bytes_is_accepted(sb: Harness) -> None:
    assert sb.send(A, "x" * 4096).status_code == 201
    assert sb.send(A, "é" * 2048).status_code == 201
    assert sb.send(A, "😀" * 1024).status_code == 201


@pytest.mark.parametrize(
    ("body", "variables"),
    [
        (b"{not json", "outboundSMSRequest"),
        (b"", "outboundSMSRequest"),
        (b"[]", "outboundSMSRequest"),
        (b'{"outboundSmsRequest": {}}', "outboundSMSRequest"),
        (b'{"outboundSMSRequest": []}', "outboundSMSRequest"),
        (b'{"outboundSMSRequest": {"message": "hi"}}', "address"),
        (b'{"outboundSMSRequest": {"address": ["tel:+12125551234"]}}', "message"),
        (b'{"outboundSMSRequest": {"address": "short:555", "message": "\\ud800"}}', "message"),
        (
            b'{"outboundSMSRequest": {"address": "short:555", "message": "x",'
            b' "notifyDeliveryStatus": "yes"}}',
            "notifyDeliveryStatus",
        ),
        (b"\xff\xfe", "outboundSMSRequest"),
    ],
)
def test_malformed_send_bodies(sb: Harness, body: bytes, variables: str) -> None:
    headers = {**sb.auth(), "Content-Type": "application/json"}
    resp = sb.client.post(SEND_PATH, content=body, headers=headers)
    assert resp.status_code == 400
    assert error_of(resp)[1:] == ("SVC0002", "Invalid input value for message part %1", variables)


def test_send_must_be_json(sb: Harness) -> None:
    resp = sb.client.post(SEND_PATH, data={"address": A, "message": "hi"}, headers=sb.auth())
    assert resp.status_code == 400
    assert error_of(resp)[3] == "Content-Type"


def test_unknown_paths_and_methods(sb: Harness) -> None:
    resp = sb.client.get("/sms/v2/messaging/outbox", headers=sb.auth())
    assert resp.status_code == 404
    assert error_of(resp)[3] == "GET /sms/v2/messaging/outbox"
    resp = sb.client.get(SEND_PATH, headers=sb.auth())
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "POST"
    assert error_of(resp)[1] == "SVC0001"
    assert sb.client.put("/sandbox/stats").status_code == 405
    assert sb.client.get("/sandbox/nothing").status_code == 404
