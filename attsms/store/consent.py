"""Consent: who opted out of which sender identity, in the order the people did it.

One store for every profile (`<data dir>/consent.sqlite3`, 0600; with ATTSMS_DATABASE_URL the
`attsms_consent` schema of the shared database), keyed by the sender identity a person texted:
the account (client id at a base URL) and the short code. Every profile, host and
environment-only run that sends as the account reads the same rows, so a STOP pulled by a cron
profile stops the laptop profile's send.

Order is the person's, not the network's: each row keeps the time of the message that set it
(its `DateTime`, ties broken by message ID), and an event older than the row changes nothing. So
a START sent before a STOP but delivered after it leaves the number opted out, a keyword pulled
twice is applied once, and applying a batch again (a retried push, a re-run after a crash) is
harmless. A change by hand (`optout add/remove`) is dated now, and never earlier than the row it
replaces. Nothing here is ever pruned.

A short code of '' in a row means every short code of the account (an opt-out by hand from a
profile that names no registration ID). A run that names no short code honours every row of
its account: the safe side.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from attsms.core.numbers import canonical
from attsms.core.paths import data_dir
from attsms.store.base import prepared
from attsms.store.migrations import CONSENT_MIGRATIONS, CONSENT_VERSION
from attsms.store.sqlite import SqliteDatabase

if TYPE_CHECKING:
    from attsms.core.models import SenderIdentity
    from attsms.store.base import Database

EVERY_SHORT_CODE = ""

# Addresses looked up at a time (SQLite caps bound parameters).
_CHUNK = 400

_COLUMNS = "account, short_code, address, opted_out, event_ts, event_id, since, source, message_id"


@dataclass(frozen=True)
class KeywordEvent:
    """A STOP (`opted_out`) or START from `address`, at the person's time `ts`."""

    address: str  # wire form
    opted_out: bool
    ts: float  # epoch seconds: the message's DateTime
    message_id: str


@dataclass(frozen=True)
class Consent:
    """One row: where `address` stands with one short code of one account."""

    account: str
    short_code: str  # '' for every short code of the account
    address: str
    opted_out: bool
    event_ts: float
    event_id: str
    since: str  # ISO 8601 UTC
    source: str  # "message" or "manual"
    message_id: str | None

    @property
    def order(self) -> tuple[float, str]:
        return (self.event_ts, self.event_id)


def consent_path() -> Path:
    return data_dir() / "consent.sqlite3"


class ConsentStore:
    """The consent rows of every sender identity. Open with `open` or `open_existing`."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._db = database.connection
        self.path = database.path

    @classmethod
    def open(cls, *, path: Path | None = None) -> ConsentStore:
        """The store, created (0600 in a 0700 directory) if need be, and upgraded."""
        return cls.on(SqliteDatabase.open(path or consent_path(), what="the opt-out list"))

    @classmethod
    def open_existing(
        cls, *, path: Path | None = None, read_only: bool = False
    ) -> ConsentStore | None:
        """The store, or None when there is none yet; nothing is created."""
        database = SqliteDatabase.open_existing(
            path or consent_path(), what="the opt-out list", read_only=read_only
        )
        return None if database is None else cls.on(database)

    @classmethod
    def on(cls, database: Database) -> ConsentStore:
        return cls(prepared(database, CONSENT_VERSION, CONSENT_MIGRATIONS))

    def close(self) -> None:
        self._database.close()

    def __enter__(self) -> ConsentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # writes -------------------------------------------------------------------------------------

    def apply(
        self, account: str, short_code: str, events: Sequence[KeywordEvent]
    ) -> tuple[list[str], list[str]]:
        """Apply keyword messages to `short_code` of `account` in the person's order, in one
        durable transaction. Returns the addresses this opted out and opted back in (an event
        older than what is known, or one applied before, changes nothing)."""
        opted_out: list[str] = []
        opted_in: list[str] = []
        short_code = short_code_key(short_code)
        ordered = sorted(events, key=lambda e: (e.ts, e.message_id))
        with self._guard("write to"), self._database.write():
            for event in ordered:
                keys = [short_code]
                if not event.opted_out:  # START also undoes an older opt-out for every code
                    keys.append(EVERY_SHORT_CODE)
                for key in keys:
                    row = Consent(
                        account, key, event.address, event.opted_out, event.ts, event.message_id,
                        _iso(event.ts), "message", event.message_id,
                    )  # fmt: skip
                    changed, before = self._put(row, create=key == short_code)
                    if not changed:
                        continue
                    was_out = before is not None and before.opted_out
                    if event.opted_out and not was_out:
                        opted_out.append(event.address)
                    elif not event.opted_out and was_out:
                        opted_in.append(event.address)
        return _unique(opted_out), _unique(opted_in)

    def opt_out_by_hand(self, identity: SenderIdentity, address: str) -> bool:
        """`optout add`: `address` opted out of `identity`'s short code (of every short code of
        its account when it names none). False when it already was."""
        address = canonical(address)
        with self._guard("write to"), self._database.write():
            if any(row.opted_out for row in self._rows(identity, [address])):
                return False
            self._by_hand(identity.account, short_code_key(identity.short_code), address, True)
        return True

    def opt_in_by_hand(self, identity: SenderIdentity, address: str) -> list[Consent]:
        """`optout remove`: clear every opt-out of `address` that stops a send as `identity`.
        Returns the opt-outs it cleared ([]: it was not opted out)."""
        address = canonical(address)
        with self._guard("write to"), self._database.write():
            cleared = [row for row in self._rows(identity, [address]) if row.opted_out]
            for row in cleared:
                self._by_hand(row.account, row.short_code, address, False)
        return cleared

    def _by_hand(self, account: str, short_code: str, address: str, opted_out: bool) -> None:
        current = self._row(account, short_code, address)
        # Never dated before the row it replaces: a late message older than this decision must
        # not undo it.
        ts = max(_now(), current.event_ts) if current else _now()
        row = Consent(account, short_code, address, opted_out, ts, "", _iso(ts), "manual", None)
        self._put(row, create=True, force=True)

    def fold(self, rows: Iterable[Consent], marker: str) -> int:
        """Add rows from elsewhere (a 0.2 profile's list, another machine's store) where they
        are newer than what is here, and record `marker` as done, in one transaction. Returns
        how many rows changed."""
        changed = 0
        with self._guard("write to"), self._database.write():
            for row in rows:
                changed += self._put(row, create=True)[0]
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (marker, _iso(_now()))
            )
        return changed

    def _put(
        self, row: Consent, *, create: bool, force: bool = False
    ) -> tuple[bool, Consent | None]:
        """Write `row` unless what is there is as new or newer (`force`: write anyway), or there
        is nothing and not `create`. Returns whether it wrote, and the row it replaced."""
        current = self._row(row.account, row.short_code, row.address)
        if current is None:
            if not create:
                return False, None
            self._db.execute(
                f"INSERT INTO consent ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                _values(row),
            )
            return True, None
        if not force and current.order >= row.order:
            return False, current
        self._db.execute(
            "UPDATE consent SET opted_out = ?, event_ts = ?, event_id = ?, since = ?, source = ?,"
            " message_id = ? WHERE account = ? AND short_code = ? AND address = ?",
            (
                int(row.opted_out), row.event_ts, row.event_id, row.since, row.source,
                row.message_id, row.account, row.short_code, row.address,
            ),
        )  # fmt: skip
        return True, current

    # reads --------------------------------------------------------------------------------------

    def folded(self, marker: str) -> bool:
        with self._guard("read"):
            row = self._db.execute("SELECT 1 FROM meta WHERE key = ?", (marker,)).fetchone()
        return row is not None

    def opted_out(self, identity: SenderIdentity, addresses: Iterable[str]) -> set[str]:
        """The addresses among `addresses` (as given) that a send as `identity` must skip."""
        by_canonical: dict[str, list[str]] = {}
        for address in addresses:
            by_canonical.setdefault(canonical(address), []).append(address)
        found: set[str] = set()
        with self._guard("read"):
            for row in self._rows(identity, list(by_canonical)):
                if row.opted_out:
                    found.update(by_canonical[row.address])
        return found

    def entries(self, identity: SenderIdentity) -> list[Consent]:
        """The opt-outs a send as `identity` honours, oldest first."""
        where, params = _scope(identity)
        with self._guard("read"):
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM consent WHERE opted_out = 1 AND {where}"  # noqa: S608
                " ORDER BY event_ts, address, short_code",
                params,
            ).fetchall()
        return _first_per_address([_consent(r) for r in rows])

    def all_rows(self) -> list[Consent]:
        """Every row of every identity (for `store copy`)."""
        with self._guard("read"):
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM consent").fetchall()  # noqa: S608
        return [_consent(r) for r in rows]

    def count(self) -> int:
        with self._guard("read"):
            row = self._db.execute("SELECT count(*) FROM consent WHERE opted_out = 1").fetchone()
        return int(row[0])

    def _row(self, account: str, short_code: str, address: str) -> Consent | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM consent"  # noqa: S608
            " WHERE account = ? AND short_code = ? AND address = ?",
            (account, short_code, address),
        ).fetchone()
        return None if row is None else _consent(row)

    def _rows(self, identity: SenderIdentity, addresses: Sequence[str]) -> Iterator[Consent]:
        where, params = _scope(identity)
        for start in range(0, len(addresses), _CHUNK):
            chunk = addresses[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT {_COLUMNS} FROM consent WHERE {where} AND address IN ({marks})"  # noqa: S608
            for row in self._db.execute(sql, [*params, *chunk]).fetchall():
                yield _consent(row)

    def _guard(self, action: str) -> contextlib.AbstractContextManager[None]:
        return self._database.errors(action)


def _scope(identity: SenderIdentity) -> tuple[str, list[object]]:
    """The rows that bind a send as `identity`: its account's (and what its profile recorded
    before it had a client id), at its short code and at every code; with no short code, at
    all of them."""
    accounts: list[object] = [identity.account, identity.profile_account]
    code = short_code_key(identity.short_code)
    if code == EVERY_SHORT_CODE:
        return "account IN (?, ?)", accounts
    return "account IN (?, ?) AND short_code IN (?, ?)", [*accounts, code, EVERY_SHORT_CODE]


def short_code_key(registration_id: str | None) -> str:
    """A short code as rows key it: `12345` for `short:12345` or ` 12345 `; '' for none."""
    text = (registration_id or "").strip()
    return text.removeprefix("short:").removeprefix("tel:").strip()


def _first_per_address(rows: list[Consent]) -> list[Consent]:
    """One row per address (several short codes may hold it): the oldest opt-out."""
    seen: set[str] = set()
    kept = []
    for row in rows:
        if row.address not in seen:
            seen.add(row.address)
            kept.append(row)
    return kept


def _unique(addresses: list[str]) -> list[str]:
    return list(dict.fromkeys(addresses))


def _values(row: Consent) -> tuple[object, ...]:
    return (
        row.account, row.short_code, row.address, int(row.opted_out), row.event_ts,
        row.event_id, row.since, row.source, row.message_id,
    )  # fmt: skip


def _consent(row: Sequence[object]) -> Consent:
    account, code, address, out, ts, event_id, since, source, message_id = row
    return Consent(
        str(account), str(code), str(address), bool(out), float(ts),  # type: ignore[arg-type]
        str(event_id), str(since), str(source), None if message_id is None else str(message_id),
    )  # fmt: skip


def timestamp_of(iso: str) -> float:
    """An ISO 8601 time as epoch seconds (UTC when it names no zone); now if it is not one."""
    try:
        moment = datetime.fromisoformat(iso.strip().replace("Z", "+00:00"))
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError, OSError):
        return _now()


def _now() -> float:
    import time

    return time.time()


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
