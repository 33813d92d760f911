"""The PostgreSQL backend: one database that several hosts share (`ATTSMS_DATABASE_URL`).

The history lives in the schema `attsms`; each profile's inbox and opt-out list in a schema of its
own (`attsms_inbox_<hash of the profile>`), so the stores run the same SQL on both backends. Every
write transaction first takes a transaction-scoped advisory lock on its schema: writers of one
store queue, as SQLite's BEGIN IMMEDIATE makes them, so a dedupe claim, a batch claim or an
opt-out is one check-then-write on every host at once. `inbox pull` holds a session advisory
lock per registration, which the server drops when the holder's connection dies.

A dropped connection (server restarted, idle connection killed by a proxy, pg_terminate_backend)
costs at most the transaction in flight, which fails with exit 75 and is never run again (a
COMMIT whose answer was lost is never resent). The next transaction, read or write, finds the
connection lost before it does anything (libpq already read the server's goodbye, or BEGIN fails)
and opens a new one, once: same URL, same read-only mode, same search_path. Not while a session
lock (`named_lock`) was held on the lost connection: that lock is gone, another process may hold
it now, so every transaction raises until the holder lets it go.

The password comes from the URL (keep it in the environment, never in argv), PGPASSWORD,
`~/.pgpass` (libpq reads both) or the keyring (service `attsms-database`, user: the URL without
its password). It never appears in a message: `attsms.core.redaction.redact_url` masks it.

psycopg is imported here only, when a store is opened: start-up and `--help` never load it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from attsms.core.errors import (
    AttsmsError,
    AuthError,
    ConfigError,
    LockTimeoutError,
    StoreError,
    TemporaryError,
    UsageError,
)
from attsms.core.redaction import redact_url
from attsms.store.base import refuse_newer_schema

if TYPE_CHECKING:
    import psycopg

    from attsms.store.base import Migrations

SCHEMES = ("postgresql", "postgres")
HISTORY_SCHEMA = "attsms"
CONSENT_SCHEMA = "attsms_consent"
CONNECT_TIMEOUT_SECONDS = 10
# After a reconnect failed, transactions fail at once for this long: a server that does not answer
# costs one connect timeout per pause, not one per transaction (a send's every batch).
RECONNECT_PAUSE_SECONDS = 2.0
KEYRING_SERVICE = "attsms-database"
KEYRING_TIMEOUT_SECONDS = 5.0


class DatabaseUnreachableError(TemporaryError, StoreError):
    """The database server cannot be reached (down, refused, timed out, connection lost): 75.

    A StoreError too, so that what handles a store that failed handles this: `inbox pull` prints
    the batch it could not store rather than lose it, a send leaves the batch it could not finish
    recorded as in flight, a job's heartbeat tries again."""


def is_postgres_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SCHEMES


def check_url(url: str) -> None:
    """A usage error (exit 2) unless `url` is a postgresql:// URL libpq can read."""
    from urllib.parse import urlsplit

    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError as error:
        raise UsageError(
            f"not a database URL: {shown} ({error})",
            hint="use postgresql://USER@HOST:PORT/DATABASE",
        ) from None
    if parts.scheme.lower() not in SCHEMES:
        raise UsageError(
            f"not a PostgreSQL URL: {shown}",
            hint="use postgresql://USER@HOST:PORT/DATABASE (unset the variable for local files)",
        )
    if not parts.hostname and "host=" not in parts.query:
        raise UsageError(f"the database URL names no host: {shown}", hint="add @HOST:PORT")


def refuse_password(url: str, where: str = "the command line") -> None:
    """A usage error when `url` holds a password: every user of the host can read a command
    line (ps, /proc). The password belongs in PGPASSWORD, ~/.pgpass or the keyring."""
    from urllib.parse import urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password or "password=" in url.lower():
        raise UsageError(
            f"the database URL on {where} holds a password: {redact_url(url)}",
            hint="leave it out and set PGPASSWORD, use ~/.pgpass, or save it in the keyring",
        )


def inbox_schema(profile: str) -> str:
    """The schema that holds `profile`'s inbox: a fixed-size, always valid identifier."""
    return (
        "attsms_inbox_" + hashlib.sha256(profile.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    )


class PostgresDatabase:
    """One schema of a PostgreSQL database, on one connection (behind a lock: the send threads
    share it), in autocommit mode with explicit transactions."""

    backend = "postgresql"

    def __init__(
        self, connection: psycopg.Connection[Any], url: str, schema: str, what: str, read_only: bool
    ) -> None:
        self._db = connection
        self._url = url
        self.schema = schema
        self.what = what
        self.read_only = read_only
        self.lock = threading.RLock()
        self.connection = _Translated(connection)
        self._lock_key = _key(f"write:{schema}")
        self._depth = 0  # read()/write() blocks open (under self.lock): no reconnect inside one
        self._held: list[str] = []  # the session locks (`named_lock`) held on this connection
        self.reconnects = 0
        self._failed: tuple[float, AttsmsError] | None = None  # the last reconnect's failure

    @property
    def lock_key(self) -> int:
        """The key of this schema's advisory write lock (what `write()` takes), for a statement
        run through `single()` that must queue behind the store's other writers."""
        return self._lock_key

    @property
    def path(self) -> str:
        return f"{redact_url(self._url)} (schema {self.schema})"

    @classmethod
    def open(cls, url: str, *, schema: str, what: str, read_only: bool = False) -> PostgresDatabase:
        connection = connect(url, read_only=read_only)
        database = cls(connection, url, schema, what, read_only)
        database._prepare()
        return database

    def _prepare(self) -> None:
        """The new connection's session: its search_path (closed when that fails)."""
        try:
            with self.errors("open"):
                from psycopg import sql

                self._db.execute(
                    sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema))
                )
        except BaseException:
            self._db.close()
            raise

    # schema ------------------------------------------------------------------------------------

    def version(self) -> int:
        with self.read() as db:
            if db.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None:
                return 0
            row = db.execute("SELECT max(version) FROM schema_version").fetchone()
            return int(row[0] or 0)

    def migrate(self, target: int, steps: Migrations) -> None:
        version = self.version()
        self.refuse_newer(version, target)
        if version == target:
            return
        from psycopg import sql

        with self.write() as db:
            # Under the schema's write lock: two hosts upgrading at once upgrade it once.
            self._db.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT max(version) FROM schema_version").fetchone()
            version = int(row[0] or 0)
            self.refuse_newer(version, target)
            if version < target:
                script = steps[self.backend].get(version, "")
                for statement in (s.strip() for s in script.split(";")):
                    if statement:
                        self._db.execute(statement.encode())
                db.execute("DELETE FROM schema_version")
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (target,))

    def refuse_newer(self, version: int, target: int) -> None:
        refuse_newer_schema(
            version, target, store=f"{self.what} in {self.path}", hint="upgrade attsms on this host"
        )

    # transactions ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self, *, serialize: bool = True, durable: bool = True) -> Iterator[_Translated]:
        """One transaction; with `serialize`, the schema's advisory lock makes it queue behind
        every other serialized writer of this store, on any host. `durable=False`: its commit
        does not wait for the WAL flush (`synchronous_commit = off` for this transaction)."""
        with (
            self.lock,
            self.errors("write to"),
            self._block() as outermost,
            contextlib.ExitStack() as transaction,
        ):
            self._begin(transaction, serialize, outermost)
            if not durable:
                self._db.execute("SET LOCAL synchronous_commit = off")
            yield self.connection

    @contextlib.contextmanager
    def single(self) -> Iterator[_Translated]:
        """For ONE write statement that is its own transaction: no BEGIN, no COMMIT, no advisory
        lock (the statement takes what it needs itself), one round trip. The connection is in
        autocommit mode, so the server commits the statement, durably (synchronous_commit, as
        every write here), before it answers: the rows it returns are committed. A lost
        connection is replaced before it, as `write` does."""
        with self.lock, self.errors("write to"), self._block() as outermost:
            if outermost:
                self._revive()
            yield self.connection

    @contextlib.contextmanager
    def read(self) -> Iterator[_Translated]:
        with self.lock, self.errors("read"), self._block() as outermost:
            if outermost:
                self._revive()
            yield self.connection

    @contextlib.contextmanager
    def _block(self) -> Iterator[bool]:
        """Counts the open read()/write() blocks: True for the outermost one, the only one that
        may replace a lost connection (inside another, that one's work is on the lost one)."""
        self._depth += 1
        try:
            yield self._depth == 1
        finally:
            self._depth -= 1

    def _begin(self, transaction: contextlib.ExitStack, serialize: bool, outermost: bool) -> None:
        """BEGIN (and the schema's lock) into `transaction`. On a connection found lost before or
        by them, in the outermost block, once more on a new connection: nothing of the caller's
        ran yet and the server rolled back whatever the lost session had open, so nothing is done
        twice. At most one new connection per transaction."""
        import psycopg

        renewed = outermost and self._revive()
        try:
            self._enter(transaction, serialize)
        except psycopg.Error:
            if renewed or not outermost or not (self._db.closed or self._db.broken):
                raise
            self._revive()  # raises when a session lock was held on it, or no server answers
            self._enter(transaction, serialize)

    def _enter(self, transaction: contextlib.ExitStack, serialize: bool) -> None:
        with contextlib.ExitStack() as attempt:
            attempt.enter_context(self._db.transaction())
            if serialize:
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
            transaction.push(attempt.pop_all())

    def _revive(self) -> bool:
        """Replace a connection known lost with a new one (same URL, mode, search_path); True if
        it did. Raises when a session lock was held on the lost one (its holder must stop), or
        when the server cannot be reached (75) or refuses (one line either way)."""
        if not self._dropped():
            return False
        if self._held:
            raise self._lost_locks()
        with contextlib.suppress(Exception):
            self._db.close()
        if self._failed is not None and time.monotonic() < self._failed[0]:
            failure = self._failed[1]
            raise type(failure)(failure.message, hint=failure.hint)
        try:
            self._db = connect(self._url, read_only=self.read_only)
            self.connection._connection = self._db
            self._prepare()
        except AttsmsError as error:
            self._failed = (time.monotonic() + RECONNECT_PAUSE_SECONDS, error)
            raise
        self._failed = None
        self.reconnects += 1
        return True

    def _dropped(self) -> bool:
        """Whether the connection is known lost, asking nothing of the server: closed or broken,
        or the server said goodbye while it sat idle (a terminated backend, a server shutting
        down, a proxy closing it leave an error and EOF on the socket, which libpq reads here)."""
        import psycopg

        connection = self._db
        if connection.closed or connection.broken:
            return True
        with connection.lock:
            try:
                for _ in range(3):  # the goodbye, then EOF; an idle session gets nothing else
                    if not _readable(connection.fileno()):
                        return False
                    connection.pgconn.consume_input()
            except (psycopg.Error, OSError, ValueError):
                return True
        return bool(connection.closed)

    def _lost_locks(self, reason: str = "") -> DatabaseUnreachableError:
        held = ", ".join(sorted(set(self._held)))
        because = f" ({reason})" if reason else ""
        return DatabaseUnreachableError(
            f"lost the connection to the database {redact_url(self._url)}{because}, and with it the"
            f" lock {held} on {self.what}: stopped rather than go on without it",
            hint="another process may hold it now; nothing more was stored; run the command again",
        )

    @contextlib.contextmanager
    def errors(self, action: str) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as error:
            raise self._error(error, action) from None

    def _error(self, error: Exception, action: str) -> AttsmsError:
        import psycopg

        reason = _first_line(error, self._url)
        broken = isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
        if self._db.closed or (broken and _is_connection_error(error)):
            if self._held:
                return self._lost_locks(reason)
            return DatabaseUnreachableError(
                f"lost the connection to the database {redact_url(self._url)}: {reason}",
                hint="nothing more was sent; run the command again once it is back",
            )
        if isinstance(
            error,
            psycopg.errors.LockNotAvailable
            | psycopg.errors.DeadlockDetected
            | psycopg.errors.SerializationFailure,
        ):
            return LockTimeoutError(f"{self.what} in {self.path} is busy: {reason}")
        if isinstance(error, psycopg.errors.InsufficientPrivilege):
            return AuthError(
                f"cannot {action} {self.what} in {self.path}: {reason}",
                hint="grant this database user the rights on the schema, or use another user",
            )
        return StoreError(f"cannot {action} {self.what} in {self.path}: {reason}")

    @contextlib.contextmanager
    def named_lock(self, name: str, timeout: float) -> Iterator[None]:
        """A session advisory lock: the server drops it when the holder's connection ends. Then
        this store raises on every transaction (naming the lock) until the block ends: the
        holder learns it lost the lock, and writes nothing as if it still held it."""
        key = _key(f"lock:{self.schema}:{name}")
        deadline = time.monotonic() + max(0.0, timeout)
        with self.errors("lock"):
            while True:
                with self.lock:
                    if self._depth == 0:
                        self._revive()
                    got = self._db.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                    if got and got[0]:
                        holder = self._db
                        self._held.append(name)
                        break
                if time.monotonic() >= deadline:
                    raise TimeoutError(name)
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        try:
            yield
        finally:
            with self.lock:
                self._held.remove(name)
                if self._db is holder and not (holder.closed or holder.broken):
                    with contextlib.suppress(Exception):
                        holder.execute("SELECT pg_advisory_unlock(%s)", (key,))

    # what tests and `store status` look at -------------------------------------------------------

    def execute(self, sql: str, parameters: Any = ()) -> Any:
        with self.lock:
            return self.connection.execute(sql, parameters)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self._db.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        with self.lock:
            self._db.close()


class _Translated:
    """The connection as the stores use it: SQLite's dialect, turned into PostgreSQL's."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        values = tuple(parameters)
        if not values:
            return self._connection.execute(_translate(sql, False))
        return self._connection.execute(_translate(sql, True), values)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any:
        cursor = self._connection.cursor()
        rows = [tuple(row) for row in parameters]
        if rows:
            cursor.executemany(_translate(sql, True), rows)
        return cursor


@functools.lru_cache(maxsize=256)
def _translate(sql: str, parameters: bool) -> Any:
    """`?` placeholders to `%s`; SQLite's INSERT OR IGNORE / OR REPLACE to ON CONFLICT."""
    text = sql.replace("%", "%%").replace("?", "%s") if parameters else sql
    if text.lstrip().startswith("INSERT OR IGNORE"):
        text = text.replace("INSERT OR IGNORE", "INSERT", 1) + " ON CONFLICT DO NOTHING"
    elif text.lstrip().startswith("INSERT OR REPLACE INTO meta"):
        text = (
            text.replace("INSERT OR REPLACE", "INSERT", 1)
            + " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
        )
    return text.encode()


def connect(url: str, *, read_only: bool = False) -> psycopg.Connection[Any]:
    """A connection to `url`, or one line: exit 2 for a bad URL, 3 for credentials, 75 when the
    server cannot be reached."""
    check_url(url)
    try:
        import psycopg
    except ImportError:
        raise ConfigError(
            "ATTSMS_DATABASE_URL names a PostgreSQL database, but psycopg is not installed",
            hint="pip install 'attsms[postgres]'",
        ) from None
    extra: dict[str, Any] = {}
    password = _keyring_password(url)
    if password is not None:
        extra["password"] = password
    try:
        connection = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name="attsms",
            **extra,
        )
    except psycopg.ProgrammingError as error:  # libpq could not read the URL
        raise UsageError(
            f"not a database URL: {redact_url(url)} ({_first_line(error, url)})",
            hint="use postgresql://USER@HOST:PORT/DATABASE",
        ) from None
    except psycopg.OperationalError as error:
        raise _connect_error(error, url) from None
    if read_only:
        connection.read_only = True
    return connection


def _connect_error(error: Exception, url: str) -> AttsmsError:
    reason = _first_line(error, url)
    lowered = reason.lower()
    shown = redact_url(url)
    if (
        "password authentication failed" in lowered
        or "no password supplied" in lowered
        or "authentication failed" in lowered
        or ("role" in lowered and "does not exist" in lowered)
        or "pg_hba.conf" in lowered
    ):
        return AuthError(
            f"the database refused the credentials for {shown}: {reason}",
            hint="set PGPASSWORD or ~/.pgpass, or save it in the keyring"
            f" (service {KEYRING_SERVICE!r}); never put it on the command line",
        )
    if "database" in lowered and "does not exist" in lowered:
        return ConfigError(
            f"no such database: {shown} ({reason})", hint="create it, or fix the URL"
        )
    return DatabaseUnreachableError(
        f"cannot reach the database {shown}: {reason}",
        hint="check that the server runs and the host and port are right; nothing was sent",
    )


def _readable(fd: int) -> bool:
    """Whether the socket `fd` has something to read (or hung up), without waiting."""
    import select

    if hasattr(select, "poll"):  # no FD_SETSIZE limit: a long-running process may hold many
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


def _is_connection_error(error: Exception) -> bool:
    lowered = str(error).lower()
    return any(
        word in lowered
        for word in ("connection", "server closed", "terminating", "eof", "timeout", "reach")
    )


def _keyring_password(url: str) -> str | None:
    """The password saved in the keyring for this URL, when the URL and PGPASSWORD give none."""
    import os
    from urllib.parse import urlsplit

    try:
        if urlsplit(url).password or os.environ.get("PGPASSWORD") or "password=" in url:
            return None
    except ValueError:
        return None
    import threading

    found: list[str | None] = []

    def ask() -> None:
        try:
            import keyring
            import keyring.core
            from keyring.backends import fail, null

            # PYTHON_KEYRING_BACKEND read on every call, as attsms.auth.credentials does.
            backend = keyring.core.load_env() or keyring.get_keyring()
            if not isinstance(backend, fail.Keyring | null.Keyring):
                found.append(backend.get_password(KEYRING_SERVICE, redact_url(url)))
        except Exception:
            return

    # A keyring that does not answer (a D-Bus service hung) must not hang the command.
    worker = threading.Thread(target=ask, name="attsms-db-keyring", daemon=True)
    worker.start()
    worker.join(KEYRING_TIMEOUT_SECONDS)
    return found[0] if found else None


def _first_line(error: BaseException, url: str) -> str:
    from urllib.parse import unquote, urlsplit

    text = " ".join(str(error).split()) or type(error).__name__
    with contextlib.suppress(ValueError):
        password = urlsplit(url).password
        if password:
            text = text.replace(password, "***").replace(unquote(password), "***")
    return text


def _key(name: str) -> int:
    """A signed 64-bit advisory lock key for `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
