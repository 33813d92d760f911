"""Delivery statuses only move forward: the rule (`forward_status`) and the history's one write
of statuses (`StatusWrites`, whose methods `HistoryStore` has), which applies the rule in the
transaction that writes, so two writers racing cannot move a status back either."""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from attsms.core.models import FINAL_STATUSES, DeliveryInfo

if TYPE_CHECKING:
    from attsms.store.base import Connection, Database


def forward_status(current: str | None, new: str | None) -> str | None:
    """Delivery statuses only move forward: the status a recipient has once `new` is seen after
    `current`. A final status is never replaced by a non-final one, nor `DeliveredToTerminal` by
    another (`DeliveredToNetwork`); anything else is replaced by the later. The store applies it
    to every status it writes (`update_statuses`, in SQL: `_FORWARD_UPDATE`)."""
    return new if _rank(new) >= _rank(current) else current


def _rank(status: str | None) -> int:
    """How far a delivery has got: nothing known, on its way, final, on the handset."""
    if status is None:
        return -1
    if status == _TERMINAL:
        return 2
    return 1 if status in FINAL_STATUSES else 0


_TERMINAL = "DeliveredToTerminal"


# Where a status came from (`recipients.status_source`): pushed to `listen` as it happened, or
# asked of the service later (a poll: the time it was recorded is an upper bound).
RECEIPT, POLL = "receipt", "poll"


class StatusWrites(ABC):
    """The status-writing methods of `HistoryStore`."""

    backend: str
    _db: Database  # the history's database (`HistoryStore._db`)

    @abstractmethod
    def _write(self, *, serialize: bool = True) -> contextlib.AbstractContextManager[Connection]:
        """A write transaction of the store (`HistoryStore._write`)."""

    def update_statuses(
        self, message_id: str, deliveries: Iterable[DeliveryInfo], *, source: str = POLL
    ) -> int:
        """Store the delivery status of each recipient of `message_id`, forward only
        (`forward_status`); returns the rows changed (a status seen again, or one that would move
        a recipient back, changes none).

        The one write of delivery statuses, whichever path brings them (a poll, `send --wait`,
        `status`, a receipt pushed to `attsms listen`): the rule is applied in the transaction
        that writes, so two writers racing cannot move a status back either. Addresses are
        compared in wire form (`attsms.api.client` returns the service's in that form).
        """
        return self.update_statuses_many([(message_id, deliveries)], source=source)[0]

    def update_statuses_many(
        self, updates: Sequence[tuple[str, Iterable[DeliveryInfo]]], *, source: str = POLL
    ) -> list[int]:
        """`update_statuses` for several messages in one transaction (the receipts `attsms
        listen` took in at once): the rows each update changed, in order. With PostgreSQL, one
        statement per round of distinct recipients (a round trip each), not one per status."""
        changed = [0] * len(updates)
        now = time.time()
        rows = [
            (index, message_id, d.address, d.status)
            for index, (message_id, deliveries) in enumerate(updates)
            for d in deliveries
        ]
        if self.backend == "postgresql":
            return self._update_pg(rows, changed, now, source)
        with self._write(serialize=False) as db:
            for index, message_id, address, status in rows:
                params = (status, now, source, message_id, address, status, _rank(status))
                changed[index] += db.execute(_FORWARD_UPDATE, params).rowcount
        return changed

    def _update_pg(
        self, rows: list[tuple[int, str, str, str]], changed: list[int], now: float, source: str
    ) -> list[int]:
        """`update_statuses_many` on PostgreSQL: one statement per round (`_rounds`). One round
        (every recipient once: what `listen` takes in) is its own transaction, autocommitted
        durably before it answers: one round trip, not BEGIN, UPDATE, COMMIT's three."""
        from typing import cast

        from attsms.store.postgres import PostgresDatabase

        rounds = _rounds(rows)
        single = len(rounds) == 1
        block = (
            cast("PostgresDatabase", self._db).single() if single else self._write(serialize=False)
        )
        with block as db:
            for batch in rounds:
                indexes, message_ids, addresses, statuses = (
                    list(c) for c in zip(*batch, strict=True)
                )
                ranks = [_rank(status) for status in statuses]
                params = (now, source, indexes, message_ids, addresses, statuses, ranks)
                for (index,) in db.execute(_FORWARD_UPDATE_ALL, params).fetchall():
                    changed[index] += 1
        return changed


# `forward_status` as the store's one status write: the stored status's `_rank`, in SQL, must not
# be above the new one's (its last parameter); the same status again is not a change.
_STORED_RANK = (
    f"CASE WHEN status = '{_TERMINAL}' THEN 2"
    f" WHEN status IN ({', '.join(repr(s) for s in sorted(FINAL_STATUSES))}) THEN 1 ELSE 0 END"
)
_FORWARD_UPDATE = (
    "UPDATE recipients SET status = ?, status_at = ?, status_source = ?"  # noqa: S608
    " WHERE batch_id IN (SELECT id FROM batches WHERE message_id = ?) AND address = ?"
    f" AND (status IS NULL OR (status <> ? AND {_STORED_RANK} <= ?))"
)

# `_FORWARD_UPDATE` for many statuses in one statement (PostgreSQL): parameters now, then arrays
# of the update's index, message ID, address, status and `_rank(status)`; returns the index of
# each row it changed. A row may be matched once per statement: see `_rounds`.
_FORWARD_UPDATE_ALL = (
    "UPDATE recipients AS r SET status = u.status, status_at = ?, status_source = ?"  # noqa: S608
    " FROM batches AS b, unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::int[])"
    " AS u(i, message_id, address, status, rank)"
    " WHERE b.message_id = u.message_id AND r.batch_id = b.id AND r.address = u.address"
    " AND (r.status IS NULL OR (r.status <> u.status AND "
    + _STORED_RANK.replace("status", "r.status")
    + " <= u.rank)) RETURNING u.i"
)


def _rounds(rows: list[tuple[int, str, str, str]]) -> list[list[tuple[int, str, str, str]]]:
    """`rows` (index, message ID, address, status) in rounds where each recipient is once, in
    order: a recipient's second status in one batch is applied after its first, as it came."""
    rounds: list[list[tuple[int, str, str, str]]] = []
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row[1], row[2])
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(row)
    return rounds
