"""The local send history: private on disk, crash-safe claims, what status and history read."""

from __future__ import annotations

import dataclasses
import os
import socket
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from attsms import store as stores
from attsms.cli.output import to_jsonable
from attsms.core.errors import ExitCode, LockTimeoutError, StoreError, UsageError
from attsms.core.models import DeliveryInfo
from attsms.store.history import (
    DedupeSlot,
    HistoryStore,
    JobOwner,
    JobTakenError,
    Outcome,
    history_path,
)
from attsms.store.migrations import HISTORY_VERSION as SCHEMA_VERSION
from tests.helpers.legacy_files import HISTORY_V1_TABLES
from tests.helpers.support import store_settings

A, B, C = "tel:+12125550100", "tel:+12125550101", "tel:+12125550102"


@pytest.fixture
def store(backend: str) -> Iterator[HistoryStore]:
    """The history on each backend (SQLite, then PostgreSQL)."""
    with stores.open_history(store_settings()) as opened:
        yield opened


@pytest.fixture
def sqlite_store() -> Iterator[HistoryStore]:
    with HistoryStore.open() as opened:
        yield opened


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_lives_in_the_data_dir_private_and_in_wal_mode(
    isolated_home: Path, sqlite_store: HistoryStore
) -> None:
    store = sqlite_store
    store.record_batch(profile="p", message="hi", addresses=[A], message_id="m1")
    assert store.path == history_path() == isolated_home / "data" / "history.sqlite3"
    assert mode(store.path.parent) == 0o700
    assert mode(store.path) == 0o600
    wal = store.path.with_name(store.path.name + "-wal")
    assert wal.exists() and mode(wal) == 0o600
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_an_existing_loose_file_is_made_private(isolated_home: Path) -> None:
    path = history_path()
    path.parent.mkdir(parents=True)
    path.touch(mode=0o644)
    path.chmod(0o644)
    HistoryStore.open().close()
    assert mode(path) == 0o600


def test_record_then_get_and_recent(store: HistoryStore) -> None:
    first = store.record_batch(profile="p", message="one", addresses=[A, B], message_id="m1")
    store.record_batch(profile="p", message="two", addresses=[C], message_id="m2", notify=True)
    store.record_batch(profile="other", message="three", addresses=[A], message_id="m3")
    got = store.get("m1")
    assert got is not None
    assert (got.id, got.message, got.outcome, got.profile) == (first, "one", "accepted", "p")
    assert [r.address for r in got.recipients] == [A, B]
    assert all(r.status is None for r in got.recipients)
    assert got.created_at.tzinfo is not None
    assert store.get("nope") is None
    assert [b.message_id for b in store.recent()] == ["m3", "m2", "m1"]
    assert [b.message_id for b in store.recent(profile="p")] == ["m2", "m1"]
    assert [b.message_id for b in store.recent(limit=1)] == ["m3"]
    assert store.recent(profile="p")[0].notify is True


def test_recent_since(store: HistoryStore) -> None:
    store.record_batch(profile="p", message="old", addresses=[A], message_id="m1")
    with store._write() as db:
        db.execute("UPDATE batches SET created_at = created_at - 7200")
    store.record_batch(profile="p", message="new", addresses=[A], message_id="m2")
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    assert [b.message_id for b in store.recent(since=hour_ago)] == ["m2"]
    assert [b.message_id for b in store.recent(limit=None)] == ["m2", "m1"]


def test_update_statuses_per_recipient_and_not_final(store: HistoryStore) -> None:
    store.record_batch(profile="p", message="hi", addresses=[A, B], message_id="m1")
    store.record_batch(profile="p", message="hi", addresses=[C], message_id="m2")
    store.record_batch(
        profile="p", message="x", addresses=[C], message_id=None, outcome=Outcome.FAILED
    )
    assert {b.message_id for b in store.not_final()} == {"m1", "m2"}  # failed: nothing to ask

    changed = store.update_statuses(
        "m1", [DeliveryInfo(A, "DeliveredToTerminal"), DeliveryInfo(B, "MessageWaiting")]
    )
    assert changed == 2
    m1 = store.get("m1")
    assert m1 is not None
    assert [(r.address, r.status) for r in m1.recipients] == [
        (A, "DeliveredToTerminal"),
        (B, "MessageWaiting"),
    ]
    assert m1.recipients[0].status_at is not None
    assert not m1.final
    store.update_statuses("m1", [DeliveryInfo(B, "DeliveryImpossible")])
    store.update_statuses("m2", [DeliveryInfo(C, "DeliveredToNetwork")])
    assert store.not_final() == []
    final = store.get("m1")
    assert final is not None and final.final
    # An address the batch never had changes nothing.
    assert store.update_statuses("m2", [DeliveryInfo(A, "DeliveredToTerminal")]) == 0


def test_claim_is_in_flight_until_finished(store: HistoryStore) -> None:
    claim = store.claim_batch(profile="p", message="hi", addresses=[A])
    assert claim.batch_id is not None
    [row] = store.recent()
    assert (row.outcome, row.message_id, row.may_have_been_sent) == ("sending", None, True)
    store.finish_batch(claim.batch_id, Outcome.ACCEPTED, message_id="m1")
    [row] = store.recent()
    assert (row.outcome, row.message_id, row.may_have_been_sent) == ("accepted", "m1", False)
    with pytest.raises(ValueError):
        store.finish_batch(claim.batch_id, Outcome.SENDING)


@pytest.mark.parametrize(
    ("earlier", "resend_unknown", "blocked"),
    [
        ("accepted", False, True),
        ("accepted", True, True),
        ("unknown", False, True),
        ("sending", False, True),  # the process died mid-request
        ("unknown", True, False),
        ("sending", True, False),
        ("failed", False, False),
    ],
)
def test_claim_under_a_dedupe_key(
    store: HistoryStore, earlier: Outcome, resend_unknown: bool, blocked: bool
) -> None:
    slot = DedupeSlot("job", batch_number=1, batch_count=3)
    first = store.claim_batch(profile="p", message="hi", addresses=[A], dedupe=slot)
    assert first.batch_id is not None
    if earlier != "sending":
        message_id = "m1" if earlier == "accepted" else None
        store.finish_batch(first.batch_id, earlier, message_id=message_id)
    again = store.claim_batch(
        profile="p", message="hi", addresses=[A], dedupe=slot, resend_unknown=resend_unknown
    )
    assert (again.batch_id is None) == blocked
    if blocked:
        assert again.existing is not None and again.existing.outcome == earlier
    # Other batch numbers, keys and profiles are unaffected.
    for other in (DedupeSlot("job", 2, 3), DedupeSlot("other", 1, 3)):
        assert store.claim_batch(profile="p", message="hi", addresses=[A], dedupe=other).batch_id
    assert store.claim_batch(profile="q", message="hi", addresses=[A], dedupe=slot).batch_id


def test_best_attempt_per_batch(store: HistoryStore) -> None:
    def attempt(number: int, outcome: Outcome) -> None:
        claim = store.claim_batch(
            profile="p",
            message="hi",
            addresses=[A],
            dedupe=DedupeSlot("job", number, 3),
            resend_unknown=True,
        )
        assert claim.batch_id is not None
        if outcome != "sending":
            message_id = f"m{number}" if outcome == "accepted" else None
            store.finish_batch(claim.batch_id, outcome, message_id=message_id)

    attempt(0, Outcome.FAILED)
    attempt(0, Outcome.ACCEPTED)
    attempt(1, Outcome.UNKNOWN)
    attempt(1, Outcome.FAILED)  # a resend that failed: the first may still have gone
    attempt(2, Outcome.FAILED)
    best = store.dedupe_attempts("p", "job")
    assert {n: b.outcome for n, b in best.items()} == {0: "accepted", 1: "unknown", 2: "failed"}
    assert best[0].message_id == "m0"


def _owner(run_id: str, **changes: Any) -> JobOwner:
    return dataclasses.replace(JobOwner.current(run_id), **changes)


def _acquire(store: HistoryStore, profile: str = "p", fingerprint: str = "abc", **kw: Any) -> Any:
    kw.setdefault("owner", _owner("run-1"))
    return store.acquire_job(
        profile=profile,
        account=kw.pop("account", "acct"),
        key="k",
        fingerprint=fingerprint,
        batch_count=2,
        recipient_count=60,
        **kw,
    )


def test_dedupe_key_is_tied_to_one_job(store: HistoryStore) -> None:
    assert _acquire(store).new
    assert not _acquire(store).new  # the same run again
    assert _acquire(store, profile="q", fingerprint="xyz").new
    assert _acquire(store, fingerprint="xyz", account="another account").new
    with pytest.raises(UsageError) as caught:
        _acquire(store, fingerprint="xyz")
    assert caught.value.exit_code == ExitCode.USAGE
    assert "'k'" in str(caught.value) and "60 recipients" in str(caught.value)


def test_a_job_held_by_a_live_run_is_refused_naming_it(store: HistoryStore) -> None:
    _acquire(store, owner=_owner("run-1"))
    waits: list[float] = []
    with pytest.raises(LockTimeoutError) as caught:
        _acquire(store, owner=_owner("run-2"), lock_timeout=0.5, sleep=waits.append)
    assert caught.value.exit_code == ExitCode.TEMPFAIL
    assert f"pid {os.getpid()} on {socket.gethostname()}" in str(caught.value)
    assert "--lock-timeout" in str(caught.value)
    assert waits  # it waited (and polled) before giving up


def test_the_claim_of_a_dead_process_is_taken_at_once(store: HistoryStore) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    _acquire(store, owner=_owner("run-dead", pid=dead.pid, process_start="1"))
    claim = _acquire(store, owner=_owner("run-2"))
    assert claim.previous is not None and claim.previous.run_id == "run-dead"


def test_a_claim_from_another_host_is_taken_only_once_it_expires(store: HistoryStore) -> None:
    _acquire(store, owner=_owner("run-far", host="elsewhere", pid=1))
    with pytest.raises(LockTimeoutError, match="on elsewhere"):
        _acquire(store, owner=_owner("run-2"))
    with store._write() as db:  # its heartbeat stopped LEASE_SECONDS ago
        db.execute("UPDATE jobs SET expires_at = ?", (time.time() - 1,))
    assert _acquire(store, owner=_owner("run-2")).previous is not None


def test_a_run_that_lost_its_claim_sends_no_more_batches(store: HistoryStore) -> None:
    _acquire(store, owner=_owner("run-1"))
    with store._write() as db:
        db.execute("UPDATE jobs SET expires_at = ?", (time.time() - 1,))
    _acquire(store, owner=_owner("run-2", host="elsewhere"))
    slot = DedupeSlot("k", 0, 2, "acct")
    with pytest.raises(JobTakenError):
        store.claim_batch(profile="p", message="hi", addresses=[A], dedupe=slot, run_id="run-1")
    assert store.claim_batch(
        profile="p", message="hi", addresses=[A], dedupe=slot, run_id="run-2"
    ).batch_id
    assert not store.renew_job("p", "acct", "k", "run-1")
    assert store.renew_job("p", "acct", "k", "run-2")


def test_a_released_claim_is_free(store: HistoryStore) -> None:
    _acquire(store, owner=_owner("run-1", host="elsewhere"))
    store.release_job("p", "acct", "k", "run-1")
    assert _acquire(store, owner=_owner("run-2")).previous is None


def test_the_journal_waits_for_the_disk_at_each_commit(sqlite_store: HistoryStore) -> None:
    # synchronous=FULL: a power cut cannot lose the row written before a request left.
    assert sqlite_store._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_a_failed_commit_is_rolled_back_and_later_writes_work(sqlite_store: HistoryStore) -> None:
    store = sqlite_store
    # A deferred foreign key makes COMMIT itself fail, as a full disk can.
    with pytest.raises(StoreError), store._write() as db:
        db.execute("PRAGMA defer_foreign_keys = ON")
        db.execute("INSERT INTO recipients (batch_id, position, address) VALUES (999, 0, 'x')")
    assert not store._db.in_transaction
    batch_id = store.record_batch(profile="p", message="hi", addresses=[A], message_id="m1")
    assert store.get("m1") is not None and batch_id


# The history as attsms 0.1 wrote it (schema 1), with a keyed job half sent.
_V1_SCHEMA = (
    HISTORY_V1_TABLES
    + """
INSERT INTO batches VALUES (1, 'default', 1700000000, 1700000000, 'hi', 0, 'accepted', 'SMS1',
    NULL, 'r', 'old-job', 0, 2);
INSERT INTO recipients VALUES (1, 0, 'tel:+12125550101', 'DeliveredToTerminal', 1700000001);
INSERT INTO dedupe_keys VALUES ('default', 'old-job', 'FP-ORDERED', 2, 51, 1700000000);
PRAGMA user_version = 1;
"""
)


def test_a_version_1_history_is_upgraded_in_place_and_its_job_carries_on(
    isolated_home: Path,
) -> None:
    path = history_path()
    path.parent.mkdir(parents=True, mode=0o700)
    with sqlite3.connect(path) as db:
        db.executescript(_V1_SCHEMA)
    with HistoryStore.open() as store:
        assert store.get("SMS1") is not None  # its rows are all there
        claim = store.acquire_job(
            profile="default",
            account="acct",
            key="old-job",
            fingerprint="FP-SET",
            ordered_fingerprint="FP-ORDERED",
            batch_count=2,
            recipient_count=51,
            owner=_owner("run-1"),
        )
        assert claim.ordered and not claim.new  # batches as 0.1 made them, in input order
        assert store.dedupe_attempts("default", "old-job", "acct")[0].outcome == "accepted"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_threads_share_one_store(store: HistoryStore) -> None:
    def work(n: int) -> None:
        for i in range(25):
            claim = store.claim_batch(
                profile="p",
                message="hi",
                addresses=[f"tel:+1212555{n:02d}{i:02d}"],
                dedupe=DedupeSlot("job", n * 100 + i, 1000),
            )
            assert claim.batch_id is not None
            store.finish_batch(claim.batch_id, Outcome.ACCEPTED, message_id=f"m{n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batches = store.recent(limit=None)
    assert len(batches) == 200
    assert {b.outcome for b in batches} == {"accepted"}
    assert len(store.dedupe_attempts("p", "job")) == 200


def test_two_stores_on_one_file_see_each_other(store: HistoryStore) -> None:
    with stores.open_history(store_settings()) as other:
        other.record_batch(profile="p", message="hi", addresses=[A], message_id="m1")
        assert store.get("m1") is not None
        store.update_statuses("m1", [DeliveryInfo(A, "DeliveredToTerminal")])
        got = other.get("m1")
        assert got is not None and got.recipients[0].status == "DeliveredToTerminal"


def test_a_file_that_is_not_a_database_is_a_store_error(isolated_home: Path) -> None:
    path = history_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError) as caught:
        HistoryStore.open()
    assert str(path) in str(caught.value)
    assert caught.value.exit_code == ExitCode.ERROR


def test_a_newer_schema_is_refused(isolated_home: Path) -> None:
    HistoryStore.open().close()
    with sqlite3.connect(history_path()) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer attsms"):
        HistoryStore.open()


def test_batches_print_as_json(store: HistoryStore) -> None:
    store.record_batch(profile="p", message="hi", addresses=[A], message_id="m1")
    [batch] = store.recent()
    document = to_jsonable(batch)
    assert document["message_id"] == "m1"
    assert document["recipients"] == [{"address": A, "status": None, "status_at": None}]
    assert datetime.fromisoformat(document["created_at"]).tzinfo is not None
