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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from attsms.core.errors import AttsmsError, ExitCode, PartialFailure, TemporaryError
from attsms.core.models import FAILED_STATUSES, FINAL_STATUSES, DeliveryInfo, DeliveryStatus
from attsms.store import open_history, read_history
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
class Tally:
    """Recipients counted by their last status: what decides the exit code."""

    recipients: int = 0
    impossible: int = 0  # DeliveryImpossible
    pending: int = 0  # not final

    @property
    def delivered(self) -> int:
        return self.recipients - self.impossible - self.pending

    @classmethod
    def of(cls, statuses: Iterable[DeliveryStatus]) -> Tally:
        deliveries = [d for s in statuses for d in s.deliveries]
        return cls(
            len(deliveries),
            sum(1 for d in deliveries if d.status in FAILED_STATUSES),
            sum(1 for d in deliveries if not d.final),
        )


@dataclass(frozen=True)
class WaitResult:
    """The last status seen of each message (when kept), the count of every recipient's, and
    whether time ran out first."""

    statuses: tuple[DeliveryStatus, ...]  # in the order asked; only those the service answered
    pending_ids: tuple[str, ...]  # not final at the end (or never answered)
    timed_out: bool
    waited: float  # seconds
    # Every recipient's last status counted; from `statuses` when not given (a wait that
    # keeps none counts as it goes: a million recipients are never held).
    tally: Tally | None = None
    silent: int | None = None  # of `pending_ids`, never answered; from `statuses` when not given

    def __post_init__(self) -> None:
        if self.tally is None:
            object.__setattr__(self, "tally", Tally.of(self.statuses))
        if self.silent is None:
            answered = {s.message_id for s in self.statuses}
            object.__setattr__(self, "silent", sum(m not in answered for m in self.pending_ids))

    @property
    def counts(self) -> Tally:
        assert self.tally is not None  # set in __post_init__
        return self.tally

    @property
    def deliveries(self) -> list[DeliveryInfo]:
        return [d for s in self.statuses for d in s.deliveries]

    @property
    def impossible(self) -> list[DeliveryInfo]:
        return [d for d in self.deliveries if d.status in FAILED_STATUSES]

    @property
    def not_final(self) -> list[DeliveryInfo]:
        return [d for d in self.deliveries if not d.final]

    def summary(self) -> dict[str, int | float | bool]:
        """The `delivery` of a send's `--json` summary."""
        counts = self.counts
        return {
            "delivered": counts.delivered,
            "impossible": counts.impossible,
            "pending": counts.pending,
            "timed_out": self.timed_out,
            "waited_seconds": round(self.waited, 3),
        }

    def error(self) -> AttsmsError | None:
        """The error a command raises for this result (after printing it), or None."""
        counts = self.counts
        if counts.impossible:
            return PartialFailure(
                f"{counts.impossible} of {counts.recipients} recipient(s) could not be delivered"
                " (DeliveryImpossible)",
                hint="check those numbers; the rest were delivered or are still pending",
            )
        if self.pending_ids:
            parts = [f"{counts.pending} recipient(s) still pending"] if counts.pending else []
            if self.silent:
                parts.append(f"{self.silent} message(s) the service did not answer")
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
    keep: bool = True,
) -> WaitResult:
    """Wait until every recipient of `message_ids` is final, or `timeout` seconds have passed:
    the one loop behind `send --wait` and `status --wait`.

    Each new status is written to `store` (`record`), then told to `on_change`. A final receipt
    that `attsms listen` stored counts as the answer: that message is not asked about again.
    `answered`: statuses this run has just been given, taken instead of asking in the first
    round. Without `keep`, the result counts each recipient's last status and keeps none
    (`wait_for_final`).
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
        keep=keep,
    )


def wait_for_delivery(
    session: Session,
    message_ids: Sequence[str],
    *,
    stores: StoreSettings,
    timeout: float,
    on_change: OnChange | None = None,
    keep: bool = True,
) -> WaitResult:
    """`wait_and_record` for what `send --wait` sent, in the history opened for writing."""
    with open_history(stores) as store:
        return wait_and_record(
            session.client, store, message_ids, timeout=timeout, on_change=on_change, keep=keep
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
    keep: bool = True,
) -> WaitResult:
    """Poll each message's status until all are final or `timeout` seconds have passed.

    `client` is asked through a `StatusPool` of `concurrency` threads made for this wait, or is
    a pool already open (left open). `on_change(current, previous)` is called (in this thread)
    the first time a message is seen and whenever its status changes; `previous` is None the
    first time. With `timeout` 0 every message is asked once. `known(message_id)`, asked before
    each round, gives a final status already known (a receipt pushed to `attsms listen`): such
    a message is not asked about again. `answered` stands for the first round's questions about
    its messages. Without `keep` the result's `statuses` are empty (its `tally` counts every
    recipient): what a million recipients need, in a few bytes each.
    """
    started = clock()
    deadline = started + timeout
    ids = list(dict.fromkeys(message_ids))
    seen = _Seen(keep)
    pending = list(ids)
    given: Mapping[str, DeliveryStatus] = answered or {}  # not copied: it may be read lazily
    delay = interval
    with _pool_for(client, concurrency) as pool:
        while pending:
            retry_after = [0.0]
            for message_id, status in _look(pool, pending, known, given, retry_after):
                if seen.differs(message_id, status):
                    previous = seen.previous(message_id, status)
                    seen.put(message_id, status)
                    if on_change is not None:
                        on_change(status, previous)
            given = {}  # later rounds ask
            pending = [m for m in pending if not seen.final(m)]
            now = clock()
            if not pending or now >= deadline:
                break
            wait = max(delay, retry_after[0])
            sleep(min(wait, deadline - now))
            delay = min(delay * BACKOFF, max_interval)
    return WaitResult(
        statuses=seen.statuses(ids),
        pending_ids=tuple(pending),
        timed_out=bool(pending),
        waited=clock() - started,
        tally=seen.tally(),
        silent=sum(m not in seen for m in pending),
    )


class _Seen:
    """The last status of each message. Kept whole with `keep`; else (`send --wait`, `status
    --wait`: a million recipients) one byte a recipient, its status's code, and a hash of the
    message's addresses: enough to tell a change, to give the status before it, and to count
    every recipient at the end. A status that cannot be coded (a 256th distinct word) is kept
    whole."""

    def __init__(self, keep: bool) -> None:
        self._keep = keep
        self._whole: dict[str, DeliveryStatus] = {}
        self._coded: dict[str, tuple[int, bytes]] = {}
        self._codes: dict[str, int] = {}
        self._words: list[str] = []

    def __contains__(self, message_id: str) -> bool:
        return message_id in self._whole or message_id in self._coded

    def differs(self, message_id: str, status: DeliveryStatus) -> bool:
        if message_id not in self:
            return True
        if message_id in self._whole:
            return self._whole[message_id] != status
        return self._coded.get(message_id) != self._code(status)

    def previous(self, message_id: str, current: DeliveryStatus) -> DeliveryStatus | None:
        """The status before `current`: None the first time; of no recipients when the service
        changed the addresses of a coded message (each of `current`'s is then a change)."""
        if message_id in self._whole:
            return self._whole[message_id]
        if (coded := self._coded.get(message_id)) is None:
            return None
        addresses, codes = coded
        if addresses != _addresses(current) or len(codes) != len(current.deliveries):
            return DeliveryStatus(message_id, ())
        infos = (
            DeliveryInfo(d.address, self._words[code])
            for d, code in zip(current.deliveries, codes, strict=True)
        )
        return DeliveryStatus(message_id, tuple(infos))

    def put(self, message_id: str, status: DeliveryStatus) -> None:
        coded = None if self._keep else self._code(status)
        if coded is None:
            self._coded.pop(message_id, None)
            self._whole[message_id] = status
        else:
            self._whole.pop(message_id, None)
            self._coded[message_id] = coded

    def final(self, message_id: str) -> bool:
        if message_id in self._whole:
            return self._whole[message_id].final
        coded = self._coded.get(message_id)
        return coded is not None and all(self._words[c] in FINAL_STATUSES for c in coded[1])

    def statuses(self, ids: Sequence[str]) -> tuple[DeliveryStatus, ...]:
        """The statuses kept whole, in the order of `ids`."""
        return tuple(self._whole[m] for m in ids if m in self._whole)

    def tally(self) -> Tally:
        whole = Tally.of(self._whole.values())
        counts = [0] * len(self._words)
        for _, codes in self._coded.values():
            for code in range(len(self._words)):
                counts[code] += codes.count(code)
        by_word = dict(zip(self._words, counts, strict=True))
        return Tally(
            whole.recipients + sum(counts),
            whole.impossible + sum(n for w, n in by_word.items() if w in FAILED_STATUSES),
            whole.pending + sum(n for w, n in by_word.items() if w not in FINAL_STATUSES),
        )

    def _code(self, status: DeliveryStatus) -> tuple[int, bytes] | None:
        codes = bytearray()
        for delivery in status.deliveries:
            code = self._codes.get(delivery.status)
            if code is None:
                if len(self._words) == 256:
                    return None
                code = self._codes[delivery.status] = len(self._words)
                self._words.append(delivery.status)
            codes.append(code)
        return _addresses(status), bytes(codes)


def _addresses(status: DeliveryStatus) -> int:
    return hash(tuple(d.address for d in status.deliveries))


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
    retry_after: list[float],
) -> Iterator[tuple[str, DeliveryStatus]]:
    """One round, as the answers come: (message id, status) of the pending messages that have
    one, first those with a final status already `known`, then in order those `given` or asked
    about (`_WINDOW` requests queued at a time: a round of a million recipients is never held);
    `retry_after[0]` becomes the longest Retry-After of the answers that were temporary
    errors. Any other error is raised."""
    done: set[str] = set()
    for message_id in pending:
        if known is not None and (status := known(message_id)) is not None and status.final:
            done.add(message_id)
            yield message_id, status
    asking = _windowed(pool, [m for m in pending if m not in done and m not in given])
    for message_id in pending:
        if message_id in done:
            continue
        if message_id in given:
            yield message_id, given[message_id]
            continue
        answer = next(asking)
        if isinstance(answer, DeliveryStatus):
            yield message_id, answer
        elif is_temporary(answer):
            retry_after[0] = max(retry_after[0], getattr(answer, "retry_after", None) or 0.0)
        else:  # an unknown message ID, credentials: waiting will not help
            raise answer


# Status requests queued in the pool at once while waiting: the next window is under way while
# the answers of this one are recorded, and the answers not yet read stay few.
_WINDOW = 256


def _windowed(pool: StatusPool, ids: list[str]) -> Iterator[DeliveryStatus | AttsmsError]:
    """`pool.ask(ids)`, `_WINDOW` at a time, one window ahead of the one being read."""
    ahead: Iterator[DeliveryStatus | AttsmsError] | None = None
    for start in range(0, len(ids), _WINDOW):
        asking = pool.ask(ids[start : start + _WINDOW])
        if ahead is not None:
            yield from ahead
        ahead = asking
    if ahead is not None:
        yield from ahead


@contextlib.contextmanager
def recorded_statuses(stores: StoreSettings) -> Iterator[Callable[[str], dict[str, str]]]:
    """Each recipient's last status in the history, by address, of a message ID: what a wait
    that keeps no statuses (`keep=False`) recorded, for the rows printed after it. The history
    is read-only here and opened once; a history there is not gives no statuses."""
    store = read_history(stores)
    with contextlib.nullcontext() if store is None else store:

        def statuses(message_id: str) -> dict[str, str]:
            batch = None if store is None else store.get(message_id)
            if batch is None:
                return {}
            return {r.address: r.status for r in batch.recipients if r.status is not None}

        yield statuses
