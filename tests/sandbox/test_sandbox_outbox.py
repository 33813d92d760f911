"""GET /sandbox/outbox: what the sandbox accepted, one entry per recipient, in both transports."""

from __future__ import annotations

import json

from attsms.sandbox.state import SandboxState
from tests.helpers.sandbox_harness import Harness


def _outbox(sb: Harness) -> list[dict[str, str]]:
    resp = sb.client.get("/sandbox/outbox")
    assert resp.status_code == 200
    body = resp.json()
    assert body["total"] == len(body["outbox"])
    entries: list[dict[str, str]] = body["outbox"]
    return entries


def test_outbox_lists_each_recipient_with_its_own_text_and_message_id(sb: Harness) -> None:
    first = sb.send_ok(["tel:+12125550100", "tel:+13125550101"], "Hi all")
    second = sb.send_ok("tel:+12125550100", "Hi Ana, your table at 7:30 ✓")
    entries = _outbox(sb)
    assert [(e["messageId"], e["address"], e["message"]) for e in entries] == [
        (first, "tel:+12125550100", "Hi all"),
        (first, "tel:+13125550101", "Hi all"),
        (second, "tel:+12125550100", "Hi Ana, your table at 7:30 ✓"),
    ]
    assert all(e["sentAt"].endswith("Z") for e in entries)


def test_refused_sends_are_not_in_the_outbox(sb: Harness) -> None:
    assert sb.send(["tel:+12125550100", "tel:+12125550100"], "dup").status_code == 400
    sb.faults({"method": "POST", "path_prefix": "/sms/v3/messaging/outbox", "status": 503})
    assert sb.send("tel:+12125550100", "busy").status_code == 503
    assert _outbox(sb) == []


def test_a_send_answered_500_after_it_happened_is_in_the_outbox(sb: Harness) -> None:
    # The case a client cannot see: the outbox is how a test proves the text went anyway.
    sb.faults(
        {
            "method": "POST",
            "path_prefix": "/sms/v3/messaging/outbox",
            "status": 500,
            "after_processing": True,
        }
    )
    assert sb.send("tel:+12125550100", "went").status_code == 500
    assert [(e["address"], e["message"]) for e in _outbox(sb)] == [("tel:+12125550100", "went")]


def test_outbox_outlives_status_retention_and_empties_on_reset(sb: Harness) -> None:
    kept = sb.send_ok("tel:+12125550100", "kept")
    sb.clock.advance(3600)  # past the 30 minutes a final status is kept
    sb.send_ok("tel:+12125550101", "new")  # and a request that prunes
    assert sb.status(kept).status_code == 404
    assert [e["message"] for e in _outbox(sb)] == ["kept", "new"]
    assert sb.client.post("/sandbox/reset").status_code == 200
    assert _outbox(sb) == []


def test_a_state_file_from_before_the_outbox_still_loads() -> None:
    data = SandboxState().to_json()
    del data["outbox"]
    state = SandboxState.from_json(json.loads(json.dumps(data)))
    assert state.outbox == []
