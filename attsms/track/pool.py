"""Asking the service about many message IDs, a few requests at a time.

The one place that does: `attsms status` asks through it for its first look at every message,
and the wait loop (`track.wait`) for each round of polling.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Protocol

from attsms.core.errors import AttsmsError
from attsms.core.models import DeliveryStatus

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Executor

    from attsms.auth.session import Session

# Status requests in flight at once when asking about many messages (a bulk send has one a batch).
POLL_CONCURRENCY = 8

Answer = DeliveryStatus | AttsmsError


class StatusClient(Protocol):
    def delivery_status(self, message_id: str) -> DeliveryStatus: ...


class Fanout(Protocol):
    """Status GETs moved along by the caller's thread (`attsms.api.fanout.StatusFanout`)."""

    @property
    def busy(self) -> bool: ...
    def add(self, message_id: str) -> None: ...
    def pump(self, timeout: float) -> list[tuple[str, Answer | None]]: ...
    def close(self) -> None: ...


class StatusPool:
    """`client`'s status requests, `concurrency` at a time. The threads start with the first
    question about more than one ID and serve every later one until `close`.

    `fanout`: where the client offers it, the requests go out from the caller's own thread,
    moved along by `pump` (which the caller calls between its rows) and by reading the answers:
    no thread takes the GIL from the caller's work at each request. At the first answer it
    cannot take, it stops: that message and every later one are asked on the threads."""

    def __init__(
        self, client: StatusClient, concurrency: int = POLL_CONCURRENCY, *, fanout: bool = False
    ) -> None:
        self._client = client
        self._concurrency = max(1, concurrency)
        self._executor: Executor | None = None
        self._fanout: Fanout | None = None
        if fanout and self._concurrency > 1:
            make = getattr(client, "status_fanout", None)
            self._fanout = make(self._concurrency) if make is not None else None
        self._got: dict[str, deque[Answer | None]] = {}

    def ask(self, message_ids: Sequence[str]) -> Iterator[DeliveryStatus | AttsmsError]:
        """Each ID's status, or the error asking for it, in the order given. On threads every
        request is under way when this returns (a caller that stops reading early leaves the
        rest to `close`, which cancels those not started); alone (one ID, or `concurrency` 1)
        each is asked as it is read."""
        if len(message_ids) <= 1 or self._concurrency == 1:
            return map(self._one, message_ids)
        if self._fanout is not None:
            for message_id in message_ids:
                self._fanout.add(message_id)
            self.pump()
            return self._fanned(message_ids)
        return self._threaded(message_ids)

    def _threaded(self, message_ids: Sequence[str]) -> Iterator[DeliveryStatus | AttsmsError]:
        # A few IDs a task, not one: each task is a future, a queue hand-off and a wake-up of the
        # waiting thread, which cost about as much CPU as a lean request (20,000 of them for a
        # million recipients); two tasks a thread still keep every thread busy.
        size = -(-len(message_ids) // (2 * self._concurrency))
        slices = [message_ids[i : i + size] for i in range(0, len(message_ids), size)]
        return chain.from_iterable(self._pool().map(self._some, slices))

    def pump(self, timeout: float = 0) -> None:
        """Move the fanned-out requests along: send what may go, take what has come (waiting up
        to `timeout` for it). Nothing to do without them."""
        fanout = self._fanout
        if fanout is not None and fanout.busy:
            for message_id, answer in fanout.pump(timeout):
                self._got.setdefault(message_id, deque()).append(answer)

    def _fanned(self, message_ids: Sequence[str]) -> Iterator[DeliveryStatus | AttsmsError]:
        for index, message_id in enumerate(message_ids):
            while message_id not in self._got and self._fanout is not None and self._fanout.busy:
                self.pump(0.05)
            answers = self._got.pop(message_id, None)
            answer = answers.popleft() if answers else None
            if answers:
                self._got[message_id] = answers
            if answer is None:
                # Trouble (a 5xx, a 429, a timeout, a dropped connection): the fanout stops, and
                # this message and the rest are asked the usual way, on the threads, with the
                # retries and pauses the service asked for.
                self._stop_fanout()
                yield from self._threaded(message_ids[index:])
                return
            yield answer

    def _stop_fanout(self) -> None:
        if self._fanout is not None:
            self._fanout.close()
            self._fanout = None
        self._got.clear()

    def _some(self, message_ids: Sequence[str]) -> list[DeliveryStatus | AttsmsError]:
        return [self._one(message_id) for message_id in message_ids]

    def _one(self, message_id: str) -> DeliveryStatus | AttsmsError:
        try:
            return self._client.delivery_status(message_id)
        except AttsmsError as error:  # an answer too: the caller decides what it means
            return error

    def _pool(self) -> Executor:
        if self._executor is None:
            # Imported here: `attsms history` loads this package and never asks the service.
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(self._concurrency, thread_name_prefix="status")
        return self._executor

    def close(self) -> None:
        self._stop_fanout()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> StatusPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SessionPool:
    """The session and the `StatusPool` that asks through it, opened the first time a status
    must be asked for; closed at the end. `pump` moves a fanned-out pool's requests along."""

    def __init__(
        self, open_session: Callable[[], Session], concurrency: int, *, fanout: bool = False
    ) -> None:
        self._open = open_session
        self._concurrency, self._fanout = concurrency, fanout
        self._session: Session | None = None
        self._pool: StatusPool | None = None

    @property
    def pool(self) -> StatusPool:
        if self._pool is None:
            self._session = self._open()
            self._pool = StatusPool(self._session.client, self._concurrency, fanout=self._fanout)
        return self._pool

    def pump(self) -> None:
        if self._pool is not None:
            self._pool.pump()

    def __enter__(self) -> SessionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._session is not None:
            self._session.close()
