"""Waiting for delivery: poll message status until every recipient is final or time runs out.

Shared by `attsms send --wait` and `attsms status --wait`. Polls back off (each wait 1.5 times the
last, up to `max_interval`), never sleep past the deadline, and a rate limit (429, POL0001) or a
busy or unreachable service only lengthens the wait: the loop goes on until the timeout. Any other
error (an unknown message ID, credentials) is raised.

Exit codes, the same for both commands: 0 every recipient delivered, 4 any `DeliveryImpossible`
(it wins: waiting longer will not change it), 75 still pending at the timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from attsms.core.errors import (
    AttsmsError,
    ExitCode,
    PartialFailure,
    TemporaryError,
)
from attsms.core.models import FAILED_STATUSES, DeliveryInfo, DeliveryStatus

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from attsms.auth.session import Session
    from attsms.store import StoreSettings

DEFAULT_TIMEOUT = 300.0  # seconds; carriers usually settle within a minute or two
DEFAULT_INTERVAL = 1.0
MAX_INTERVAL = 15.0
BACKOFF = 1.5
# Status requests in flight at once when waiting on many messages (a bulk send has one a batch).
POLL_CONCURRENCY = 8


class StatusClient(Protocol):
    def delivery_status(self, message_id: str) -> DeliveryStatus: ...


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


def wait_for_final(
    client: StatusClient,
    message_ids: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    max_interval: float = MAX_INTERVAL,
    on_change: Callable[[DeliveryStatus, DeliveryStatus | None], None] | None = None,
    concurrency: int = POLL_CONCURRENCY,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    known: Callable[[str], DeliveryStatus | None] | None = None,
) -> WaitResult:
    """Poll each message's status until all are final or `timeout` seconds have passed.

    `on_change(current, previous)` is called (in this thread) the first time a message is seen and
    whenever its status changes; `previous` is None the first time. With `timeout` 0 every message
    is asked once. `known(message_id)`, asked before each round, gives a final status already
    known (a receipt pushed to `attsms listen`): such a message is not asked about again.
    """
    started = clock()
    deadline = started + timeout
    ids = list(dict.fromkeys(message_ids))
    latest: dict[str, DeliveryStatus] = {}
    pending = list(ids)
    delay = interval
    pool = _Poller(client, concurrency)
    try:
        while pending:
            already = [(m, s) for m in pending if known and (s := known(m)) and s.final]
            pending = [m for m in pending if m not in dict(already)]
            answers, retry_after = pool.fetch(pending) if pending else ([], 0.0)
            for message_id, status in [*already, *answers]:
                previous = latest.get(message_id)
                if status != previous:
                    latest[message_id] = status
                    if on_change is not None:
                        on_change(status, previous)
            pending = [m for m in pending if m not in latest or not latest[m].final]
            now = clock()
            if not pending or now >= deadline:
                break
            wait = max(delay, retry_after or 0.0)
            sleep(min(wait, deadline - now))
            delay = min(delay * BACKOFF, max_interval)
    finally:
        pool.close()
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


class _Poller:
    """Status requests for many messages, a few at a time; errors worth waiting out collected."""

    def __init__(self, client: StatusClient, concurrency: int) -> None:
        self._client = client
        self._concurrency = max(1, concurrency)
        self._executor: Executor | None = None

    def fetch(self, message_ids: Sequence[str]) -> tuple[list[tuple[str, DeliveryStatus]], float]:
        """(message id, status) for those that answered, and the longest Retry-After seen."""
        if len(message_ids) == 1 or self._concurrency == 1:
            outcomes: Iterable[DeliveryStatus | AttsmsError] = map(self._one, message_ids)
        else:
            outcomes = self._pool().map(self._one, message_ids)
        answers: list[tuple[str, DeliveryStatus]] = []
        retry_after = 0.0
        for message_id, outcome in zip(message_ids, outcomes, strict=True):
            if isinstance(outcome, DeliveryStatus):
                answers.append((message_id, outcome))
            else:
                retry_after = max(retry_after, getattr(outcome, "retry_after", None) or 0.0)
        return answers, retry_after

    def _one(self, message_id: str) -> DeliveryStatus | AttsmsError:
        try:
            return self._client.delivery_status(message_id)
        except AttsmsError as error:
            # Rate limited, busy, unreachable: wait and ask again. Anything else is an answer.
            if isinstance(error, TemporaryError) or error.exit_code == ExitCode.TEMPFAIL:
                return error
            raise

    def _pool(self) -> Executor:
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(self._concurrency, thread_name_prefix="status")
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)


def wait_for_delivery(
    session: Session,
    message_ids: Sequence[str],
    *,
    stores: StoreSettings,
    timeout: float,
    on_change: Callable[[DeliveryStatus, DeliveryStatus | None], None] | None = None,
) -> WaitResult:
    """`wait_for_final` for what `send --wait` sent, writing each new status to the history as
    it comes."""
    from attsms.store import open_history

    with open_history(stores) as store:

        def changed(current: DeliveryStatus, previous: DeliveryStatus | None) -> None:
            store.update_statuses(current.message_id, current.deliveries)
            if on_change is not None:
                on_change(current, previous)

        return wait_for_final(
            session.client,
            message_ids,
            timeout=timeout,
            on_change=changed,
            known=store.final_status,  # receipts `attsms listen` stored: no need to ask
        )
