"""A send's recipients are read a page at a time (issue 29): listing every recipient of a send
(`history <id> --json`, `status <id>` piped) or one page of them by status holds a page, not
the send. Measured with tracemalloc as the growth of the peak between two sizes (no wall clock).
"""

from __future__ import annotations

from attsms.store import StoreSettings
from attsms.store.history import HistoryStore
from attsms.track.sends import find_send, recipient_page, recipient_pages
from tests.helpers.support import traced_peak

PER_BATCH = 50
# Bytes a recipient the peak may grow by between the two sizes. Holding the send would cost
# several hundred (a recipient object, its strings, a row each); a page's worth does not grow.
BOUND = 20


def _record(store: HistoryStore, run: str, batches: int) -> None:
    for b in range(batches):
        addresses = [f"tel:+1212{b:04d}{i:03d}" for i in range(PER_BATCH)]
        store.record_batch(
            profile="default",
            message="hi",
            addresses=addresses,
            message_id=f"SMS{run[:4]}{b:012d}",
            run_id=run,
        )
    store.record_skips(
        run,
        profile="default",
        account="a",
        key=None,
        skipped=[(f"tel:+1313{b:07d}", "opted-out") for b in range(batches)],
    )


def _walk(run: str) -> tuple[int, int]:
    """Every recipient listed, and a page from the far end in status order; the count seen."""
    view = find_send(StoreSettings(), "default", run[:8])
    assert view is not None
    seen = sum(len(page) for page in recipient_pages(StoreSettings(), "default", view))
    by_status = sum(
        len(p) for p in recipient_pages(StoreSettings(), "default", view, by_status=True)
    )
    last = recipient_page(
        StoreSettings(), "default", view, by_status=True, offset=seen - 10, limit=50
    )
    assert [r.state for r in last] == ["opted out"] * 10
    return seen, by_status


def test_listing_a_sends_recipients_holds_a_page_not_the_send() -> None:
    small, large = 300, 900  # batches, pages of 100: 15,300 and 45,900 recipients in all
    with HistoryStore.open() as store:
        _record(store, "aaaa1111" + "0" * 24, small)
        _record(store, "bbbb2222" + "0" * 24, large)
    _walk("aaaa1111")  # warm: first-use imports and caches are not growth
    low, (count_low, _) = traced_peak(lambda: _walk("aaaa1111"))
    high, (count_high, by_status) = traced_peak(lambda: _walk("bbbb2222"))
    assert (count_low, count_high, by_status) == (15_300, 45_900, 45_900)
    growth = (high - low) / (count_high - count_low)
    assert growth < BOUND, f"{growth:.0f} bytes a recipient"
