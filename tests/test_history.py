"""The local send history: private on disk, crash-safe claims, what status and history read."""

from __future__ import annotations

import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from attsms.errors import ExitCode, StoreError, UsageError
from attsms.history import (
    SCHEMA_VERSION,
    DedupeSlot,
    HistoryStore,
    Outcome,
    history_path,
)
from attsms.models import DeliveryInfo
from attsms.output import to_jsonable

A, B, C = "tel:+12125550100", "tel:+12125550101", "tel:+12125550102"


@pytest.fixture
def store() -> Iterator[HistoryStore]:
    with HistoryStore.open() as opened:
        yield opened


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_lives_in_the_data_dir_private_and_in_wal_mode(
    isolated_home: Path, store: HistoryStore
) -> None:
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
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE batches SET created_at = created_at - 7200")
    store.record_batch(profile="p", message="new", addresses=[A], message_id="m2")
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    assert [b.message_id for b in store.recent(since=hour_ago)] == ["m2"]
    assert [b.message_id for b in store.recent(limit=None)] == ["m2", "m1"]


def test_update_statuses_per_recipient_and_not_final(store: HistoryStore) -> None:
    store.record_batch(profile="p", message="hi", addresses=[A, B], message_id="m1")
    store.record_batch(profile="p", message="hi", addresses=[C], message_id="m2")
    store.record_batch(profile="p", message="x", addresses=[C], message_id=None, outcome="failed")
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
    store.finish_batch(claim.batch_id, "accepted", message_id="m1")
    [row] = store.recent()
    assert (row.outcome, row.message_id, row.may_have_been_sent) == ("accepted", "m1", False)
    with pytest.raises(ValueError):
        store.finish_batch(claim.batch_id, "sending")


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

    attempt(0, "failed")
    attempt(0, "accepted")
    attempt(1, "unknown")
    attempt(1, "failed")  # a resend that failed: the first may still have gone
    attempt(2, "failed")
    best = store.dedupe_attempts("p", "job")
    assert {n: b.outcome for n, b in best.items()} == {0: "accepted", 1: "unknown", 2: "failed"}
    assert best[0].message_id == "m0"


def test_dedupe_key_is_tied_to_one_job(store: HistoryStore) -> None:
    assert store.use_dedupe_key("p", "k", fingerprint="abc", batch_count=2, recipient_count=60)
    assert not store.use_dedupe_key("p", "k", fingerprint="abc", batch_count=2, recipient_count=60)
    assert store.use_dedupe_key("q", "k", fingerprint="xyz", batch_count=1, recipient_count=1)
    with pytest.raises(UsageError) as caught:
        store.use_dedupe_key("p", "k", fingerprint="xyz", batch_count=1, recipient_count=1)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "'k'" in str(caught.value) and "60 recipients" in str(caught.value)


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
            store.finish_batch(claim.batch_id, "accepted", message_id=f"m{n}-{i}")

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
    with HistoryStore.open() as other:
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
