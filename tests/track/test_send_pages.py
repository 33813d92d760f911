"""A page of a send's recipients (`history <id> --limit N --page P`) is exactly that slice of the
whole listing, in either order, whatever states the send holds and wherever the page falls."""

from __future__ import annotations

from attsms.core.models import DeliveryInfo
from attsms.store import StoreSettings
from attsms.store.history import HistoryStore, Outcome
from attsms.track.sends import find_send, recipient_page, recipient_pages

RUN = "cccc3333" + "0" * 24


def _send() -> None:
    """A send of 7 requests: 3 accepted, 2 refused, 1 of unknown outcome, 1 accepted and seen
    delivered; and 3 recipients it left out (2 opted out, 1 deferred)."""
    with HistoryStore.open() as store:
        for b, outcome in enumerate(
            [Outcome.ACCEPTED] * 3 + [Outcome.FAILED] * 2 + [Outcome.UNKNOWN, Outcome.ACCEPTED]
        ):
            accepted = outcome is Outcome.ACCEPTED
            store.record_batch(
                profile="default",
                message="hi",
                addresses=[f"tel:+1212555{b:02d}{i:02d}" for i in range(4)],
                message_id=f"SMS{b:016d}" if accepted else None,
                outcome=outcome,
                error=None if accepted else "refused",
                run_id=RUN,
            )
        store.update_statuses(
            f"SMS{6:016d}",
            [_delivered(f"tel:+12125550{6}{i:02d}") for i in range(4)],
        )
        store.record_skips(
            RUN,
            profile="default",
            account="a",
            key=None,
            skipped=[
                ("tel:+13135550001", "opted-out"),
                ("tel:+13135550002", "deferred"),
                ("tel:+13135550003", "opted-out"),
            ],
        )


def _delivered(address: str) -> DeliveryInfo:
    return DeliveryInfo(address, "DeliveredToTerminal")


def test_every_page_is_its_slice_of_the_whole_listing() -> None:
    _send()
    stores = StoreSettings()
    view = find_send(stores, "default", RUN[:8])
    assert view is not None
    for by_status in (False, True):
        whole = [
            r
            for page in recipient_pages(stores, "default", view, by_status=by_status)
            for r in page
        ]
        assert len(whole) == view.counts.recipients == 31
        if by_status:
            states = [r.state for r in whole]
            assert states == sorted(states, key=["failed", "unknown", "not checked yet",
                "delivered", "opted out", "deferred"].index)  # fmt: skip
        for limit in (1, 2, 3, 5, 8, 40):
            for offset in range(0, 33):
                page = recipient_page(
                    stores, "default", view, by_status=by_status, offset=offset, limit=limit
                )
                assert page == whole[offset : offset + limit], (by_status, offset, limit)
