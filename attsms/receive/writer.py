"""`attsms listen`'s one writer thread: group commit of the notifications waiting.

Requests hand their notification to `Writer.submit()` on the event loop and await it; the thread
takes EVERYTHING waiting (up to `MAX_BATCH`), stores it through the sink in one go (one
transaction where the store allows: with SQLite or PostgreSQL at synchronous commit, the commit's
flush to disk is the cost, so concurrent pushes share it), then settles the whole batch's futures
with ONE wake-up of the event loop (not one per request). Nothing is settled before the sink
returned, so no 2xx goes out before the commit that stores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from attsms.core.errors import AttsmsError

if TYPE_CHECKING:
    from attsms.receive.listen import Notification

MAX_BATCH = 512  # most notifications stored in one transaction

_Item = tuple["Notification", "asyncio.Future[bool]"]


class NotificationSink(Protocol):
    """Durable storage for notifications. Used from one thread only (the writer's)."""

    def store(self, notifications: Sequence[Notification]) -> list[bool]:
        """Store every notification durably, in order; for each, whether it was new (False: a
        duplicate, or a receipt for a message this store never sent). Raises AttsmsError when
        the store cannot be written; then nothing of the batch may be counted as stored."""
        ...

    def close(self) -> None: ...


class StoreUnavailable(Exception):
    """The sink failed: the request is answered 503, so the service pushes it again."""


class Writer:
    """The one thread that stores: `submit()` from the event loop, awaited before the 2xx."""

    def __init__(self, sink_factory: Callable[[], NotificationSink]) -> None:
        self._factory = sink_factory
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="attsms-listen-writer", daemon=True)
        self._sink: NotificationSink | None = None

    def start(self) -> Writer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    async def submit(self, notification: Notification) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put((notification, future))
        return await future

    def _run(self) -> None:
        self._prepare()
        while True:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._store(batch)
            if stop:
                break
        if self._sink is not None:
            self._close_sink()

    def _prepare(self) -> None:
        """Before the first push: the sink, and what it loads on first use (`prepare()`, where it
        has one: the database driver), so the first group does not wait for an import (psycopg:
        a quarter of a second on a busy box). Nothing here may fail the listener: the first group
        opens the sink again, and answers 503 if it cannot."""
        try:
            self._sink = self._factory()
            prepare = getattr(self._sink, "prepare", None)
            if prepare is not None:
                prepare()
        except Exception:
            self._close_sink()

    def _store(self, batch: list[_Item]) -> None:
        try:
            if self._sink is None:
                self._sink = self._factory()
            results = self._sink.store([n for n, _ in batch])
        except Exception as error:  # any failure to store is a 503, never a crash
            # A broken connection may be the cause: open afresh for the next batch.
            self._close_sink()
            _settle(batch, StoreUnavailable(_describe(error)))
            return
        _settle(batch, results)

    def _close_sink(self) -> None:
        sink, self._sink = self._sink, None
        if sink is not None:
            with contextlib.suppress(Exception):  # closing a broken store: nothing to do
                sink.close()


def _settle(batch: list[_Item], outcome: list[bool] | BaseException) -> None:
    """Answer the batch's futures, on their loops' threads: one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[bool], int]]] = {}
    for index, (_, future) in enumerate(batch):
        by_loop.setdefault(future.get_loop(), []).append((future, index))
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # its loop is closed: nobody awaits them
            loop.call_soon_threadsafe(_answer, futures, outcome)


def _answer(
    futures: list[tuple[asyncio.Future[bool], int]], outcome: list[bool] | BaseException
) -> None:
    for future, index in futures:
        if future.done():  # cancelled: its request is gone
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome[index])


def _describe(error: BaseException) -> str:
    if isinstance(error, AttsmsError):
        return error.message
    return f"{type(error).__name__}: {error}"
