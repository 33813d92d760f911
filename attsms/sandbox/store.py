"""The sandbox kept in a JSON file, so separate `attsms --sandbox` processes share one sandbox.

Each call takes a cross-process file lock, loads the state, runs the core, saves atomically and
releases. The helpers at the end (`inject_inbound`, `read_stats`, …) run the sandbox-only
endpoints this way, for the CLI to use without a server. No httpx here: see transport.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from attsms.sandbox.config import SandboxConfig
from attsms.sandbox.core import Sandbox, SandboxError, SandboxResponse
from attsms.sandbox.state import SandboxState

LOCK_TIMEOUT_SECONDS = 30.0

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


def load_state(path: Path) -> SandboxState:
    """The state in `path`; a fresh one if the file does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return SandboxState()
    try:
        return SandboxState.from_json(json.loads(raw))
    except ValueError as exc:  # json's errors are ValueErrors too
        raise SandboxStateError(path, str(exc)) from exc


def save_state(path: Path, state: SandboxState) -> None:
    """Write `state` to `path` atomically: a reader sees the old file or the new one, 0600."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = json.dumps(state.to_json(), separators=(",", ":")).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)  # mkstemp makes 0600 already; this guards odd platforms
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


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
) -> SandboxResponse:
    """One request against the file-backed sandbox. Does not sleep: see `SandboxResponse.delay`.

    Raises filelock.Timeout if the state stays locked, OSError if it cannot be read or saved,
    SandboxStateError if the file is not sandbox state (until `POST /sandbox/reset`).
    """
    with locked(path, lock_timeout):
        try:
            state = load_state(path)
        except SandboxStateError:
            if target.split("?")[0] != "/sandbox/reset":
                raise
            state = SandboxState()  # reset is the way out of a broken file
        sandbox = Sandbox(config, state, clock=clock)
        resp = sandbox.process(method, target, headers, body, scheme=scheme)
        save_state(path, sandbox.state)  # process() pruned first, so the file stays small
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
