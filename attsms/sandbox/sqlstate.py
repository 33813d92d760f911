"""The sandbox's memory in SQLite, for the in-process sandbox: a request reads and writes only
the rows it needs, so its cost does not grow with what was sent before.

The sandbox's own database, written here from its own needs: it shares no code (nor schema) with
the client's store (`attsms/store/`), as the emulated service shares none with its client.

One connection per request, inside one `BEGIN IMMEDIATE` transaction (store.exchange holds the
file lock around it as well): `SqlState(conn)` reads the small parts (faults, counters, the rate
window, the draw counters) as one JSON row, the core works, `flush()` writes that row back if it
changed, and the caller commits. The parts that grow (tokens, messages, outbox, inboxes,
per-address counts) are tables with the indexes that keep each request's work small.
"""

from __future__ import annotations

import json
import sqlite3  # noqa: TID253 - loaded only with the in-process sandbox (store.py)
from typing import Any

from attsms.sandbox.state import ExpiryPair, PruneCutoffs, SandboxState

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL,
                   data TEXT NOT NULL);
CREATE TABLE access_tokens (token TEXT PRIMARY KEY, expires_at REAL, grant_id TEXT NOT NULL);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);
CREATE INDEX access_tokens_grant ON access_tokens (grant_id);
CREATE TABLE refresh_tokens (token TEXT PRIMARY KEY, expires_at REAL, grant_id TEXT NOT NULL);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);
CREATE TABLE messages (id TEXT PRIMARY KEY, sent_at REAL NOT NULL, final INTEGER NOT NULL,
                       record TEXT NOT NULL);
CREATE INDEX messages_age ON messages (final, sent_at);
CREATE TABLE outbox (seq INTEGER PRIMARY KEY, message_id TEXT NOT NULL, address TEXT NOT NULL,
                     message TEXT NOT NULL, sent_at REAL NOT NULL);
CREATE TABLE delivered (address TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE registrations (id TEXT PRIMARY KEY, pending INTEGER NOT NULL DEFAULT 0);
CREATE TABLE inbox (seq INTEGER PRIMARY KEY, registration TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX inbox_queue ON inbox (registration, seq);
"""

TABLES = (
    "access_tokens",
    "refresh_tokens",
    "messages",
    "outbox",
    "delivered",
    "registrations",
    "inbox",
)


class NotSandboxDatabase(ValueError):
    """An SQLite file that is not the sandbox's (another schema, or a newer version)."""


def _small_parts(state: SandboxState) -> dict[str, Any]:
    return {
        "faults": state.faults,
        "stats": {"operations": state.stats["operations"], "attempts": state.stats["attempts"]},
        "rate": state.rate,
        "draws": state.draws,
        "requests": state.requests,
        "outcomes": state.outcomes,
    }


def prepare(conn: sqlite3.Connection) -> bool:
    """Make `conn`'s database the sandbox's, inside the caller's transaction; True if it was new.

    NotSandboxDatabase if it holds something else; sqlite3.DatabaseError if it is not a database.
    """
    row = conn.execute("SELECT name FROM sqlite_master WHERE name = 'meta'").fetchone()
    if row is None:
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise NotSandboxDatabase("a database of something else")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        fresh = json.dumps(_small_parts(SandboxState()))
        conn.execute("INSERT INTO meta VALUES (1, ?, ?)", (SCHEMA_VERSION, fresh))
        return True
    version = conn.execute("SELECT version FROM meta WHERE id = 1").fetchone()
    if version is None or version[0] != SCHEMA_VERSION:
        raise NotSandboxDatabase("from another version of the sandbox")
    return False


class SqlState:
    """The StateStore over one open transaction of the sandbox's database (see the module)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        (self._saved,) = conn.execute("SELECT data FROM meta WHERE id = 1").fetchone()
        self.load_small(json.loads(self._saved))

    def load_small(self, small: dict[str, Any]) -> None:
        self.faults: list[dict[str, Any]] = list(small["faults"])
        self.stats: dict[str, Any] = {**SandboxState().stats, **small["stats"]}
        del self.stats["delivered_to"]  # a table here: delivered_to()
        self.rate: dict[str, int] = dict(small["rate"])
        self.draws: int = int(small["draws"])
        self.requests: int = int(small["requests"])
        self.outcomes: dict[str, str] = dict(small.get("outcomes", {}))

    def flush(self) -> None:
        """Write the small parts back, if the request changed them."""
        data = json.dumps(
            {
                "faults": self.faults,
                "stats": self.stats,
                "rate": self.rate,
                "draws": self.draws,
                "requests": self.requests,
                "outcomes": self.outcomes,
            }
        )
        if data != self._saved:
            self._conn.execute("UPDATE meta SET data = ? WHERE id = 1", (data,))
            self._saved = data

    # --- tokens -------------------------------------------------------------------------------

    def access_token(self, token: str) -> dict[str, Any] | None:
        return self._token("access_tokens", token)

    def _token(self, table: str, token: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            f"SELECT expires_at, grant_id FROM {table} WHERE token = ?",  # noqa: S608 - our names
            (token,),
        ).fetchone()
        return None if row is None else {"expires_at": row[0], "grant": row[1]}

    def add_tokens(self, access: str, refresh: str, grant: str, expiries: ExpiryPair) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO access_tokens VALUES (?, ?, ?)",
            (access, expiries.access, grant),
        )
        self._conn.execute(
            "INSERT OR REPLACE INTO refresh_tokens VALUES (?, ?, ?)",
            (refresh, expiries.refresh, grant),
        )

    def take_refresh_token(self, token: str) -> dict[str, Any] | None:
        record = self._token("refresh_tokens", token)
        if record is not None:
            self._conn.execute("DELETE FROM refresh_tokens WHERE token = ?", (token,))
        return record

    def revoke(self, token: str) -> None:
        self._conn.execute("DELETE FROM access_tokens WHERE token = ?", (token,))
        refresh = self.take_refresh_token(token)
        if refresh is not None:  # a refresh token ends its whole grant
            self._conn.execute("DELETE FROM access_tokens WHERE grant_id = ?", (refresh["grant"],))

    # --- messages and what was sent -----------------------------------------------------------

    def add_message(self, message_id: str, record: dict[str, Any]) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?)",
            (message_id, record["sent_at"], int(record["final"]), json.dumps(record)),
        )

    def message(self, message_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT record FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None:
            return None
        record: dict[str, Any] = json.loads(row[0])
        return record

    def add_recipients(
        self, message_id: str, addresses: list[str], text: str, now: float, keep: int
    ) -> None:
        conn = self._conn
        conn.executemany(
            "INSERT INTO delivered VALUES (?, 1)"
            " ON CONFLICT (address) DO UPDATE SET count = count + 1",
            [(a,) for a in addresses],
        )
        conn.executemany(
            "INSERT INTO outbox (message_id, address, message, sent_at) VALUES (?, ?, ?, ?)",
            [(message_id, a, text, now) for a in addresses],
        )
        # Rows are appended at max(seq) + 1 and dropped from the oldest end, so seqs are dense.
        conn.execute("DELETE FROM outbox WHERE seq <= (SELECT max(seq) FROM outbox) - ?", (keep,))

    def delivered_to(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT address, count FROM delivered ORDER BY rowid")
        return dict(rows)

    def outbox_entries(self) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT message_id, address, message, sent_at FROM outbox ORDER BY seq"
        )
        return [
            {"messageId": mid, "address": address, "message": text, "sent_at": sent_at}
            for mid, address, text, sent_at in rows
        ]

    # --- inboxes ------------------------------------------------------------------------------

    def has_inbox(self, registration_id: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM registrations WHERE id = ?", (registration_id,)
        ).fetchone()
        return row is not None

    def _pending(self, registration_id: str, change: int) -> int:
        """The registration's pending count after `change` (kept, so no queue is counted)."""
        conn = self._conn
        conn.execute("INSERT OR IGNORE INTO registrations (id) VALUES (?)", (registration_id,))
        conn.execute(
            "UPDATE registrations SET pending = pending + ? WHERE id = ?",
            (change, registration_id),
        )
        row = conn.execute(
            "SELECT pending FROM registrations WHERE id = ?", (registration_id,)
        ).fetchone()
        return int(row[0])

    def take_inbox(self, registration_id: str, limit: int) -> tuple[list[dict[str, Any]], int]:
        conn = self._conn
        rows = conn.execute(
            "SELECT seq, message FROM inbox WHERE registration = ? ORDER BY seq LIMIT ?",
            (registration_id, limit),
        ).fetchall()
        if rows:
            conn.execute(
                "DELETE FROM inbox WHERE registration = ? AND seq <= ?",
                (registration_id, rows[-1][0]),
            )
        return [json.loads(text) for _, text in rows], self._pending(registration_id, -len(rows))

    def add_inbox(self, registration_id: str, messages: list[dict[str, Any]]) -> int:
        self._conn.executemany(
            "INSERT INTO inbox (registration, message) VALUES (?, ?)",
            [(registration_id, json.dumps(m)) for m in messages],
        )
        return self._pending(registration_id, len(messages))

    # --- forgetting ---------------------------------------------------------------------------

    def prune(self, cutoffs: PruneCutoffs) -> None:
        """Each DELETE walks an index from its start: the work is what goes, not what stays."""
        conn = self._conn
        conn.execute(
            "DELETE FROM messages WHERE final = 1 AND sent_at < ?", (cutoffs.final_sent_before,)
        )
        conn.execute(
            "DELETE FROM messages WHERE final = 0 AND sent_at < ?", (cutoffs.waiting_sent_before,)
        )
        for table in ("access_tokens", "refresh_tokens"):
            expired = f"DELETE FROM {table} WHERE expires_at <= ?"  # noqa: S608 - our names
            conn.execute(expired, (cutoffs.now,))
            # The oldest beyond the cap: rowids grow with each insert.
            oldest = (
                f"DELETE FROM {table} WHERE rowid <= "  # noqa: S608 - our names
                f"(SELECT rowid FROM {table} ORDER BY rowid DESC LIMIT 1 OFFSET ?)"
            )
            conn.execute(oldest, (cutoffs.max_tokens,))

    def clear(self) -> None:
        for table in TABLES:
            self._conn.execute(f"DELETE FROM {table}")  # noqa: S608 - our names
        self.load_small(_small_parts(SandboxState()))


def import_state(conn: sqlite3.Connection, state: SandboxState) -> None:
    """Copy a state read from an older sandbox's state.json into a new, empty database."""
    conn.executemany(
        "INSERT INTO access_tokens VALUES (?, ?, ?)",
        [(t, r["expires_at"], r["grant"]) for t, r in state.tokens.items()],
    )
    conn.executemany(
        "INSERT INTO refresh_tokens VALUES (?, ?, ?)",
        [(t, r["expires_at"], r["grant"]) for t, r in state.refresh_tokens.items()],
    )
    target = SqlState(conn)
    for message_id, record in state.messages.items():
        target.add_message(message_id, record)
    conn.executemany("INSERT INTO delivered VALUES (?, ?)", state.stats["delivered_to"].items())
    conn.executemany(
        "INSERT INTO outbox (message_id, address, message, sent_at) VALUES (?, ?, ?, ?)",
        [(e["messageId"], e["address"], e["message"], e["sent_at"]) for e in state.outbox],
    )
    for registration_id, queue in state.inbox.items():
        target.add_inbox(registration_id, queue)
    target.load_small(_small_parts(state))
    target.flush()
