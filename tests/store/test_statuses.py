"""Delivery statuses only move forward, on both backends: the one rule of the store's status
write (`HistoryStore.update_statuses`), whichever path feeds it (a poll, `send --wait`, `status`,
a receipt pushed to `attsms listen`). A final status is never replaced by a non-final one, nor
`DeliveredToTerminal` by `DeliveredToNetwork`; a status seen again is not a change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from attsms import store as stores
from attsms.core.models import DeliveryInfo, DeliveryStatus
from attsms.store.history import HistoryStore, forward_status
from attsms.track.wait import wait_and_record
from tests.helpers.support import store_settings

A, B = "tel:+12125550100", "tel:+12125550101"
WAITING, TERMINAL, NETWORK, IMPOSSIBLE = (
    "MessageWaiting",
    "DeliveredToTerminal",
    "DeliveredToNetwork",
    "DeliveryImpossible",
)


@pytest.fixture
def history(isolated_home: Path, backend: str) -> Iterator[HistoryStore]:
    with stores.open_history(store_settings()) as store:
        store.record_batch(profile="p", message="hi", addresses=[A, B], message_id="m1")
        yield store


def _statuses(history: HistoryStore) -> list[str | None]:
    batch = history.get("m1")
    assert batch is not None
    return [r.status for r in batch.recipients]


@pytest.mark.parametrize(
    ("fed", "kept"),
    [
        ([WAITING, TERMINAL, WAITING], TERMINAL),  # a late non-final receipt
        ([TERMINAL, NETWORK], TERMINAL),
        ([NETWORK, WAITING], NETWORK),
        ([IMPOSSIBLE, WAITING, "DeliveryUncertain"], IMPOSSIBLE),
        ([NETWORK, TERMINAL], TERMINAL),  # forward is forward
        ([WAITING, "DeliveryUncertain"], "DeliveryUncertain"),  # not final yet: the latest
        ([TERMINAL, TERMINAL, NETWORK, WAITING, TERMINAL], TERMINAL),
    ],
)
def test_statuses_fed_late_twice_and_out_of_order_only_move_forward(
    history: HistoryStore, fed: list[str], kept: str
) -> None:
    for status in fed:
        history.update_statuses("m1", [DeliveryInfo(A, status)])
    assert _statuses(history) == [kept, None]
    # The same through the many-at-once write (`attsms listen`'s), in one transaction.
    history.update_statuses_many([("m1", [DeliveryInfo(B, s)]) for s in fed])
    assert _statuses(history) == [kept, kept]
    # And one receipt listing the address several times.
    history.update_statuses("m1", [DeliveryInfo(A, s) for s in fed])
    assert _statuses(history) == [kept, kept]
    # The rule itself, as the store applies it.
    last: str | None = None
    for status in fed:
        last = forward_status(last, status)
    assert last == kept


def test_only_a_change_counts_and_a_blocked_status_changes_nothing(history: HistoryStore) -> None:
    assert history.update_statuses("m1", [DeliveryInfo(A, TERMINAL)]) == 1
    at = history.get("m1").recipients[0].status_at  # type: ignore[union-attr]
    assert history.update_statuses("m1", [DeliveryInfo(A, TERMINAL)]) == 0
    assert history.update_statuses("m1", [DeliveryInfo(A, NETWORK)]) == 0
    assert history.update_statuses("m1", [DeliveryInfo(A, WAITING)]) == 0
    assert history.get("m1").recipients[0].status_at == at  # type: ignore[union-attr]
    assert history.update_statuses_many(
        [("m1", [DeliveryInfo(A, WAITING)]), ("m1", [DeliveryInfo(B, WAITING)])]
    ) == [0, 1]


def test_many_at_once_counts_each_update_as_if_written_one_after_another(
    history: HistoryStore,
) -> None:
    """What `attsms listen` answers {"stored": true} by: one transaction (PostgreSQL: one
    statement per round of distinct recipients), the counts of writing them in order."""
    updates = [
        ("m1", [DeliveryInfo(A, WAITING)]),
        ("m1", [DeliveryInfo(A, TERMINAL), DeliveryInfo(B, NETWORK)]),
        ("m1", [DeliveryInfo(A, TERMINAL)]),  # the same receipt again: nothing new
        ("m1", [DeliveryInfo(A, NETWORK)]),  # it would move A back
        ("never-sent", [DeliveryInfo(A, TERMINAL)]),  # another machine's message
        ("m1", [DeliveryInfo(B, TERMINAL)]),
    ]
    assert history.update_statuses_many(updates) == [1, 2, 0, 0, 0, 1]
    assert _statuses(history) == [TERMINAL, TERMINAL]


class _Lagging:
    """A status service that is behind a receipt `listen` stored: A waiting, B delivered."""

    asked = 0

    def delivery_status(self, message_id: str) -> DeliveryStatus:
        self.asked += 1
        return DeliveryStatus(message_id, (DeliveryInfo(A, WAITING), DeliveryInfo(B, TERMINAL)))


def test_a_poll_behind_a_stored_receipt_does_not_move_it_back(history: HistoryStore) -> None:
    history.update_statuses("m1", [DeliveryInfo(A, TERMINAL)])  # a receipt pushed to listen
    client = _Lagging()
    wait_and_record(client, history, ["m1"], timeout=5, interval=0.01)
    assert client.asked >= 1
    assert _statuses(history) == [TERMINAL, TERMINAL]


def test_each_status_keeps_where_it_came_from(history: HistoryStore) -> None:
    # A receipt pushed to `listen` dates the status exactly; a poll only bounds it: the report
    # tells them apart (`latency.upper_bound`).
    from attsms.store.statuses import RECEIPT

    history.update_statuses("m1", [DeliveryInfo(A, TERMINAL)], source=RECEIPT)
    history.update_statuses("m1", [DeliveryInfo(B, NETWORK)])
    batch = history.get("m1")
    assert batch is not None
    ((_, people),) = list(history.report_rows([batch.id]))
    assert {address: source for address, _, _, source in people} == {A: "receipt", B: "poll"}


def test_a_big_group_of_receipts_is_counted_one_by_one(history: HistoryStore) -> None:
    """A group as big as `listen` takes in at once (up to 512), with repeats, and a message ID
    the history holds in two batches (a row of each changes: two)."""
    addresses = [f"tel:+1212555{n:04d}" for n in range(450)]
    history.record_batch(profile="p", message="hi", addresses=addresses, message_id="big")
    history.record_batch(profile="p", message="hi", addresses=[A], message_id="twice")
    history.record_batch(profile="p", message="hi", addresses=[A], message_id="twice")
    updates = [("big", [DeliveryInfo(a, WAITING)]) for a in addresses]
    updates += [("big", [DeliveryInfo(a, TERMINAL)]) for a in addresses[::2]]
    updates += [("big", [DeliveryInfo(a, WAITING)]) for a in addresses[::3]]  # again, or back
    updates += [("twice", [DeliveryInfo(A, TERMINAL)]), ("twice", [DeliveryInfo(A, TERMINAL)])]
    expected = [1] * 450 + [1] * 225 + [0] * 150 + [2, 0]
    assert history.update_statuses_many(updates) == expected
    big = history.get("big")
    assert big is not None
    assert [r.status for r in big.recipients] == [
        TERMINAL if n % 2 == 0 else WAITING for n in range(450)
    ]
