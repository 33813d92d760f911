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

Per recipient the store keeps the last delivery status seen (`update_statuses`), for `attsms status`
and `attsms history`. The store is safe to share between threads: one connection behind a lock.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attsms.core.errors import LockTimeoutError, StoreError, UsageError
from attsms.core.models import FINAL_STATUSES, DeliveryInfo, DeliveryStatus
from attsms.core.paths import data_dir
from attsms.store.base import prepared
from attsms.store.migrations import HISTORY_MIGRATIONS, HISTORY_VERSION

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

# A keyed job's claim: renewed every HEARTBEAT_SECONDS by the run that holds it, and free to take
# once LEASE_SECONDS pass without a renewal (a run on another host that died), or at once when
# its owner is a process on this host that no longer exists.
HEARTBEAT_SECONDS = 2.0
LEASE_SECONDS = 20.0


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


@dataclass(frozen=True)
class DedupeSlot:
    """Where a batch sits under a dedupe key."""

    key: str
    batch_number: int
    batch_count: int
    account: str = ""


@dataclass(frozen=True)
class JobOwner:
    """The run that holds a keyed job: enough to name it, and to tell on this host if it died."""

    run_id: str
    host: str
    pid: int
    process_start: str | None  # the kernel's start time of `pid`: a reused pid is another process
    since: float  # epoch seconds

    @classmethod
    def current(cls, run_id: str) -> JobOwner:
        pid = os.getpid()
        return cls(run_id, hostname(), pid, _process_start(pid), time.time())

    def describe(self) -> str:
        when = _datetime(self.since).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        return f"pid {self.pid} on {self.host}, running since {when}"

    def dead(self) -> bool:
        """Surely gone: a process of this host that no longer exists (or is another process now).
        A run on another host is only known dead once its claim expires."""
        if self.host != hostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            pass
        return self.process_start is not None and _process_start(self.pid) != self.process_start


@dataclass(frozen=True)
class JobClaim:
    """What `acquire_job` found: a new key, or a known one (taken over from `previous`, if a run
    held it and died), and whether its batches follow the input order (a version-1 job)."""

    new: bool
    ordered: bool = False
    previous: JobOwner | None = None


@dataclass(frozen=True)
class Claim:
    """What `claim_batch` did: the new `sending` row's id, or the attempt that stopped it."""

    batch_id: int | None
    existing: SentBatch | None = None


def hostname() -> str:
    """This host's name as job claims record it. `ATTSMS_HOSTNAME` overrides it: tests play two
    hosts on one machine, and containers that share one hostname can tell themselves apart."""
    import socket

    return os.environ.get("ATTSMS_HOSTNAME") or socket.gethostname()


def history_hostname_origin(path: Path) -> str:
    """Names a local history file for `store copy`: this host and the file's path."""
    return f"{hostname()}:{path.resolve()}"


def history_path() -> Path:
    return data_dir() / HISTORY_FILE


class HistoryStore:
    """The history database. Open with `HistoryStore.open()`; close (or use `with`) when done."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self.path = database.path
        self.backend = database.backend
        self.read_only = database.read_only

    @classmethod
    def open(cls, path: Path | None = None, *, read_only: bool = False) -> HistoryStore:
        """The history, created (and upgraded to this attsms's schema) unless `read_only`."""
        from attsms.store.sqlite import SqliteDatabase

        database = SqliteDatabase.open(
            path or history_path(), what="the history", read_only=read_only
        )
        return cls(prepared(database, HISTORY_VERSION, HISTORY_MIGRATIONS))

    @classmethod
    def on(cls, database: Database) -> HistoryStore:
        """The history in `database` (any backend): upgraded, unless opened read-only."""
        return cls(prepared(database, HISTORY_VERSION, HISTORY_MIGRATIONS))

    @classmethod
    def open_existing(cls, *, read_only: bool = True) -> HistoryStore | None:
        """The history for reading, or None when none was written yet (nothing is created)."""
        path = history_path()
        if not path.exists():
            return None
        store = cls.open(path, read_only=read_only)
        if store._db.version() == 0:  # an empty file: nothing was ever written to it
            store.close()
            return None
        return store

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
        account = ""
        if dedupe is not None:
            batch_number, batch_count = dedupe.batch_number, dedupe.batch_count
            account = dedupe.account
        now = time.time()
        with self._write(serialize=dedupe is not None) as db:
            if dedupe is not None:
                self._check_owner(db, profile, account, dedupe.key, run_id)
                best = self._best_attempts(db, profile, dedupe.key, dedupe.batch_number, account)
                existing = best.get(dedupe.batch_number)
                if existing is not None and (
                    existing.outcome == ACCEPTED
                    or (existing.may_have_been_sent and not resend_unknown)
                ):
                    return Claim(batch_id=None, existing=existing)
            cursor = db.execute(
                "INSERT INTO batches (profile, created_at, updated_at, message, notify, outcome,"
                " run_id, dedupe_key, batch_number, batch_count, account)"
                " VALUES (?, ?, ?, ?, ?, 'sending', ?, ?, ?, ?, ?) RETURNING id",
                (
                    profile,
                    now,
                    now,
                    message,
                    int(notify),
                    run_id,
                    dedupe.key if dedupe else None,
                    batch_number,
                    batch_count,
                    account,
                ),
            )
            batch_id = int(cursor.fetchone()[0])
            db.executemany(
                "INSERT INTO recipients (batch_id, position, address) VALUES (?, ?, ?)",
                [(batch_id, i, address) for i, address in enumerate(addresses)],
            )
        return Claim(batch_id=batch_id)

    def finish_batch(
        self,
        batch_id: int,
        outcome: Outcome,
        *,
        message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record what became of a claimed batch."""
        if outcome == SENDING:
            raise ValueError("finish_batch needs a final outcome")
        with self._write(serialize=False) as db:
            db.execute(
                "UPDATE batches SET outcome = ?, message_id = ?, error = ?, updated_at = ?"
                " WHERE id = ?",
                (outcome, message_id, error, time.time(), batch_id),
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

    def update_statuses(self, message_id: str, deliveries: Iterable[DeliveryInfo]) -> int:
        """Store the delivery status of each recipient of `message_id`; returns rows changed.

        Addresses are compared in wire form (`attsms.api.client` returns the service's in that
        form).
        """
        now = time.time()
        rows = [(d.status, now, message_id, d.address) for d in deliveries]
        if not rows:
            return 0
        with self._write(serialize=False) as db:
            changed = db.executemany(
                "UPDATE recipients SET status = ?, status_at = ?"
                " WHERE batch_id IN (SELECT id FROM batches WHERE message_id = ?) AND address = ?",
                rows,
            )
            return int(changed.rowcount)

    # keyed jobs ------------------------------------------------------------------------------

    def acquire_job(
        self,
        *,
        profile: str,
        account: str,
        key: str,
        fingerprint: str,
        batch_count: int,
        recipient_count: int,
        owner: JobOwner,
        lock_timeout: float = 0.0,
        ordered_fingerprint: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> JobClaim:
        """Tie `key` to one job and claim it for `owner`, the one live run that may send it.

        A key already used for other text or other recipients is a `UsageError`: re-running with
        it would not be a retry of the same job. A claim held by a live run is waited for up to
        `lock_timeout` seconds, then `LockTimeoutError` names its holder. A claim whose holder
        died (this host: its process is gone; any host: it stopped renewing) is taken over.
        `ordered_fingerprint` is the job's fingerprint as version 1 computed it, for a job that
        an older attsms began.
        """
        deadline = time.monotonic() + max(0.0, lock_timeout)
        while True:
            with self._write() as db:
                claim, holder = self._try_acquire(
                    db,
                    profile,
                    account,
                    key,
                    fingerprint,
                    ordered_fingerprint,
                    batch_count,
                    recipient_count,
                    owner,
                )
            if claim is not None:
                return claim
            assert holder is not None
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockTimeoutError(
                    f"dedupe key {key!r} is being sent by another run ({holder.describe()})",
                    hint="let it finish, or wait for it with --lock-timeout SECONDS",
                )
            sleep(min(0.2, left))

    def _try_acquire(
        self,
        db: Connection,
        profile: str,
        account: str,
        key: str,
        fingerprint: str,
        ordered_fingerprint: str | None,
        batch_count: int,
        recipient_count: int,
        owner: JobOwner,
    ) -> tuple[JobClaim | None, JobOwner | None]:
        now = time.time()
        where = (profile, account, key)
        row = db.execute(_JOB_SELECT, where).fetchone()
        if row is None and account:
            # A job an attsms without accounts began: it can only have been this account's.
            adopted = db.execute(
                "UPDATE jobs SET account = ? WHERE profile = ? AND account = '' AND key = ?",
                (account, profile, key),
            ).rowcount
            if adopted:
                db.execute(
                    "UPDATE batches SET account = ?"
                    " WHERE profile = ? AND account = '' AND dedupe_key = ?",
                    (account, profile, key),
                )
                row = db.execute(_JOB_SELECT, where).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO jobs (profile, account, key, fingerprint, batch_count,"
                " recipient_count, created_at, owner_run, owner_host, owner_pid, owner_start,"
                " owner_since, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *where,
                    fingerprint,
                    batch_count,
                    recipient_count,
                    now,
                    *_owner_values(owner),
                    now + LEASE_SECONDS,
                ),
            )
            return JobClaim(new=True), None
        stored, ordered, stored_count, created_at = row[0], bool(row[1]), row[2], row[3]
        if stored not in (fingerprint, ordered_fingerprint if ordered else None):
            when = _datetime(created_at).astimezone().strftime("%Y-%m-%d %H:%M")
            raise UsageError(
                f"dedupe key {key!r} was used on {when} for a different message or recipient"
                f" list ({stored_count} recipients)",
                hint="a re-run must send the same text to the same numbers; use a new key",
            )
        holder = _owner(row[4:9])
        alive = row[9] is not None and row[9] > now and not (holder and holder.dead())
        if holder is not None and holder.run_id != owner.run_id and alive:
            return None, holder
        db.execute(
            "UPDATE jobs SET owner_run = ?, owner_host = ?, owner_pid = ?, owner_start = ?,"
            " owner_since = ?, expires_at = ? WHERE profile = ? AND account = ? AND key = ?",
            (*_owner_values(owner), now + LEASE_SECONDS, *where),
        )
        return JobClaim(new=False, ordered=ordered and stored != fingerprint, previous=holder), None

    def renew_job(self, profile: str, account: str, key: str, run_id: str) -> bool:
        """Keep `run_id`'s claim alive; False when it no longer holds it."""
        with self._write(serialize=False) as db:
            return bool(
                db.execute(
                    "UPDATE jobs SET expires_at = ?"
                    " WHERE profile = ? AND account = ? AND key = ? AND owner_run = ?",
                    (time.time() + LEASE_SECONDS, profile, account, key, run_id),
                ).rowcount
                == 1
            )

    def release_job(self, profile: str, account: str, key: str, run_id: str) -> None:
        """Give up `run_id`'s claim, so that the next run need not wait for it to expire."""
        with self._write(serialize=False) as db:
            db.execute(
                "UPDATE jobs SET owner_run = NULL, owner_host = NULL, owner_pid = NULL,"
                " owner_start = NULL, owner_since = NULL, expires_at = NULL"
                " WHERE profile = ? AND account = ? AND key = ? AND owner_run = ?",
                (profile, account, key, run_id),
            )

    def hold_job(self, profile: str, account: str, key: str, run_id: str) -> JobLease:
        """A context that renews the claim in the background and releases it at the end."""
        return JobLease(self, profile, account, key, run_id)

    def _check_owner(
        self, db: Connection, profile: str, account: str, key: str, run_id: str | None
    ) -> None:
        row = db.execute(
            "SELECT owner_run, owner_host, owner_pid, owner_start, owner_since FROM jobs"
            " WHERE profile = ? AND account = ? AND key = ?",
            (profile, account, key),
        ).fetchone()
        holder = _owner(row) if row is not None else None
        if holder is not None and holder.run_id != run_id:
            raise JobTakenError(
                f"another run took over dedupe key {key!r} ({holder.describe()});"
                " this run sends no more of it",
                hint="see `attsms history`; the other run sends the rest",
            )

    # pruning ---------------------------------------------------------------------------------

    def prune(
        self,
        *,
        keep_days: float | None = None,
        keep_batches: int | None = None,
        now: float | None = None,
    ) -> int:
        """Delete batches older than `keep_days` or beyond the newest `keep_batches`, with their
        recipients, and the keyed jobs left without a batch; returns the batches deleted.

        Never a row of a job that a live run holds (an unexpired claim): that run reads its
        batches to know what is left to send. A finished job's rows go like any other, and a
        re-run with its key then starts afresh: a key protects re-runs as long as rows are kept.
        """
        if keep_days is None and keep_batches is None:
            return 0
        now = time.time() if now is None else now
        clauses: list[str] = []
        params: list[Any] = []
        if keep_days is not None:
            clauses.append("created_at < ?")
            params.append(now - keep_days * 86400)
        if keep_batches is not None:
            clauses.append(
                "id NOT IN (SELECT id FROM batches ORDER BY created_at DESC, id DESC LIMIT ?)"
            )
            params.append(max(0, keep_batches))
        live = (
            "EXISTS (SELECT 1 FROM jobs j WHERE j.profile = batches.profile"
            " AND j.account = batches.account AND j.key = batches.dedupe_key"
            " AND j.owner_run IS NOT NULL AND j.expires_at > ?)"
        )
        where = f"({' OR '.join(clauses)}) AND NOT {live}"
        with self._write() as db:
            deleted = db.execute(f"DELETE FROM batches WHERE {where}", [*params, now]).rowcount  # noqa: S608
            # Jobs no batch is left of, unless a live run holds them (one just acquired has
            # no batch yet).
            db.execute(
                "DELETE FROM jobs WHERE (owner_run IS NULL OR expires_at <= ?)"
                " AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.profile = jobs.profile"
                " AND b.account = jobs.account AND b.dedupe_key = jobs.key)",
                (now,),
            )
        return int(deleted)

    def prune_to(self, *, keep_days: float | None, keep_batches: int | None) -> int:
        """`prune` to the retention the run's settings give (both None: keep everything)."""
        if self.read_only or (keep_days is None and keep_batches is None):
            return 0
        return self.prune(keep_days=keep_days, keep_batches=keep_batches)

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
        if limit is not None:
            sql += " LIMIT ?"
            params.append(min(limit, 2**63 - 1))  # SQLite's largest integer; more is all
        with self._read() as db:
            return self._with_recipients(db, db.execute(sql, params).fetchall())

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
        page = page or PAGE_BATCHES
        left = limit
        after: tuple[float, int] | None = None
        while left is None or left > 0:
            size = page if left is None else min(page, left)
            sql = f"SELECT {_COLUMNS} FROM batches{where}"  # noqa: S608
            values = list(params)
            if after is not None:
                sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
                values += [after[0], after[0], after[1]]
            sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
            with self._read() as db:
                rows = db.execute(sql, [*values, size]).fetchall()
                batches = self._with_recipients(db, rows)
            if not batches:
                return
            yield batches
            last = rows[-1]
            after = (last[2], last[0])  # created_at, id (see _COLUMNS)
            if left is not None:
                left -= len(batches)
            if len(batches) < size:
                return

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
        if limit is not None:
            sql += " LIMIT ?"
            params.append(min(limit, 2**63 - 1))  # SQLite's largest integer; more is all
        with self._read() as db:
            return self._with_recipients(db, db.execute(sql, params).fetchall())

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


_JOB_SELECT = (
    "SELECT fingerprint, ordered, recipient_count, created_at,"
    " owner_run, owner_host, owner_pid, owner_start, owner_since, expires_at"
    " FROM jobs WHERE profile = ? AND account = ? AND key = ?"
)


class JobTakenError(LockTimeoutError):
    """Another run took over this run's keyed job (its claim had expired): stop sending it."""


class JobLease:
    """Renews a keyed job's claim every HEARTBEAT_SECONDS from a daemon thread while the run
    lasts, and releases it at the end. `lost` turns true once another run holds it."""

    def __init__(self, store: HistoryStore, profile: str, account: str, key: str, run_id: str):
        self._store = store
        self._where = (profile, account, key, run_id)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="job-lease", daemon=True)
        self.lost = False

    def __enter__(self) -> JobLease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(StoreError, LockTimeoutError):
            # An unreleased claim is only a wait: it expires, or its dead owner is noticed.
            self._store.release_job(*self._where)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                if not self._store.renew_job(*self._where):
                    self.lost = True
                    return
            except (StoreError, LockTimeoutError):
                continue  # a busy or full disk now and then: the claim lasts LEASE_SECONDS


def _owner(row: Sequence[Any]) -> JobOwner | None:
    run_id, host, pid, start, since = row[:5]
    if run_id is None:
        return None
    return JobOwner(run_id, host or "?", int(pid or 0), start, float(since or 0.0))


def _owner_values(owner: JobOwner) -> tuple[Any, ...]:
    return (owner.run_id, owner.host, owner.pid, owner.process_start, owner.since)


def _process_start(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot (Linux), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # the name may hold spaces and parentheses
    return fields[19] if len(fields) > 19 else None


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
