"""The journal writes of one send run, grouped: a group commit over the send threads.

Each batch is written twice: its claim (`sending`) before its request, its outcome after. Done one
by one, every write is a commit that waits for the disk, and 16 threads queue behind each other's
fsyncs (10,000 recipients at 50 ms: 400 commits, about a third of the run). Here a thread hands
its write to the `Journal` and waits for it; whichever thread writes next takes everything handed
in meanwhile and commits it in ONE transaction (`HistoryStore.write_journal`), so while one commit
waits for the disk, the next group gathers.

What each write promises stays as it was:

- a claim returns only once it is committed, and a transaction holding a claim waits for the disk:
  the claim is durable before its request leaves (a power cut cannot lose it), and no batch is
  claimed ahead of its request (a `kill -9` leaves only the requests in flight `sending`);
- an outcome returns once it is committed (a killed process keeps it); a group of outcomes alone
  does not wait for the disk: a power cut may lose it, and the batch then reads "may have gone",
  which is never resent. The next claim's commit takes it to the disk with its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from attsms.store.history import BatchClaim, BatchFinish, Claim, JobTakenError

if TYPE_CHECKING:
    from attsms.store.history import HistoryStore


@dataclass
class _Write:
    """One thread's write, and once a group was committed, its answer."""

    finish: BatchFinish | None = None
    claim: BatchClaim | None = None
    answer: Claim | JobTakenError | None = None
    error: BaseException | None = None
    done: bool = False


class Journal:
    """Group commit of one run's claims and outcomes on `store` (safe to share by threads)."""

    def __init__(self, store: HistoryStore) -> None:
        self._store = store
        self._pending: list[_Write] = []
        self._queue = threading.Lock()  # guards _pending
        self._writer = threading.Lock()  # one group written at a time
        self.commits = 0  # transactions written (what tests look at)

    def claim(self, request: BatchClaim) -> Claim:
        """`HistoryStore.claim_batch`, committed (durably) with whatever else is waiting."""
        write = self._submit(_Write(claim=request))
        answer = write.answer
        if isinstance(answer, JobTakenError):
            raise answer
        assert answer is not None
        return answer

    def finish(self, finish: BatchFinish) -> None:
        """`HistoryStore.finish_batch`, committed with whatever else is waiting."""
        self._submit(_Write(finish=finish))

    def _submit(self, write: _Write) -> _Write:
        with self._queue:
            self._pending.append(write)
        with self._writer:
            if not write.done:  # no other thread took it into its group: write what waits
                with self._queue:
                    group, self._pending = self._pending, []
                self._commit(group)
        if write.error is not None:
            raise write.error
        return write

    def _commit(self, group: list[_Write]) -> None:
        claims = [w for w in group if w.claim is not None]
        try:
            answers = self._store.write_journal(
                [w.finish for w in group if w.finish is not None],
                [w.claim for w in claims if w.claim is not None],
            )
        except BaseException as error:  # nothing of the group was written: each thread is told
            for write in group:
                write.error = error
                write.done = True
            return
        finally:
            self.commits += 1
        for write, answer in zip(claims, answers, strict=True):
            write.answer = answer
        for write in group:
            write.done = True
