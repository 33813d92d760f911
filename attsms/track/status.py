"""Tracking what was sent: delivery status from the service, written back to the local history.

The core of `attsms status` and `attsms history`.

- By message ID: ask the service for each (a few at a time), write what it says into the history
  when the ID is there, and when the service no longer knows an ID say why it may have gone (AT&T
  keeps a status only about 30 minutes after it is final) with the history's last known status.
- With no ID: the profile's recent sends from the history, asking the service only about those
  not yet final. Batches whose outcome is unknown have no message ID and are never asked about;
  messages sent more than 72 hours ago are not asked either (the network has given up on them and
  the service has forgotten them).
- `wait`: then `wait.wait_and_record` until every recipient is final or time runs out, the loop
  `send --wait` uses too, writing each change to the history as it comes.

The service is asked through one `StatusPool` a run, opened with the session when something must
be asked.

Nothing here prints: callers get `Tracked` messages (and each change through `on_update`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from attsms.core.errors import (
    ApiError,
    AttsmsError,
    ExitCode,
    StoreError,
    UsageError,
)
from attsms.core.models import FINAL_STATUSES, DeliveryInfo, DeliveryStatus
from attsms.store import open_history
from attsms.store import read_history as open_read_only
from attsms.store.history import Outcome, forward_status
from attsms.store.inbox import parse_since as since_epoch
from attsms.track.pool import POLL_CONCURRENCY, SessionPool
from attsms.track.wait import (
    DEFAULT_INTERVAL,
    DEFAULT_TIMEOUT,
    WaitResult,
    is_temporary,
    record,
    wait_and_record,
)

if TYPE_CHECKING:
    from attsms.auth.session import Session
    from attsms.store import StoreSettings
    from attsms.store.history import HistoryStore, SentBatch
    from attsms.store.sends import SendRef

# The service keeps a status about this long after it became final, then answers "not found".
STATUS_RETENTION = timedelta(minutes=30)
# The network retries an undelivered message this long; then the service forgets it too.
NETWORK_RETRY_WINDOW = timedelta(hours=72)
DEFAULT_LIMIT = 20  # sends shown by `attsms status` and `attsms history` without --all/--limit

Source = Literal["service", "history"]

# Why a row shows the history's last known status rather than the service's answer.
GONE = "gone from the service; last known"
TOO_OLD = "sent over 72 h ago; last known"
NOT_REFRESHED = "could not refresh; last known"
OUTCOME_UNKNOWN = "outcome unknown: may have been sent"
NOT_SENT = "not sent"

# Summary words for statuses, in the order a summary lists them.
_SUMMARY_WORDS = {
    "DeliveredToTerminal": "delivered",
    "DeliveredToNetwork": "delivered",
    "DeliveryImpossible": "impossible",
    "MessageWaiting": "waiting",
    "DeliveryUncertain": "uncertain",
}
_SUMMARY_ORDER = ("delivered", "impossible", "waiting", "uncertain", "not checked yet")


class UnknownMessageError(AttsmsError):
    """The service does not know a message ID (never sent with these credentials, or forgotten)."""

    exit_code = ExitCode.ERROR


@dataclass(frozen=True)
class Delivery:
    """One recipient of a message: wire address and status (None: never asked)."""

    address: str
    status: str | None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class Tracked:
    """A message as `attsms status` shows it."""

    message_id: str | None  # None: the batch never got one (failed, or outcome unknown)
    deliveries: tuple[Delivery, ...]
    source: Source  # "service": its answer just now; "history": the last status stored
    sent_at: datetime | None = None  # known when the message is in the local history
    message: str | None = None
    outcome: Outcome = Outcome.ACCEPTED
    note: str | None = None  # why the status is not the service's answer, or what went wrong
    profile: str | None = None

    @property
    def final(self) -> bool:
        """Accepted, and every recipient's status is final (none known yet: not final)."""
        return (
            self.outcome == Outcome.ACCEPTED
            and bool(self.deliveries)
            and all(d.final for d in self.deliveries)
        )

    @property
    def waitable(self) -> bool:
        """Worth asking the service again: accepted, not final, and not forgotten by it."""
        return (
            self.message_id is not None
            and self.outcome == Outcome.ACCEPTED
            and not self.final
            and self.note not in (GONE, TOO_OLD)
        )

    def summary(self) -> str:
        return summarize(self.outcome, [d.status for d in self.deliveries])


@dataclass(frozen=True)
class StatusReport:
    """What `track` found: messages in display order, and what went wrong on the way."""

    messages: tuple[Tracked, ...]
    unknown: tuple[UnknownMessageError, ...] = ()  # IDs asked for that the service does not know
    failures: tuple[AttsmsError, ...] = ()  # other failed requests (their rows show last known)
    waited: WaitResult | None = None  # set with `wait`
    more: bool = False  # the history holds more sends than `limit` showed

    def error(self) -> AttsmsError | None:
        """The error the command ends with (after printing the rows), or None for exit 0."""
        if self.unknown:
            if len(self.unknown) == 1:
                return self.unknown[0]
            first = self.unknown[0]
            return UnknownMessageError(
                f"{len(self.unknown)} message IDs are not known to the service (first:"
                f" {first.message})",
                hint=first.hint,
            )
        if self.failures:
            return self.failures[0]
        if self.waited is not None:
            return self.waited.error()
        return None


# --- summaries and --since -------------------------------------------------------------------


def summarize(outcome: Outcome, statuses: Sequence[str | None]) -> str:
    """A batch's state in a few words: "2 delivered, 1 waiting", "not sent", "outcome unknown"."""
    if outcome == Outcome.FAILED:
        return NOT_SENT
    if outcome in (Outcome.SENDING, Outcome.UNKNOWN):
        return "outcome unknown"
    counts: dict[str, int] = {}
    for status in statuses:
        word = "not checked yet" if status is None else _SUMMARY_WORDS.get(status, status)
        counts[word] = counts.get(word, 0) + 1
    ordered = [w for w in _SUMMARY_ORDER if w in counts] + sorted(
        w for w in counts if w not in _SUMMARY_ORDER
    )
    return ", ".join(f"{counts[word]} {word}" for word in ordered) or "no recipients"


def parse_since(text: str, now: float | None = None) -> datetime:
    """`--since`: a date or time (ISO 8601; no zone means local time) or a duration back from now
    (`90m`, `2h`, `7d`, `1w`), as an aware UTC datetime. The same grammar as `inbox list`."""
    try:
        return datetime.fromtimestamp(since_epoch(text, now), tz=UTC)
    except UsageError:
        raise
    except (ValueError, OverflowError, OSError):  # a duration too long to count back
        raise UsageError(
            f"not a date or duration in reach: {text!r}",
            hint="use a date (2024-05-01, 2024-05-01T09:30) or a duration (90m, 2h, 7d)",
        ) from None


# --- the history alone (`attsms history`) ----------------------------------------------------


@dataclass(frozen=True)
class HistoryPage:
    batches: tuple[SentBatch, ...]  # newest first
    more: bool  # older sends match too


def read_history(
    stores: StoreSettings,
    profile: str,
    *,
    limit: int | None = DEFAULT_LIMIT,
    since: datetime | None = None,
) -> HistoryPage:
    """The profile's sends from the history, newest first. Never calls the service, and
    creates no history file when there is none."""
    stream = HistoryStream(stores, profile, limit=limit, since=since)
    batches = tuple(batch for page in stream for batch in page)
    return HistoryPage(batches, more=stream.more)


class HistoryStream:
    """`read_history` a page at a time, for output written as it is read: iterate once for
    pages of batches (newest first, `limit` at most); `count` and `more` are set as it goes.
    Reads `store` when given (still open after), else the history opened read-only."""

    def __init__(
        self,
        stores: StoreSettings,
        profile: str,
        *,
        limit: int | None = DEFAULT_LIMIT,
        since: datetime | None = None,
        store: HistoryStore | None = None,
    ) -> None:
        self._stores, self._profile, self._limit, self._since = stores, profile, limit, since
        self._store = store
        self.more = False
        self.count = 0

    def __iter__(self) -> Iterator[list[SentBatch]]:
        if self._store is not None:
            yield from self._pages(self._store)
            return
        store = open_read_only(self._stores)
        if store is not None:
            with store:
                yield from self._pages(store)

    def _pages(self, store: HistoryStore) -> Iterator[list[SentBatch]]:
        limit = self._limit
        wanted = None if limit is None else limit + 1  # one more tells whether there are more
        for page in store.recent_pages(wanted, self._since, profile=self._profile):
            if limit is not None and self.count + len(page) > limit:
                page = page[: limit - self.count]
                self.more = True
            self.count += len(page)
            if page:
                yield page


# --- status from the service -----------------------------------------------------------------

OnUpdate = Callable[[Tracked, tuple[Delivery, ...]], None]


def track(
    open_session: Callable[[], Session],
    *,
    stores: StoreSettings,
    profile: str,
    message_ids: Sequence[str] = (),
    limit: int | None = DEFAULT_LIMIT,
    since: datetime | None = None,
    wait: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    on_update: OnUpdate | None = None,
    concurrency: int = POLL_CONCURRENCY,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> StatusReport:
    """Status of `message_ids`, or with none of the profile's recent sends, then wait if asked.

    `open_session` is called only when the service must be asked (a history where everything is
    final needs no credentials). `on_update(message, deliveries)` gets each message once the
    first answers are in (all its deliveries), then each change while waiting (the recipients
    that changed).
    """
    if any(not message_id.strip() for message_id in message_ids):
        raise UsageError("a message ID is empty", hint="give the IDs `attsms send` printed")
    started = time.monotonic()
    with _open_history(stores) as store, SessionPool(open_session, concurrency) as connection:
        tracker = _Tracker(store, connection, profile, now())
        if message_ids:
            report = tracker.by_id(list(dict.fromkeys(message_ids)))
        else:
            report = tracker.recent(limit, since)
        if on_update is not None:
            for message in report.messages:
                on_update(message, message.deliveries)
        if wait:
            remaining = max(0.0, timeout - (time.monotonic() - started))
            report = tracker.wait(report, remaining, interval, on_update, started)
    return report


class StatusStream:
    """`track` of the recent sends without waiting, a page of the history at a time: iterate
    once for the messages, each page asked about (and written back) as it comes, so a history
    of a million recipients is never held; then `report()` has what went wrong (the first
    `MAX_FAILURES` errors) and whether the history holds more."""

    MAX_FAILURES = 100

    def __init__(
        self,
        open_session: Callable[[], Session],
        *,
        stores: StoreSettings,
        profile: str,
        limit: int | None = DEFAULT_LIMIT,
        since: datetime | None = None,
        concurrency: int = POLL_CONCURRENCY,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._open, self._profile, self._limit, self._since = open_session, profile, limit, since
        self._stores = stores
        self._concurrency, self._now = concurrency, now
        self.count = 0
        self._more = False
        self._failures: list[AttsmsError] = []

    def __iter__(self) -> Iterator[Tracked]:
        connection = SessionPool(self._open, self._concurrency, fanout=True)
        with _open_history(self._stores) as store, connection:
            tracker = _Tracker(store, connection, self._profile, self._now())
            pages = HistoryStream(
                self._stores, self._profile, limit=self._limit, since=self._since, store=store
            )
            # The next page is asked about while this one is shown, its requests moved along
            # between the rows: they wait on the service, not on the rendering, and it on them.
            ahead: _Asking | None = None
            for page in pages:
                asking = tracker.start(page)
                if ahead is not None:
                    for message in self._shown(tracker, ahead):
                        yield message
                        connection.pump()
                ahead = asking
            yield from self._shown(tracker, ahead) if ahead is not None else ()
            self._more = pages.more

    def _shown(self, tracker: _Tracker, asking: _Asking) -> tuple[Tracked, ...]:
        part = tracker.finish(asking)
        tracker.forget_answers()
        room = self.MAX_FAILURES - len(self._failures)
        self._failures.extend(part.failures[: max(0, room)])
        self.count += len(part.messages)
        return part.messages

    def report(self) -> StatusReport:
        return StatusReport((), failures=tuple(self._failures), more=self._more)


def refresh_send(
    open_session: Callable[[], Session],
    *,
    stores: StoreSettings,
    profile: str,
    ref: SendRef,
    concurrency: int = POLL_CONCURRENCY,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> StatusReport:
    """Ask the service about the messages of one send (`attsms.store.sends`) not final yet, a
    page of its batches at a time, writing each answer to the history; the report has what went
    wrong (the first `StatusStream.MAX_FAILURES`), the history has the statuses."""
    failures: list[AttsmsError] = []
    connection = SessionPool(open_session, concurrency)
    with _open_history(stores) as store, connection:
        tracker = _Tracker(store, connection, profile, now())
        for page in store.send_pages(profile, ref):
            part = tracker.of(page)
            tracker.forget_answers()
            room = StatusStream.MAX_FAILURES - len(failures)
            failures.extend(part.failures[: max(0, room)])
    return StatusReport((), failures=tuple(failures))


def _open_history(stores: StoreSettings) -> HistoryStore:
    """The history to record statuses in; on a data directory that cannot be written, the
    history read-only: `status` still shows what it holds and what the service answers."""
    try:
        return open_history(stores)
    except StoreError:
        store = open_read_only(stores)
        if store is None:
            raise
        return store


@dataclass(frozen=True)
class _Asking:
    """Questions under way (`_Tracker.start`): the batches, the IDs asked, their answers."""

    batches: Sequence[SentBatch]
    ids: list[str]
    answers: Iterator[DeliveryStatus | AttsmsError]


class _Tracker:
    def __init__(
        self,
        store: HistoryStore,
        connection: SessionPool,
        profile: str,
        now: datetime,
    ) -> None:
        self._store = store
        self._connection = connection
        self._profile = profile
        self._now = now
        self._answers: dict[str, DeliveryStatus] = {}  # this run's answers: `wait` takes them

    # asked by ID ------------------------------------------------------------------------------

    def by_id(self, message_ids: list[str]) -> StatusReport:
        answers = self._ask(message_ids)
        messages: list[Tracked] = []
        unknown: list[UnknownMessageError] = []
        failures: list[AttsmsError] = []
        for message_id in message_ids:
            answer = answers[message_id]
            batch = self._store.get(message_id)
            if isinstance(answer, DeliveryStatus):
                messages.append(_from_answer(answer, batch))
            elif _is_not_found(answer):
                unknown.append(self._unknown(message_id, answer, batch))
                if batch is not None:
                    messages.append(_from_history(batch, GONE))
            else:
                failures.append(answer)
                # Shown with the history's last status, or as a row-less placeholder that
                # `--wait` still asks about.
                messages.append(
                    _from_history(batch, NOT_REFRESHED)
                    if batch is not None
                    else Tracked(message_id, (), "history", note=NOT_REFRESHED)
                )
        return StatusReport(tuple(messages), tuple(unknown), tuple(failures))

    def _unknown(
        self, message_id: str, error: AttsmsError, batch: SentBatch | None
    ) -> UnknownMessageError:
        """The service's "not found", with what the history says about why."""
        hint = None
        if batch is not None:
            when = batch.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
            last = summarize(batch.outcome, [r.status for r in batch.recipients])
            age = self._now - batch.created_at
            if batch.profile != self._profile:
                flag = "--sandbox" if batch.profile == "sandbox" else f"--profile {batch.profile}"
                hint = (
                    f"it was sent on {when} with profile {batch.profile!r}:"
                    f" try `attsms {flag} status {message_id}`"
                )
            elif batch.final or age > STATUS_RETENTION:
                too_old = not batch.final and age > NETWORK_RETRY_WINDOW
                why = (
                    "the network stops retrying after 72 hours and the service forgets it"
                    if too_old
                    else "AT&T keeps a status only about 30 minutes after it is final"
                )
                hint = f"{why}; last known (sent {when}): {last}"
            else:
                hint = (
                    f"the local history has it (sent {when}, last known: {last}), but the service"
                    " does not: was it sent to another base URL?"
                )
        return UnknownMessageError(error.message, hint=hint)

    # recent sends -----------------------------------------------------------------------------

    def recent(self, limit: int | None, since: datetime | None) -> StatusReport:
        batches = self._store.recent(
            None if limit is None else limit + 1, since, profile=self._profile
        )
        more = limit is not None and len(batches) > limit
        if more:
            batches = batches[:limit]
        return replace(self.of(batches), more=more)

    def of(self, batches: Sequence[SentBatch]) -> StatusReport:
        """The status of `batches` (newest first), asking the service about those not final."""
        return self.finish(self.start(batches))

    def start(self, batches: Sequence[SentBatch]) -> _Asking:
        """`of` begun: the questions about `batches` under way (on the pool's threads), their
        answers taken and the report made by `finish`."""
        to_ask = [
            b.message_id
            for b in batches
            if b.message_id is not None
            and b.outcome == Outcome.ACCEPTED
            and not b.final
            and self._now - b.created_at <= NETWORK_RETRY_WINDOW
        ]
        ids = list(dict.fromkeys(to_ask))
        return _Asking(batches, ids, self._connection.pool.ask(ids) if ids else iter(()))

    def finish(self, asking: _Asking) -> StatusReport:
        """The report of what `start` asked, each answer written to the history."""
        batches, answers = asking.batches, self._take(asking.ids, asking.answers)
        messages: list[Tracked] = []
        failures: list[AttsmsError] = []
        for batch in batches:
            answer = answers.get(batch.message_id or "")
            if batch.outcome != Outcome.ACCEPTED or batch.message_id is None:
                note = NOT_SENT if batch.outcome == Outcome.FAILED else OUTCOME_UNKNOWN
                if batch.outcome == Outcome.FAILED and batch.error:
                    note = f"{NOT_SENT}: {batch.error}"
                messages.append(_from_history(batch, note))
            elif answer is None:  # final already, or too old to ask about
                messages.append(_from_history(batch, None if batch.final else TOO_OLD))
            elif isinstance(answer, DeliveryStatus):
                messages.append(_from_answer(answer, batch))
            elif _is_not_found(answer):
                messages.append(_from_history(batch, GONE))
            else:
                failures.append(answer)
                messages.append(_from_history(batch, NOT_REFRESHED))
        return StatusReport(tuple(messages), failures=tuple(failures))

    @property
    def answers(self) -> dict[str, DeliveryStatus]:
        """This run's answers since `forget_answers`."""
        return self._answers

    def forget_answers(self) -> None:
        """Drop the answers kept for `wait` (a streamed run does not wait)."""
        self._answers.clear()

    # waiting ----------------------------------------------------------------------------------

    def wait(
        self,
        report: StatusReport,
        timeout: float,
        interval: float,
        on_update: OnUpdate | None,
        started: float,
    ) -> StatusReport:
        messages = list(report.messages)
        where = {m.message_id: i for i, m in enumerate(messages) if m.waitable and m.message_id}
        # Temporary failures are waited out; anything else (credentials) still ends the command.
        failures = tuple(f for f in report.failures if not is_temporary(f))
        pending = list(where) if not failures else []

        def changed(current: DeliveryStatus, _previous: DeliveryStatus | None) -> None:
            index = where[current.message_id]
            old = messages[index]
            deliveries = _ahead(_deliveries(current), old.deliveries)
            new = replace(old, deliveries=deliveries, source="service", note=None)
            messages[index] = new
            before = {d.address: d.status for d in old.deliveries}
            moved = tuple(
                d
                for d in new.deliveries
                if old.source != "service" or before.get(d.address) != d.status
            )
            if moved and on_update is not None:
                on_update(new, moved)

        pending_ids: tuple[str, ...] = ()
        timed_out = False
        if pending:
            result = wait_and_record(
                self._connection.pool,
                self._store,
                pending,
                timeout=timeout,
                interval=interval,
                on_change=changed,
                answered=self._answers,  # the first round was just asked
            )
            pending_ids, timed_out = result.pending_ids, result.timed_out
        # What decides the exit code: every status the service gave, and final ones the history
        # holds; not a stale "waiting" of a message the service no longer knows.
        statuses = tuple(
            s for m in messages if (m.source == "service" or m.final) and (s := _as_status(m))
        )
        waited = WaitResult(
            statuses=statuses,
            pending_ids=pending_ids,
            timed_out=timed_out,
            waited=time.monotonic() - started,
        )
        return replace(report, messages=tuple(messages), failures=failures, waited=waited)

    # asking -----------------------------------------------------------------------------------

    def _ask(self, message_ids: list[str]) -> dict[str, DeliveryStatus | AttsmsError]:
        """Each message's status or the error asking for it, a few requests at a time; every
        answer is written to the history at once."""
        if not message_ids:
            return {}
        return self._take(message_ids, self._connection.pool.ask(message_ids))

    def _take(
        self, message_ids: list[str], asking: Iterator[DeliveryStatus | AttsmsError]
    ) -> dict[str, DeliveryStatus | AttsmsError]:
        answers: dict[str, DeliveryStatus | AttsmsError] = {}
        for message_id, answer in zip(message_ids, asking, strict=True):
            answers[message_id] = answer
            if isinstance(answer, DeliveryStatus):
                self._answers[message_id] = answer
                record(self._store, answer)
        return answers


# --- helpers ---------------------------------------------------------------------------------


def _is_not_found(error: AttsmsError) -> bool:
    """The service's way of saying it does not know a message ID: 404, or a 400 saying the ID
    (the only input of this request) is not valid."""
    return isinstance(error, ApiError) and (
        error.status == 404 or (error.status == 400 and error.code in ("SVC0002", "SVC0003"))
    )


def _deliveries(status: DeliveryStatus) -> tuple[Delivery, ...]:
    return tuple(Delivery(d.address, d.status) for d in status.deliveries)


def _as_status(message: Tracked) -> DeliveryStatus | None:
    if message.message_id is None or message.outcome != Outcome.ACCEPTED:
        return None
    infos = [DeliveryInfo(d.address, d.status) for d in message.deliveries if d.status is not None]
    if not infos or len(infos) != len(message.deliveries):
        return None
    return DeliveryStatus(message.message_id, tuple(infos))


def _ahead(deliveries: tuple[Delivery, ...], known: Sequence[Delivery]) -> tuple[Delivery, ...]:
    """`deliveries` (the service's answer), none behind what is `known` of the same addresses
    (the history, or an earlier answer): a poll answered by a service behind a pushed receipt
    does not show a status moving back (`forward_status`, the store's rule)."""
    seen = {d.address: d.status for d in known}
    return tuple(
        Delivery(d.address, forward_status(seen.get(d.address), d.status)) for d in deliveries
    )


def _from_answer(answer: DeliveryStatus, batch: SentBatch | None) -> Tracked:
    known = [Delivery(r.address, r.status) for r in batch.recipients] if batch else []
    return Tracked(
        message_id=answer.message_id,
        deliveries=_ahead(_deliveries(answer), known),
        source="service",
        sent_at=batch.created_at if batch else None,
        message=batch.message if batch else None,
        profile=batch.profile if batch else None,
    )


def _from_history(batch: SentBatch, note: str | None) -> Tracked:
    return Tracked(
        message_id=batch.message_id,
        deliveries=tuple(Delivery(r.address, r.status) for r in batch.recipients),
        source="history",
        sent_at=batch.created_at,
        message=batch.message,
        outcome=batch.outcome,
        note=note,
        profile=batch.profile,
    )
