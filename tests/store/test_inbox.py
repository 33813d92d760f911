"""The inbox store and the opt-outs its batches apply: commits, files, `opted_out`."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from attsms import store as stores
from attsms.core.errors import ExitCode, StoreError, UsageError
from attsms.core.models import InboundMessage, SenderIdentity
from attsms.store.consent import ConsentStore
from attsms.store.inbox import (
    InboxStore,
    StoredBatch,
    StoredMessage,
    parse_since,
    store_path,
)
from tests.helpers.support import sender, store_settings

ALICE = "tel:+12125550100"
BOB = "tel:+12125550101"


def message(
    message_id: str, text: str = "hello", sender: str = ALICE, when: str = "2024-05-01T12:00:00Z"
) -> InboundMessage:
    return InboundMessage(message_id, text, sender, "12345", when)


SENDER = sender()


@pytest.fixture
def store(backend: str) -> Iterator[InboxStore]:
    """The inbox on each backend (SQLite, then PostgreSQL)."""
    with stores.open_inbox(store_settings(), "default") as opened:
        yield opened


@pytest.fixture
def consent(store: InboxStore) -> Iterator[ConsentStore]:
    """The opt-outs, on the inbox's backend."""
    with stores.open_consent(store_settings(), SENDER) as opened:
        yield opened


def add(store: InboxStore, consent: ConsentStore, messages: list[InboundMessage]) -> StoredBatch:
    """`messages` pulled for SENDER: stored, their keywords applied."""
    return store.add_batch("12345", messages, consent=consent, account=SENDER.account)


def opted_out(addresses: list[str], who: SenderIdentity = SENDER) -> set[str]:
    return stores.opted_out(store_settings(), who, addresses)


@pytest.fixture
def sqlite_store() -> Iterator[InboxStore]:
    with InboxStore.open("default") as opened:
        yield opened


# --- committing batches ----------------------------------------------------------------------


def test_a_message_seen_before_is_neither_stored_nor_reported_again(store: InboxStore) -> None:
    first = store.add_batch("12345", [message("m1"), message("m2")])
    again = store.add_batch("12345", [message("m2"), message("m3")])
    assert [m.message_id for m in first.new] == ["m1", "m2"]
    assert [m.message_id for m in again.new] == ["m3"]
    assert again.duplicates == 1
    assert [m.message_id for m in store.messages()] == ["m1", "m2", "m3"]


def test_the_same_id_twice_in_one_batch_is_stored_once(store: InboxStore) -> None:
    batch = store.add_batch("12345", [message("m1"), message("m1")])
    assert (len(batch.new), batch.duplicates) == (1, 1)


def test_a_batch_larger_than_one_insert_statement_is_stored_whole_in_order(
    store: InboxStore,
) -> None:
    # SQLite writes a batch 100 rows a statement: 250 new messages (and a seen one, and one
    # twice) cross two statement boundaries.
    store.add_batch("12345", [message("m0007")])
    ids = [f"m{i:04d}" for i in range(251)]
    batch = store.add_batch("12345", [message(i, text=f"#{i}") for i in [*ids, "m0100"]])
    assert [m.message_id for m in batch.new] == [i for i in ids if i != "m0007"]
    assert batch.duplicates == 2
    stored = store.messages()
    assert [m.message_id for m in stored] == ["m0007", *[i for i in ids if i != "m0007"]]
    assert [m.text for m in stored][1:4] == ["#m0000", "#m0001", "#m0002"]


def test_a_group_partly_stored_by_another_writer_reports_only_its_own_new_ones(
    store: InboxStore,
) -> None:
    # Another process stores C between two groups of this one: of A, D, C, E, D only D and E
    # are new here, in order, though C was stored after everything this store wrote before.
    store.add_batch("12345", [message("A"), message("B")])
    with stores.open_inbox(store_settings(), "default") as other:
        other.add_batch("12345", [message("C")])
    batch = store.add_batch("12345", [message(i) for i in ["A", "D", "C", "E", "D"]])
    assert [m.message_id for m in batch.new] == ["D", "E"]
    assert batch.duplicates == 3
    assert store.add_batch("12345", [message("E"), message("A")]).new == ()
    assert [m.message_id for m in store.messages()] == ["A", "B", "C", "D", "E"]


def test_a_group_of_new_messages_is_one_statement_on_sqlite(store: InboxStore) -> None:
    """`listen`'s writer waits to get the GIL back after every statement: a group is one
    INSERT, its own durable transaction, not BEGIN, a lookup, the INSERT and COMMIT."""
    if store.backend != "sqlite":
        pytest.skip("PostgreSQL: one statement (ON CONFLICT DO NOTHING RETURNING) in its own path")
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    try:
        batch = store.add_batch("12345", [message(f"n{i}") for i in range(16)])
    finally:
        store._db.set_trace_callback(None)  # type: ignore[attr-defined]
    assert len(batch.new) == 16
    assert [s.split()[0] for s in statements] == ["INSERT"]


def test_stop_opts_out_and_start_opts_back_in_in_the_peoples_order(
    store: InboxStore, consent: ConsentStore
) -> None:
    batch = add(
        store,
        consent,
        [
            message("m1", " STOP ", ALICE),
            message("m2", "stop", BOB, when="2024-05-01T12:00:00Z"),
            message("m3", "Start", BOB, when="2024-05-01T12:00:05Z"),
        ],
    )
    assert batch.opted_out == (ALICE, BOB)
    assert batch.opted_in == (BOB,)
    assert [(o.address, o.source, o.message_id) for o in consent.entries(SENDER)] == [
        (ALICE, "message", "m1")
    ]
    assert [m.keyword for m in batch.new] == ["stop", "stop", "start"]


def test_a_stop_seen_again_does_not_undo_a_later_opt_in(
    store: InboxStore, consent: ConsentStore
) -> None:
    add(store, consent, [message("m1", "STOP")])
    add(store, consent, [message("m2", "START", when="2024-05-01T12:01:00Z")])
    replay = add(store, consent, [message("m1", "STOP")])  # the service resent it
    assert replay.opted_out == ()
    assert opted_out([ALICE]) == set()


def test_an_opt_out_is_never_behind_the_message_that_made_it(
    store: InboxStore, consent: ConsentStore
) -> None:
    # The second message cannot be stored (its ID is not text): the batch's messages roll
    # back, but the STOP was applied first, in its own commit: the person is not texted.
    bad = InboundMessage(object(), "hi", BOB, "12345", "")  # type: ignore[arg-type]
    with pytest.raises(StoreError) as caught:
        add(store, consent, [message("m1", "STOP"), bad])
    assert caught.value.exit_code == ExitCode.ERROR
    assert store.messages() == []
    assert opted_out([ALICE]) == {ALICE}
    # …and the store is usable afterwards: no transaction was left open; the opt-out is not
    # counted twice.
    again = add(store, consent, [message("m1", "STOP")])
    assert (len(again.new), again.opted_out) == (1, ())


def test_manual_opt_outs(consent: ConsentStore) -> None:
    assert consent.opt_out_by_hand(SENDER, "tel:2125550100") is True  # the service's short form
    assert consent.opt_out_by_hand(SENDER, ALICE) is False
    removed = consent.opt_in_by_hand(SENDER, ALICE)
    assert [r.source for r in removed] == ["manual"]
    assert consent.opt_in_by_hand(SENDER, ALICE) == []


# --- files -----------------------------------------------------------------------------------


def test_store_is_0600_in_a_0700_directory_wal_included(sqlite_store: InboxStore) -> None:
    store = sqlite_store
    store.add_batch("12345", [message("m1")])
    path = store_path("default")
    assert store.path == path
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    assert {p.name for p in files} >= {path.name, path.name + "-wal", path.name + "-shm"}
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


def test_store_is_in_wal_mode_with_full_sync(sqlite_store: InboxStore) -> None:
    import sqlite3

    db = sqlite3.connect(sqlite_store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_one_inbox_per_profile_one_opt_out_list_per_account(
    isolated_home: Path, backend: str
) -> None:
    work, home = sender("work"), sender("home")
    other_account = sender("other", account="another-client@https://api.att.com")
    with (
        stores.open_inbox(store_settings(), "work") as work_inbox,
        stores.open_inbox(store_settings(), "home") as home_inbox,
        stores.open_consent(store_settings(), work) as consent,
    ):
        work_inbox.add_batch(
            "12345", [message("m1", "STOP")], consent=consent, account=work.account
        )
        assert home_inbox.messages() == []
    assert opted_out([ALICE], work) == {ALICE}
    assert opted_out([ALICE], home) == {ALICE}  # the same account and short code
    assert opted_out([ALICE], other_account) == set()
    assert opted_out([ALICE], sender("home", short_code="99999")) == set()
    assert opted_out([ALICE], sender("home", short_code=None)) == {ALICE}  # any short code
    if backend == "sqlite":
        assert store_path("work").parent == isolated_home / "data" / "inbox"


def test_unwritable_data_dir_is_a_store_error(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = isolated_home / "not-a-dir"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("")
    monkeypatch.setenv("ATTSMS_DATA_DIR", str(blocker))
    with pytest.raises(StoreError, match="cannot create the inbox store"):
        InboxStore.open("default")


def test_a_damaged_store_says_so(isolated_home: Path) -> None:
    path = store_path("default")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="inbox store") as caught:
        InboxStore.open("default")
    assert "move the damaged file aside" in str(caught.value)


def test_a_store_from_a_newer_attsms_is_refused(sqlite_store: InboxStore) -> None:
    import sqlite3

    db = sqlite3.connect(sqlite_store.path)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer attsms"):
        InboxStore.open("default")


# --- opted_out: what `send` asks ------------------------------------------------------------


def test_opted_out_without_a_store_is_empty_and_creates_nothing(
    isolated_home: Path, backend: str
) -> None:
    assert opted_out([ALICE]) == set()
    assert not store_path("default").exists()
    assert stores.existing_inbox(store_settings(), "default") is None
    assert stores.existing_consent(store_settings()) is None


def test_opted_out_answers_in_the_callers_spelling(
    store: InboxStore, consent: ConsentStore
) -> None:
    add(store, consent, [message("m1", "STOP", "tel:2125550100")])
    asked = ["tel:+12125550100", "tel:12125550100", BOB]
    assert opted_out(asked) == {
        "tel:+12125550100",
        "tel:12125550100",
    }


def test_opted_out_handles_long_recipient_lists(store: InboxStore, consent: ConsentStore) -> None:
    numbers = [f"tel:+1212555{n:04d}" for n in range(2000)]
    add(store, consent, [message(f"m{n}", "STOP", numbers[n]) for n in (3, 1500)])
    assert opted_out(numbers) == {numbers[3], numbers[1500]}


def test_opted_out_fails_closed_on_a_damaged_store(isolated_home: Path) -> None:
    path = store_path("default")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(StoreError):
        opted_out([ALICE])


def test_opted_out_fails_closed_on_a_damaged_opt_out_list(isolated_home: Path) -> None:
    from attsms.store.consent import consent_path

    path = consent_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(StoreError, match="opt-out list"):
        opted_out([ALICE])


# --- --since ---------------------------------------------------------------------------------


@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    )
)
def test_since_reads_iso_dates_and_times(moment: datetime) -> None:
    assert parse_since(moment.isoformat()) == pytest.approx(moment.timestamp())
    assert parse_since(moment.isoformat().replace("+00:00", "Z")) == pytest.approx(
        moment.timestamp()
    )


def test_since_without_a_zone_is_local_time() -> None:
    local = datetime(2024, 5, 1, 9, 30)
    assert parse_since("2024-05-01T09:30") == local.timestamp()
    assert parse_since("2024-05-01") == datetime(2024, 5, 1).timestamp()


@given(amount=st.integers(0, 10_000), unit=st.sampled_from("smhdwSMHDW"))
def test_since_reads_durations_back_from_now(amount: int, unit: str) -> None:
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit.lower()]
    assert parse_since(f"{amount}{unit}", now=1e9) == 1e9 - amount * seconds


@given(text=st.text())
def test_since_rejects_anything_else_with_a_usage_error(text: str) -> None:
    try:
        parse_since(text, now=1e9)
    except UsageError as error:
        assert error.exit_code == ExitCode.USAGE
        assert repr(text) in str(error)


def test_messages_filters_by_time_sender_and_limit(store: InboxStore) -> None:
    now = datetime.now(UTC)
    stamps = [(now - timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ") for h in (50, 5, 1)]
    store.add_batch(
        "12345",
        [
            message("old", sender=ALICE, when=stamps[0]),
            message("mid", sender=BOB, when=stamps[1]),
            message("new", sender=ALICE, when=stamps[2]),
            message("odd", sender=BOB, when="not a date"),  # counted as received when stored
        ],
    )

    def ids(messages: list[StoredMessage]) -> list[str]:
        return [m.message_id for m in messages]

    assert ids(store.messages(since=parse_since("1d"))) == ["mid", "new", "odd"]
    assert ids(store.messages(sender="tel:2125550100")) == ["old", "new"]
    assert ids(store.messages(limit=2)) == ["new", "odd"]
    assert store.count(since=parse_since("1d"), sender=BOB) == 2


@given(a=st.text(min_size=1), b=st.text(min_size=1))
@example(a="\u00d800", b="\ud800")
@example(a=".x", b="x")
def test_names_in_file_names_never_clash_or_leave_the_directory(a: str, b: str) -> None:
    from attsms.store.inbox import _file_part

    for name in (a, b):
        part = _file_part(name)
        assert "/" not in part and not part.startswith(".")
    if a != b:
        assert _file_part(a) != _file_part(b)
