"""The SQLite backend's one opener: every local store (history, inbox) is opened here.

A store file is created 0600 in a 0700 directory (it holds numbers and message text), in WAL mode
with `synchronous=FULL` (a commit that returned is on the disk before the request it records
leaves; only a write that asks for `durable=False`, a send's outcomes alone, skips the fsync) and a
busy timeout. Writes are explicit `BEGIN IMMEDIATE … COMMIT` transactions, retried
while another process briefly holds a new or busy file, and rolled back when COMMIT itself fails.

Read-only opens (`read_only=True`) never create or change anything, so `history`, `status`,
`inbox list` and `optout list` work on a read-only data directory. WAL readers need the `-shm`
index next to the file; where it cannot be created (a read-only directory after a clean close),
the file is opened `immutable=1`, which is exact then: a clean close leaves no `-wal` behind.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attsms.core.errors import LockTimeoutError, StoreError
from attsms.core.paths import disk_full, ensure_private_dir
from attsms.store.base import refuse_newer_schema

if TYPE_CHECKING:
    import sqlite3

    from attsms.store.base import Migrations

# Another attsms process writing at the same moment makes us wait this long before giving up (75).
BUSY_TIMEOUT_SECONDS = 15.0


class SqliteDatabase:
    """One SQLite store file: a connection behind a lock (the send threads share it)."""

    backend = "sqlite"

    def __init__(
        self, connection: sqlite3.Connection, path: Path, what: str, *, read_only: bool
    ) -> None:
        self._db = connection
        self.path = path
        self.what = what  # "the history", "the inbox store": how errors name the file
        self.read_only = read_only
        self.lock = threading.RLock()

    @classmethod
    def open(
        cls, path: Path, *, what: str, read_only: bool = False, create: bool = True
    ) -> SqliteDatabase:
        """Open (with `create`, create) the file; `read_only` opens an existing file for reading."""
        import sqlite3
        from urllib.parse import quote

        if read_only:
            return cls._open_read_only(path, what)
        try:
            ensure_private_dir(path.parent)
            if create:
                _create_private(path)
            # mode=rw: SQLite never creates the file itself (it would honour the umask).
            connection = sqlite3.connect(
                f"file:{quote(str(path))}?mode=rw",
                uri=True,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,  # autocommit; writes take explicit BEGIN IMMEDIATE
                check_same_thread=False,  # shared by the send threads, behind self.lock
            )
        except OSError as error:
            action = "write to" if path.exists() else "create"
            raise StoreError(
                f"cannot {action} {what} {path}: {error.strerror or error}",
                hint="check that the data directory is writable, or set ATTSMS_DATA_DIR",
            ) from None
        except sqlite3.Error as error:
            raise store_error(error, path, what, "open") from None
        database = cls(connection, path, what, read_only=False)
        try:
            retry_while_locked(database._setup)
        except BaseException:
            connection.close()
            raise
        return database

    @classmethod
    def open_existing(cls, path: Path, *, what: str, read_only: bool) -> SqliteDatabase | None:
        """The file at `path`, or None when there is none, or (`read_only`) when nothing was ever
        written to it: an empty file. Nothing is created."""
        if not path.exists():
            return None
        database = cls.open(path, what=what, read_only=read_only, create=False)
        try:
            empty = read_only and database.version() == 0
        except BaseException:
            database.close()
            raise
        if empty:
            database.close()
            return None
        return database

    @classmethod
    def _open_read_only(cls, path: Path, what: str) -> SqliteDatabase:
        import sqlite3
        from urllib.parse import quote

        last: sqlite3.Error | None = None
        # `immutable=1` only where the WAL index (-shm) cannot be made, and no -wal is left
        # (a clean close removes it): immutable reads the main file alone.
        for flags in ("mode=ro", "mode=ro&immutable=1"):
            connection: sqlite3.Connection | None = None
            try:
                connection = sqlite3.connect(
                    f"file:{quote(str(path))}?{flags}",
                    uri=True,
                    timeout=BUSY_TIMEOUT_SECONDS,
                    isolation_level=None,
                    check_same_thread=False,
                )
                connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return cls(connection, path, what, read_only=True)
            except sqlite3.Error as error:
                last = error
                if connection is not None:
                    connection.close()
                cannot_index = "unable to open" in str(error)
                if not cannot_index or Path(f"{path}-wal").exists():
                    break
        assert last is not None
        raise store_error(last, path, what, "read") from None

    def _setup(self) -> None:
        with self.lock, self.errors("open"):
            db = self._db
            # Switching to WAL needs an exclusive lock, which another process opening the file
            # at the same moment may hold: only switch when the file is not in WAL mode yet.
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            # FULL: a commit is on the disk before the request it records leaves. With NORMAL a
            # power cut could lose the row written before a send, and a keyed re-run resend it.
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")

    # schema ------------------------------------------------------------------------------------

    def version(self) -> int:
        with self.read() as db:
            return int(db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self, target: int, steps: Migrations) -> None:
        """Bring the file to schema `target`, running `steps["sqlite"][v]` (SQL to go from
        version v to `target`) in one transaction that reads the version again inside it: two
        processes opening an old file at once upgrade it once. A newer file is refused."""
        version = self.version()
        self.refuse_newer(version, target)
        if version == target:
            return
        with self.write() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            self.refuse_newer(version, target)
            if version < target:
                for statement in statements(steps[self.backend].get(version, "")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {int(target)}")

    def refuse_newer(self, version: int, target: int) -> None:
        refuse_newer_schema(
            version, target, store=f"{self.what} {self.path}", hint="upgrade attsms"
        )

    # transactions ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def write(
        self, *, serialize: bool = True, durable: bool = True
    ) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE … COMMIT` transaction; rolled back on any error, COMMIT's too.
        SQLite has one writer at a time anyway: `serialize` changes nothing here. `durable=False`
        commits without waiting for the disk (`synchronous=NORMAL` for this one commit): a killed
        process loses nothing, a power cut may lose it, until the next durable commit (which
        syncs the whole WAL, this commit's frames with its own)."""
        with self.lock, contextlib.nullcontext() if durable else self._not_synced():
            # The busy handler covers most waits but not all: with several processes opening
            # a WAL database at once, BEGIN can fail at once with "database is locked".
            retry_while_locked(self._begin_immediate)
            with self.errors("write to"):
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    # Also when COMMIT itself failed (a full disk, a deferred constraint): a
                    # connection left inside the transaction would fail every later write.
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise

    def write_one(self, sql: str, params: Sequence[Any]) -> bool:
        """`sql`, ONE statement, as a transaction of its own (SQLite's autocommit: all of it or
        nothing, and on the disk when this returns, at synchronous=FULL). False when a
        constraint (a UNIQUE key) refused it: then nothing was written. Beside an event loop
        (`listen`'s writer) every statement gives up the GIL and waits to get it back: BEGIN
        IMMEDIATE and COMMIT around it would be two waits more."""
        import sqlite3

        refused: list[bool] = []

        def step() -> None:
            with self.errors("write to"):
                try:
                    self._db.execute(sql, params)
                except sqlite3.IntegrityError:
                    refused.append(True)

        with self.lock:
            retry_while_locked(step)  # a statement that failed wrote nothing: safe to run again
        return not refused

    @contextlib.contextmanager
    def _not_synced(self) -> Iterator[None]:
        # The level may only change outside a transaction; FULL again before anyone else writes.
        with self.errors("write to"):
            self._db.execute("PRAGMA synchronous = NORMAL")
        try:
            yield
        finally:
            with self.errors("write to"):
                self._db.execute("PRAGMA synchronous = FULL")

    def _begin_immediate(self) -> None:
        with self.errors("write to"):
            self._db.execute("BEGIN IMMEDIATE")

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self.lock, self.errors("read"):
            yield self._db

    @contextlib.contextmanager
    def errors(self, action: str) -> Iterator[None]:
        import sqlite3

        try:
            yield
        except sqlite3.Error as error:
            raise store_error(error, self.path, self.what, action) from None

    @contextlib.contextmanager
    def named_lock(self, name: str, timeout: float) -> Iterator[None]:
        """A lock file next to the store; the OS drops it when the holder dies, even by SIGKILL.
        TimeoutError after `timeout` s; OSError when the lock file cannot be made."""
        import filelock

        lock = filelock.FileLock(
            str(self.path.with_name(f"{self.path.stem}.{name}.lock")), timeout=timeout, mode=0o600
        )
        try:
            lock.acquire()
        except filelock.Timeout:
            raise TimeoutError(name) from None
        try:
            yield
        finally:
            lock.release()

    # what tests and `store status` look at -------------------------------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        return self._db

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        with self.lock:
            return self._db.execute(sql, parameters)

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def close(self) -> None:
        with self.lock:
            self._db.close()


def store_error(
    error: BaseException, path: Path, what: str, action: str
) -> StoreError | LockTimeoutError:
    """One line for a failed SQLite call: locked (exit 75) or what is wrong with the file."""
    text = str(error) or type(error).__name__
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return LockTimeoutError(
            f"{what} {path} stayed locked by another attsms process for {BUSY_TIMEOUT_SECONDS:g} s",
            hint="try again later",
        )
    if "full" in lowered or ("disk i/o error" in lowered and disk_full(path)):
        if "full" not in lowered:
            text += " (the disk is full)"
        hint = "the disk is full: free some space, then run the command again"
    elif "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        hint = "check that the file and its directory are writable by this user"
    elif "not a database" in lowered or "malformed" in lowered:
        hint = "move the damaged file aside; a new store is created in its place"
    else:
        hint = "check the file and the disk"
    return StoreError(f"cannot {action} {what} {path}: {text}", hint=hint)


def retry_while_locked(step: Callable[[], None]) -> None:
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


def statements(script: str) -> list[str]:
    """`script` as single statements (executescript would COMMIT the transaction it runs in)."""
    import sqlite3

    found: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            found.append(current.strip())
            current = ""
    return [s for s in found if s]


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite does (it would honour the umask); SQLite gives the -wal
    and -shm files the database file's mode."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
