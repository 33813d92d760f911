"""Sending: one request per batch of at most 50 recipients, concurrently, each journalled.

The order of things is what makes a send safe to script and to re-run:

1. Everything is checked before anything is sent: numbers, text, files, opt-outs, the dedupe key
   (`attsms.send.input` and `attsms.send.plan`).
2. Each batch is written to the history as `sending` BEFORE its request, and updated after. A
   process killed mid-request leaves that batch `sending`, which a re-run reads as "may have gone".
   The threads' writes are group-committed (`attsms.send.journal`): a claim is on the disk
   before its request leaves; outcomes alone do not wait for the disk.
3. With a dedupe key, a re-run sends only the batches with no accepted (or possibly sent) attempt
   under that key, and reports the others as already sent (or unknown).
4. A batch that fails does not stop the others; the run ends with exit 4 (some failed) or 5 (some
   outcome unknown, which wins: it needs a person to look). Credentials refused stop the rest.

Requests run in a thread pool over the one `AttClient` (httpx.Client is thread-safe), under an
optional cap on requests started per second. 429 and POL0001 backoff happen inside the client.

Memory does not grow with the recipients: each batch is cut as it is sent, and with
`keep_rows=False` the report keeps counts only, the caller printing each batch from `on_batch`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from attsms.api.throttle import Throttle
from attsms.core.errors import (
    AttsmsError,
    ExitCode,
    StoreError,
    TemporaryError,
    UnknownOutcomeError,
    UsageError,
)
from attsms.core.interrupts import HeldInterrupt, hold_interrupt
from attsms.core.models import SendResult
from attsms.core.numbers import display
from attsms.core.text import first_few
from attsms.send import quiet_hours
from attsms.send.journal import Journal
from attsms.send.results import (
    ACCEPTED,
    ALREADY_SENT,
    DEFERRED,
    FAILED,
    OPTED_OUT,
    UNKNOWN,
    BatchOutcome,
    SendReport,
)
from attsms.store import history, open_history, opted_out, read_history
from attsms.store.history import BatchClaim, BatchFinish, DedupeSlot, JobOwner, JobTakenError

if TYPE_CHECKING:
    from attsms.auth.session import Session
    from attsms.send.plan import SendPlan
    from attsms.send.quiet_hours import QuietHours
    from attsms.store import StoreSettings
    from attsms.store.history import HistoryStore, JobLease, Outcome, SentBatch

DEFAULT_CONCURRENCY = 16  # 200 requests at 50 ms: ~13 rounds; 429s slow it down by themselves
# AttClient keeps 20 connections; more threads than that would only queue for one.
MAX_CONCURRENCY = 20


# --- sending ---------------------------------------------------------------------------------


class BatchSender(Protocol):
    def send(
        self, addresses: Sequence[str], message: str, *, notify: bool = False
    ) -> SendResult: ...


@dataclass(frozen=True)
class SendOptions:
    notify: bool = False
    dedupe_key: str | None = None
    resend_unknown: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    rate: float | None = None  # requests started per second; None: no cap
    ignore_opt_out: bool = False
    lock_timeout: float = 0.0  # how long to wait for a live run that holds the dedupe key
    # Hold back batches inside this window in their recipients' time (`by_zone` cuts them).
    quiet_hours: QuietHours | None = None
    # The run's id in the history (every batch row carries it; its start is the send id that
    # `send` prints); None: a new one.
    run_id: str | None = None


def send_plan(
    session: Session,
    plan: SendPlan,
    options: SendOptions | None = None,
    *,
    stores: StoreSettings,
    on_batch: Callable[[BatchOutcome], None] | None = None,
    keep_rows: bool = True,
) -> SendReport:
    """Send `plan` with `session`'s client, skipping opted-out numbers, recording it in the
    history. Raises `UsageError` when every recipient opted out. `keep_rows=False`: the report
    keeps counts, not addresses (the caller printed each batch from `on_batch`)."""
    options = options or SendOptions()
    skip: frozenset[str] = frozenset()
    if not options.ignore_opt_out:
        skip = frozenset(opted_out(stores, session.identity, plan.addresses))
        if len(skip) == len(plan.addresses):
            named = first_few([display(a) for a in plan.addresses if a in skip])
            raise UsageError(
                f"every recipient opted out (texted STOP): {named}; nothing was sent",
                hint="pass --ignore-opt-out only if they opted back in another way",
            )
    client = session.client
    with open_history(stores) as store:
        return send_batches(
            client,
            store,
            plan,
            profile=session.profile,
            account=job_account(session.client_id, session.base_url),
            account_aliases=job_account_aliases(session.client_id, session.base_url),
            options=options,
            skip=skip,
            on_batch=on_batch,
            # Bad credentials stop here, before any batch, and the threads share one token.
            prepare=session.tokens.access_token,
            keep_rows=keep_rows,
        )


def job_account(client_id: str, base_url: str) -> str:
    """The account a keyed job is sent as, in the history: consent's (`account_of`), so one
    service spelled two ways (`HTTPS://API.att.com/`, `https://api.att.com:443`) is one job."""
    from attsms.auth.profiles import account_of

    return account_of(client_id, base_url)


def job_account_aliases(client_id: str, base_url: str) -> tuple[str, ...]:
    """What attsms before 0.3 named the same account in the history (a hash of the client id
    and the base URL as given): a job found under it is taken over by `job_account`'s name."""
    import hashlib

    return (hashlib.sha256(f"{client_id}\n{base_url}".encode()).hexdigest()[:16],)


def send_batches(
    client: BatchSender,
    store: HistoryStore,
    plan: SendPlan,
    *,
    profile: str,
    account: str = "",
    account_aliases: Sequence[str] = (),
    options: SendOptions | None = None,
    skip: Collection[str] = frozenset(),
    on_batch: Callable[[BatchOutcome], None] | None = None,
    prepare: Callable[[], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    keep_rows: bool = True,
) -> SendReport:
    """Send every batch of `plan` not already settled under the dedupe key; never raises for one
    batch's failure (see `SendReport.error`). Recipients in `skip` (opted out) are left out of
    their batch. `on_batch` is called in this thread as each ends; `prepare` once before the
    first request (not at all when nothing is left to send).

    A keyed job is held by this run alone (`HistoryStore.acquire_job`): another live run of the
    same key makes this one wait up to `options.lock_timeout`, then raise `LockTimeoutError`.

    Ctrl-C (or SIGTERM, SIGHUP) lets the requests in flight finish and be recorded, and returns
    the report so far with `interrupted` set; batches not started are `failed` (not sent).
    """
    options = options or SendOptions()
    started = clock()
    key = options.dedupe_key
    run_id = options.run_id or _run_id()

    def run(batches: Sequence[tuple[str, ...]], lease: JobLease | None) -> SendReport:
        batch_run = _BatchRun(
            client=client,
            store=store,
            plan=plan,
            batches=batches,
            lease=lease,
            run_id=run_id,
            profile=profile,
            account=account,
            options=options,
            skip=skip,
            on_batch=on_batch,
            keep_rows=keep_rows,
        )
        return batch_run.run(prepare, clock, sleep, started)

    if key is None:
        return run(plan.batches, None)
    claim = store.acquire_job(
        profile=profile,
        account=account,
        aliases=account_aliases,
        key=key,
        fingerprint=plan.fingerprint,
        ordered_fingerprint=plan.ordered_fingerprint,
        near_miss=quiet_hours_near_miss(plan, key),
        batch_count=len(plan.batches),
        recipient_count=len(plan.addresses),
        owner=JobOwner.current(run_id),
        lock_timeout=options.lock_timeout,
    )
    batches = plan.batches if claim.ordered else plan.job_batches
    with store.hold_job(profile, account, key, run_id) as lease:
        return run(batches, lease)


def quiet_hours_near_miss(plan: SendPlan, key: str) -> tuple[str, UsageError]:
    """The same job with quiet hours the other way (`SendPlan.zoned_twin`), and the error that
    says so: a keyed job's batches are cut by time zone with quiet hours and not without, so it
    cannot change between runs, but it is not "a different message or recipient list"."""
    if plan.unzoned is not None:
        was, now, fix = "without quiet hours", "has them", "--quiet-hours off"
    else:
        was, now, fix = "with quiet hours", "has none", "the same --quiet-hours"
    error = UsageError(
        f"dedupe key {key!r} was first run {was}, and this run {now} (quiet hours batch the"
        " recipients by time zone: the two are different jobs)",
        hint=f"run it again with {fix}, or use a new key",
    )
    return plan.zoned_twin, error


@dataclass(frozen=True)
class JobPreview:
    """A keyed dry run: what the job's earlier runs settled, and what a run now would send."""

    key: str
    known: bool  # an earlier run used the key (for this same job)
    already_sent: int  # recipients of batches accepted before
    unknown: int  # recipients of batches that may have gone (resent only with --resend-unknown)
    to_send: int  # recipients of the batches not sent yet (opted-out ones are skipped)


def preview_job(
    stores: StoreSettings,
    plan: SendPlan,
    *,
    profile: str,
    account: str,
    key: str,
    resend_unknown: bool,
    skip: Collection[str] = frozenset(),
    account_aliases: Sequence[str] = (),
) -> JobPreview:
    """What `send_batches` would find of the job `key` (a dry run): the same check of the key
    (`check_job`, the `UsageError`s `acquire_job` raises), and the same reading of its earlier
    batches (`_settled`). Reads only; claims nothing."""
    store = read_history(stores)
    if store is None:  # no history yet: nothing was sent under any key
        return JobPreview(key, False, 0, 0, len(plan.addresses) - len(skip))
    with store:
        stored_as = store.check_job(
            profile=profile,
            account=account,
            aliases=account_aliases,
            key=key,
            fingerprint=plan.fingerprint,
            ordered_fingerprint=plan.ordered_fingerprint,
            near_miss=quiet_hours_near_miss(plan, key),
        )
        attempts = (
            {}
            if stored_as is None
            else store.dedupe_attempts(profile, key, stored_as, recipients=False)
        )
        sent = unknown = to_send = 0
        for number, batch in enumerate(plan.job_batches):
            settled = _settled(
                number, batch, attempts.get(number), resend_unknown, store.addresses_of
            )
            if settled is None:
                to_send += sum(a not in skip for a in batch)
            elif settled.result == ALREADY_SENT:
                sent += len(settled.addresses)
            else:
                unknown += len(settled.addresses)
    return JobPreview(key, stored_as is not None, sent, unknown, to_send)


class _Stop:
    """Set once credentials are refused: the batches not yet started are not sent."""

    def __init__(self) -> None:
        self.error: AttsmsError | None = None
        self._lock = threading.Lock()

    def set(self, error: AttsmsError) -> None:
        with self._lock:
            if self.error is None:
                self.error = error

    def is_set(self) -> bool:
        return self.error is not None


_SKIPS_NOTED_AT = 5000


@dataclass
class _BatchRun:
    """One run over a plan's batches: those an earlier run settled, those all opted out and
    those quiet hours hold are told at once; the rest are claimed in the journal and sent, from
    a pool of threads. `outcomes` fills in batch order, however the batches end."""

    client: BatchSender
    store: HistoryStore
    plan: SendPlan
    batches: Sequence[tuple[str, ...]]
    lease: JobLease | None  # a keyed job's hold on its dedupe key
    run_id: str
    profile: str
    account: str
    options: SendOptions
    skip: Collection[str]  # opted out: left out of their batch
    on_batch: Callable[[BatchOutcome], None] | None
    keep_rows: bool
    outcomes: list[BatchOutcome | None] = field(init=False)
    warnings: list[str] = field(init=False, default_factory=list)
    stop: _Stop = field(init=False, default_factory=_Stop)
    held: HeldInterrupt = field(init=False, default_factory=HeldInterrupt)
    limiter: Throttle | None = field(init=False, default=None)
    journal: Journal = field(init=False)  # the claims and outcomes, group-committed
    # Recipients left out (address, reason), noted in the history for `attsms report`, a few
    # thousand at a time: the batch rows never hold them.
    skips: list[tuple[str, str]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.outcomes = [None] * len(self.batches)
        self.journal = Journal(self.store)

    def run(
        self,
        prepare: Callable[[], object] | None,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        started: float,
    ) -> SendReport:
        """Send what is to be sent now (see `send_batches`), and report every batch."""
        to_send = self._to_send()
        interrupted: KeyboardInterrupt | None = None
        if to_send:
            if prepare is not None:
                prepare()
            if self.options.rate:
                self.limiter = Throttle(ceiling=self.options.rate, clock=clock, sleep=sleep)
            interrupted = self._send_all(to_send)
            if interrupted is not None:
                self._fail_unsent(AttsmsError("interrupted before it was sent"))
        self._note_skips(0)
        final = [o for o in self.outcomes if o is not None]
        assert len(final) == len(self.outcomes)
        report = SendReport(
            final,
            elapsed=clock() - started,
            dedupe_key=self.key,
            warnings=self.warnings,
            run_id=self.run_id,
        )
        report.interrupted = interrupted
        return report

    @property
    def key(self) -> str | None:
        return self.options.dedupe_key

    def done(self, outcome: BatchOutcome) -> None:
        self.skips += [(a, OPTED_OUT.value) for a in outcome.skipped]
        if outcome.result == DEFERRED and outcome.counts is None and not outcome.sent:
            self.skips += [(a, DEFERRED.value) for a in outcome.addresses]
        self._note_skips(_SKIPS_NOTED_AT)
        self.outcomes[outcome.number] = outcome if self.keep_rows else outcome.slim()
        if self.on_batch is not None:
            self.on_batch(outcome)

    def _note_skips(self, at_least: int) -> None:
        if self.skips and len(self.skips) >= at_least:
            noted, self.skips = self.skips, []
            self.store.record_skips(
                self.run_id, profile=self.profile, account=self.account, key=self.key, skipped=noted
            )

    def _split(self, addresses: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The batch's recipients to send to, and those skipped (opted out)."""
        going = tuple(a for a in addresses if a not in self.skip)
        return going, tuple(a for a in addresses if a in self.skip)

    def _to_send(self) -> list[int]:
        """The numbers of the batches to send now; the others are done here."""
        known: dict[int, SentBatch] = {}
        if self.key is not None:  # recipients read a batch at a time, as each is settled
            known = self.store.dedupe_attempts(
                self.profile, self.key, self.account, recipients=False
            )
        window = self.options.quiet_hours
        # One moment for the whole run (tests replace the clock).
        now = quiet_hours.utc_now() if window is not None else None
        to_send: list[int] = []
        for number in range(len(self.batches)):
            if not self.skip and number not in known and window is None:  # the common case
                to_send.append(number)
                continue
            outcome = self._not_sent_now(number, known.get(number), now)
            if outcome is None:
                to_send.append(number)
            else:
                self.done(outcome)
        return to_send

    def _not_sent_now(
        self, number: int, attempt: SentBatch | None, now: Any
    ) -> BatchOutcome | None:
        """Why batch `number` is not sent in this run (settled before, everyone in it opted out,
        or held by quiet hours), or None: it is sent."""
        addresses = self.batches[number]
        settled = _settled(
            number, addresses, attempt, self.options.resend_unknown, self.store.addresses_of
        )
        if settled is not None:
            return settled
        going, skipped = self._split(addresses)
        if not going:  # everyone in it opted out: no request at all
            return BatchOutcome(number, (), OPTED_OUT, skipped=addresses)
        window = self.options.quiet_hours
        if window is not None and now is not None:
            until = _held_until(going, window, now)
            if until is not None:  # no journal row: a keyed re-run sends it later
                pause = TemporaryError(
                    f"quiet hours in the recipient's time zone until {until:%Y-%m-%d %H:%M} UTC"
                )
                return BatchOutcome(number, going, DEFERRED, error=pause, skipped=skipped)
        return None

    def _send_all(self, to_send: list[int]) -> KeyboardInterrupt | None:
        """Send `to_send`; returns the Ctrl-C (SIGTERM, SIGHUP) that stopped it, if any."""
        workers = max(1, min(self.options.concurrency, MAX_CONCURRENCY, len(to_send)))
        if workers > 1:
            return _run_pool(self.work, to_send, workers, self.done, self.stop, self.client)
        try:  # one at a time: no threads to start (the common one-batch send)
            for number in to_send:
                self.done(self.work(number))
                self.held.raise_if_caught()
        except KeyboardInterrupt as signal:
            return signal
        return None

    def _fail_unsent(self, error: AttsmsError) -> None:
        """Every batch with no outcome yet: failed, not sent."""
        for number, outcome in enumerate(self.outcomes):
            if outcome is None:
                going, skipped = self._split(self.batches[number])
                self.done(BatchOutcome(number, going, FAILED, error=error, skipped=skipped))

    def work(self, number: int) -> BatchOutcome:
        """Send batch `number` (in any thread): after its start slot, unless the run stopped."""
        going, skipped = self._split(self.batches[number])
        if self.limiter is not None and not self.stop.is_set():
            self.limiter.pace()
        if self.stop.error is None and self.lease is not None and self.lease.lost:
            self.stop.set(JobTakenError(f"another run took over dedupe key {self.key!r}"))
        if self.stop.error is not None:
            return BatchOutcome(number, going, FAILED, error=self.stop.error, skipped=skipped)
        # In the main thread (one batch at a time), Ctrl-C waits until the claimed batch's
        # answer is recorded, as the pool's shutdown does for the worker threads.
        with hold_interrupt(self.held):
            return self._claim_and_send(number, going, skipped)

    def _claim_and_send(
        self, number: int, going: tuple[str, ...], skipped: tuple[str, ...]
    ) -> BatchOutcome:
        """Write the batch to the journal as `sending`, then send it and record the answer."""
        key, count = self.key, len(self.batches)
        slot = DedupeSlot(key, number, count, self.account) if key is not None else None
        try:
            claim = self.journal.claim(
                BatchClaim(
                    profile=self.profile,
                    message=self.plan.text_for(number),
                    addresses=going,
                    notify=self.options.notify,
                    run_id=self.run_id,
                    dedupe=slot,
                    resend_unknown=self.options.resend_unknown,
                    batch_number=number,
                    batch_count=count,
                )
            )
        except AttsmsError as error:  # no record, no request: it surely did not go
            if isinstance(error, JobTakenError):
                self.stop.set(error)
            return BatchOutcome(number, going, FAILED, error=error, skipped=skipped)
        if claim.batch_id is None:  # another run under the same key got there first
            assert claim.existing is not None
            settled = _settled(number, self.batches[number], claim.existing, resend_unknown=False)
            assert settled is not None
            return settled
        return self._send(number, going, skipped, claim.batch_id)

    def _send(
        self, number: int, addresses: tuple[str, ...], skipped: tuple[str, ...], batch_id: int
    ) -> BatchOutcome:
        """The request of a claimed batch, and its outcome recorded in the journal."""
        notify = self.options.notify
        try:
            result = self.client.send(addresses, self.plan.text_for(number), notify=notify)
        except UnknownOutcomeError as error:
            self._finish(batch_id, history.UNKNOWN, error=error.message)
            return BatchOutcome(number, addresses, UNKNOWN, error=error, sent=True, skipped=skipped)
        except AttsmsError as error:
            self._finish(batch_id, history.FAILED, error=error.message)
            if error.exit_code == ExitCode.AUTH:
                self.stop.set(error)  # do not hammer the service with credentials it refuses
            return BatchOutcome(number, addresses, FAILED, error=error, sent=True, skipped=skipped)
        except Exception as error:  # an httpx surprise: the request may have gone, so never resend
            unknown = UnknownOutcomeError(f"sending the message: {type(error).__name__}: {error}")
            self._finish(batch_id, history.UNKNOWN, error=unknown.message)
            return BatchOutcome(
                number, addresses, UNKNOWN, error=unknown, sent=True, skipped=skipped
            )
        self._finish(batch_id, history.ACCEPTED, message_id=result.message_id)
        return BatchOutcome(
            number, addresses, ACCEPTED, result.message_id, sent=True, skipped=skipped
        )

    def _finish(
        self,
        batch_id: int,
        outcome: Outcome,
        *,
        message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        try:
            self.journal.finish(BatchFinish(batch_id, outcome, message_id, error))
        except StoreError as store_error:
            # The request is over either way; the row stays `sending`, which a re-run reads as
            # "may have gone" and does not resend. Say so rather than hide the outcome.
            self.warnings.append(f"{store_error} (that batch stays recorded as in flight)")


def _held_until(addresses: Sequence[str], window: QuietHours, now: Any) -> Any:
    """When the last of `addresses` leaves quiet hours, or None when none is inside them. A
    batch `by_zone` cut shares its zones; any other is held whole (nobody is sent twice)."""
    ends = [u for a in addresses if (u := quiet_hours.deferred_until(a, window, now)) is not None]
    return max(ends) if ends else None


def _run_pool(
    work: Callable[[int], BatchOutcome],
    to_send: list[int],
    workers: int,
    done: Callable[[BatchOutcome], None],
    stop: _Stop,
    client: BatchSender,
) -> KeyboardInterrupt | None:
    """Send `to_send` from `workers` threads, each taking the next batch as it finishes one; this
    thread only records and prints (`done`), so a request never waits on that bookkeeping, and
    no future is kept per batch. Returns the Ctrl-C (SIGTERM, SIGHUP) that stopped it, if any:
    then nothing new starts, and the requests in flight finish and are recorded."""
    pending = iter(to_send)
    take = threading.Lock()
    halt = threading.Event()
    results = _Results()

    def worker() -> None:
        try:
            while not halt.is_set():
                with take:
                    number = next(pending, None)
                if number is None:
                    break
                results.put(work(number))
        except BaseException as error:  # handed to the main thread, raised there
            results.put(error)
        finally:
            results.put(None)

    threads = [
        threading.Thread(target=worker, name=f"send-{i}", daemon=True) for i in range(workers)
    ]
    try:
        for thread in threads:
            thread.start()
            results.running += 1
        results.collect(done, errors=True)
    except KeyboardInterrupt as signal:
        # Start nothing new; the requests in flight finish and are recorded. Sends waiting out a
        # rate limit stop waiting (the handler only reached this thread).
        halt.set()
        stop.set(UnknownOutcomeError("interrupted"))
        cancel = getattr(client, "cancel_waits", None)
        if cancel is not None:
            cancel()
        results.collect(done, errors=False)
        return signal
    except BaseException:
        halt.set()
        stop.set(UnknownOutcomeError("interrupted"))
        for thread in threads:
            if thread.is_alive():
                thread.join()
        raise
    return None


class _Results:
    """What the pool's workers hand this thread: an outcome, an error, or None as one ends."""

    def __init__(self) -> None:
        import queue

        self._queue: queue.SimpleQueue[BatchOutcome | BaseException | None] = queue.SimpleQueue()
        self.running = 0  # workers started and not ended yet
        self.put = self._queue.put

    def collect(self, done: Callable[[BatchOutcome], None], *, errors: bool) -> None:
        """`done` each outcome until every worker has ended. A worker's error is raised here
        (`errors`), or, once the run is stopping anyway, passed over."""
        while self.running:
            item = self._queue.get()
            if item is None:
                self.running -= 1
            elif not isinstance(item, BaseException):
                done(item)
            elif errors:
                raise item


def new_run_id() -> str:
    """A new run's id (32 hex characters): its first 8 are the send id people see."""
    return _run_id()


def _run_id() -> str:
    import uuid

    return uuid.uuid4().hex


def _settled(
    number: int,
    addresses: tuple[str, ...],
    attempt: SentBatch | None,
    resend_unknown: bool,
    addresses_of: Callable[[int], tuple[str, ...]] | None = None,
) -> BatchOutcome | None:
    """The outcome of a batch an earlier run settled, or None when it is to be sent now. Its
    recipients are those the earlier attempt went to (`addresses_of` its id, when `attempt` was
    read without them); the rest of the batch were skipped then."""
    if attempt is None:
        return None
    if attempt.outcome != history.ACCEPTED and (resend_unknown or not attempt.may_have_been_sent):
        return None  # failed (or unknown, to be resent): sent now
    if addresses_of is not None and not attempt.recipients:
        went = set(addresses_of(attempt.id))
    else:
        went = {r.address for r in attempt.recipients}
    sent_to = tuple(a for a in addresses if a in went)
    skipped = tuple(a for a in addresses if a not in went)
    if attempt.outcome == history.ACCEPTED:
        return BatchOutcome(
            number, sent_to, ALREADY_SENT, message_id=attempt.message_id, skipped=skipped
        )
    if attempt.may_have_been_sent and not resend_unknown:
        when = attempt.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        error = UnknownOutcomeError(
            f"sent by an earlier run at {when} with no answer; not resent"
            + (f" ({attempt.error})" if attempt.error else "")
        )
        return BatchOutcome(number, sent_to, UNKNOWN, error=error, skipped=skipped)
    return None
