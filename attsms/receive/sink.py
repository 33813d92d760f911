"""The `NotificationSink` of `attsms listen` on attsms's own stores (attsms.store).

- A delivery receipt updates the recipient's status in the history (`update_statuses_many`),
  so `status`, `history` and `send --wait` see it without asking the service. Only a change is
  written: a duplicate is not new, and statuses only move forward (`forward_status`, the store's
  rule, applied by the statement that writes): a late `MessageWaiting` or
  `DeliveredToNetwork` after `DeliveredToTerminal` is answered 2xx and stored as nothing.
- An inbound message goes into the profile's inbox with exactly `inbox pull`'s handling
  (`add_batch`: deduplicated by message ID; STOP/START applied to the account's opt-outs in
  the people's order, whatever order the pushes arrive in).

Used from the listener's one writer thread; stores open on first use and stay open.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from attsms.receive.listen import DeliveryReceipt, InboundPush, Notification
from attsms.store import open_consent, open_history, open_inbox
from attsms.store.statuses import RECEIPT

if TYPE_CHECKING:
    from attsms.core.models import SenderIdentity
    from attsms.store import StoreSettings
    from attsms.store.consent import ConsentStore
    from attsms.store.history import HistoryStore
    from attsms.store.inbox import InboxStore


class StoreSink:
    """Stores notifications for `sender` (its profile's inbox, its account's opt-outs, the
    shared history) in the stores `stores` names."""

    def __init__(
        self,
        sender: SenderIdentity,
        stores: StoreSettings,
        *,
        on_inbound: Callable[[], None] | None = None,
    ) -> None:
        self.sender = sender
        self.profile = sender.profile
        self._on_inbound = on_inbound  # told when new inbound messages were stored
        self._stores = stores
        self._history: HistoryStore | None = None
        self._inbox: InboxStore | None = None
        self._consent: ConsentStore | None = None

    def prepare(self) -> None:
        """Load the database driver now (the writer calls this before the first push), so the
        first push does not wait for the import. Opens and creates nothing: a store that
        cannot be opened still fails the first push it is needed for, as a 503."""
        if self._stores.database_url is not None:
            import psycopg  # noqa: F401

    def store(self, notifications: Sequence[Notification]) -> list[bool]:
        results: list[bool] = [False] * len(notifications)
        # Consecutive inbound messages for one registration go in one transaction, in order, so
        # STOP then START ends opted in exactly as in a pulled batch; consecutive receipts too.
        run: list[tuple[int, Notification]] = []
        for index, notification in enumerate(notifications):
            if run and not _same_run(run[0][1], notification):
                self._flush(run, results)
                run = []
            run.append((index, notification))
        if run:
            self._flush(run, results)
        return results

    def _flush(self, run: list[tuple[int, Notification]], results: list[bool]) -> None:
        receipts = [(i, n) for i, n in run if isinstance(n, DeliveryReceipt)]
        if receipts:
            self._deliveries(receipts, results)
        else:
            self._inbound([(i, n) for i, n in run if isinstance(n, InboundPush)], results)

    def _deliveries(self, run: list[tuple[int, DeliveryReceipt]], results: list[bool]) -> None:
        if self._history is None:
            self._history = open_history(self._stores)
        # One transaction for the lot, no read before it: the store writes only what moves a
        # status forward and counts the rows it changed, so a receipt pushed twice (in this batch
        # or later) is stored and printed once, a late retry of an older receipt never
        # overwrites a final status, and one for a message this store never sent (sent from
        # another machine with its own history) changes no row: none of them is new.
        changed = self._history.update_statuses_many(
            [(r.message_id, r.deliveries) for _, r in run], source=RECEIPT
        )
        for (index, _), rows in zip(run, changed, strict=True):
            results[index] = rows > 0

    def _inbound(self, run: list[tuple[int, InboundPush]], results: list[bool]) -> None:
        if self._inbox is None:
            self._inbox = open_inbox(self._stores, self.profile)
        if self._consent is None:
            self._consent = open_consent(self._stores, self.sender)
        registration = run[0][1].registration_id
        batch = self._inbox.add_batch(
            registration,
            [push.message for _, push in run],
            consent=self._consent,
            account=self.sender.account,
        )
        new = {m.message_id for m in batch.new}
        for index, push in run:
            # A message ID twice in one run is new only the first time.
            results[index] = push.message.message_id in new
            new.discard(push.message.message_id)
        if batch.new and self._on_inbound is not None:
            self._on_inbound()  # `listen --exec`: its handler worker has work

    def close(self) -> None:
        for store in (self._history, self._inbox, self._consent):
            if store is not None:
                store.close()
        self._history = self._inbox = self._consent = None


def _same_run(first: Notification, other: Notification) -> bool:
    if isinstance(first, InboundPush):
        return isinstance(other, InboundPush) and other.registration_id == first.registration_id
    return isinstance(other, DeliveryReceipt)
