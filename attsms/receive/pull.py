"""Draining the service's inbox into the local store, for `attsms inbox pull` (often from cron).

The order is what makes it safe, since the service forgets every message it returns:

    fetch a batch -> commit its opt-out changes, then its new messages (durable transactions)
                  -> only then hand the new ones to the caller to print -> fetch the next batch

A crash at any point loses nothing that was committed. The one window is the batch in flight:
from the service producing its answer (and forgetting those messages) to the COMMIT returning, a
process killed without warning (kill -9, the OOM killer, a power cut) loses that batch. The
network's share of it is the protocol's; ours is parsing the answer and one SQLite transaction,
a few statements for the whole batch, about 3 ms for 100 messages (benchmarks/pull_window.py).
Ctrl-C, SIGTERM and SIGHUP wait until the batch asked for is stored (a second signal does not).
Before the first call the store is opened and written once, so an unwritable store fails before
anything is fetched. One pull at a time per profile and registration ID, under a cross-process
lock.

A pulled message whose sender is not a phone number or short code, or whose DateTime is not a
time (`core.inbound`, the rule `listen` refuses by), is stored all the same (the service has
forgotten it), with no keyword and dated when stored; `PullSummary.unreadable` counts them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from attsms.core.errors import AttsmsError, LockTimeoutError, StoreError, UsageError
from attsms.core.interrupts import hold_interrupt
from attsms.core.models import InboundMessage, InboxBatch
from attsms.store import StoreSettings, open_consent, open_inbox
from attsms.store.inbox import InboxStore, StoredBatch, StoredMessage

if TYPE_CHECKING:
    from attsms.auth.session import Session
    from attsms.core.models import SenderIdentity
    from attsms.store.consent import ConsentStore


class InboxSource(Protocol):
    """What a pull needs of the API client."""

    def inbox(self, registration_id: str) -> InboxBatch: ...


@dataclass
class PullSummary:
    """Running totals of one pull; complete once the drain ends, partial if it failed."""

    registration_id: str
    batches: int = 0  # service calls that returned a batch
    fetched: int = 0  # messages the service returned
    new: int = 0  # of those, stored for the first time (and handed out)
    duplicates: int = 0  # of those, already in the store
    opted_out: list[str] = field(default_factory=list)  # wire addresses, in order
    opted_in: list[str] = field(default_factory=list)
    pending: int = 0  # still waiting at the service after the last batch
    # Of the new, those whose sender is not a phone number or short code, or whose time is not
    # a time: stored as they came (the service has forgotten them), with no keyword, no opt-out.
    unreadable: int = 0


class UnstoredMessagesError(StoreError):
    """A batch came back from the service and could not be committed.

    The service has already forgotten these messages: the caller must show them (stdout) so
    they are not lost, then exit with this error.
    """

    def __init__(self, cause: AttsmsError, messages: tuple[StoredMessage, ...]) -> None:
        count = len(messages)
        noun = "message" if count == 1 else "messages"
        super().__init__(
            f"{count} {noun} fetched from the service could not be stored ({cause})",
            hint="the service no longer has them: they were printed on stdout, keep that output",
        )
        self.messages = messages


def resolve_registration_id(argument: str | None, session: Session) -> str:
    """The registration ID (short code) to pull: the argument, else the profile's."""
    registration_id = (argument or "").strip() or (session.registration_id or "").strip()
    if not registration_id:
        raise UsageError(
            f"no registration ID for profile {session.profile!r}",
            hint="give it as `attsms inbox pull 12345`, save it with"
            " `attsms login --registration-id 12345`, or set ATTSMS_REGISTRATION_ID",
        )
    return registration_id


class InboxPull:
    """One drain of one registration's inbox into one profile's store.

        with InboxPull(client, session.identity, registration_id, stores=stores) as pull:
            for batch in pull.batches(max_messages=None):
                show(batch.new)        # already committed
        pull.summary

    Entering opens the store (`store`, else the profile's in the stores `stores` names), takes
    the lock (LockTimeoutError after `lock_timeout` seconds) and
    proves the store writable; all of that before the service is called.
    """

    def __init__(
        self,
        source: InboxSource,
        sender: SenderIdentity,
        registration_id: str,
        *,
        stores: StoreSettings | None = None,
        lock_timeout: float = 0.0,
        store: InboxStore | None = None,
        consent: ConsentStore | None = None,
    ) -> None:
        if store is None and stores is None:
            raise ValueError("InboxPull needs the store or the settings to open it")
        self._source = source
        self._stores = stores
        self._sender = sender
        self._consent = consent
        self._lock_timeout = lock_timeout
        self._store = store
        self._stack = contextlib.ExitStack()
        self._locked = False
        self.registration_id = registration_id
        self.summary = PullSummary(registration_id)

    def __enter__(self) -> InboxPull:
        with contextlib.ExitStack() as stack:
            if self._store is None:
                assert self._stores is not None  # checked in __init__
                self._store = stack.enter_context(open_inbox(self._stores, self._sender.profile))
            if self._consent is None and self._stores is not None:
                # Opened (created, the 0.2 list folded) before anything is fetched: a STOP that
                # could not be recorded must not be taken from the service.
                self._consent = stack.enter_context(open_consent(self._stores, self._sender))
            stack.enter_context(self._store.pull_lock(self.registration_id, self._lock_timeout))
            self._store.check_writable(self.registration_id)
            self._stack = stack.pop_all()
        self._locked = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._locked = False
        self._stack.close()

    def batches(self, *, max_messages: int | None = None) -> Iterator[StoredBatch]:
        """Fetch, commit, yield; until nothing is pending or `max_messages` were fetched.

        A batch is never split: the service has forgotten all of it once it answered, so
        `max_messages` stops fetching after the batch that reaches it. Errors from the service
        (after the client's own retries) propagate; batches already yielded stay stored.
        """
        store = self._store
        if store is None or not self._locked:
            raise RuntimeError("use InboxPull as a context manager")
        summary = self.summary
        while True:
            # Ctrl-C, SIGTERM and SIGHUP wait until the batch is stored: the service forgets it
            # as it answers. Nothing but parsing stands between the answer and the commit.
            with hold_interrupt() as interrupt:
                batch = self._source.inbox(self.registration_id)
                try:
                    stored = store.add_batch(
                        self.registration_id,
                        batch.messages,
                        consent=self._consent,
                        account=self._sender.account,
                    )
                except (StoreError, LockTimeoutError) as error:
                    if not batch.messages:
                        raise
                    raise UnstoredMessagesError(error, _unstored(batch.messages, summary)) from None
            summary.batches += 1
            summary.fetched += len(batch.messages)
            summary.new += len(stored.new)
            summary.duplicates += stored.duplicates
            summary.unreadable += sum(not message.readable for message in stored.new)
            summary.opted_out.extend(stored.opted_out)
            summary.opted_in.extend(stored.opted_in)
            summary.pending = batch.pending
            yield stored
            interrupt.raise_if_caught()  # once the caller has shown the batch
            if batch.pending <= 0 or not batch.messages:
                # An empty batch with messages still "pending" would loop forever; the next run
                # asks again.
                return
            if max_messages is not None and summary.fetched >= max_messages:
                return


def _unstored(
    messages: tuple[InboundMessage, ...], summary: PullSummary
) -> tuple[StoredMessage, ...]:
    return tuple(StoredMessage.from_inbound(m, summary.registration_id) for m in messages)
