"""The history of what was sent (the send journal): every batch, every recipient.

By default `<data dir>/history.sqlite3`, one database for all profiles (a `profile` column tells
them apart), opened by `store/sqlite.py` (0600 in a 0700 directory, WAL, synchronous=FULL); with
ATTSMS_DATABASE_URL, the schema `attsms` of a PostgreSQL database that several hosts share
(`store/postgres.py`). It holds message text and numbers, so nobody else may read it. Open it
through `attsms.store` (`open_history`, `read_history`), which picks the backend.

A row is one send *request* (a batch of at most 50 recipients), written in two steps:

1. `claim_batch` writes it as `sending` BEFORE the request leaves;
2. `finish_batch` sets `accepted` (with the message ID), `failed` (with the error, surely not sent)
   or `unknown` (the request went out and no answer came back).

A process killed between the two leaves `sending`, which a re-run reads as "may have been sent":
that is what makes `send --dedupe-key` safe to re-run after a crash. Each re-send of a batch is a
new row (an attempt); the best attempt per dedupe key and batch number decides what is left to send.

Per recipient the store keeps the furthest delivery status seen (`update_statuses`, forward only:
`forward_status`), for `attsms status` and `attsms history`. The store is safe to share between
threads: one connection behind a lock.

Its schema and upgrades are in `store/migrations.py`; the claims of keyed jobs (one live run per
dedupe key) in `store/lease.py`, the forward-only status writes in `store/statuses.py` and
retention in `store/retention.py`, and the reads of whole sends (one run, or every run of a key;
counted in SQL) in `store/sends.py`, whose methods `HistoryStore` has.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attsms.core.models import FINAL_STATUSES, DeliveryInfo, DeliveryStatus
from attsms.core.paths import data_dir
from attsms.store.base import insert_rows, keyset_pages, prepared

# JobLease, JobOwner and JobTakenError are part of the history's API (`hold_job` returns a
# JobLease, `acquire_job` takes a JobOwner, `claim_batch` raises JobTakenError): callers import
# them from here.
from attsms.store.lease import JobClaims, hostname
from attsms.store.lease import JobLease as JobLease
from attsms.store.lease import JobOwner as JobOwner
from attsms.store.lease import JobTakenError as JobTakenError
from attsms.store.migrations import HISTORY_MIGRATIONS, HISTORY_VERSION
from attsms.store.retention import Retention
from attsms.store.sends import SendReads
from attsms.store.skips import Skips
from attsms.store.sqlite import SqliteDatabase

# forward_status is part of the history's API: callers import it from here.
from attsms.store.statuses import StatusWrites
from attsms.store.statuses import forward_status as forward_status

if TYPE_CHECKING:
    from attsms.store.base import Connection, Database

HISTORY_FILE = "history.sqlite3"


class Outcome(StrEnum):
    """A batch's state in the journal."""

    SENDING = "sending"  # claimed: its request is about to leave, or left with no answer yet
    ACCEPTED = "accepted"  # the service answered with a message ID
    UNKNOWN = "unknown"  # the request went out and no answer says what happened
    FAILED = "failed"  # surely not sent: refused before processing, or never reached it


SENDING, ACCEPTED, UNKNOWN, FAILED = Outcome

# Which attempt of a batch counts: accepted beats "may have gone" beats failed.
_RANK: dict[str, int] = {ACCEPTED: 3, SENDING: 2, UNKNOWN: 2, FAILED: 1}


@dataclass(frozen=True)
class RecipientStatus:
    address: str  # wire form: tel:+1NNNNNNNNNN or short:NNNNN
    status: str | None  # last delivery status seen; None until someone asked the service
    status_at: datetime | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class SentBatch:
    """One send request as the history knows it."""

    id: int
    message_id: str | None  # set once accepted
    created_at: datetime
    profile: str
    outcome: Outcome
    message: str
    recipients: tuple[RecipientStatus, ...]
    error: str | None = None
    notify: bool = False
    run_id: str | None = None  # the `attsms send` run it belongs to
    dedupe_key: str | None = None
    batch_number: int = 0  # position in its run, from 0
    batch_count: int = 1

    @property
    def final(self) -> bool:
        """Accepted, and every recipient has a final delivery status."""
        return self.outcome == ACCEPTED and all(r.final for r in self.recipients)

    @property
    def may_have_been_sent(self) -> bool:
        """Its request went out and no answer says what happened (or the process died)."""
        return self.outcome in (SENDING, UNKNOWN)


# A batch (its `recipients` empty) and its recipients' rows: address, status, status_at (epoch).
# A batch and its recipients' (address, status, status_at epoch, status_source) rows.
ReportRows = tuple["SentBatch", list[tuple[str, str | None, float | None, str | None]]]


@dataclass(frozen=True)
class DedupeSlot:
    """Where a batch sits under a dedupe key."""

    key: str
    batch_number: int
    batch_count: int
    account: str = ""


@dataclass(frozen=True)
class BatchClaim:
    """A batch about to be sent, as `claim_batch` writes it (`write_journal` takes several)."""

    profile: str
    message: str
    addresses: Sequence[str]
    notify: bool = False
    run_id: str | None = None
    dedupe: DedupeSlot | None = None
    resend_unknown: bool = False
    batch_number: int = 0
    batch_count: int = 1


@dataclass(frozen=True)
class BatchFinish:
    """What became of a claimed batch, as `finish_batch` writes it."""

    batch_id: int
    outcome: Outcome
    message_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Claim:
    """What `claim_batch` did: the new `sending` row's id, or the attempt that stopped it."""

    batch_id: int | None
    existing: SentBatch | None = None


def history_hostname_origin(path: Path) -> str:
    """Names a local history file for `store copy`: this host and the file's path."""
    return f"{hostname()}:{path.resolve()}"


def history_path() -> Path:
    return data_dir() / HISTORY_FILE


class HistoryStore(JobClaims, StatusWrites, Retention, Skips, SendReads):
    """The history database. Open with `HistoryStore.open()`; close (or use `with`) when done."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self.path = database.path
        self.backend = database.backend
        self.read_only = database.read_only

    @classmethod
    def open(cls, path: Path | None = None, *, read_only: bool = False) -> HistoryStore:
        """The history, created (and upgraded to this attsms's schema) unless `read_only`."""
        database = SqliteDatabase.open(
            path or history_path(), what="the history", read_only=read_only
        )
        return cls.on(database)

    @classmethod
    def on(cls, database: Database) -> HistoryStore:
        """The history in `database` (any backend): upgraded, unless opened read-only."""
        return cls(prepared(database, HISTORY_VERSION, HISTORY_MIGRATIONS))

    @classmethod
    def open_existing(cls, *, read_only: bool = True) -> HistoryStore | None:
        """The history for reading, or None when none was written yet (nothing is created)."""
        database = SqliteDatabase.open_existing(
            history_path(), what="the history", read_only=read_only
        )
        return None if database is None else cls.on(database)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # writing ---------------------------------------------------------------------------------

    def claim_batch(
        self,
        *,
        profile: str,
        message: str,
        addresses: Sequence[str],
        notify: bool = False,
        run_id: str | None = None,
        dedupe: DedupeSlot | None = None,
        resend_unknown: bool = False,
        batch_number: int = 0,
        batch_count: int = 1,
    ) -> Claim:
        """Write a `sending` row for a batch about to be sent, and return its id.

        With `dedupe`, the check and the write are one transaction: if an attempt of the same batch
        was accepted (or may have gone, unless `resend_unknown`), nothing is written and that
        attempt is returned instead, so two runs under one key never both send a batch. If another
        run has taken the job's claim (`acquire_job`) from `run_id`, `JobTakenError` is raised and
        nothing is written.
        """
        request = BatchClaim(
            profile, message, tuple(addresses), notify, run_id, dedupe, resend_unknown,
            batch_number, batch_count,
        )  # fmt: skip
        with self._write(serialize=dedupe is not None) as db:
            return self._claim_in(db, request)

    def finish_batch(
        self,
        batch_id: int,
        outcome: Outcome,
        *,
        message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record what became of a claimed batch."""
        with self._write(serialize=False) as db:
            self._finish_in(db, BatchFinish(batch_id, outcome, message_id, error))

    def write_journal(
        self, finishes: Sequence[BatchFinish], claims: Sequence[BatchClaim]
    ) -> list[Claim | JobTakenError]:
        """The journal writes of several batches in ONE transaction (the send threads' group
        commit, `attsms.send.journal`): `finishes` as `finish_batch`, then `claims` as
        `claim_batch`, answered in order; a claim another run's owner stops is answered with its
        `JobTakenError`, the others still written. Any other error writes nothing.

        With a claim, the commit waits for the disk, as every write does: the claim is durable
        before its request leaves. Finishes alone do not wait (`durable=False`): a power cut may
        lose them (the batch stays `sending`, read as "may have gone", never resent), a killed
        process cannot; the next durable commit (a claim, the close) takes them to the disk."""
        serialize = any(c.dedupe is not None for c in claims)
        with self._db.write(serialize=serialize, durable=bool(claims)) as db:
            for finish in finishes:
                self._finish_in(db, finish)
            answers: list[Claim | JobTakenError] = []
            for claim in claims:
                try:
                    answers.append(self._claim_in(db, claim))
                except JobTakenError as taken:  # raised by its check, before it wrote anything
                    answers.append(taken)
        return answers

    def _claim_in(self, db: Connection, request: BatchClaim) -> Claim:
        """`claim_batch`'s check and write, in the transaction `db`."""
        dedupe, account = request.dedupe, ""
        batch_number, batch_count = request.batch_number, request.batch_count
        if dedupe is not None:
            batch_number, batch_count = dedupe.batch_number, dedupe.batch_count
            account = dedupe.account
            self._check_owner(db, request.profile, account, dedupe.key, request.run_id)
            best = self._best_attempts(db, request.profile, dedupe.key, batch_number, account)
            existing = best.get(batch_number)
            if existing is not None and (
                existing.outcome == ACCEPTED
                or (existing.may_have_been_sent and not request.resend_unknown)
            ):
                return Claim(batch_id=None, existing=existing)
        now = time.time()
        cursor = db.execute(
            "INSERT INTO batches (profile, created_at, updated_at, message, notify, outcome,"
            " run_id, dedupe_key, batch_number, batch_count, account)"
            " VALUES (?, ?, ?, ?, ?, 'sending', ?, ?, ?, ?, ?) RETURNING id",
            (
                request.profile,
                now,
                now,
                request.message,
                int(request.notify),
                request.run_id,
                dedupe.key if dedupe else None,
                batch_number,
                batch_count,
                account,
            ),
        )
        batch_id = int(cursor.fetchone()[0])
        insert_rows(
            db,
            "INSERT INTO recipients (batch_id, position, address) VALUES ",
            [(batch_id, i, address) for i, address in enumerate(request.addresses)],
        )
        return Claim(batch_id=batch_id)

    @staticmethod
    def _finish_in(db: Connection, finish: BatchFinish) -> None:
        """`finish_batch`'s write, in the transaction `db`."""
        if finish.outcome == SENDING:
            raise ValueError("finish_batch needs a final outcome")
        db.execute(
            "UPDATE batches SET outcome = ?, message_id = ?, error = ?, updated_at = ?"
            " WHERE id = ?",
            (finish.outcome, finish.message_id, finish.error, time.time(), finish.batch_id),
        )

    def record_batch(
        self,
        *,
        profile: str,
        message: str,
        addresses: Sequence[str],
        message_id: str | None,
        outcome: Outcome = ACCEPTED,
        error: str | None = None,
        notify: bool = False,
        run_id: str | None = None,
    ) -> int:
        """Claim and finish in one go: a batch whose outcome is already known."""
        claim = self.claim_batch(
            profile=profile, message=message, addresses=addresses, notify=notify, run_id=run_id
        )
        assert claim.batch_id is not None
        if outcome != SENDING:
            self.finish_batch(claim.batch_id, outcome, message_id=message_id, error=error)
        return claim.batch_id

    # reading ---------------------------------------------------------------------------------

    def get(self, message_id: str) -> SentBatch | None:
        """The batch the service gave `message_id` (the latest, should it appear twice)."""
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM batches WHERE message_id = ? ORDER BY id DESC LIMIT 1",  # noqa: S608
                (message_id,),
            ).fetchall()
            batches = self._with_recipients(db, rows)
        return batches[0] if batches else None

    def final_status(self, message_id: str) -> DeliveryStatus | None:
        """`message_id`'s status when every recipient's is final here already (a receipt pushed
        to `attsms listen`, or an earlier poll): then nobody need ask the service again."""
        batch = self.get(message_id)
        if batch is None or not batch.recipients or not batch.final:
            return None
        return DeliveryStatus(
            message_id,
            tuple(DeliveryInfo(r.address, r.status) for r in batch.recipients if r.status),
        )

    def recent(
        self,
        limit: int | None = 20,
        since: datetime | None = None,
        *,
        profile: str | None = None,
        outcomes: Iterable[Outcome] | None = None,
    ) -> list[SentBatch]:
        """Batches newest first: at most `limit` (None: all), created at or after `since`."""
        where, params = _filters(profile, since, outcomes)
        sql = f"SELECT {_COLUMNS} FROM batches{where} ORDER BY created_at DESC, id DESC"  # noqa: S608
        return self._select(sql, params, limit)

    def recent_pages(
        self,
        limit: int | None = None,
        since: datetime | None = None,
        *,
        profile: str | None = None,
        page: int | None = None,
    ) -> Iterator[list[SentBatch]]:
        """`recent`, `page` batches at a time (with their recipients): a history of a million
        recipients is never in memory at once. Each page is its own read; what is written
        meanwhile is newer than the pages still to come, so nothing is skipped or repeated."""
        where, params = _filters(profile, since, None)

        def read(
            after: tuple[float, int] | None, size: int
        ) -> tuple[list[SentBatch], tuple[float, int] | None]:
            sql = f"SELECT {_COLUMNS} FROM batches{where}"  # noqa: S608
            values = list(params)
            if after is not None:
                sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
                values += [after[0], after[0], after[1]]
            sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
            with self._read() as db:
                rows = db.execute(sql, [*values, size]).fetchall()
                batches = self._with_recipients(db, rows)
            # created_at, id of the last (see _COLUMNS)
            return batches, ((rows[-1][2], rows[-1][0]) if rows else None)

        yield from keyset_pages(read, limit=limit, page=page or PAGE_BATCHES)

    def not_final(self, *, profile: str | None = None, limit: int | None = None) -> list[SentBatch]:
        """Accepted batches with a recipient whose delivery status is not final (or not known)."""
        finals = ", ".join("?" * len(FINAL_STATUSES))
        where, params = _filters(profile, None, [ACCEPTED])
        sql = (
            f"SELECT {_COLUMNS} FROM batches{where} AND EXISTS (SELECT 1 FROM recipients r"  # noqa: S608
            f" WHERE r.batch_id = batches.id AND (r.status IS NULL OR r.status NOT IN ({finals})))"
            " ORDER BY created_at DESC, id DESC"
        )
        params.extend(sorted(FINAL_STATUSES))
        return self._select(sql, params, limit)

    def dedupe_attempts(
        self, profile: str, key: str, account: str | None = None, *, recipients: bool = True
    ) -> dict[int, SentBatch]:
        """Per batch number, the attempt that counts (accepted, else may-have-gone, else failed),
        of the job `key` on `account` (None: whichever account). `recipients=False` leaves each
        attempt's recipients out (a million-recipient job's are ~250 MB as objects): ask
        `addresses_of` for one batch's when they are needed."""
        with self._read() as db:
            return self._best_attempts(db, profile, key, None, account, recipients=recipients)

    def addresses_of(self, batch_id: int) -> tuple[str, ...]:
        """The recipients of one batch, in their order."""
        with self._read() as db:
            rows = db.execute(
                "SELECT address FROM recipients WHERE batch_id = ? ORDER BY position", (batch_id,)
            ).fetchall()
        return tuple(row[0] for row in rows)

    def report_batch_ids(
        self,
        profile: str,
        *,
        key: str | None = None,
        message_ids: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[int]:
        """The ids of the batches `attsms report` counts, oldest first: the attempt that counts
        of each batch of the job `key`, or the batches of `message_ids`, or all; then only
        those sent in [since, until). Ids only: a million recipients' batches are 20,000 ints."""
        sql = "SELECT id, batch_number, outcome FROM batches WHERE profile = ?"
        params: list[Any] = [profile]
        if key is not None:
            sql += " AND dedupe_key = ?"
            params.append(key)
        if message_ids:
            sql += f" AND message_id IN ({', '.join('?' * len(message_ids))})"
            params.extend(message_ids)
        for clause, moment in (("created_at >= ?", since), ("created_at < ?", until)):
            if moment is not None:
                sql += f" AND {clause}"
                params.append(moment.timestamp())
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY id", params).fetchall()
        if key is None:
            return [int(row[0]) for row in rows]
        best: dict[int, tuple[int, int]] = {}  # batch number: (rank, id); later attempts win ties
        for batch_id, number, outcome in rows:
            if number not in best or _RANK[outcome] >= best[number][0]:
                best[number] = (_RANK[outcome], int(batch_id))
        return sorted(batch_id for _, batch_id in best.values())

    def job_recipient_count(self, profile: str, key: str) -> int | None:
        """How many recipients the job `key` was given (opted-out and deferred ones included)."""
        with self._read() as db:
            row = db.execute(
                "SELECT SUM(recipient_count) FROM jobs WHERE profile = ? AND key = ?",
                (profile, key),
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def report_rows(self, batch_ids: Sequence[int], chunk: int = 200) -> Iterator[ReportRows]:
        """Each batch of `batch_ids` (its `recipients` left empty) with its recipients' rows
        (address, status, status_at epoch), `chunk` batches a read: memory stays flat."""
        for start in range(0, len(batch_ids), chunk):
            ids = list(batch_ids[start : start + chunk])
            marks = ", ".join("?" * len(ids))
            people: dict[int, list[tuple[str, str | None, float | None, str | None]]] = {
                i: [] for i in ids
            }
            with self._read() as db:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM batches WHERE id IN ({marks}) ORDER BY id",  # noqa: S608
                    ids,
                ).fetchall()
                for batch_id, address, status, status_at, source in db.execute(
                    "SELECT batch_id, address, status, status_at, status_source"  # noqa: S608
                    " FROM recipients"
                    f" WHERE batch_id IN ({marks}) ORDER BY batch_id, position",
                    ids,
                ):
                    people[batch_id].append((address, status, status_at, source))
            for row in rows:
                yield _batch(row, ()), people[row[0]]

    # plumbing --------------------------------------------------------------------------------

    def _best_attempts(
        self,
        db: Connection,
        profile: str,
        key: str,
        batch_number: int | None,
        account: str | None,
        *,
        recipients: bool = True,
    ) -> dict[int, SentBatch]:
        sql = f"SELECT {_COLUMNS} FROM batches WHERE profile = ? AND dedupe_key = ?"  # noqa: S608
        params: list[Any] = [profile, key]
        if account is not None:
            sql += " AND account = ?"
            params.append(account)
        if batch_number is not None:
            sql += " AND batch_number = ?"
            params.append(batch_number)
        best: dict[int, SentBatch] = {}
        rows = db.execute(sql + " ORDER BY id", params).fetchall()
        batches = self._with_recipients(db, rows) if recipients else [_batch(r, ()) for r in rows]
        for batch in batches:
            current = best.get(batch.batch_number)
            # Later attempts win ties: a resent unknown batch then shows its latest try.
            if current is None or _RANK[batch.outcome] >= _RANK[current.outcome]:
                best[batch.batch_number] = batch
        return best

    def _select(self, sql: str, params: list[Any], limit: int | None) -> list[SentBatch]:
        """The batches `sql` selects (`_COLUMNS`), with their recipients: at most `limit`."""
        if limit is not None:
            sql += " LIMIT ?"
            params = [*params, min(limit, 2**63 - 1)]  # SQLite's largest integer; more is all
        with self._read() as db:
            return self._with_recipients(db, db.execute(sql, params).fetchall())

    def _with_recipients(self, db: Connection, rows: list[Any]) -> list[SentBatch]:
        if not rows:
            return []
        ids = [row[0] for row in rows]
        recipients: dict[int, list[RecipientStatus]] = {i: [] for i in ids}
        # Chunks: SQLite caps the number of parameters in one statement.
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for batch_id, address, status, status_at in db.execute(
                "SELECT batch_id, address, status, status_at FROM recipients"  # noqa: S608
                f" WHERE batch_id IN ({marks}) ORDER BY batch_id, position",
                chunk,
            ):
                recipients[batch_id].append(
                    RecipientStatus(
                        address, status, _datetime(status_at) if status_at is not None else None
                    )
                )
        return [_batch(row, tuple(recipients[row[0]])) for row in rows]

    def _write(self, *, serialize: bool = True) -> contextlib.AbstractContextManager[Connection]:
        """A write transaction. `serialize=False` for writes that need no check-then-write
        (one row by its key): PostgreSQL then skips the store-wide lock; SQLite always takes it."""
        return self._db.write(serialize=serialize)

    def _read(self) -> contextlib.AbstractContextManager[Connection]:
        return self._db.read()


# SQL text is only ever built from these constants and `?` placeholders; every value is a
# parameter (hence the S608 waivers).
# Batches a page of `recent_pages` reads: 100 hold up to 5,000 recipients.
PAGE_BATCHES = 100

_COLUMNS = (
    "id, message_id, created_at, profile, outcome, message, error, notify, run_id, dedupe_key,"
    " batch_number, batch_count"
)


def _batch(row: Any, recipients: tuple[RecipientStatus, ...]) -> SentBatch:
    return SentBatch(
        id=row[0],
        message_id=row[1],
        created_at=_datetime(row[2]),
        profile=row[3],
        outcome=Outcome(row[4]),
        message=row[5],
        recipients=recipients,
        error=row[6],
        notify=bool(row[7]),
        run_id=row[8],
        dedupe_key=row[9],
        batch_number=row[10],
        batch_count=row[11],
    )


def _filters(
    profile: str | None, since: datetime | None, outcomes: Iterable[Outcome] | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if profile is not None:
        clauses.append("profile = ?")
        params.append(profile)
    if since is not None:
        clauses.append("created_at >= ?")
        params.append(since.timestamp())
    if outcomes is not None:
        wanted = list(outcomes)
        clauses.append(f"outcome IN ({', '.join('?' * len(wanted))})")
        params.extend(wanted)
    return (" WHERE " + " AND ".join(clauses) if clauses else " WHERE 1 = 1"), params


def _datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)
