"""The inbox store: one per profile.

The service forgets an inbound message once it has returned it, so this store is the only copy.
By default it lives at `<data dir>/inbox/<profile>.sqlite3` (0600, in a 0700 directory), in WAL
mode with `synchronous=FULL`: a commit that returned is on disk; with ATTSMS_DATABASE_URL, in a
schema of its own in the shared PostgreSQL database. Open it through `attsms.store`.

A batch's STOP and START messages are applied to the opt-outs of the sender identity they were
texted to (`attsms.store.consent`, one store for every profile) in a transaction that commits
before the messages': a crash between the two keeps the opt-out and, at worst, loses the batch
that was in flight anyway (a pull), or has it pushed again (`listen` answers 2xx after both).
The `opt_outs` table here is attsms 0.2's per-profile list, read once to fold it into consent.

Messages are keyed by the service's message ID (`INSERT OR IGNORE`): a message seen before is
neither stored nor reported twice. Database drivers and filelock are imported inside functions,
so importing this module costs nothing.

Which messages are keywords (STOP, START, HELP and their spellings): `attsms.core.keywords`.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from attsms.core.errors import LockTimeoutError, StoreError, UsageError
from attsms.core.inbound import is_sender, readable, timestamp
from attsms.core.keywords import Keyword, keyword_of
from attsms.core.models import InboundMessage
from attsms.core.numbers import canonical, display
from attsms.core.paths import data_dir
from attsms.store.base import MAX_PARAMETERS, insert_rows, keyset_pages, prepared, values_statement
from attsms.store.consent import KeywordEvent
from attsms.store.handling import HandlingState, MessageHandling, handling_state
from attsms.store.migrations import INBOX_MIGRATIONS, INBOX_VERSION
from attsms.store.sqlite import SqliteDatabase

if TYPE_CHECKING:
    from attsms.store.base import Database
    from attsms.store.consent import ConsentStore

# `opted_out` looks addresses up this many at a time (SQLite caps bound parameters).
_LOOKUP_CHUNK = 500
_INSERT_ALL = (
    "INSERT INTO messages (message_id, registration_id, sender, destination, text,"
    " received_at, received_ts, stored_at, keyword) VALUES "
)
_INSERT_MESSAGES = _INSERT_ALL.replace("INSERT", "INSERT OR IGNORE", 1)

# Messages a page of `iter_messages` reads.
PAGE_MESSAGES = 1000

_MESSAGE_COLUMNS = (
    "message_id, registration_id, sender, destination, text, received_at, stored_at, keyword"
)


# `_insert_new_pg`: the store's write lock (a volatile CTE: evaluated before the first row is
# inserted, held to the statement's commit), then the messages in their order, each inserted
# unless its ID is stored; returns the IDs inserted.
_INSERT_PG = (
    "WITH serialized AS (SELECT pg_advisory_xact_lock(?::bigint))"
    " INSERT INTO messages (message_id, registration_id, sender, destination, text,"
    " received_at, received_ts, stored_at, keyword)"
    " SELECT u.message_id, ?, u.sender, u.destination, u.text, u.received_at, u.received_ts, ?,"
    " u.keyword FROM serialized, unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[],"
    " ?::float8[], ?::text[]) WITH ORDINALITY"
    " AS u(message_id, sender, destination, text, received_at, received_ts, keyword, n)"
    " ORDER BY u.n ON CONFLICT (message_id) DO NOTHING RETURNING message_id"
)


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredMessage:
    message_id: str
    registration_id: str
    sender: str  # wire form
    destination: str
    text: str
    received_at: str  # as the service sent it
    stored_at: str  # ISO 8601 UTC; "" for a message that could not be stored
    keyword: Keyword | None

    @classmethod
    def from_inbound(
        cls, message: InboundMessage, registration_id: str, stored_at: str = ""
    ) -> StoredMessage:
        """The record of `message`. A sender that is not a phone number or short code (kept as
        it came: a pull cannot refuse it) gives no keyword: its STOP is no opt-out, since no
        `optout remove` could ever reach that address."""
        sender = _canonical(message.sender)
        return cls(
            message_id=message.message_id,
            registration_id=registration_id,
            sender=sender,
            destination=message.destination,
            text=message.message,
            received_at=message.received_at,
            stored_at=stored_at,
            keyword=keyword_of(message.message) if is_sender(sender) else None,
        )

    @property
    def readable(self) -> bool:
        """Whether the sender is a phone number or short code and the time (if any) a time."""
        return readable(self.sender, self.received_at)

    def record(self) -> dict[str, object]:
        """The message as `inbox list --json` and a `--exec` handler's stdin show it."""
        return {
            "message_id": self.message_id,
            "received_at": self.received_at,
            "from": display(self.sender),
            "to": display(self.destination),
            "text": self.text,
            "keyword": self.keyword,  # "stop", "start", "help" or null
        }


@dataclass(frozen=True)
class StoredBatch:
    """What committing one batch changed."""

    new: tuple[StoredMessage, ...]  # not seen before, in service order
    duplicates: int  # already in the store: neither stored nor reported again
    opted_out: tuple[str, ...]  # addresses that became opted out (wire form)
    opted_in: tuple[str, ...]  # addresses whose opt-out a START removed


@dataclass(frozen=True)
class LegacyOptOut:
    """A row of attsms 0.2's per-profile opt-out list."""

    address: str  # wire form
    since: str  # ISO 8601 UTC
    source: str  # "message" or "manual"
    message_id: str | None  # the STOP message, when it came by message
    registration_id: str | None  # the short code it was texted to, when the message is stored


# --- paths -----------------------------------------------------------------------------------


def store_path(profile: str) -> Path:
    return data_dir() / "inbox" / f"{_file_part(profile)}.sqlite3"


def _file_part(name: str) -> str:
    """`name` safe as part of a file name: %-escaped UTF-8, so distinct names never clash."""
    from urllib.parse import quote

    part = quote(name, safe="", errors="surrogatepass")
    # A leading dot too (quote keeps dots): no hidden files, no "..".
    return "%2E" + part[1:] if part.startswith(".") else part


# --- the store -------------------------------------------------------------------------------


class InboxStore(MessageHandling):
    """One profile's inbox and opt-out list, and what `--exec` handlers did with each message
    (`MessageHandling`, store/handling.py). Open with `open` or `open_existing`; close after."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._db = database.connection  # one connection per store: no thread shares an inbox
        self.path = database.path
        self.backend = database.backend

    @classmethod
    def open(cls, profile: str, *, path: Path | None = None) -> InboxStore:
        """The store, created (0600 in a 0700 directory) if there is none yet, and upgraded."""
        database = SqliteDatabase.open(path or store_path(profile), what="the inbox store")
        return cls.on(database)

    @classmethod
    def open_existing(
        cls, profile: str, *, path: Path | None = None, read_only: bool = False
    ) -> InboxStore | None:
        """The store, or None when nothing has created it yet (nothing is created here).
        `read_only` changes nothing on disk: it works on a read-only data directory."""
        database = SqliteDatabase.open_existing(
            path or store_path(profile), what="the inbox store", read_only=read_only
        )
        return None if database is None else cls.on(database)

    @classmethod
    def on(cls, database: Database) -> InboxStore:
        """The inbox in `database` (any backend): upgraded, unless opened read-only."""
        return cls(prepared(database, INBOX_VERSION, INBOX_MIGRATIONS))

    def close(self) -> None:
        self._database.close()

    def __enter__(self) -> InboxStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # writes -------------------------------------------------------------------------------------

    def name_profile(self, profile: str) -> None:
        """Record whose store this is (a shared database holds one per profile)."""
        with self._guard("write to"), self._transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('profile', ?)", (profile,)
            )

    def check_writable(self, registration_id: str) -> None:
        """Prove a write commits (read-only disk, full disk, locked file) before the service is
        asked for anything: a batch fetched and then not stored would be lost for good."""
        with self._guard("write to"), self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (f"last_pull_started:{registration_id}", _now_iso()),
            )

    def add_batch(
        self,
        registration_id: str,
        messages: Sequence[InboundMessage],
        *,
        consent: ConsentStore | None = None,
        account: str = "",
    ) -> StoredBatch:
        """Store the messages not seen before, in ONE durable transaction, after applying their
        STOP/START keywords to `account`'s opt-outs at `registration_id` in `consent` (in the
        people's order; its own transaction, first, so an opt-out is never behind the message
        that made it). Returns what changed; nothing of this batch is stored if this raises."""
        # Everything here runs while the batch exists only in this process (the service forgot
        # it as it answered, benchmarks/pull_window.py): a few statements for the whole batch,
        # not a few per message.
        stored_at = _now_iso()
        fallback_ts = time.time()
        records = [StoredMessage.from_inbound(m, registration_id, stored_at) for m in messages]
        opted_out: list[str] = []
        opted_in: list[str] = []
        if consent is not None:
            # Applied again for a message seen before: harmless, as consent keeps the newest.
            events = [
                KeywordEvent(
                    r.sender, r.keyword == "stop", _timestamp(r.received_at, fallback_ts),
                    r.message_id,
                )
                for r in records
                if r.keyword in ("stop", "start")
            ]  # fmt: skip
            if events:
                opted_out, opted_in = consent.apply(account, registration_id, events)
        if self.backend == "postgresql":
            new = self._insert_new_pg(registration_id, records, stored_at, fallback_ts)
        else:
            new = self._insert_new(registration_id, records, stored_at, fallback_ts)
        return StoredBatch(
            new=tuple(new),
            duplicates=len(messages) - len(new),
            opted_out=tuple(opted_out),
            opted_in=tuple(opted_in),
        )

    def _insert_new(
        self,
        registration_id: str,
        records: Sequence[StoredMessage],
        stored_at: str,
        fallback_ts: float,
    ) -> list[StoredMessage]:
        """Store those of `records` not stored before (the first of an ID twice in `records`), in
        one durable transaction; returns them, in order."""
        unique: dict[str, StoredMessage] = {}
        for record in records:
            unique.setdefault(record.message_id, record)
        rows = [
            (
                r.message_id,
                registration_id,
                r.sender,
                r.destination,
                r.text,
                r.received_at,
                _timestamp(r.received_at, fallback_ts),
                stored_at,
                r.keyword,
            )
            for r in unique.values()
        ]
        if rows and len(rows) * len(rows[0]) <= MAX_PARAMETERS and self._insert_all(rows):
            return list(unique.values())
        with self._guard("write to"), self._transaction():
            seen = self._stored_ids(list(unique))
            insert_rows(self._db, _INSERT_MESSAGES, [row for row in rows if row[0] not in seen])
        return [r for r in unique.values() if r.message_id not in seen]

    def _insert_all(self, rows: Sequence[Sequence[object]]) -> bool:
        """Store every one of `rows` by ONE statement that is its own transaction, or none of
        them (False: one was stored before). With `listen`'s event loop beside the writer, each
        statement waits to get the GIL back: BEGIN, a lookup, the INSERT and COMMIT were four
        waits a group (benchmarks/listen.py); a message pushed again is rare, and then the
        lookup is done after all."""
        from typing import cast

        database = cast("SqliteDatabase", self._database)
        return database.write_one(*values_statement(_INSERT_ALL, rows))

    def _insert_new_pg(
        self,
        registration_id: str,
        records: Sequence[StoredMessage],
        stored_at: str,
        fallback_ts: float,
    ) -> list[StoredMessage]:
        """`_insert_new` on PostgreSQL in ONE statement, its own durable transaction, one round
        trip (a SELECT of the stored IDs, BEGIN, the lock, a statement per message and COMMIT
        were five round trips and N statements: 3x SQLite's time per pushed message). The unique
        message ID decides what is new (ON CONFLICT DO NOTHING ... RETURNING: no check-then-
        write); the store's advisory lock is still taken first, so writers of this inbox queue
        and `seq` follows commit order, as with `write()`."""
        from typing import cast

        from attsms.store.postgres import PostgresDatabase

        database = cast("PostgresDatabase", self._database)
        unique: dict[str, StoredMessage] = {}
        for record in records:
            unique.setdefault(record.message_id, record)  # an ID twice: the first is the one
        rows = list(unique.values())
        params = (
            database.lock_key,
            registration_id,
            stored_at,
            [r.message_id for r in rows],
            [r.sender for r in rows],
            [r.destination for r in rows],
            [r.text for r in rows],
            [r.received_at for r in rows],
            [_timestamp(r.received_at, fallback_ts) for r in rows],
            [r.keyword for r in rows],
        )
        with database.single() as db:
            inserted = {message_id for (message_id,) in db.execute(_INSERT_PG, params).fetchall()}
        return [r for r in rows if r.message_id in inserted]

    def _stored_ids(self, message_ids: Sequence[str]) -> set[str]:
        """Those of `message_ids` already in the store."""
        found: set[str] = set()
        for start in range(0, len(message_ids), _LOOKUP_CHUNK):
            chunk = message_ids[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT message_id FROM messages WHERE message_id IN ({marks})"  # noqa: S608
            found.update(message_id for (message_id,) in self._db.execute(sql, chunk))
        return found

    # reads --------------------------------------------------------------------------------------

    def messages(
        self, *, since: float | None = None, sender: str | None = None, limit: int | None = None
    ) -> list[StoredMessage]:
        """Stored messages in the order they were stored; with `limit`, the newest `limit`."""
        return list(self.iter_messages(since=since, sender=sender, newest=limit))

    def count(self, *, since: float | None = None, sender: str | None = None) -> int:
        where, params = _filters(since, sender)
        with self._guard("read"):
            sql = f"SELECT count(*) FROM messages{where}"  # noqa: S608
            return int(self._db.execute(sql, params).fetchone()[0])

    def iter_messages(
        self,
        *,
        since: float | None = None,
        sender: str | None = None,
        newest: int | None = None,
        page: int | None = None,
        by_time: bool = False,
    ) -> Iterator[StoredMessage]:
        """Stored messages in the order they were stored (`by_time`: oldest first by their own
        time, the service's DateTime, equal times by message id: pushes and pulls arrive in any
        order), read `page` at a time (each page its own read, so neither a million messages
        nor a long lock is ever held); with `newest`, only the newest `newest` of them."""
        where, params = _filters(since, sender)
        page = page or PAGE_MESSAGES
        keys = "received_ts, message_id" if by_time else "seq"
        width = keys.count(",") + 1
        after: tuple[object, ...] | None = None
        if newest is not None:
            descending = keys.replace(",", " DESC,") + " DESC"
            with self._guard("read"):
                before = self._db.execute(  # the newest message older than those to show
                    f"SELECT {keys} FROM messages{where} ORDER BY {descending}"  # noqa: S608
                    " LIMIT 1 OFFSET ?",
                    [*params, max(0, min(newest, 2**63 - 1))],  # SQLite's largest integer
                ).fetchone()
            if before is not None:
                after = tuple(before)

        def read(
            after: tuple[object, ...] | None, size: int
        ) -> tuple[list[StoredMessage], tuple[object, ...] | None]:
            clause, values = where, list(params)
            if after is not None:
                marks = ", ".join("?" * width)
                clause += (" AND " if where else " WHERE ") + f"({keys}) > ({marks})"
                values.extend(after)
            sql = (
                f"SELECT {keys}, {_MESSAGE_COLUMNS} FROM messages{clause}"  # noqa: S608
                f" ORDER BY {keys} LIMIT ?"
            )
            with self._guard("read"):
                rows = self._db.execute(sql, [*values, size]).fetchall()
            last = tuple(rows[-1][:width]) if rows else None
            return [_message(row[width:]) for row in rows], last

        for messages in keyset_pages(read, limit=newest, page=page, after=after):
            yield from messages

    def handling_list(
        self, *, failed: bool = False, limit: int | None = None
    ) -> list[tuple[StoredMessage, HandlingState]]:
        """The messages waiting for a handler (`failed`: the dead letters), oldest first by their
        own time, each with its attempts and last error."""
        rows = self.pending_rows(failed=failed, limit=limit)
        return [(_message(row[:8]), handling_state(row)) for row in rows]

    def legacy_opt_outs(self) -> list[LegacyOptOut]:
        """The opt-out list attsms 0.2 kept in each profile's inbox (read once, to fold it into
        consent: `attsms.store.consent`), each with the short code its STOP was texted to."""
        with self._guard("read"):
            rows = self._db.execute(
                "SELECT o.address, o.since, o.source, o.message_id, m.registration_id"
                " FROM opt_outs o LEFT JOIN messages m ON m.message_id = o.message_id"
                " ORDER BY o.since, o.address"
            ).fetchall()
        return [LegacyOptOut(*(None if v is None else str(v) for v in row)) for row in rows]  # type: ignore[arg-type]

    # locking and plumbing -----------------------------------------------------------------------

    @contextlib.contextmanager
    def pull_lock(self, registration_id: str, timeout: float) -> Iterator[None]:
        """Hold the cross-process lock that lets one `inbox pull` at a time drain this
        registration into this store. The OS drops it when the holder dies, even by SIGKILL."""
        lock = self._database.named_lock(f"{_file_part(registration_id)}.pull", timeout)
        try:
            lock.__enter__()
        except TimeoutError:
            waited = f" after waiting {timeout:g} s" if timeout > 0 else ""
            raise LockTimeoutError(
                f"another `attsms inbox pull` for {registration_id} is running{waited}",
                hint="try again later, or wait for it with --lock-timeout SECONDS",
            ) from None
        except OSError as error:
            raise StoreError(
                f"cannot create the inbox lock next to {self.path}: {error.strerror or error}",
                hint="check that the data directory is writable",
            ) from None
        try:
            yield
        finally:
            lock.__exit__(None, None, None)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        # IMMEDIATE: take the write lock up front, so two writers queue instead of one failing
        # half-way with "database is locked"; rolled back after a failed COMMIT too.
        with self._database.write():
            yield

    def _guard(self, action: str) -> contextlib.AbstractContextManager[None]:
        return self._database.errors(action)


# --- --since ---------------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+)\s*([smhdw])", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """`--since` as epoch seconds: a date or time (ISO 8601; no zone means local time) or a
    duration back from now (`90m`, `2h`, `7d`, `1w`)."""
    value = text.strip()
    if match := _DURATION.fullmatch(value):
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        return (time.time() if now is None else now) - seconds
    try:
        moment = datetime.fromisoformat(value)
        return moment.timestamp()  # naive: local time, as `date` reads it
    except (ValueError, OverflowError, OSError):
        raise UsageError(
            f"not a date or duration: {text!r}",
            hint="use a date (2024-05-01, 2024-05-01T09:30) or a duration (90m, 2h, 7d)",
        ) from None


# --- helpers ---------------------------------------------------------------------------------


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _timestamp(received_at: str, fallback: float) -> float:
    """The service's dateTime as epoch seconds (UTC when it names no zone); `fallback` (the
    time it is stored) when there is none or it is not a time: never a time it did not say."""
    moment = timestamp(received_at)
    return fallback if moment is None else moment


def _canonical(address: str) -> str:
    return canonical(address)


def _filters(since: float | None, sender: str | None) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if since is not None:
        clauses.append("received_ts >= ?")
        params.append(since)
    if sender is not None:
        clauses.append("sender = ?")
        params.append(_canonical(sender))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _message(row: tuple[object, ...]) -> StoredMessage:
    return StoredMessage(
        message_id=str(row[0]),
        registration_id=str(row[1]),
        sender=str(row[2]),
        destination=str(row[3]),
        text=str(row[4]),
        received_at=str(row[5]),
        stored_at=str(row[6]),
        keyword=_KEYWORDS.get(row[7]),
    )


_KEYWORDS: dict[object, Keyword] = {"stop": "stop", "start": "start", "help": "help"}
