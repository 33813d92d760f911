"""The sandbox kept in an SQLite file, so separate `attsms --sandbox` processes share one sandbox.

Each call takes a cross-process file lock, opens the database, runs the core in one transaction
(`BEGIN IMMEDIATE` … `COMMIT`: all of a request's changes or none) and releases. Only the rows a
request needs are read and written (sqlstate.py), so a call costs the same after a million sends
as after none. A state.json written by an older attsms beside the database (`state.json` for
`state.db`) is moved into a new database on first use, then removed. The helpers at the end
(`inject_inbound`, `read_stats`, …) run the sandbox-only endpoints this way, for the CLI to use
without a server. No httpx here: see transport.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3  # noqa: TID253 - this module is loaded only with the in-process sandbox
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from attsms.sandbox.config import SandboxConfig
from attsms.sandbox.core import Sandbox, SandboxError, SandboxResponse
from attsms.sandbox.sqlstate import NotSandboxDatabase, SqlState, import_state, prepare
from attsms.sandbox.state import SandboxState

LOCK_TIMEOUT_SECONDS = 30.0
RESET_PATH = "/sandbox/reset"

# One in-process lock per state file: threads of one process queue here before the file lock,
# so correctness does not hang on how the OS treats two flock()s from one process.
_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


class SandboxStateError(Exception):
    """The state file exists but is not a sandbox state. Only a reset gets past it.

    Raised, not answered as an HTTP 500: a client would take a 500 for a passing fault of the
    service and try again, which cannot help; the caller should say how to reset.
    """

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(f"{path} is not a sandbox state file ({detail})")
        self.path = path
        self.detail = detail


def _thread_lock(path: Path) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(path.resolve(), threading.Lock())


def legacy_path(path: Path) -> Path | None:
    """Where an older attsms kept this sandbox as JSON (state.json beside state.db), if apart."""
    legacy = path.with_suffix(".json")
    return None if legacy == path else legacy


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Created private: SQLite gives its -wal and -shm files the database file's mode.
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    # Used by one thread at a time: the caller holds the state's thread lock.
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        # WAL: a commit appends, nothing is rewritten. NORMAL: commits stay atomic; a power cut
        # may lose the last ones, which a sandbox may.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _file_key(path: Path) -> tuple[int, ...] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class StateConnection:
    """One open connection to a state database, kept across requests (the transport's).

    Closing a WAL database's last connection checkpoints and syncs it, the most expensive part
    of a small request: kept open, a commit only appends to the WAL. Reopened when the database
    file was changed by anything but a commit of this connection (a checkpoint by another
    process, a reset, a file written over), so it never works on a stale view.
    """

    def __init__(self, path: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> None:
        self.path = path
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self._key: tuple[int, ...] | None = None

    def open(self) -> sqlite3.Connection:
        """The kept connection, or a new one; call with the state's locks held."""
        if self._conn is not None and _file_key(self.path) == self._key:
            return self._conn
        self.close()
        self._conn = _connect(self.path, self.timeout)
        return self._conn

    def committed(self) -> None:
        self._key = _file_key(self.path)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn, self._key = None, None


def _migrate(conn: sqlite3.Connection, legacy: Path) -> bool:
    """Copy an older attsms's state.json into the new database; False if there is none."""
    try:
        raw = legacy.read_bytes()
    except FileNotFoundError:
        return False
    try:
        state = SandboxState.from_json(json.loads(raw))
    except ValueError as exc:  # json's errors are ValueErrors too
        raise SandboxStateError(legacy, str(exc)) from exc
    import_state(conn, state)
    return True


@contextlib.contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """SQLite's errors as the callers know them: locked or unopenable is an OSError (the
    transport says httpx.ConnectError), not a database or not ours is a SandboxStateError."""
    try:
        yield
    except NotSandboxDatabase as exc:
        raise SandboxStateError(path, str(exc)) from exc
    except sqlite3.OperationalError as exc:
        raise OSError(f"{path}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise SandboxStateError(path, str(exc)) from exc


@contextlib.contextmanager
def _transaction(
    path: Path, timeout: float, keep: StateConnection | None = None
) -> Iterator[sqlite3.Connection]:
    """The database in one write transaction, committed if the body returns; on `keep`'s
    connection if given (closed after a failure), else on one of its own.

    SandboxStateError if it (or the state.json to migrate) is not sandbox state; OSError if it
    cannot be opened, written or (past `timeout`) locked.
    """
    with _sqlite_errors(path):
        conn = keep.open() if keep is not None else _connect(path, timeout)
        committed = False
        try:
            conn.execute("BEGIN IMMEDIATE")
            legacy = legacy_path(path)
            migrated = prepare(conn) and legacy is not None and _migrate(conn, legacy)
            yield conn
            conn.execute("COMMIT")
            committed = True
            if migrated and legacy is not None:
                legacy.unlink(missing_ok=True)  # all of it is in the database now
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if keep is None:
                conn.close()
            elif committed:
                keep.committed()
            else:
                keep.close()


def _remove(path: Path) -> None:
    """Delete a state that is not sandbox state (and a leftover state.json), for a reset."""
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        (path.parent / name).unlink(missing_ok=True)
    legacy = legacy_path(path)
    if legacy is not None:
        legacy.unlink(missing_ok=True)


def check(path: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> None:
    """Raise SandboxStateError if the state at `path` is not sandbox state (OSError if it cannot
    be used); an absent one is fine, a state.json from an older attsms is migrated."""
    with locked(path, timeout), _transaction(path, timeout) as conn:
        SqlState(conn)


@contextlib.contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the state file's thread and process locks; filelock.Timeout after `timeout` s."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock_path = path.with_suffix(".lock")
    thread_lock = _thread_lock(path)
    if not thread_lock.acquire(timeout=timeout):
        raise Timeout(str(lock_path))
    try:
        with FileLock(lock_path, timeout=timeout, mode=0o600):
            yield
    finally:
        thread_lock.release()


def exchange(
    path: Path,
    config: SandboxConfig,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    scheme: str = "http",
    clock: Callable[[], float] = time.time,
    lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    keep: StateConnection | None = None,
) -> SandboxResponse:
    """One request against the file-backed sandbox. Does not sleep: see `SandboxResponse.delay`.

    `keep`: a connection to reuse (the transport's), else one is opened and closed for this call.
    Raises filelock.Timeout if the state stays locked, OSError if it cannot be read or saved,
    SandboxStateError if the file is not sandbox state (until `POST /sandbox/reset`).
    """
    request = (method, target, headers, body, scheme, clock)
    is_reset = target.split("?")[0] == RESET_PATH
    with locked(path, lock_timeout):
        try:
            resp = _exchange(path, config, request, keep)
        except SandboxStateError:
            if not is_reset:
                raise
            if keep is not None:
                keep.close()
            _remove(path)  # reset is the way out of a broken file
            resp = _exchange(path, config, request, keep)
        legacy = legacy_path(path)
        if is_reset and legacy is not None:
            legacy.unlink(missing_ok=True)  # an older attsms's, written since the migration
    return resp


_Request = tuple[str, str, Mapping[str, str], bytes, str, Callable[[], float]]


def _exchange(
    path: Path, config: SandboxConfig, request: _Request, keep: StateConnection | None
) -> SandboxResponse:
    method, target, headers, body, scheme, clock = request
    with _transaction(path, LOCK_TIMEOUT_SECONDS, keep) as conn:
        state = SqlState(conn)
        resp = Sandbox(config, state, clock=clock).process(
            method, target, headers, body, scheme=scheme
        )
        state.flush()
    return resp


def _call(
    path: Path, config: SandboxConfig | None, method: str, target: str, payload: Any = None
) -> Any:
    body = b"" if payload is None else json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    resp = exchange(path, config or SandboxConfig(), method, target, headers, body)
    if resp.status >= 300:
        detail = next(iter(resp.json()["RequestError"].values()))
        raise SandboxError(resp.status, detail["MessageId"], detail["Text"], detail["Variables"])
    return resp.json()


def inject_inbound(
    state_path: Path,
    registration_id: str,
    sender: str,
    text: str,
    count: int = 1,
    *,
    config: SandboxConfig | None = None,
) -> dict[str, int]:
    """Queue `count` inbound messages from `sender`; returns {"injected": n, "pending": total}.

    Raises SandboxError (e.g. SVC0002 naming `from`) when the input is not acceptable.
    """
    payload = {"from": sender, "text": text, "count": count}
    result: dict[str, int] = _call(
        state_path, config, "POST", f"/sandbox/inbox/{registration_id}", payload
    )
    return result


def read_stats(state_path: Path, *, config: SandboxConfig | None = None) -> dict[str, Any]:
    """What GET /sandbox/stats answers: operations, attempts, send_requests, delivered_to."""
    result: dict[str, Any] = _call(state_path, config, "GET", "/sandbox/stats")
    return result


def read_outbox(state_path: Path, *, config: SandboxConfig | None = None) -> dict[str, Any]:
    """What GET /sandbox/outbox answers: {"outbox": [{messageId, address, message, sentAt}],
    "total": n}, one entry per accepted recipient, oldest first."""
    result: dict[str, Any] = _call(state_path, config, "GET", "/sandbox/outbox")
    return result


def set_faults(
    state_path: Path, rules: list[dict[str, Any]], *, config: SandboxConfig | None = None
) -> int:
    """Queue fault rules (keys as in faults.FAULT_RULE_DEFAULTS); returns how many are queued."""
    result: dict[str, int] = _call(state_path, config, "POST", "/sandbox/faults", {"rules": rules})
    return result["queued"]


def clear_faults(state_path: Path, *, config: SandboxConfig | None = None) -> int:
    """Drop all queued fault rules; returns how many there were."""
    result: dict[str, int] = _call(state_path, config, "DELETE", "/sandbox/faults")
    return result["cleared"]


def reset(state_path: Path, *, config: SandboxConfig | None = None) -> None:
    """Forget everything: tokens, messages, inboxes, faults and stats."""
    _call(state_path, config, "POST", "/sandbox/reset")
