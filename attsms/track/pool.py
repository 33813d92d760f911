"""Asking the service about many message IDs, a few requests at a time.

The one place that does: `attsms status` asks through it for its first look at every message,
and the wait loop (`track.wait`) for each round of polling.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Protocol

from attsms.core.errors import AttsmsError
from attsms.core.models import DeliveryStatus

if TYPE_CHECKING:
    from concurrent.futures import Executor

# Status requests in flight at once when asking about many messages (a bulk send has one a batch).
POLL_CONCURRENCY = 8


class StatusClient(Protocol):
    def delivery_status(self, message_id: str) -> DeliveryStatus: ...


class StatusPool:
    """`client`'s status requests, `concurrency` at a time. The threads start with the first
    question about more than one ID and serve every later one until `close`."""

    def __init__(self, client: StatusClient, concurrency: int = POLL_CONCURRENCY) -> None:
        self._client = client
        self._concurrency = max(1, concurrency)
        self._executor: Executor | None = None

    def ask(self, message_ids: Sequence[str]) -> Iterator[DeliveryStatus | AttsmsError]:
        """Each ID's status, or the error asking for it, in the order given. On threads every
        request is under way when this returns (a caller that stops reading early leaves the
        rest to `close`, which cancels those not started); alone (one ID, or `concurrency` 1)
        each is asked as it is read."""
        if len(message_ids) <= 1 or self._concurrency == 1:
            return map(self._one, message_ids)
        # A few IDs a task, not one: each task is a future, a queue hand-off and a wake-up of the
        # waiting thread, which cost about as much CPU as a lean request (20,000 of them for a
        # million recipients); two tasks a thread still keep every thread busy.
        size = -(-len(message_ids) // (2 * self._concurrency))
        slices = [message_ids[i : i + size] for i in range(0, len(message_ids), size)]
        return chain.from_iterable(self._pool().map(self._some, slices))

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
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> StatusPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
