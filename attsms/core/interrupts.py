"""Ctrl-C, SIGTERM and SIGHUP held back while a request whose answer must be recorded is under way.

The inbox forgets a batch as it answers, and a send's outcome is unknown until its answer is
written to the history: stopping in between would lose messages or leave a batch that a re-run
must report as "may have gone". So the first stopping signal waits for the block to end; a second
one stops at once, for a user who will not wait (the request may then be lost).

SIGTERM (`timeout`, systemd, cron, `kill`) and SIGHUP (a closed terminal) are turned into
`Terminated`, a KeyboardInterrupt carrying the signal number, by handlers `install_handlers` sets
at start-up: every path that handles Ctrl-C handles them too, and `cli.main` exits 128 + the
signal (143, 129; 130 stays for Ctrl-C). A signal the process was started ignoring (`nohup`)
stays ignored.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# The signals that stop a command the way Ctrl-C does.
TERMINATING = (signal.SIGTERM, signal.SIGHUP)

_last_signal: int | None = None  # the last stopping signal this process received


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: handled as Ctrl-C is, exits 128 + `signum`."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def received_signal() -> int | None:
    """The last SIGINT, SIGTERM or SIGHUP this process received, if any (a handler of
    KeyboardInterrupt may re-raise a plain one; this still tells which signal it was)."""
    return _last_signal


def _stop(signum: int) -> KeyboardInterrupt:
    global _last_signal
    _last_signal = signum
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _terminate(signum: int, _frame: object) -> None:
    raise _stop(signum)


def install_handlers() -> Callable[[], None]:
    """Turn SIGTERM and SIGHUP into `Terminated` (main thread only); returns the undo.

    A signal that is ignored (`nohup`, a service manager's choice) is left ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, object] = {}
    for signum in TERMINATING:
        handler = signal.getsignal(signum)
        if handler is signal.SIG_IGN:
            continue
        previous[signum] = handler
        signal.signal(signum, _terminate)

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    return restore


@dataclass
class HeldInterrupt:
    """Which stopping signal came while held; `raise_if_caught` delivers it when the caller is
    ready (KeyboardInterrupt for Ctrl-C, `Terminated` for SIGTERM and SIGHUP)."""

    signum: int | None = None

    @property
    def caught(self) -> bool:
        return self.signum is not None

    def raise_if_caught(self) -> None:
        if self.signum is not None:
            raise _stop(self.signum)


def _ours(signum: int) -> bool:
    """Whether `signum` is handled as attsms expects: Python's Ctrl-C handler, or ours."""
    handler = signal.getsignal(signum)
    return handler is (signal.default_int_handler if signum == signal.SIGINT else _terminate)


@contextlib.contextmanager
def hold_interrupt(held: HeldInterrupt | None = None) -> Iterator[HeldInterrupt]:
    """Defer the first SIGINT, SIGTERM or SIGHUP to the end of the block, noting it in `held`
    (or a new one).

    Only in the main thread and only over the handlers attsms expects (Python's for SIGINT,
    `install_handlers`' for the others: signals can be handled only there, and a caller with its
    own handler keeps it); elsewhere it holds nothing.
    """
    held = held if held is not None else HeldInterrupt()
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    signals = [s for s in (signal.SIGINT, *TERMINATING) if _ours(s)]

    def hold(signum: int, _frame: object) -> None:
        global _last_signal
        if held.signum is not None:
            raise _stop(signum)  # the second signal: the user will not wait
        held.signum = _last_signal = signum

    previous = {signum: signal.signal(signum, hold) for signum in signals}
    try:
        yield held
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
