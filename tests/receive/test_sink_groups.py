"""`attsms listen`'s writer hands the sink every notification waiting as ONE group (group commit):
what a user sees of each notification must not depend on what else was in its group. On a real
store, each backend: STOP/START applied in the person's time order (whatever the order in the
group), a duplicate inside one group and across groups stored once, receipts for known and
unknown messages mixed in one group answered as one at a time would be."""

from __future__ import annotations

import pytest

from attsms.core.models import DeliveryInfo, InboundMessage
from attsms.receive.listen import DeliveryReceipt, InboundPush
from attsms.receive.sink import StoreSink
from attsms.store import open_history, open_inbox, opted_out
from tests.helpers.support import profile_sender, store_settings

ALICE, BOB, CAROL = "tel:+12125550101", "tel:+12125550102", "tel:+12125550103"


def _push(message_id: str, sender: str, text: str, second: int) -> InboundPush:
    registration = profile_sender().short_code or "12345"
    message = InboundMessage(
        message_id=message_id,
        message=text,
        sender=sender,
        destination=registration,
        received_at=f"2026-12-01T10:00:{second:02d}Z",
    )
    return InboundPush(registration, message)


@pytest.mark.usefixtures("backend")
def test_one_group_with_keywords_and_a_duplicate_is_stored_as_one_at_a_time_would_be() -> None:
    group = [
        _push("M1", ALICE, "hello", 1),
        _push("M2", ALICE, "STOP", 2),
        _push("M3", ALICE, "one more after STOP", 3),
        _push("M1", ALICE, "hello", 1),  # the service pushed M1 again: same group
        _push("M4", BOB, "START", 5),  # pushed before his STOP, sent after it: opted in
        _push("M5", BOB, "STOP", 4),
        _push("M6", CAROL, "START", 6),  # texted STOP later, pushed earlier: opted out
        _push("M7", CAROL, "stop", 7),
    ]
    group[6], group[7] = group[7], group[6]
    sink = StoreSink(profile_sender(), store_settings())
    try:
        assert sink.store(group) == [True, True, True, False, True, True, True, True]
        # The whole group pushed again (a retry after a lost 2xx): nothing is new.
        assert sink.store(group) == [False] * len(group)
    finally:
        sink.close()
    with open_inbox(store_settings(), "default") as inbox:
        stored = inbox.messages()
    assert [m.message_id for m in stored] == ["M1", "M2", "M3", "M4", "M5", "M7", "M6"]
    assert [m.keyword for m in stored] == [None, "stop", None, "start", "stop", "stop", "start"]
    out = opted_out(store_settings(), profile_sender(), [ALICE, BOB, CAROL])
    assert out == {ALICE, CAROL}


@pytest.mark.usefixtures("backend")
def test_one_group_of_known_unknown_repeated_and_late_receipts() -> None:
    with open_history(store_settings()) as history:
        history.record_batch(
            profile="default", message="hi", addresses=[ALICE, BOB, CAROL], message_id="SMS1"
        )

    def receipt(message_id: str, address: str, status: str) -> DeliveryReceipt:
        return DeliveryReceipt(message_id, (DeliveryInfo(address, status),))

    group = [
        receipt("SMS1", ALICE, "DeliveredToTerminal"),
        receipt("SMS-ELSEWHERE", ALICE, "DeliveredToTerminal"),  # sent from another machine
        receipt("SMS1", ALICE, "DeliveredToTerminal"),  # pushed twice in one group
        receipt("SMS1", ALICE, "DeliveredToNetwork"),  # late: never moves a status back
        receipt("SMS1", BOB, "DeliveredToNetwork"),
        receipt("SMS1", BOB, "DeliveredToTerminal"),  # his second status in the same group
        receipt("SMS1", CAROL, "DeliveryImpossible"),
    ]
    sink = StoreSink(profile_sender(), store_settings())
    try:
        assert sink.store(group) == [True, False, False, False, True, True, True]
        # One recipient per status (the common case: one statement on PostgreSQL).
        assert sink.store([group[0], group[1], group[6]]) == [False, False, False]
    finally:
        sink.close()
    with open_history(store_settings()) as history:
        batch = history.get("SMS1")
    assert batch is not None
    assert {r.address: r.status for r in batch.recipients} == {
        ALICE: "DeliveredToTerminal",
        BOB: "DeliveredToTerminal",
        CAROL: "DeliveryImpossible",
    }
