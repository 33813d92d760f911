"""The local history of what was sent: one SQLite file, every batch, every recipient.

`<data dir>/history.sqlite3`, one database for all profiles (a `profile` column tells them apart),
WAL mode, created 0600 in a 0700 directory. It holds message text and numbers, so nobody else may
read it.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from attsms.errors import LockTimeoutError, StoreError, UsageError
from attsms.models import FINAL_STATUSES, DeliveryInfo
from attsms.paths import data_dir, disk_full, ensure_private_dir

if TYPE_CHECKING:
    import sqlite3

HISTORY_FILE = "history.sqlite3"
SCHEMA_VERSION = 1
# Another attsms process writing at the same moment makes us wait this long before giving up (75).
BUSY_TIMEOUT_SECONDS = 10.0

Outcome = Literal["sending", "accepted", "unknown", "failed"]
SENDING: Outcome = "sending"
ACCEPTED: Outcome = "accepted"
UNKNOWN: Outcome = "unknown"
FAILED: Outcome = "failed"

# Which attempt of a batch counts: accepted beats "may have gone" beats failed.
_RANK: dict[str, int] = {ACCEPTED: 3, SENDING: 2, UNKNOWN: 2, FAILED: 1}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    profile TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    message TEXT NOT NULL,
    notify INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL CHECK (outcome IN ('sending', 'accepted', 'unknown', 'failed')),
    message_id TEXT,
    error TEXT,
    run_id TEXT,
    dedupe_key TEXT,
    batch_number INTEGER NOT NULL DEFAULT 0,
    batch_count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS batches_by_time ON batches (profile, created_at);
CREATE INDEX IF NOT EXISTS batches_by_message_id ON batches (message_id);
CREATE INDEX IF NOT EXISTS batches_by_dedupe
    ON batches (profile, dedupe_key, batch_number) WHERE dedupe_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS recipients (
    batch_id INTEGER NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    address TEXT NOT NULL,
    status TEXT,
    status_at REAL,
    PRIMARY KEY (batch_id, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedupe_keys (
    profile TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    batch_count INTEGER NOT NULL,
    recipient_count INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (profile, key)
);
"""


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


@dataclass(frozen=True)
class Claim:
    """What `claim_batch` did: the new `sending` row's id, or the attempt that stopped it."""

    batch_id: int | None
    existing: SentBatch | None = None


def history_path() -> Path:
    return data_dir() / HISTORY_FILE


class HistoryStore:
    """The history database. Open with `HistoryStore.open()`; close (or use `with`) when done."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | None = None) -> HistoryStore:
        import sqlite3

        path = path or history_path()
        try:
            ensure_private_dir(path.parent)
            _create_private(path)
            connection = sqlite3.connect(
                path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,  # autocommit; writes take explicit BEGIN IMMEDIATE
                check_same_thread=False,  # shared by the send threads, behind self._lock
            )
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"cannot open the history {path}: {_reason(error, path)}") from None
        store = cls(connection, path)
        try:
            _retry_while_locked(store._setup)
        except BaseException:
            connection.close()
            raise
        return store

    def close(self) -> None:
        with self._lock:
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
        attempt is returned instead, so two runs under one key never both send a batch.
        """
        if dedupe is not None:
            batch_number, batch_count = dedupe.batch_number, dedupe.batch_count
        now = time.time()
        with self._write() as db:
            if dedupe is not None:
                best = self._best_attempts(db, profile, dedupe.key, dedupe.batch_number)
                existing = best.get(dedupe.batch_number)
                if existing is not None and (
                    existing.outcome == ACCEPTED
                    or (existing.may_have_been_sent and not resend_unknown)
                ):
                    return Claim(batch_id=None, existing=existing)
            cursor = db.execute(
                "INSERT INTO batches (profile, created_at, updated_at, message, notify, outcome,"
                " run_id, dedupe_key, batch_number, batch_count)"
                " VALUES (?, ?, ?, ?, ?, 'sending', ?, ?, ?, ?)",
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
                ),
            )
            batch_id = int(cursor.lastrowid or 0)
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
        with self._write() as db:
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

        Addresses are compared in wire form (`attsms.api` returns the service's in that form).
        """
        now = time.time()
        rows = [(d.status, now, message_id, d.address) for d in deliveries]
        if not rows:
            return 0
        with self._write() as db:
            before = db.total_changes
            db.executemany(
                "UPDATE recipients SET status = ?, status_at = ?"
                " WHERE batch_id IN (SELECT id FROM batches WHERE message_id = ?) AND address = ?",
                rows,
            )
            return int(db.total_changes - before)

    def use_dedupe_key(
        self, profile: str, key: str, *, fingerprint: str, batch_count: int, recipient_count: int
    ) -> bool:
        """Tie `key` to one message and recipient list; True when the key is new.

        A key already used for other text or other recipients is a `UsageError`: re-running with
        it would not be a retry of the same job.
        """
        with self._write() as db:
            row = db.execute(
                "SELECT fingerprint, recipient_count, created_at FROM dedupe_keys"
                " WHERE profile = ? AND key = ?",
                (profile, key),
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO dedupe_keys (profile, key, fingerprint, batch_count,"
                    " recipient_count, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (profile, key, fingerprint, batch_count, recipient_count, time.time()),
                )
                return True
        if row[0] != fingerprint:
            when = _datetime(row[2]).astimezone().strftime("%Y-%m-%d %H:%M")
            raise UsageError(
                f"dedupe key {key!r} was used on {when} for a different message or recipient"
                f" list ({row[1]} recipients)",
                hint="a re-run must send the same text to the same numbers; use a new key",
            )
        return False

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

    def dedupe_attempts(self, profile: str, key: str) -> dict[int, SentBatch]:
        """Per batch number, the attempt that counts (accepted, else may-have-gone, else failed)."""
        with self._read() as db:
            return self._best_attempts(db, profile, key, None)

    # plumbing --------------------------------------------------------------------------------

    def _best_attempts(
        self, db: sqlite3.Connection, profile: str, key: str, batch_number: int | None
    ) -> dict[int, SentBatch]:
        sql = f"SELECT {_COLUMNS} FROM batches WHERE profile = ? AND dedupe_key = ?"  # noqa: S608
        params: list[Any] = [profile, key]
        if batch_number is not None:
            sql += " AND batch_number = ?"
            params.append(batch_number)
        best: dict[int, SentBatch] = {}
        for batch in self._with_recipients(db, db.execute(sql + " ORDER BY id", params).fetchall()):
            current = best.get(batch.batch_number)
            # Later attempts win ties: a resent unknown batch then shows its latest try.
            if current is None or _RANK[batch.outcome] >= _RANK[current.outcome]:
                best[batch.batch_number] = batch
        return best

    def _with_recipients(self, db: sqlite3.Connection, rows: list[Any]) -> list[SentBatch]:
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

    def _setup(self) -> None:
        with self._lock, self._errors():
            db = self._db
            # Switching to WAL needs an exclusive lock, which another process opening the file
            # at the same moment may hold: only switch when the file is not in WAL mode yet.
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit survives the process being killed (kill -9), and costs no
            # fsync; only a power cut may lose the last commits, never corrupt the file.
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the history {self.path} was written by a newer attsms (schema {version})",
                    hint="upgrade attsms",
                )
            if version < SCHEMA_VERSION:
                # One transaction: two processes opening a new file at once both get the schema.
                try:
                    db.executescript(
                        f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                    )
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            # The busy handler covers most waits but not all: with several processes opening
            # a WAL database at once, BEGIN can fail at once with "database is locked".
            _retry_while_locked(self._begin_immediate)
            with self._errors():
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")

    def _begin_immediate(self) -> None:
        with self._errors():
            self._db.execute("BEGIN IMMEDIATE")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            yield self._db

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        import sqlite3

        try:
            yield
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                raise LockTimeoutError(
                    f"the history {self.path} is locked by another attsms process",
                    hint="try again in a moment",
                ) from None
            raise StoreError(
                f"cannot use the history {self.path}: {_reason(error, self.path)}"
            ) from None
        except sqlite3.Error as error:
            raise StoreError(
                f"cannot use the history {self.path}: {_reason(error, self.path)}"
            ) from None


# SQL text is only ever built from these constants and `?` placeholders; every value is a
# parameter (hence the S608 waivers).
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
        outcome=row[4],
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
    return (" WHERE " + " AND ".join(clauses) if clauses else " WHERE 1"), params


def _datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite does (it would honour the umask); SQLite gives the -wal
    and -shm files the database file's mode."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _reason(error: BaseException, path: Path) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    reason = str(error) or type(error).__name__
    if "disk i/o error" in reason.lower() and disk_full(path):
        reason += " (the disk is full)"
    return reason


def _retry_while_locked(step: Callable[[], None]) -> None:
    """Run `step`, trying again while another process briefly locks a new or busy database."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    pause = 0.005
    while True:
        try:
            step()
            return
        except LockTimeoutError:
            if time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
