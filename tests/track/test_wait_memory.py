"""The memory bounds of `send --wait` and `status --wait` (issue 25): what they hold grows by a
few bytes a recipient, while the exit code is still decided by every recipient.

Measured with tracemalloc as the growth of the peak between two sizes (no wall clock). Before:
the wait kept each message's last `DeliveryStatus` and a round all its answers (~300 bytes a
recipient), and `status --wait` every message shown (~2 KB a recipient).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from attsms.core.errors import ExitCode
from attsms.core.models import DeliveryInfo, DeliveryStatus
from attsms.send.results import ACCEPTED, OPTED_OUT, BatchOutcome, SpilledRows
from attsms.store import StoreSettings
from attsms.store.history import HistoryStore
from attsms.store.sends import SendRef
from attsms.track.status_wait import StatusWait
from attsms.track.wait import wait_for_final
from tests.helpers.support import traced_peak

PER_MESSAGE = 50  # recipients a request, as a bulk send batches them
# Bytes a recipient the peak may grow by: the wait's own state is 1 byte a recipient and ~200
# bytes a message (4 a recipient); the rest is room for the allocator's noise.
BOUND = 40


def _addresses(message_id: str) -> list[str]:
    n = int(message_id[1:])
    return [f"tel:+1212{n:04d}{i:03d}" for i in range(PER_MESSAGE)]


class Service:
    """Answers every message as waiting the first time it is asked, then final: one in each
    thousand recipients impossible. Builds each answer when asked and keeps none."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def delivery_status(self, message_id: str) -> DeliveryStatus:
        first = message_id not in self.asked
        self.asked.add(message_id)
        infos = []
        for i, address in enumerate(_addresses(message_id)):
            impossible = i == 7 and message_id.endswith("0")
            final = "DeliveryImpossible" if impossible else "DeliveredToTerminal"
            infos.append(DeliveryInfo(address, "MessageWaiting" if first else final))
        return DeliveryStatus(message_id, tuple(infos))


def _wait(messages: int) -> Any:
    ids = [f"m{n}" for n in range(messages)]
    changed = [0]

    def on_change(current: DeliveryStatus, previous: DeliveryStatus | None) -> None:
        changed[0] += 1
        if previous is not None:  # the status before, rebuilt from a byte a recipient
            assert [d.address for d in previous.deliveries] == [
                d.address for d in current.deliveries
            ]
            assert {d.status for d in previous.deliveries} == {"MessageWaiting"}

    result = wait_for_final(
        Service(),
        ids,
        timeout=60,
        interval=0,
        on_change=on_change,
        concurrency=1,
        clock=lambda: 0.0,  # never past the deadline: every answer is final in round 2
        sleep=lambda _: None,
        keep=False,
    )
    assert changed[0] == 2 * messages
    return result


def test_waiting_on_many_recipients_keeps_a_few_bytes_each() -> None:
    small, large = 40, 200
    _wait(5)  # warm: the first call's imports and caches are not growth
    low, _ = traced_peak(lambda: _wait(small))
    high, result = traced_peak(lambda: _wait(large))
    growth = (high - low) / ((large - small) * PER_MESSAGE)
    assert growth < BOUND, f"{growth:.0f} bytes a recipient"
    # Every recipient still decides the exit code: one impossible in 1,000 is exit 4.
    counts = result.counts
    assert (counts.recipients, counts.impossible, counts.pending) == (10_000, 20, 0)
    assert result.statuses == ()
    assert result.error().exit_code == ExitCode.PARTIAL


def test_spilled_rows_read_back_as_the_report_would_print_them() -> None:
    spilled = SpilledRows()
    outcome = BatchOutcome(0, ("tel:+12125550100",), ACCEPTED, "m0", skipped=("tel:+12125550101",))
    spilled.add(outcome)
    assert list(spilled) == [("m0", outcome.rows())]
    assert [r.result for r in outcome.rows()] == [ACCEPTED, OPTED_OUT]
    spilled.close()


# --- status --wait of the recent sends ------------------------------------------------------


class Session:
    def __init__(self) -> None:
        self.client = Service()

    def close(self) -> None:
        pass


def _fill(messages: int, start: int = 0, run_id: str | None = None) -> None:
    with HistoryStore.open() as history:
        for n in range(start, start + messages):
            message_id = f"m{n}"
            history.record_batch(
                profile="default",
                message="bench",
                addresses=_addresses(message_id),
                message_id=message_id,
                run_id=run_id,
            )


def _status_wait(send: SendRef | None = None) -> tuple[StatusWait, set[str | None]]:
    waiter = StatusWait(
        Session,  # type: ignore[arg-type]  # what the wait asks of a session
        stores=StoreSettings(),
        profile="default",
        limit=None,
        timeout=30,
        interval=0.1,
        on_update=lambda _message, _moved: None,  # a terminal: each change printed
        concurrency=1,
        now=lambda: datetime.now(UTC),
        send=send,
    )
    waiter.run()
    # The --json reading, as the wait left the history.
    ended = {d.status for m in waiter for d in m.deliveries}
    return waiter, ended


def test_status_wait_of_the_recent_sends_keeps_a_few_bytes_a_recipient() -> None:
    small, large = 120, 360  # over a page of the history (100 batches), held at a time
    _fill(small)
    low, _ = traced_peak(_status_wait)
    _fill(large - small)
    high, (waiter, ended) = traced_peak(_status_wait)
    growth = (high - low) / ((large - small) * PER_MESSAGE)
    # Twice the wait's bound: the peak moves with where the last page of the history ends
    # (measured 70 bytes at 120 -> 360 batches, 38 at 360 -> 600). Holding each recipient's
    # status (a `DeliveryInfo`: ~150 bytes) or each message shown (~2 KB) fails it.
    assert growth < 2 * BOUND, f"{growth:.0f} bytes a recipient"
    report = waiter.report()
    assert report.waited is not None
    counts = report.waited.counts
    assert (counts.recipients, counts.impossible, counts.pending) == (18_000, 36, 0)
    error = report.error()
    assert error is not None and error.exit_code == ExitCode.PARTIAL
    assert ended == {"DeliveredToTerminal", "DeliveryImpossible"}


def test_status_wait_of_one_send_keeps_a_few_bytes_a_recipient() -> None:
    # `status --wait` with no argument (or a send id): the newest send's messages, read a page
    # of its batches at a time, as the recent sends are.
    small, large = 120, 360
    _fill(small, run_id="aaaa" * 8)
    _fill(large, start=small, run_id="bbbb" * 8)
    low, _ = traced_peak(lambda: _status_wait(SendRef("aaaa" * 8)))
    high, (waiter, ended) = traced_peak(lambda: _status_wait(SendRef("bbbb" * 8)))
    growth = (high - low) / ((large - small) * PER_MESSAGE)
    assert growth < 2 * BOUND, f"{growth:.0f} bytes a recipient"
    report = waiter.report()
    assert report.waited is not None
    assert report.waited.counts.recipients == large * PER_MESSAGE  # that send's, no other's
    assert waiter.count == large
    assert ended == {"DeliveredToTerminal", "DeliveryImpossible"}
