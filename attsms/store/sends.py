"""Sends: the unit a person thinks in, read from the history's batches without a schema of its
own. A send is one run of `attsms send` (its batches share a `run_id`), or for a keyed job every
run of its dedupe key (the attempt of each batch that counts). Its short id is the start of its
run's `run_id` (`SEND_ID_LENGTH` hex characters), found again by prefix as git finds a commit.

Everything is counted in SQL (`GROUP BY outcome, status`): a million recipients are a few rows
of counts, never a Python list. `SendReads`' methods are `HistoryStore`'s."""

from __future__ import annotations

import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from attsms.store.skips import SKIPPED_OF_JOB, SKIPPED_OF_RUN, SKIPS_OF_JOB

if TYPE_CHECKING:
    from attsms.store.base import Connection
    from attsms.store.history import SentBatch

SEND_ID_LENGTH = 8
# What may be a send id typed back: hex, at least 4 characters (git's shortest prefix).
_SEND_ID = re.compile(r"[0-9a-f]{4,32}")


def send_id(run_id: str | None) -> str | None:
    """The short id a run is shown by."""
    return None if run_id is None else run_id[:SEND_ID_LENGTH]


def looks_like_send_id(text: str) -> bool:
    return _SEND_ID.fullmatch(text.lower()) is not None


@dataclass(frozen=True)
class SendRef:
    """Which batches make a send: one run's, or (a keyed job) every run of its key."""

    run_id: str  # the run it was found by (for a keyed job, its newest)
    key: str | None = None

    @property
    def id(self) -> str:
        return self.run_id[:SEND_ID_LENGTH]


@dataclass
class SendCounts:
    """Recipients of a send by outcome and status, as counted in the store."""

    # (batch outcome, delivery status or None) -> recipients
    by_state: dict[tuple[str, str | None], int] = field(default_factory=dict)

    @property
    def recipients(self) -> int:
        return sum(self.by_state.values())

    def add(self, outcome: str, status: str | None, count: int) -> None:
        key = (outcome, status)
        self.by_state[key] = self.by_state.get(key, 0) + int(count)


@dataclass(frozen=True)
class SendSummary:
    """One send as `history` lists it."""

    ref: SendRef
    first_at: datetime
    last_at: datetime
    message: str  # the text of its first batch
    requests: int
    counts: SendCounts


class SendReads(ABC):
    """The send-reading methods of `HistoryStore`."""

    @abstractmethod
    def _read(self) -> contextlib.AbstractContextManager[Connection]:
        """A read of the store (`HistoryStore._read`)."""

    @abstractmethod
    def report_batch_ids(
        self,
        profile: str,
        *,
        key: str | None = None,
        message_ids: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[int]:
        """`HistoryStore.report_batch_ids`: a keyed job's attempts that count."""

    @abstractmethod
    def _with_recipients(self, db: Connection, rows: list[Any]) -> list[SentBatch]:
        """`HistoryStore._with_recipients`."""

    def find_sends(self, profile: str, prefix: str, limit: int = 10) -> list[SendRef]:
        """The sends whose run id starts with `prefix` (hex, lower case): none, one, or (an
        ambiguous prefix) several."""
        prefix = prefix.lower()
        if not looks_like_send_id(prefix):
            return []
        with self._read() as db:
            rows = db.execute(
                "SELECT run_id, MAX(dedupe_key) FROM batches WHERE profile = ?"
                " AND substr(run_id, 1, ?) = ? GROUP BY run_id ORDER BY MAX(id) DESC LIMIT ?",
                (profile, len(prefix), prefix, limit),
            ).fetchall()
        return [SendRef(str(r[0]), r[1]) for r in rows]

    def send_of_message(self, profile: str, message_id: str) -> SendRef | None:
        """The send a message ID belongs to."""
        with self._read() as db:
            row = db.execute(
                "SELECT run_id, dedupe_key FROM batches WHERE profile = ? AND message_id = ?"
                " AND run_id IS NOT NULL ORDER BY id DESC LIMIT 1",
                (profile, message_id),
            ).fetchone()
        return None if row is None else SendRef(str(row[0]), row[1])

    def send_of_key(self, profile: str, key: str) -> SendRef | None:
        """A keyed job's send (found by its newest run)."""
        with self._read() as db:
            row = db.execute(
                "SELECT run_id FROM batches WHERE profile = ? AND dedupe_key = ?"
                " AND run_id IS NOT NULL ORDER BY id DESC LIMIT 1",
                (profile, key),
            ).fetchone()
        return None if row is None else SendRef(str(row[0]), key)

    def newest_send(self, profile: str) -> SendRef | None:
        with self._read() as db:
            row = db.execute(
                "SELECT run_id, dedupe_key FROM batches WHERE profile = ? AND run_id IS NOT NULL"
                " ORDER BY created_at DESC, id DESC LIMIT 1",
                (profile,),
            ).fetchone()
        return None if row is None else SendRef(str(row[0]), row[1])

    def send_batch_ids(self, profile: str, ref: SendRef) -> list[int]:
        """The batches that make the send, oldest first (a keyed job's attempts that count)."""
        if ref.key is not None:
            return self.report_batch_ids(profile, key=ref.key)
        with self._read() as db:
            rows = db.execute(
                "SELECT id FROM batches WHERE profile = ? AND run_id = ? ORDER BY id",
                (profile, ref.run_id),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def send_counts(self, profile: str, ref: SendRef) -> SendCounts:
        """The send's recipients by outcome and status, counted in SQL; those it left out as
        (`opted-out` or `deferred`, None)."""
        counts = self._sent_counts(profile, ref)
        with self._read() as db:
            if ref.key is None:
                skipped = db.execute(
                    "SELECT reason, COUNT(*) FROM skips WHERE profile = ? AND run_id = ?"
                    " GROUP BY reason",
                    (profile, ref.run_id),
                ).fetchall()
            else:
                skipped = db.execute(SKIPS_OF_JOB, (profile, ref.key)).fetchall()
        for reason, count in skipped:
            counts.add(str(reason), None, count)
        return counts

    def _sent_counts(self, profile: str, ref: SendRef) -> SendCounts:
        counts = SendCounts()
        if ref.key is None:
            with self._read() as db:
                for outcome, status, count in db.execute(
                    "SELECT b.outcome, r.status, COUNT(*) FROM batches b"
                    " JOIN recipients r ON r.batch_id = b.id"
                    " WHERE b.profile = ? AND b.run_id = ? GROUP BY b.outcome, r.status",
                    (profile, ref.run_id),
                ):
                    counts.add(outcome, status, count)
            return counts
        ids = self.send_batch_ids(profile, ref)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            with self._read() as db:
                for outcome, status, count in db.execute(
                    "SELECT b.outcome, r.status, COUNT(*) FROM batches b"  # noqa: S608
                    f" JOIN recipients r ON r.batch_id = b.id WHERE b.id IN ({marks})"
                    " GROUP BY b.outcome, r.status",
                    chunk,
                ):
                    counts.add(outcome, status, count)
        return counts

    def recent_sends(
        self, profile: str, limit: int | None = 20, since: datetime | None = None
    ) -> tuple[list[SendSummary], bool]:
        """The profile's sends, newest first (at most `limit`), and whether there are more."""
        sql = (
            f"SELECT {_GROUP} AS g, MIN(created_at), MAX(created_at), MIN(id), COUNT(*),"  # noqa: S608
            " MAX(run_id), MAX(dedupe_key) FROM batches WHERE profile = ? AND run_id IS NOT NULL"
        )
        params: list[Any] = [profile]
        if since is not None:
            sql += " AND created_at >= ?"
            params.append(since.timestamp())
        sql += f" GROUP BY {_GROUP} ORDER BY MAX(created_at) DESC, MAX(id) DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit + 1)
        with self._read() as db:
            groups = db.execute(sql, params).fetchall()
        more = limit is not None and len(groups) > limit
        summaries = [self._summary(profile, row) for row in groups[:limit]]
        return summaries, more

    def _summary(self, profile: str, row: Any) -> SendSummary:
        _, first, last, first_id, requests, run_id, key = row
        ref = self.send_of_key(profile, key) if key is not None else None
        ref = ref or SendRef(str(run_id), key)
        with self._read() as db:
            found = db.execute("SELECT message FROM batches WHERE id = ?", (first_id,)).fetchone()
        return SendSummary(
            ref,
            datetime.fromtimestamp(first, tz=UTC),
            datetime.fromtimestamp(last, tz=UTC),
            str(found[0]) if found else "",
            int(requests),
            self.send_counts(profile, ref),
        )

    def send_pages(self, profile: str, ref: SendRef, page: int = 100) -> Iterator[list[SentBatch]]:
        """The send's batches with their recipients, newest first, `page` batches a read."""
        from attsms.store.history import _COLUMNS

        ids = self.send_batch_ids(profile, ref)[::-1]
        for start in range(0, len(ids), page):
            chunk = ids[start : start + page]
            marks = ", ".join("?" * len(chunk))
            with self._read() as db:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM batches WHERE id IN ({marks})"  # noqa: S608
                    " ORDER BY created_at DESC, id DESC",
                    chunk,
                ).fetchall()
                batches = self._with_recipients(db, rows)
            yield batches  # each page its own read: none is held open while the caller works

    def send_skip_pages(
        self, profile: str, ref: SendRef, page: int = 1000
    ) -> Iterator[list[tuple[str, str, datetime]]]:
        """Who the send left out, (address, reason: `opted-out` or `deferred`, when), by
        address, `page` a read: the recipients `send_counts` counts as skipped."""
        after = ""
        while True:
            sql, group = (
                (SKIPPED_OF_RUN, ref.run_id) if ref.key is None else (SKIPPED_OF_JOB, ref.key)
            )
            with self._read() as db:
                rows = db.execute(sql, (profile, group, after, page)).fetchall()
            if not rows:
                return
            yield [(str(a), str(r), datetime.fromtimestamp(t, tz=UTC)) for a, r, t in rows]
            after = str(rows[-1][0])


# A send's group: a keyed job's key, else its run.
_GROUP = "CASE WHEN dedupe_key IS NOT NULL THEN 'k:' || dedupe_key ELSE 'r:' || run_id END"
