"""`attsms status --wait` of the recent sends, or of one send, in flat memory: a million
recipients never held.

`track(..., wait=True)` keeps every message it shows (and every answer) to wait on them and to
print them at the end. Here (`StatusWait`) the history is read a page at a time, twice:

1. each page asked about as `StatusStream` does (answers written to the history at once), its
   messages handed to `on_update`, and only what the wait needs kept: the IDs worth waiting on,
   the few notes a page gives (gone, not refreshed), and the count of every recipient that
   decides the exit code (`Tally`); then `wait_and_record` keeping no statuses, the answers
   just given read back from the history instead of held;
2. iterating the `StatusWait` after `run`: the same pages read again, each message as the
   history now holds it (what the wait recorded), with the note or source pass 1 found.

A history that cannot be written keeps no answers: then they are held here (not flat), as
`track` holds them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from attsms.core.errors import AttsmsError
from attsms.core.models import DeliveryInfo, DeliveryStatus
from attsms.store.history import Outcome
from attsms.track.pool import POLL_CONCURRENCY, SessionPool
from attsms.track.status import (
    DEFAULT_LIMIT,
    GONE,
    NOT_REFRESHED,
    NOT_SENT,
    OUTCOME_UNKNOWN,
    TOO_OLD,
    Delivery,
    HistoryStream,
    OnUpdate,
    StatusReport,
    Tracked,
    _as_status,
    _from_answer,
    _from_history,
    _open_history,
    _Tracker,
)
from attsms.track.wait import (
    DEFAULT_INTERVAL,
    DEFAULT_TIMEOUT,
    Tally,
    WaitResult,
    changes,
    is_temporary,
    wait_and_record,
)

if TYPE_CHECKING:
    from attsms.auth.session import Session
    from attsms.store import StoreSettings
    from attsms.store.history import HistoryStore, SentBatch
    from attsms.store.sends import SendRef


class _SendPages:
    """One send's batches a page at a time, newest first, as `HistoryStream` gives the recent
    ones (never `more`: a send is waited on whole)."""

    more = False

    def __init__(self, store: HistoryStore, profile: str, send: SendRef) -> None:
        self._store, self._profile, self._send = store, profile, send

    def __iter__(self) -> Iterator[list[SentBatch]]:
        return self._store.send_pages(self._profile, self._send)


class StatusWait:
    """`track` of the recent sends with `wait`: `run()` asks, prints through `on_update` and
    waits; then iterate for the messages as they ended (read again from the history), and
    `report()` for the error the command ends with."""

    MAX_FAILURES = 100

    def __init__(
        self,
        open_session: Callable[[], Session],
        *,
        stores: StoreSettings,
        profile: str,
        limit: int | None = DEFAULT_LIMIT,
        since: datetime | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        interval: float = DEFAULT_INTERVAL,
        on_update: OnUpdate | None = None,
        concurrency: int = POLL_CONCURRENCY,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        send: SendRef | None = None,
    ) -> None:
        self._open, self._stores, self._profile = open_session, stores, profile
        self._send = send  # one send's batches, not the recent ones'

        self._limit, self._since, self._timeout, self._interval = limit, since, timeout, interval
        self._on_update, self._concurrency, self._now = on_update, concurrency, now
        self._failures: list[AttsmsError] = []
        self._serviced: set[str] = set()  # answered by the service, now or while waiting
        self._notes: dict[str, str] = {}  # gone or not refreshed: shown with the history's
        self._waitable: list[str] = []
        self._settled = Tally()  # of messages not waited on
        self._asked = Tally()  # of those waited on, as first answered (no wait run)
        self._waited: WaitResult | None = None
        self._sent_at: dict[str, datetime | None] = {}  # of those waited on, for `on_update`
        self.count = 0
        self._more = False
        self._started = 0.0
        self._kept: dict[str, DeliveryStatus] | None = None  # a read-only history's answers

    def run(self) -> None:
        self._started = started = time.monotonic()
        connection = SessionPool(self._open, self._concurrency)
        with _open_history(self._stores) as store, connection:
            tracker = _Tracker(store, connection, self._profile, self._now())
            self._kept = {} if store.read_only else None
            pages = self._pages(store)
            for page in pages:
                part = tracker.of(page)
                if self._kept is not None:
                    self._kept.update(tracker.answers)
                tracker.forget_answers()
                self._failures.extend(part.failures)
                for message in part.messages:
                    self._note(message)
                    if self._on_update is not None:
                        self._on_update(message, message.deliveries)
            self._more = pages.more
            if any(not is_temporary(f) for f in self._failures):
                self._failures = [f for f in self._failures if not is_temporary(f)]
            elif self._waitable:
                self._failures = []  # waited out
                remaining = max(0.0, self._timeout - (time.monotonic() - started))
                self._wait(store, connection, remaining)
        self._failures = self._failures[: self.MAX_FAILURES]

    def _pages(self, store: HistoryStore) -> HistoryStream | _SendPages:
        if self._send is not None:
            return _SendPages(store, self._profile, self._send)
        return HistoryStream(
            self._stores, self._profile, limit=self._limit, since=self._since, store=store
        )

    def _note(self, message: Tracked) -> None:
        """Keep of a message shown what the wait and the second reading need."""
        if message.message_id is not None:
            if message.source == "service":
                self._serviced.add(message.message_id)
            elif message.note in (GONE, NOT_REFRESHED):
                self._notes[message.message_id] = message.note
        status = _as_status(message)
        counted = Tally.of([status]) if status is not None else Tally()
        self.count += 1
        if message.waitable and message.message_id is not None:
            self._waitable.append(message.message_id)
            if self._on_update is not None:
                self._sent_at[message.message_id] = message.sent_at
            if message.source == "service":
                self._asked = _add(self._asked, counted)
        elif status is not None and (message.source == "service" or message.final):
            self._settled = _add(self._settled, counted)

    def _wait(self, store: HistoryStore, connection: SessionPool, timeout: float) -> None:
        ids = list(dict.fromkeys(self._waitable))
        given = {m for m in ids if m in self._serviced}  # the first round was just asked

        def changed(current: DeliveryStatus, previous: DeliveryStatus | None) -> None:
            self._serviced.add(current.message_id)
            self._notes.pop(current.message_id, None)
            if self._kept is not None:
                self._kept[current.message_id] = current
            if self._on_update is None or (previous is None and current.message_id in given):
                return  # shown as first answered
            moved = tuple(Delivery(d.address, d.status) for d in changes(current, previous))
            if moved:
                when = self._sent_at.get(current.message_id)
                self._on_update(Tracked(current.message_id, moved, "service", when), moved)

        self._waited = wait_and_record(
            connection.pool,
            store,
            ids,
            timeout=timeout,
            interval=self._interval,
            on_change=changed,
            answered=_Recorded(store, given) if self._kept is None else self._kept,
            keep=False,
        )

    def _batches(self, store: HistoryStore) -> Iterator[SentBatch]:
        return (batch for page in self._pages(store) for batch in page)

    def __iter__(self) -> Iterator[Tracked]:
        """The messages as they ended: the history read again, a page at a time."""
        with _open_history(self._stores) as store:
            for batch in self._batches(store):
                yield self._as_ended(batch)

    def _as_ended(self, batch: SentBatch) -> Tracked:
        message_id = batch.message_id
        if batch.outcome != Outcome.ACCEPTED or message_id is None:
            note = NOT_SENT if batch.outcome == Outcome.FAILED else OUTCOME_UNKNOWN
            if batch.outcome == Outcome.FAILED and batch.error:
                note = f"{NOT_SENT}: {batch.error}"
            return _from_history(batch, note)
        if message_id in self._serviced:
            ended = replace(_from_history(batch, None), source="service")
            answer = None if self._kept is None else self._kept.get(message_id)
            return ended if answer is None else _from_answer(answer, batch)
        if message_id in self._notes:
            return _from_history(batch, self._notes[message_id])
        return _from_history(batch, None if batch.final else TOO_OLD)

    def report(self) -> StatusReport:
        """What the command ends with (after `run`): the failures, or the wait's result."""
        waited = self._waited
        if waited is None:
            waited = WaitResult((), (), False, 0.0, tally=Tally())
            asked = self._asked
        else:
            asked = waited.counts
        tally = _add(self._settled, asked)
        waited = replace(waited, tally=tally, waited=time.monotonic() - self._started)
        return StatusReport((), failures=tuple(self._failures), waited=waited, more=self._more)


def _add(one: Tally, other: Tally) -> Tally:
    return Tally(
        one.recipients + other.recipients,
        one.impossible + other.impossible,
        one.pending + other.pending,
    )


class _Recorded(Mapping[str, DeliveryStatus]):
    """The answers just given for `ids`, read back from the history they were written to (a
    million are not held): the wait's first round."""

    def __init__(self, store: HistoryStore, ids: set[str]) -> None:
        self._store, self._ids = store, ids

    def __getitem__(self, message_id: str) -> DeliveryStatus:
        batch = self._store.get(message_id) if message_id in self._ids else None
        if batch is None:
            raise KeyError(message_id)
        infos = (DeliveryInfo(r.address, r.status) for r in batch.recipients if r.status)
        return DeliveryStatus(message_id, tuple(infos))

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)
