"""What `--exec` handlers did with each stored message: the `handling` table of the inbox store.

A message with no row (or a row with neither `handled_at` nor `dead`) is waiting for its handler.
A run claims a message before it runs the handler (`claim_message`), in one serialized write
that also checks the message is still waiting, is not in its backoff, is not held by a live run,
and has no older message of the same sender still waiting: one person's messages are handled one
at a time and in order, on every host sharing the store. The claim is the keyed jobs' (store/
lease.py): the run's id, host, pid and process start time, and an expiry renewed while the
handler runs (`renew_message`); a claim whose holder is known dead (this host: its process is
gone; another host: it stopped renewing) is taken over.

Then exactly one of: `mark_handled` (the handler exited 0: durably done, never run again),
`mark_failed` (counted, the last error kept, retried after a backoff; a dead letter after the
last attempt), `release_message` (stopped before the handler finished).

`MessageHandling` is mixed into `InboxStore`, whose database these run on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from attsms.core.errors import UsageError
from attsms.store.lease import LEASE_SECONDS, JobOwner

if TYPE_CHECKING:
    from attsms.store.base import Database

# The longest wait between two attempts, however many failed.
MAX_BACKOFF_SECONDS = 3600.0

ClaimStatus = Literal["claimed", "done", "held", "waiting", "blocked", "dead", "gone"]


@dataclass(frozen=True)
class Claim:
    """What `claim_message` found. `claimed`: run the handler, this is attempt `attempt`.
    `done`: handled or a dead letter already; `held`: a live run has it (`holder`); `waiting`:
    in its backoff; `blocked`: an older message of its sender waits first; `dead`: it had no
    attempt left (its last one was interrupted), now a dead letter; `gone`: no such message."""

    status: ClaimStatus
    attempt: int = 0
    holder: JobOwner | None = None


@dataclass(frozen=True)
class HandlingState:
    """A message's handling as `inbox list --unhandled` / `--failed` show it."""

    attempts: int
    last_error: str | None
    next_attempt_at: float  # epoch seconds; 0: at once
    dead: bool


def backoff_delay(attempts: int, first: float) -> float:
    """Seconds to wait after failed attempt number `attempts`: `first`, doubled each time, at
    most MAX_BACKOFF_SECONDS."""
    if first <= 0:
        return 0.0
    return float(min(MAX_BACKOFF_SECONDS, first * 2 ** min(max(attempts - 1, 0), 30)))


_PENDING = "(h.message_id IS NULL OR (h.handled_at IS NULL AND h.dead = 0))"
_OWNER_NULL = (
    "owner_run = NULL, owner_host = NULL, owner_pid = NULL, owner_start = NULL,"
    " owner_since = NULL, expires_at = NULL"
)


class MessageHandling:
    """The handler bookkeeping methods of `InboxStore`."""

    _database: Database

    def claim_message(self, message_id: str, owner: JobOwner, *, max_attempts: int) -> Claim:
        """Claim `message_id` for `owner`'s run, counting the attempt it is about to make."""
        now = time.time()
        with self._database.errors("write to"), self._database.write() as db:
            row = db.execute(
                "SELECT m.sender, m.received_ts, m.seq, h.attempts, h.handled_at, h.dead,"
                " h.next_attempt_at, h.owner_run, h.owner_host, h.owner_pid, h.owner_start,"
                " h.owner_since, h.expires_at FROM messages m"
                " LEFT JOIN handling h ON h.message_id = m.message_id WHERE m.message_id = ?",
                (message_id,),
            ).fetchone()
            if row is None:
                return Claim("gone")
            sender, received_ts, seq = row[0], float(row[1]), int(row[2])
            attempts = int(row[3] or 0)
            if row[4] is not None or row[5]:
                return Claim("done")
            holder = _owner(row[7:12])
            if holder is not None and holder.run_id != owner.run_id:
                alive = row[12] is not None and float(row[12]) > now and not holder.dead()
                if alive:
                    return Claim("held", holder=holder)
            elif float(row[6] or 0) > now:
                return Claim("waiting")
            if _older_waiting(db, sender, received_ts, seq):
                return Claim("blocked")
            db.execute("INSERT OR IGNORE INTO handling (message_id) VALUES (?)", (message_id,))
            if holder is not None and holder.run_id != owner.run_id:
                error = f"interrupted: the run handling it ({holder.describe()}) stopped"
                db.execute(
                    "UPDATE handling SET last_error = ? WHERE message_id = ?", (error, message_id)
                )
            if attempts >= max_attempts:
                db.execute(
                    f"UPDATE handling SET dead = 1, {_OWNER_NULL} WHERE message_id = ?",  # noqa: S608
                    (message_id,),
                )
                _advance(db, sender, received_ts, seq)
                return Claim("dead", attempt=attempts)
            db.execute(
                "UPDATE handling SET attempts = ?, owner_run = ?, owner_host = ?, owner_pid = ?,"
                " owner_start = ?, owner_since = ?, expires_at = ? WHERE message_id = ?",
                (attempts + 1, *_owner_values(owner), now + LEASE_SECONDS, message_id),
            )
        return Claim("claimed", attempt=attempts + 1)

    def renew_message(self, message_id: str, run_id: str) -> bool:
        """Keep `run_id`'s claim alive while its handler runs; False when it no longer holds it."""
        with self._database.errors("write to"), self._database.write(serialize=False) as db:
            cursor = db.execute(
                "UPDATE handling SET expires_at = ? WHERE message_id = ? AND owner_run = ?",
                (time.time() + LEASE_SECONDS, message_id, run_id),
            )
            return bool(cursor.rowcount == 1)

    def mark_handled(self, message_id: str) -> None:
        """The handler exited 0: durably done (whoever holds the claim now), never run again."""
        with self._database.errors("write to"), self._database.write() as db:
            db.execute(
                f"UPDATE handling SET handled_at = ?, last_error = NULL, {_OWNER_NULL}"  # noqa: S608
                " WHERE message_id = ? AND handled_at IS NULL",
                (time.time(), message_id),
            )
            _advance_to(db, message_id)

    def mark_failed(
        self, message_id: str, run_id: str, error: str, *, max_attempts: int, backoff: float
    ) -> bool:
        """The handler failed: keep `error`, wait the backoff; True when that was the last
        attempt (a dead letter now). Nothing changes if another run took the claim over."""
        with self._database.errors("write to"), self._database.write() as db:
            row = db.execute(
                "SELECT attempts FROM handling WHERE message_id = ? AND owner_run = ?",
                (message_id, run_id),
            ).fetchone()
            if row is None:
                return False
            attempts = int(row[0])
            dead = attempts >= max_attempts
            db.execute(
                f"UPDATE handling SET last_error = ?, dead = ?, next_attempt_at = ?, {_OWNER_NULL}"  # noqa: S608
                " WHERE message_id = ? AND owner_run = ?",
                (
                    error,
                    int(dead),
                    time.time() + backoff_delay(attempts, backoff),
                    message_id,
                    run_id,
                ),
            )
            if dead:
                _advance_to(db, message_id)
        return dead

    def release_message(self, message_id: str, run_id: str, error: str) -> None:
        """Stopped before the handler finished: the attempt counts, no backoff, not handled."""
        with self._database.errors("write to"), self._database.write() as db:
            db.execute(
                f"UPDATE handling SET last_error = ?, {_OWNER_NULL}"  # noqa: S608
                " WHERE message_id = ? AND owner_run = ?",
                (error, message_id, run_id),
            )

    def retry_messages(self, message_ids: list[str] | None) -> list[str]:
        """Put messages back to be handled afresh (attempts from 0): those given (a dead letter or
        a handled message), or with None every dead letter. An id not stored is a UsageError,
        and nothing changes. Returns the ids put back."""
        with self._database.errors("write to"), self._database.write() as db:
            if message_ids is None:
                rows = db.execute(
                    "SELECT message_id FROM handling WHERE dead = 1 ORDER BY message_id"
                ).fetchall()
                targets = [str(r[0]) for r in rows]
            else:
                targets = list(dict.fromkeys(message_ids))
                unknown = [
                    m
                    for m in targets
                    if db.execute("SELECT 1 FROM messages WHERE message_id = ?", (m,)).fetchone()
                    is None
                ]
                if unknown:
                    raise UsageError(
                        f"no stored message {', '.join(unknown)}; nothing was put back",
                        hint="see `attsms inbox list --failed` for the dead letters' IDs",
                    )
            db.executemany(
                "UPDATE handling SET attempts = 0, dead = 0, handled_at = NULL,"
                " next_attempt_at = 0, last_error = NULL WHERE message_id = ?",
                [(m,) for m in targets],
            )
            # A message put back may lie behind its sender's mark: read that sender afresh.
            db.executemany(
                "DELETE FROM handled_through WHERE sender IN"
                " (SELECT sender FROM messages WHERE message_id = ?)",
                [(m,) for m in targets],
            )
        return targets

    def handling_ready(self) -> bool:
        """Whether the store has the `handling` table: a store an older attsms wrote, opened
        read-only (and so not upgraded), has none: nothing was ever handled there."""
        return self._database.version() >= 2

    def pending_rows(self, *, failed: bool = False, limit: int | None = None) -> list[Any]:
        """Rows of the messages waiting for a handler (`failed`: the dead letters), oldest first
        by their own time (equal times in the order they were stored): the message's columns,
        then attempts, last error, next attempt, dead.
        Blocking readers page with `limit`."""
        if not self.handling_ready():
            return []
        where = "h.dead = 1" if failed else _PENDING
        join = "JOIN" if failed else "LEFT JOIN"
        sql = (
            "SELECT m.message_id, m.registration_id, m.sender, m.destination, m.text,"  # noqa: S608
            " m.received_at, m.stored_at, m.keyword,"
            " h.attempts, h.last_error, h.next_attempt_at, h.dead"
            f" FROM messages m {join} handling h ON h.message_id = m.message_id"
            f" WHERE {where} ORDER BY m.received_ts, m.seq"
        )
        params: list[object] = []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._database.errors("read"), self._database.read() as db:
            return list(db.execute(sql, params).fetchall())


def handling_state(row: Any) -> HandlingState:
    """The handling columns of a `pending_rows` row."""
    return HandlingState(
        attempts=int(row[8] or 0),
        last_error=None if row[9] is None else str(row[9]),
        next_attempt_at=float(row[10] or 0.0),
        dead=bool(row[11]),
    )


def _older_waiting(db: Any, sender: str, received_ts: float, seq: int) -> bool:
    """Whether an older message of `sender` (by its own time, then arrival) still waits. Only
    those past the sender's mark in `handled_through` are read (everything before it was done):
    a sender with a long history costs one index range, not a scan of it all."""
    mark = db.execute(
        "SELECT received_ts, seq FROM handled_through WHERE sender = ?", (sender,)
    ).fetchone()
    after = ""
    values: list[object] = [sender]
    if mark is not None:
        after = " AND (o.received_ts, o.seq) > (?, ?)"
        values.extend([float(mark[0]), int(mark[1])])
    row = db.execute(
        "SELECT 1 FROM messages o LEFT JOIN handling h ON h.message_id = o.message_id"  # noqa: S608
        f" WHERE o.sender = ?{after} AND (o.received_ts, o.seq) < (?, ?) AND {_PENDING} LIMIT 1",
        [*values, received_ts, seq],
    ).fetchone()
    return row is not None


def _advance_to(db: Any, message_id: str) -> None:
    row = db.execute(
        "SELECT sender, received_ts, seq FROM messages WHERE message_id = ?", (message_id,)
    ).fetchone()
    if row is not None:
        _advance(db, str(row[0]), float(row[1]), int(row[2]))


def _advance(db: Any, sender: str, received_ts: float, seq: int) -> None:
    """Move `sender`'s mark up to this message, which is done: its claim found no older message
    of the sender waiting. (One stored later with an older time lies behind the mark; it is
    still listed, and so handled, first.)"""
    db.execute(
        "INSERT OR IGNORE INTO handled_through (sender, received_ts, seq) VALUES (?, ?, ?)",
        (sender, received_ts, seq),
    )
    db.execute(
        "UPDATE handled_through SET received_ts = ?, seq = ?"
        " WHERE sender = ? AND (received_ts, seq) < (?, ?)",
        (received_ts, seq, sender, received_ts, seq),
    )


def _owner(row: Any) -> JobOwner | None:
    run_id, host, pid, start, since = row[:5]
    if run_id is None:
        return None
    return JobOwner(str(run_id), host or "?", int(pid or 0), start, float(since or 0.0))


def _owner_values(owner: JobOwner) -> tuple[Any, ...]:
    return (owner.run_id, owner.host, owner.pid, owner.process_start, owner.since)
