"""The send threads' group commit (`attsms.send.journal`) and the journal writes under it
(`HistoryStore.write_journal`): grouped, and each claim on the disk before its request leaves."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence

import pytest

from attsms import store as stores
from attsms.core.errors import StoreError
from attsms.core.models import SendResult
from attsms.send import results
from attsms.send.journal import Journal
from attsms.send.plan import SendPlan
from attsms.send.runner import SendOptions, send_batches
from attsms.store.history import (
    ACCEPTED,
    BatchClaim,
    BatchFinish,
    Claim,
    DedupeSlot,
    HistoryStore,
    JobTakenError,
)
from tests.helpers.support import store_settings

A, B = "tel:+12125550101", "tel:+12125550102"


@pytest.fixture
def store() -> Iterator[HistoryStore]:
    with HistoryStore.open() as opened:
        yield opened


def test_a_group_of_claims_and_outcomes_is_one_transaction_on_each_backend(backend: str) -> None:
    with stores.open_history(store_settings()) as store:
        first, second = store.write_journal(
            [], [BatchClaim("p", "one", (A,)), BatchClaim("p", "two", (B,))]
        )
        assert isinstance(first, Claim) and isinstance(second, Claim)
        assert first.batch_id is not None and second.batch_id is not None
        store.write_journal(  # outcomes alone: committed without waiting for the disk
            [
                BatchFinish(first.batch_id, ACCEPTED, "m1"),
                BatchFinish(second.batch_id, ACCEPTED, "m2"),
            ],
            [],
        )
        for message_id, address in (("m1", A), ("m2", B)):
            batch = store.get(message_id)
            assert batch is not None and batch.outcome == ACCEPTED
            assert [r.address for r in batch.recipients] == [address]


def _statements(store: HistoryStore) -> list[str]:
    seen: list[str] = []
    store._db.connection.set_trace_callback(seen.append)  # type: ignore[attr-defined]
    return seen


def test_a_claim_waits_for_the_disk_and_outcomes_alone_do_not(store: HistoryStore) -> None:
    seen = _statements(store)
    [claim] = store.write_journal([], [BatchClaim("p", "hi", (A,))])
    assert isinstance(claim, Claim) and claim.batch_id is not None
    assert not any("synchronous" in s for s in seen)  # the store's level: FULL
    seen.clear()
    store.write_journal([BatchFinish(claim.batch_id, ACCEPTED, "m1")], [])
    assert seen[0] == "PRAGMA synchronous = NORMAL"
    assert seen[-1] == "PRAGMA synchronous = FULL"  # back before anyone else writes
    seen.clear()
    # Outcomes with a claim: one commit, which waits for the disk.
    store.write_journal([BatchFinish(claim.batch_id, ACCEPTED, "m1")], [BatchClaim("p", "x", (B,))])
    assert not any("synchronous" in s for s in seen)
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2
    batch = store.get("m1")
    assert batch is not None and batch.outcome == ACCEPTED


def test_a_claim_another_run_stopped_is_answered_and_the_rest_written(
    store: HistoryStore,
) -> None:
    [first] = store.write_journal([], [BatchClaim("p", "hi", (A,))])
    assert isinstance(first, Claim) and first.batch_id is not None
    slot = DedupeSlot("k", 0, 1, "acct")
    answers = store.write_journal(
        [BatchFinish(first.batch_id, ACCEPTED, "m1")],
        [BatchClaim("p", "hi", (A,), run_id="other", dedupe=slot), BatchClaim("p", "hi", (B,))],
    )
    assert isinstance(answers[1], Claim) and answers[1].batch_id is not None
    # No job row for "k": nobody holds it, so the keyed claim is written too.
    assert isinstance(answers[0], Claim | JobTakenError)
    assert store.get("m1") is not None


class _SlowStore:
    """Holds the first group's commit until released: what the others hand in meanwhile is
    committed as one group."""

    def __init__(self) -> None:
        self.groups: list[tuple[int, int]] = []
        self.release = threading.Event()

    def write_journal(
        self, finishes: Sequence[BatchFinish], claims: Sequence[BatchClaim]
    ) -> list[Claim]:
        self.groups.append((len(finishes), len(claims)))
        if len(self.groups) == 1:
            self.release.wait(10)
        return [Claim(batch_id=len(self.groups) * 100 + i) for i in range(len(claims))]


def test_writes_handed_in_during_a_commit_are_committed_together() -> None:
    slow = _SlowStore()
    journal = Journal(slow)  # type: ignore[arg-type]
    answers: dict[str, Claim] = {}

    def claim(name: str) -> None:
        answers[name] = journal.claim(BatchClaim("p", name, (A,)))

    first = threading.Thread(target=claim, args=("first",))
    first.start()
    while not slow.groups:
        time.sleep(0.001)
    others = [threading.Thread(target=claim, args=(f"c{i}",)) for i in range(3)]
    others.append(threading.Thread(target=journal.finish, args=(BatchFinish(1, ACCEPTED),)))
    for thread in others:
        thread.start()
    while len(journal._pending) < 4:
        time.sleep(0.001)
    slow.release.set()
    for thread in [first, *others]:
        thread.join(10)
    assert slow.groups == [(0, 1), (1, 3)]  # five writes, two commits
    assert journal.commits == 2
    assert sorted(c.batch_id for c in answers.values() if c.batch_id) == [100, 200, 201, 202]


def test_a_failed_group_commit_fails_each_of_its_writes() -> None:
    class Broken:
        def write_journal(self, *_args: object) -> list[Claim]:
            raise StoreError("disk full")

    journal = Journal(Broken())  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        journal.claim(BatchClaim("p", "hi", (A,)))
    with pytest.raises(StoreError):
        journal.finish(BatchFinish(1, ACCEPTED))


class _Checking:
    """A client that, at each request, reads the journal from another connection: the batch's
    claim must be committed already."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.unclaimed: list[tuple[str, ...]] = []
        self.lock = threading.Lock()
        self.count = 0

    def send(self, addresses: Sequence[str], message: str, *, notify: bool = False) -> SendResult:
        with sqlite3.connect(self.path) as db:
            found = db.execute(
                "SELECT count(*) FROM recipients r JOIN batches b ON b.id = r.batch_id"
                " WHERE r.address = ? AND b.outcome = 'sending'",
                (addresses[0],),
            ).fetchone()[0]
        with self.lock:
            if found != 1:
                self.unclaimed.append(tuple(addresses))
            self.count += 1
            number = self.count
        time.sleep(0.005)
        return SendResult(f"m{number}", tuple(addresses))


def test_each_batch_is_claimed_before_its_request_and_finished_after(store: HistoryStore) -> None:
    numbers = tuple(f"tel:+1212{2000000 + i:07d}" for i in range(1000))
    client = _Checking(str(store.path))
    report = send_batches(
        client, store, SendPlan(numbers, "hi"), profile="p", options=SendOptions(concurrency=8)
    )
    assert client.unclaimed == [] and client.count == 20
    assert report.count(results.ACCEPTED) == 1000
    assert {b.outcome for b in store.recent(limit=None)} == {ACCEPTED}
