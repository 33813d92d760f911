"""Handing each stored inbound message to the user's command: `--exec CMD` of `inbox pull`,
`inbox handle` and `listen`.

For each message still waiting, oldest first by its own time (the service's DateTime), one at a
time per sender (a person's messages in order, on every host sharing the store):

    claim it in the store -> run CMD (no shell; the message as JSON on stdin and in ATTSMS_*
    variables; the claim renewed while it runs) -> exit 0: mark it handled, durably, before the
    next one starts; else count the attempt and keep the last error, retry it on a later run
    after a backoff, and after the last attempt leave it as a dead letter.

Exactly once where it can be: a handler that exited 0 and was marked is never run again. At
least once where it cannot: an attsms killed between the handler's exit 0 and the mark's commit
(the window `HandleSummary.windows` measures) runs it again on the next run, with the same
ATTSMS_MESSAGE_ID. The handler runs in a session of its own, so a Ctrl-C at the terminal reaches
only attsms: the first Ctrl-C or SIGTERM lets the running handler finish (up to its timeout),
records it, then stops; a second one stops the handler and records nothing as handled.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from attsms.core.errors import AttsmsError, UsageError, one_line
from attsms.core.interrupts import hold_interrupt
from attsms.store.lease import HEARTBEAT_SECONDS, JobOwner

if TYPE_CHECKING:
    from attsms.store.inbox import InboxStore, StoredMessage

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF = 30.0

# The longest last line of a handler's stderr kept as its error.
_ERROR_CHARS = 300


@dataclass(frozen=True)
class HandlerConfig:
    """The handler and its rules: `command` as the user wrote it, `argv` as it runs."""

    command: str
    argv: tuple[str, ...]
    timeout: float = DEFAULT_TIMEOUT
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff: float = DEFAULT_BACKOFF  # seconds before the 2nd attempt, doubled for each next
    stdout_to_stderr: bool = False  # the command's stdout to stderr: attsms's stdout is a document


def handler_config(
    command: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: float = DEFAULT_BACKOFF,
    stdout_to_stderr: bool = False,
) -> HandlerConfig:
    """`command` split as a POSIX shell would (no shell runs it), checked to exist: a command
    that cannot run is a usage error (exit 2) before any message is touched."""
    import shutil

    try:
        argv = tuple(shlex.split(command))
    except ValueError as error:
        raise UsageError(f"cannot read --exec {command!r}: {error}") from None
    if not argv:
        raise UsageError("--exec needs a command", hint="e.g. --exec './handle-reply --verbose'")
    if shutil.which(argv[0]) is None:
        raise UsageError(
            f"--exec: {argv[0]!r} is not an executable file or a command on PATH",
            hint="give its path (./handle-reply) and make it executable, or write sh -c '…'",
        )
    return HandlerConfig(command, argv, timeout, max_attempts, backoff, stdout_to_stderr)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str = ""  # the exit code (or timeout) and the last line of stderr


@dataclass
class HandleSummary:
    """What one run did."""

    handled: int = 0  # handlers that exited 0, marked handled
    failed: int = 0  # attempts that failed and will be retried
    dead: list[str] = field(default_factory=list)  # message ids that became dead letters
    waiting: int = 0  # left for later: in backoff, behind an older message, held by another run
    windows: list[float] = field(default_factory=list)  # seconds from an exit 0 to its mark


def handler_env(message: StoredMessage, attempt: int) -> dict[str, str]:
    """The ATTSMS_* variables a handler gets (NUL bytes, which no variable can hold, dropped;
    the JSON on stdin keeps the text whole)."""
    record = message.record()
    values = {
        "ATTSMS_MESSAGE_ID": message.message_id,
        "ATTSMS_FROM": str(record["from"]),
        "ATTSMS_TO": str(record["to"]),
        "ATTSMS_TEXT": message.text,
        "ATTSMS_RECEIVED_AT": message.received_at,
        "ATTSMS_KEYWORD": (message.keyword or "").upper(),
        "ATTSMS_ATTEMPT": str(attempt),
    }
    return {k: _env_safe(v) for k, v in values.items()}


def _env_safe(value: str) -> str:
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def run_handler(config: HandlerConfig, message: StoredMessage, attempt: int) -> Outcome:
    """Run the handler once for `message`; its stdout and stderr pass through (stderr's last
    line is kept for the error). Stopped with its whole session after `config.timeout`, or
    when this call is interrupted (a second Ctrl-C)."""
    payload = json.dumps(message.record(), ensure_ascii=False).encode("utf-8", "backslashreplace")
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        proc = subprocess.Popen(
            config.argv,
            stdin=subprocess.PIPE,
            stdout=2 if config.stdout_to_stderr else None,
            stderr=subprocess.PIPE,
            env={**os.environ, **handler_env(message, attempt)},
            start_new_session=True,  # Ctrl-C at the terminal is attsms's to pass on, or not
        )
    except OSError as error:
        return Outcome(False, f"cannot run {config.argv[0]}: {error.strerror or error}")
    tail = _StderrTail()
    try:
        _feed(proc, payload + b"\n")
        code = tail.follow(proc, time.monotonic() + config.timeout)
        if code is None:
            _kill(proc)
            return Outcome(False, _error(f"timed out after {config.timeout:g} s", tail.last))
    finally:
        if proc.poll() is None:  # interrupted: a handler never outlives its run
            _kill(proc)
        if proc.stderr is not None:
            proc.stderr.close()
    if code == 0:
        return Outcome(True)
    reason = f"exit {code}" if code > 0 else f"killed by {_signal_name(-code)}"
    return Outcome(False, _error(reason, tail.last))


def _feed(proc: subprocess.Popen[bytes], payload: bytes) -> None:
    """The message on the handler's stdin, then EOF; a handler that does not read it is fine."""
    assert proc.stdin is not None
    stdin = proc.stdin

    def write() -> None:
        with contextlib.suppress(OSError):  # BrokenPipe: it exited without reading
            stdin.write(payload)
        with contextlib.suppress(OSError):
            stdin.close()

    if len(payload) < 16384:  # fits in the pipe: never blocks
        write()
    else:
        threading.Thread(target=write, name="attsms-handler-stdin", daemon=True).start()


class _StderrTail:
    """Copies the handler's stderr to ours as it comes, keeping its last non-empty line; read in
    the waiting thread itself (a thread per message costs more than the handler `true`)."""

    def __init__(self) -> None:
        self.last = ""
        self._partial = b""

    def follow(self, proc: subprocess.Popen[bytes], deadline: float) -> int | None:
        """Copy stderr until the handler exits; its exit code, or None at `deadline`."""
        import selectors

        assert proc.stderr is not None
        fd = proc.stderr.fileno()
        exited_at: float | None = None
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return None
                if selector.select(min(deadline - now, 0.1)):
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break  # EOF: it exited (or closed its stderr)
                    self._copy(chunk)
                if proc.poll() is not None:
                    # Exited, but a child it left behind may hold stderr open (and keep writing):
                    # copy what comes for a moment, then stop reading.
                    exited_at = now if exited_at is None else exited_at
                    if now - exited_at > 0.1:
                        break
        try:
            return proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return None

    def _copy(self, chunk: bytes) -> None:
        target = getattr(sys.stderr, "buffer", None)
        with contextlib.suppress(OSError, ValueError):
            if target is not None:
                target.write(chunk)
                target.flush()
            else:
                sys.stderr.write(chunk.decode("utf-8", "replace"))
        text = (self._partial + chunk)[-8 * _ERROR_CHARS :]
        lines = text.split(b"\n")
        self._partial = lines[-1]
        for line in reversed(lines):
            if line.strip():
                self.last = line.decode("utf-8", "replace").strip()
                break


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        proc.kill()
    proc.wait()


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _error(reason: str, last_line: str) -> str:
    line = one_line(last_line)[:_ERROR_CHARS]
    return f"{reason}: {line}" if line else reason


Result = Literal["handled", "failed", "dead", "done", "skipped"]


class MessageHandler:
    """Runs the handler for the messages waiting in `store`, as one run (one claim owner).

    `log` gets one line per failure and dead letter (for stderr). `run` returns when nothing is
    left that this run may handle now, or when `should_stop()` says so between messages.
    """

    def __init__(
        self,
        store: InboxStore,
        config: HandlerConfig,
        *,
        log: Callable[[str], None],
        run_id: str | None = None,
    ) -> None:
        self._store = store
        self._config = config
        self._log = log
        self.owner = JobOwner.current(run_id or uuid.uuid4().hex)
        self.summary = HandleSummary()
        self._renewal = _Renewal(
            lambda message_id: store.renew_message(message_id, self.owner.run_id)
        )

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> HandleSummary:
        try:
            return self._run(should_stop)
        finally:
            self._renewal.close()

    def _run(self, should_stop: Callable[[], bool]) -> HandleSummary:
        tried: set[str] = set()  # failed or passed over in this run: a later run's, not ours
        while not should_stop():
            progress = False
            blocked: set[str] = set()  # senders with an older message that is not done
            for message, _state in self._store.handling_list():
                if should_stop():
                    break
                if message.sender in blocked or message.message_id in tried:
                    blocked.add(message.sender)
                    continue
                result = self._one(message)
                if result in ("handled", "dead"):  # a dead letter holds its sender back no more
                    progress = True
                elif result != "done":
                    blocked.add(message.sender)
                    tried.add(message.message_id)
            if not progress:
                break
        self.summary.waiting = len(self._store.handling_list())
        return self.summary

    def _one(self, message: StoredMessage) -> Result:
        config, store = self._config, self._store
        claim = store.claim_message(
            message.message_id, self.owner, max_attempts=config.max_attempts
        )
        if claim.status == "dead":
            self._dead(message, claim.attempt, "its last attempt was interrupted")
            return "dead"
        if claim.status in ("done", "gone"):
            return "done"
        if claim.status != "claimed":
            return "skipped"
        # The first Ctrl-C or SIGTERM waits until the handler is done and its outcome recorded.
        with hold_interrupt() as interrupt:
            outcome = self._attempt(message, claim.attempt)
            result = self._record(message, claim.attempt, outcome)
        interrupt.raise_if_caught()
        return result

    def _attempt(self, message: StoredMessage, attempt: int) -> Outcome:
        run_id = self.owner.run_id
        try:
            with self._renewal.holding(message.message_id):
                return run_handler(self._config, message, attempt)
        except BaseException:  # a second signal: the handler was stopped, not finished
            with contextlib.suppress(AttsmsError):
                self._store.release_message(
                    message.message_id, run_id, "interrupted: attsms was stopped while it ran"
                )
            raise

    def _record(self, message: StoredMessage, attempt: int, outcome: Outcome) -> Result:
        config, store = self._config, self._store
        if outcome.ok:
            started = time.perf_counter()
            store.mark_handled(message.message_id)
            self.summary.windows.append(time.perf_counter() - started)
            self.summary.handled += 1
            return "handled"
        dead = store.mark_failed(
            message.message_id,
            self.owner.run_id,
            outcome.error,
            max_attempts=config.max_attempts,
            backoff=config.backoff,
        )
        if dead:
            self._dead(message, attempt, outcome.error)
            return "dead"
        self.summary.failed += 1
        self._log(
            f"handler failed for message {message.message_id} (attempt {attempt} of"
            f" {config.max_attempts}): {outcome.error}; it is retried on a later run"
        )
        return "failed"

    def _dead(self, message: StoredMessage, attempt: int, error: str) -> None:
        self.summary.dead.append(message.message_id)
        self._log(
            f"message {message.message_id} is a dead letter after {attempt} attempts ({error});"
            f" see `attsms inbox list --failed`, put it back with `attsms inbox retry"
            f" {message.message_id}`"
        )


class _Renewal:
    """Renews the claim of the message whose handler runs every HEARTBEAT_SECONDS, from one
    thread for the whole run (started with the first handler that runs)."""

    def __init__(self, renew: Callable[[str], bool]) -> None:
        self._renew = renew
        self._lock = threading.Lock()
        self._current: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def holding(self, message_id: str) -> Iterator[None]:
        with self._lock:
            self._current = message_id
        if self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="attsms-claims", daemon=True)
            self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._current = None

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            with self._lock:  # never renews a claim whose mark was written meanwhile
                if self._current is None:
                    continue
                with contextlib.suppress(AttsmsError):  # a busy store now and then
                    self._renew(self._current)


class HandlerWorker:
    """`listen --exec`: runs the handler in a thread of its own, apart from the requests (a 2xx
    never waits for it). It runs when woken (a message was stored) and every `poll` seconds
    (backoffs ending, messages other listeners stored); `stop` lets the running handler finish
    (up to its timeout), records it, and returns."""

    def __init__(
        self,
        open_store: Callable[[], InboxStore],
        config: HandlerConfig,
        *,
        log: Callable[[str], None],
        poll: float = 5.0,
    ) -> None:
        self._open = open_store
        self._config = config
        self._log = log
        self._poll = poll
        self._stopping = threading.Event()
        self._wakes: queue.Queue[None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="attsms-handler", daemon=True)
        self.dead: list[str] = []

    def start(self) -> HandlerWorker:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wakes.put(None)

    def stop(self) -> None:
        self._stopping.set()
        self.wake()
        self._thread.join()

    def _run(self) -> None:
        store: InboxStore | None = None
        while not self._stopping.is_set():
            wait = self._poll
            try:
                if store is None:
                    store = self._open()
                handler = MessageHandler(store, self._config, log=self._log)
                summary = handler.run(self._stopping.is_set)
                self.dead.extend(summary.dead)
                if summary.failed:  # a retry is due after the first backoff, not the next poll
                    wait = max(0.05, min(self._poll, self._config.backoff))
            except AttsmsError as error:  # a store that is down now and then: try again later
                self._log(f"handler worker: {error}; trying again in {self._poll:g} s")
                if store is not None:
                    with contextlib.suppress(Exception):
                        store.close()
                store = None
            self._wait(wait)
        if store is not None:
            with contextlib.suppress(Exception):
                store.close()

    def _wait(self, seconds: float) -> None:
        with contextlib.suppress(queue.Empty):
            self._wakes.get(timeout=seconds)
        while True:  # a burst of wakes is one more run
            try:
                self._wakes.get_nowait()
            except queue.Empty:
                return
