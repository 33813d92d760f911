"""Delivery status: MessageWaiting, then an outcome chosen by the number's last four digits."""

from __future__ import annotations

import pytest

from attsms.sandbox import SandboxConfig
from attsms.sandbox.core import UNDELIVERED_RETENTION_SECONDS
from tests.helpers.sandbox_harness import SEND_PATH, Harness, MakeSandbox, error_of

RULES = {
    "tel:+12125550900": "DeliveryImpossible",
    "tel:+12125550999": "DeliveryImpossible",
    "tel:+12125550800": "DeliveredToNetwork",
    "tel:+12125550700": "MessageWaiting",
    "tel:+12125550600": "DeliveryUncertain",
    "tel:+12125550100": "DeliveredToTerminal",
    "tel:+12125551234": "DeliveredToTerminal",
    "tel:+12125550500": "DeliveredToTerminal",
    "tel:+12125559000": "DeliveredToTerminal",  # 90xx, not 09xx
    "short:12345": "DeliveredToNetwork",
}
FINAL_ONLY = ["tel:+12125551234", "tel:+12125550900", "tel:+12125550800", "short:777"]


@pytest.fixture
def fast(make_sandbox: MakeSandbox) -> Harness:
    config = SandboxConfig(delivery_seconds=2, status_retention_seconds=60, token_lifetime=0)
    return make_sandbox(config)


def test_status_shape(fast: Harness) -> None:
    message_id = fast.send_ok("tel:+12125551234")
    body = fast.status(message_id).json()
    base = str(fast.client.base_url).rstrip("/")
    assert body == {
        "deliveryInfoList": {
            "deliveryInfo": [{"address": "tel:+12125551234", "deliveryStatus": "MessageWaiting"}],
            "resourceURL": f"{base}{SEND_PATH}/{message_id}",
        }
    }


def test_every_address_waits_then_reaches_its_documented_outcome(fast: Harness) -> None:
    message_id = fast.send_ok(list(RULES))
    assert fast.statuses(message_id) == dict.fromkeys(RULES, "MessageWaiting")
    fast.clock.advance(1.999)
    assert set(fast.statuses(message_id).values()) == {"MessageWaiting"}
    fast.clock.advance(0.001)
    assert fast.statuses(message_id) == RULES
    fast.clock.advance(50)
    assert fast.statuses(message_id) == RULES  # outcomes never change once reached


def test_status_is_gone_after_the_retention_once_final(fast: Harness) -> None:
    message_id = fast.send_ok(FINAL_ONLY)
    fast.clock.advance(2 + 60)
    assert fast.status(message_id).status_code == 200
    fast.clock.advance(0.01)
    resp = fast.status(message_id)
    assert resp.status_code == 404
    assert error_of(resp)[1:] == ("SVC0002", "Not found: %1", f"message {message_id}")


def test_a_message_not_final_everywhere_stays_until_the_network_gives_up(fast: Harness) -> None:
    message_id = fast.send_ok(["tel:+12125551234", "tel:+12125550700"])
    fast.clock.advance(3600)
    assert fast.statuses(message_id)["tel:+12125550700"] == "MessageWaiting"
    fast.clock.advance(UNDELIVERED_RETENTION_SECONDS)
    assert fast.status(message_id).status_code == 404


def test_unknown_message_id_is_404(sb: Harness) -> None:
    resp = sb.status("SMS0000000000000000")
    assert resp.status_code == 404
    assert error_of(resp)[3] == "message SMS0000000000000000"


def test_default_timings(sb: Harness) -> None:
    message_id = sb.send_ok("tel:+12125551234")
    sb.clock.advance(1.9)
    assert sb.statuses(message_id) == {"tel:+12125551234": "MessageWaiting"}
    sb.clock.advance(0.1)
    assert sb.statuses(message_id) == {"tel:+12125551234": "DeliveredToTerminal"}
    sb.clock.advance(1800)
    assert sb.status(message_id).status_code == 200
    sb.clock.advance(1)
    assert sb.status(message_id).status_code == 404
