"""Ctrl-C held back while a request whose answer must be recorded is under way.

The inbox forgets a batch as it answers, and a send's outcome is unknown until its answer is
written to the history: a KeyboardInterrupt in between would lose messages or leave a batch that
a re-run must report as "may have gone". So the first Ctrl-C waits for the block to end; a
second one stops at once, for a user who will not wait (the request may then be lost).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class HeldInterrupt:
    """Whether a Ctrl-C came while held; `raise_if_caught` delivers it when the caller is ready."""

    caught: bool = False

    def raise_if_caught(self) -> None:
        if self.caught:
            raise KeyboardInterrupt


@contextlib.contextmanager
def hold_interrupt(held: HeldInterrupt | None = None) -> Iterator[HeldInterrupt]:
    """Defer the first SIGINT to the end of the block, noting it in `held` (or a new one).

    Only in the main thread and only over Python's default handler (signals can be handled only
    there, and a caller with its own handler keeps it); elsewhere it holds nothing.
    """
    held = held if held is not None else HeldInterrupt()
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield held
        return

    def hold(_signum: int, _frame: object) -> None:
        if held.caught:
            raise KeyboardInterrupt  # the second Ctrl-C: the user will not wait
        held.caught = True

    signal.signal(signal.SIGINT, hold)
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
