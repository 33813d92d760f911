"""Waiting for delivery: poll message status until every recipient is final or time runs out.

`wait_and_record` is the one loop behind `attsms send --wait` (through `wait_for_delivery`) and
`attsms status --wait`: it polls (`wait_for_final`), writes each new status to the history and
tells the caller. Polls back off (each wait 1.5 times the last, up to `max_interval`), never
sleep past the deadline, and a rate limit (429, POL0001) or a busy or unreachable service only
lengthens the wait: the loop goes on until the timeout. Any other error (an unknown message ID,
credentials) is raised.

Exit codes, the same for both commands: 0 every recipient delivered, 4 any `DeliveryImpossible`
(it wins: waiting longer will not change it), 75 still pending at the timeout.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from attsms.core.errors import AttsmsError, ExitCode, PartialFailure, TemporaryError
from attsms.core.models import FAILED_STATUSES, DeliveryInfo, DeliveryStatus
from attsms.store import open_history
from attsms.track.pool import POLL_CONCURRENCY, StatusClient, StatusPool

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from attsms.auth.session import Session
    from attsms.store import StoreSettings
    from attsms.store.history import HistoryStore

DEFAULT_TIMEOUT = 300.0  # seconds; carriers usually settle within a minute or two
DEFAULT_INTERVAL = 1.0
MAX_INTERVAL = 15.0
BACKOFF = 1.5

# Told each message's status when first seen (previous None) and whenever it changes.
OnChange = Callable[[DeliveryStatus, DeliveryStatus | None], None]


@dataclass(frozen=True)
class WaitResult:
    """The last status seen of each message, and whether time ran out first."""

    statuses: tuple[DeliveryStatus, ...]  # in the order asked; only those the service answered
    pending_ids: tuple[str, ...]  # not final at the end (or never answered)
    timed_out: bool
    waited: float  # seconds

    @property
    def deliveries(self) -> list[DeliveryInfo]:
        return [d for s in self.statuses for d in s.deliveries]

    @property
    def impossible(self) -> list[DeliveryInfo]:
        return [d for d in self.deliveries if d.status in FAILED_STATUSES]

    @property
    def not_final(self) -> list[DeliveryInfo]:
        return [d for d in self.deliveries if not d.final]

    def error(self) -> AttsmsError | None:
        """The error a command raises for this result (after printing it), or None."""
        if self.impossible:
            failed = len(self.impossible)
            return PartialFailure(
                f"{failed} of {len(self.deliveries)} recipient(s) could not be delivered"
                " (DeliveryImpossible)",
                hint="check those numbers; the rest were delivered or are still pending",
            )
        if self.pending_ids:
            answered = {s.message_id for s in self.statuses}
            silent = sum(1 for m in self.pending_ids if m not in answered)
            parts = [f"{len(self.not_final)} recipient(s) still pending"] if self.not_final else []
            if silent:
                parts.append(f"{silent} message(s) the service did not answer")
            return TemporaryError(
                f"{' and '.join(parts)} after {self.waited:.0f} s",
                hint="run `attsms status --wait` later",
            )
        return None


def wait_and_record(
    client: StatusClient | StatusPool,
    store: HistoryStore,
    message_ids: Sequence[str],
    *,
    timeout: float,
    interval: float = DEFAULT_INTERVAL,
    on_change: OnChange | None = None,
    answered: Mapping[str, DeliveryStatus] | None = None,
) -> WaitResult:
    """Wait until every recipient of `message_ids` is final, or `timeout` seconds have passed:
    the one loop behind `send --wait` and `status --wait`.

    Each new status is written to `store` (`record`), then told to `on_change`. A final receipt
    that `attsms listen` stored counts as the answer: that message is not asked about again.
    `answered`: statuses this run has just been given, taken instead of asking in the first
    round.
    """

    def changed(current: DeliveryStatus, previous: DeliveryStatus | None) -> None:
        record(store, current)
        if on_change is not None:
            on_change(current, previous)

    return wait_for_final(
        client,
        message_ids,
        timeout=timeout,
        interval=interval,
        on_change=changed,
        known=store.final_status,
        answered=answered,
    )


def wait_for_delivery(
    session: Session,
    message_ids: Sequence[str],
    *,
    stores: StoreSettings,
    timeout: float,
    on_change: OnChange | None = None,
) -> WaitResult:
    """`wait_and_record` for what `send --wait` sent, in the history opened for writing."""
    with open_history(stores) as store:
        return wait_and_record(
            session.client, store, message_ids, timeout=timeout, on_change=on_change
        )


def record(store: HistoryStore, status: DeliveryStatus) -> None:
    """Write a status the service gave to the history. A read-only one (`status` on a data
    directory that cannot be written) keeps none: the command still shows them."""
    if not store.read_only:
        store.update_statuses(status.message_id, status.deliveries)


def wait_for_final(
    client: StatusClient | StatusPool,
    message_ids: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    max_interval: float = MAX_INTERVAL,
    on_change: OnChange | None = None,
    concurrency: int = POLL_CONCURRENCY,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    known: Callable[[str], DeliveryStatus | None] | None = None,
    answered: Mapping[str, DeliveryStatus] | None = None,
) -> WaitResult:
    """Poll each message's status until all are final or `timeout` seconds have passed.

    `client` is asked through a `StatusPool` of `concurrency` threads made for this wait, or is
    a pool already open (left open). `on_change(current, previous)` is called (in this thread)
    the first time a message is seen and whenever its status changes; `previous` is None the
    first time. With `timeout` 0 every message is asked once. `known(message_id)`, asked before
    each round, gives a final status already known (a receipt pushed to `attsms listen`): such
    a message is not asked about again. `answered` stands for the first round's questions about
    its messages.
    """
    started = clock()
    deadline = started + timeout
    ids = list(dict.fromkeys(message_ids))
    latest: dict[str, DeliveryStatus] = {}
    pending = list(ids)
    given = dict(answered or {})
    delay = interval
    with _pool_for(client, concurrency) as pool:
        while pending:
            answers, retry_after = _look(pool, pending, known, given)
            given = {}  # later rounds ask
            for message_id, status in answers:
                previous = latest.get(message_id)
                if status != previous:
                    latest[message_id] = status
                    if on_change is not None:
                        on_change(status, previous)
            pending = [m for m in pending if m not in latest or not latest[m].final]
            now = clock()
            if not pending or now >= deadline:
                break
            wait = max(delay, retry_after)
            sleep(min(wait, deadline - now))
            delay = min(delay * BACKOFF, max_interval)
    return WaitResult(
        statuses=tuple(latest[m] for m in ids if m in latest),
        pending_ids=tuple(pending),
        timed_out=bool(pending),
        waited=clock() - started,
    )


def changes(current: DeliveryStatus, previous: DeliveryStatus | None) -> list[DeliveryInfo]:
    """The recipients of `current` whose status differs from `previous`."""
    before = {d.address: d.status for d in previous.deliveries} if previous else {}
    return [d for d in current.deliveries if before.get(d.address) != d.status]


def is_temporary(error: AttsmsError) -> bool:
    """Rate limited, busy, unreachable: worth waiting out and asking again."""
    return isinstance(error, TemporaryError) or error.exit_code == ExitCode.TEMPFAIL


def _pool_for(
    client: StatusClient | StatusPool, concurrency: int
) -> AbstractContextManager[StatusPool]:
    if isinstance(client, StatusPool):
        return contextlib.nullcontext(client)  # the caller's: it closes it
    return StatusPool(client, concurrency)


def _look(
    pool: StatusPool,
    pending: Sequence[str],
    known: Callable[[str], DeliveryStatus | None] | None,
    given: Mapping[str, DeliveryStatus],
) -> tuple[list[tuple[str, DeliveryStatus]], float]:
    """One round: (message id, status) of the pending messages that have one, first those with
    a final status already `known`, then in order those `given` or asked about; and the longest
    Retry-After of the answers that were temporary errors. Any other error is raised."""
    already = [(m, s) for m in pending if known and (s := known(m)) and s.final]
    done = {m for m, _ in already}
    to_ask = [m for m in pending if m not in done and m not in given]
    asked: dict[str, DeliveryStatus] = {}
    retry_after = 0.0
    for message_id, answer in zip(to_ask, pool.ask(to_ask), strict=True):
        if isinstance(answer, DeliveryStatus):
            asked[message_id] = answer
        elif is_temporary(answer):
            retry_after = max(retry_after, getattr(answer, "retry_after", None) or 0.0)
        else:  # an unknown message ID, credentials: waiting will not help
            raise answer
    answers = [
        (m, s) for m in pending if m not in done and (s := given.get(m, asked.get(m))) is not None
    ]
    return already + answers, retry_after
