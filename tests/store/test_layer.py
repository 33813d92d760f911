"""The store layer: the SQLite backend's one opener, read-only opens, schema versions and
upgrades from the files older attsms versions wrote, and history pruning (on both backends)."""

from __future__ import annotations

import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from attsms import store as stores
from attsms.core.errors import ExitCode, StoreError, UsageError
from attsms.core.models import InboundMessage
from attsms.store.history import DedupeSlot, HistoryStore, JobOwner, history_path
from attsms.store.inbox import InboxStore, store_path
from attsms.store.migrations import HISTORY_VERSION as SCHEMA_VERSION
from tests.helpers.legacy_files import HISTORY_V1_TABLES
from tests.helpers.support import Cli, profile_sender, sender, store_settings

A, B = "tel:+12125550100", "tel:+12125550101"


def _user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


# --- one opener --------------------------------------------------------------------------------


def test_history_and_inbox_are_opened_alike(isolated_home: Path) -> None:
    # Both are private, in WAL mode, and wait for the disk at each commit.
    with (
        stores.open_history(store_settings()) as history,
        stores.open_inbox(store_settings(), "default") as inbox,
        stores.open_consent(store_settings(), sender()) as consent,
    ):
        history.record_batch(profile="p", message="hi", addresses=[A], message_id="m1")
        inbox.check_writable("12345")
        consent.opt_out_by_hand(sender(), A)
        for path in (Path(history.path), Path(inbox.path), Path(consent.path)):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        for database in (history._db, inbox._database):
            assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert database.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
            assert database.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000


def test_a_failed_commit_in_the_inbox_is_rolled_back_and_later_writes_work(
    isolated_home: Path,
) -> None:
    with stores.open_inbox(store_settings(), "default") as inbox:
        with pytest.raises(StoreError), inbox._database.write() as db:
            db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            db.execute("CREATE TABLE child (p INTEGER REFERENCES parent (id))")
            db.execute("PRAGMA defer_foreign_keys = ON")
            db.execute("INSERT INTO child VALUES (7)")
        assert not inbox._database.in_transaction
        inbox.check_writable("12345")
        assert inbox.count() == 0


# --- read-only -----------------------------------------------------------------------------


def test_reads_create_nothing(isolated_home: Path, backend: str) -> None:
    assert stores.read_history(store_settings()) is None
    assert stores.existing_inbox(store_settings(), "default", read_only=True) is None
    assert stores.opted_out(store_settings(), sender(), [A]) == set()
    assert not (isolated_home / "data").exists()


def test_a_read_only_open_writes_nothing_and_refuses_writes(isolated_home: Path) -> None:
    with stores.open_history(store_settings()) as history:
        history.record_batch(profile="p", message="hi", addresses=[A], message_id="m1")
    before = history_path().read_bytes()
    reader = stores.read_history(store_settings())
    assert reader is not None
    with reader:
        assert reader.read_only
        assert reader.get("m1") is not None
        with pytest.raises(StoreError, match="readonly"):
            reader.record_batch(profile="p", message="x", addresses=[B], message_id="m2")
    assert history_path().read_bytes() == before


def test_an_empty_file_reads_as_no_store(isolated_home: Path) -> None:
    for path in (history_path(), store_path("default")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    assert stores.read_history(store_settings()) is None
    assert stores.existing_inbox(store_settings(), "default", read_only=True) is None
    assert stores.opted_out(store_settings(), sender(), [A]) == set()


# --- schema versions -------------------------------------------------------------------------

# The history as attsms 0.1 wrote it (schema 1).
_HISTORY_V1 = (
    HISTORY_V1_TABLES
    + """
INSERT INTO batches VALUES (1, 'default', 1700000000, 1700000000, 'hello from 0.1', 0,
    'accepted', 'SMS1', NULL, 'r', NULL, 0, 1);
INSERT INTO recipients VALUES (1, 0, 'tel:+12125550101', 'DeliveredToTerminal', 1700000001);
PRAGMA user_version = 1;
"""
)

# The inbox store as this attsms writes it today (schema 1), in WAL mode.
_INBOX_V1 = """
PRAGMA journal_mode = WAL;
CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE,
    registration_id TEXT NOT NULL, sender TEXT NOT NULL, destination TEXT NOT NULL,
    text TEXT NOT NULL, received_at TEXT NOT NULL, received_ts REAL NOT NULL,
    stored_at TEXT NOT NULL, keyword TEXT);
CREATE INDEX messages_sender ON messages (sender, seq);
CREATE INDEX messages_received ON messages (received_ts);
CREATE TABLE opt_outs (address TEXT PRIMARY KEY, since TEXT NOT NULL, source TEXT NOT NULL,
    message_id TEXT);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO messages (message_id, registration_id, sender, destination, text, received_at,
    received_ts, stored_at, keyword) VALUES ('MO1', '12345', 'tel:+12125550100', '12345',
    'STOP', '2024-05-01T12:00:00Z', 1714564800, '2024-05-01T12:00:01Z', 'stop');
INSERT INTO opt_outs VALUES ('tel:+12125550100', '2024-05-01T12:00:01Z', 'message', 'MO1');
PRAGMA user_version = 1;
"""


def _write(path: Path, script: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    db = sqlite3.connect(path)
    db.executescript(script)
    db.close()


def test_a_version_1_history_is_read_as_is_and_upgraded_by_the_first_write(
    cli: Cli, isolated_home: Path
) -> None:
    _write(history_path(), _HISTORY_V1)
    shown = cli("history", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert [b["message"] for b in shown.json()] == ["hello from 0.1"]
    assert _user_version(history_path()) == 1  # a read changes nothing
    with stores.open_history(store_settings()) as history:
        batch = history.get("SMS1")
        assert batch is not None and batch.recipients[0].status == "DeliveredToTerminal"
    assert _user_version(history_path()) == SCHEMA_VERSION


def test_todays_inbox_file_is_read_and_written(cli: Cli, isolated_home: Path) -> None:
    _write(store_path("default"), _INBOX_V1)
    listed = cli("inbox", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [m["text"] for m in listed.json()] == ["STOP"]
    opt_outs = cli("optout", "list", "--json")
    assert [o["number"] for o in opt_outs.json()] == ["+12125550100"]
    # The 0.2 list is folded into the account's on first use, and a START then opts back in.
    who = profile_sender()
    with (
        stores.open_inbox(store_settings(), "default") as inbox,
        stores.open_consent(store_settings(), who) as consent,
    ):
        batch = inbox.add_batch(
            "12345",
            [InboundMessage("MO2", "START", A, "12345", "now")],
            consent=consent,
            account=who.account,
        )
        assert batch.opted_in == (A,)
    assert cli("optout", "list", "--json").json() == []


@pytest.mark.parametrize("which", ["history", "inbox"])
def test_a_store_from_a_newer_attsms_is_refused_by_reads_and_writes_in_one_line(
    cli: Cli, isolated_home: Path, which: str
) -> None:
    if which == "history":
        stores.open_history(store_settings()).close()
        path, read = history_path(), ["history"]
    else:
        stores.open_inbox(store_settings(), "default").close()
        path, read = store_path("default"), ["inbox", "list"]
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    for argv in (read, ["optout", "add", "+12125550100"]):
        if which == "history" and argv[0] == "optout":
            argv = ["status"]
        result = cli(*argv)
        assert result.exit_code == ExitCode.ERROR, result
        errors = [line for line in result.stderr.splitlines() if line.startswith("attsms:")]
        assert len(errors) == 1, result.stderr
        assert "newer attsms (schema 99" in errors[0] and str(path) in errors[0]
    assert _user_version(path) == 99


# --- pruning ---------------------------------------------------------------------------------

DAY = 86400.0


def _sent(
    history: HistoryStore,
    message_id: str,
    days_ago: float,
    key: str | None = None,
    run_id: str = "run-1",
    profile: str = "p",
) -> int:
    dedupe = DedupeSlot(key, 0, 1, "acct") if key else None
    claim = history.claim_batch(
        profile=profile, message="hi", addresses=[A, B], dedupe=dedupe, run_id=run_id
    )
    assert claim.batch_id is not None
    history.finish_batch(claim.batch_id, "accepted", message_id=message_id)  # type: ignore[arg-type]
    created = time.time() - days_ago * DAY
    with history._write() as db:
        db.execute("UPDATE batches SET created_at = ? WHERE id = ?", (created, claim.batch_id))
    return claim.batch_id


def _owner(run_id: str, host: str = "elsewhere") -> JobOwner:
    return JobOwner(run_id, host, 1, None, time.time())


def _acquire(history: HistoryStore, key: str, run_id: str) -> None:
    history.acquire_job(
        profile="p",
        account="acct",
        key=key,
        fingerprint="FP",
        batch_count=1,
        recipient_count=2,
        owner=_owner(run_id),
    )


def test_prune_by_age_deletes_old_batches_with_their_recipients(
    isolated_home: Path, backend: str
) -> None:
    with stores.open_history(store_settings()) as history:
        _sent(history, "old", 40)
        _sent(history, "new", 1)
        assert history.prune(keep_days=30) == 1
        assert [b.message_id for b in history.recent(None)] == ["new"]
        assert history._db.execute("SELECT count(*) FROM recipients").fetchone()[0] == 2


def test_prune_by_size_keeps_the_newest(isolated_home: Path, backend: str) -> None:
    with stores.open_history(store_settings()) as history:
        for n in range(5):
            _sent(history, f"m{n}", 10 - n)
        assert history.prune(keep_batches=2) == 3
        assert [b.message_id for b in history.recent(None)] == ["m4", "m3"]
        assert history.prune() == 0  # no limit given: nothing goes


def test_prune_never_touches_a_job_a_live_run_holds(isolated_home: Path, backend: str) -> None:
    with stores.open_history(store_settings()) as history:
        _acquire(history, "live-job", "run-1")  # held by a run on another host, not expired
        _sent(history, "live", 40, key="live-job")
        _acquire(history, "done-job", "run-2")
        _sent(history, "done", 40, key="done-job", run_id="run-2")
        history.release_job("p", "acct", "done-job", "run-2")
        assert history.prune(keep_days=30, keep_batches=0) == 1
        assert [b.message_id for b in history.recent(None)] == ["live"]
        jobs = dict(history._db.execute("SELECT key, retired_at IS NOT NULL FROM jobs"))
        # The finished job's batches went; the job stays, retired (its key is refused).
        assert jobs == {"live-job": False, "done-job": True}
        # Once its run lets go, the live job's rows go too.
        history.release_job("p", "acct", "live-job", "run-1")
        assert history.prune(keep_days=30) == 1
        assert history.recent(None) == []


def test_a_pruned_keyed_job_is_retired_and_its_key_refused(
    isolated_home: Path, backend: str
) -> None:
    with stores.open_history(store_settings()) as history:
        _acquire(history, "job", "run-1")
        _sent(history, "keyed", 40, key="job")
        history.release_job("p", "acct", "job", "run-1")
        _sent(history, "new", 1)
        assert history.prune(keep_batches=1) == 1
        assert [b.message_id for b in history.recent(None)] == ["new"]
        # The re-run, the dry run and a run with other text: all refused, nothing claimed.
        checks: tuple[Callable[[], object], ...] = (
            lambda: _acquire(history, "job", "run-2"),
            lambda: history.check_job(profile="p", account="acct", key="job", fingerprint="FP"),
        )
        for check in checks:
            with pytest.raises(UsageError, match="retention pruned its record") as refused:
                check()
            assert refused.value.exit_code == ExitCode.USAGE
        with pytest.raises(UsageError, match="different message"):
            history.check_job(profile="p", account="acct", key="job", fingerprint="other")
        assert history.dedupe_attempts("p", "job", "acct") == {}
        # Pruning again keeps the retired job (one small row per key), and a new key is new.
        history.prune(keep_batches=0)
        assert history.check_job(profile="p", account="acct", key="other", fingerprint="FP") is None
        with pytest.raises(UsageError):
            _acquire(history, "job", "run-3")


def test_prune_keeps_every_row_of_an_unsettled_keyed_job(isolated_home: Path, backend: str) -> None:
    with stores.open_history(store_settings()) as history:
        history.acquire_job(
            profile="p", account="acct", key="job", fingerprint="FP", batch_count=2,
            recipient_count=4, owner=_owner("run-1"),
        )  # fmt: skip
        _sent(history, "first", 40, key="job")  # batch 0 accepted
        failed = history.claim_batch(
            profile="p", message="hi", addresses=[A], run_id="run-1",
            dedupe=DedupeSlot("job", 1, 2, "acct"),
        ).batch_id  # fmt: skip
        assert failed is not None
        history.finish_batch(failed, "failed", error="refused")  # type: ignore[arg-type]
        history.release_job("p", "acct", "job", "run-1")
        _sent(history, "new", 1)
        # Batch 1 failed (surely not sent): the re-run must still see batch 0 went.
        assert history.prune(keep_days=30, keep_batches=0) == 1
        assert sorted(history.dedupe_attempts("p", "job", "acct")) == [0, 1]
        assert history.check_job(profile="p", account="acct", key="job", fingerprint="FP")
        # Once the rest is sent the job is settled, and retention may retire it.
        _acquire(history, "job", "run-2")
        resent = history.claim_batch(
            profile="p", message="hi", addresses=[A], run_id="run-2",
            dedupe=DedupeSlot("job", 1, 2, "acct"),
        ).batch_id  # fmt: skip
        assert resent is not None
        history.finish_batch(resent, "accepted", message_id="second")  # type: ignore[arg-type]
        history.release_job("p", "acct", "job", "run-2")
        assert history.prune(keep_days=30, keep_batches=0) == 3
        with pytest.raises(UsageError, match="retention pruned"):
            _acquire(history, "job", "run-3")


def test_a_version_2_history_is_upgraded_keeping_its_jobs(
    isolated_home: Path, backend: str
) -> None:
    from attsms.store.migrations import (
        _HISTORY_PG,
        _HISTORY_V1,
        _HISTORY_V1_TO_V2,
    )

    settings = store_settings()
    if backend == "sqlite":
        history_path().parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(history_path()) as db:
            db.executescript(_HISTORY_V1 + _HISTORY_V1_TO_V2 + "PRAGMA user_version = 2;")
            db.execute(
                "INSERT INTO jobs (profile, account, key, fingerprint, batch_count,"
                " recipient_count, created_at) VALUES ('p', 'acct', 'job', 'FP', 1, 2, 0)"
            )
    else:
        import psycopg

        assert settings.database_url is not None
        with psycopg.connect(settings.database_url, autocommit=True) as connection:
            connection.execute("CREATE SCHEMA attsms")
            connection.execute("SET search_path TO attsms")
            for statement in _HISTORY_PG.split(";"):
                if statement.strip():
                    connection.execute(statement.encode())
            connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            connection.execute("INSERT INTO schema_version VALUES (2)")
            connection.execute(
                "INSERT INTO jobs (profile, account, key, fingerprint, batch_count,"
                " recipient_count, created_at) VALUES ('p', 'acct', 'job', 'FP', 1, 2, 0)"
            )
    with stores.open_history(settings) as history:
        assert history._db.version() == SCHEMA_VERSION == 4
        assert history.check_job(profile="p", account="acct", key="job", fingerprint="FP")


def test_retention_comes_from_the_environment_and_applies_on_the_next_write(
    cli: Cli, isolated_home: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    with stores.open_history(store_settings()) as history:
        _sent(history, "old", 40, profile="default")
        _sent(history, "new", 1, profile="default")
    monkeypatch.setenv("ATTSMS_HISTORY_KEEP_DAYS", "30")
    # A read does not prune: it changes nothing.
    assert len(cli("history", "--json").json()) == 2
    stores.open_history(store_settings()).close()
    shown = cli("history", "--json")
    assert [b["message_id"] for b in shown.json()] == ["new"]


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_a_bad_retention_is_a_usage_error(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ATTSMS_HISTORY_KEEP_DAYS", value)
    with pytest.raises(Exception, match="ATTSMS_HISTORY_KEEP_DAYS must be") as caught:
        stores.open_history(store_settings())
    assert getattr(caught.value, "exit_code", None) == ExitCode.USAGE


def test_inbox_store_is_what_the_store_layer_opens(isolated_home: Path) -> None:
    with stores.open_inbox(store_settings(), "work") as inbox:
        assert isinstance(inbox, InboxStore) and inbox.path == store_path("work")
