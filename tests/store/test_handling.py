"""The `handling` table of the inbox store (store/handling.py), on both backends: claims, order
per sender, backoff, dead letters, takeover from a dead holder, retry, and the upgrade from the
version-1 store."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator

import pytest

from attsms.core.errors import UsageError
from attsms.core.models import InboundMessage
from attsms.store import existing_inbox, open_inbox
from attsms.store.handling import MAX_BACKOFF_SECONDS, backoff_delay
from attsms.store.inbox import InboxStore, store_path
from attsms.store.lease import JobOwner
from attsms.store.migrations import _INBOX_PG, _INBOX_SQLITE
from tests.helpers.support import store_settings

ALICE, BOB = "tel:+12125550100", "tel:+12125550101"


def message(n: int, sender: str = ALICE, second: int = 0) -> InboundMessage:
    return InboundMessage(
        f"MSG{n:04d}", f"text {n}", sender, "12345", f"2027-01-15T08:00:{second:02d}Z"
    )


@pytest.fixture
def store(backend: str) -> Iterator[InboxStore]:
    with open_inbox(store_settings(), "default") as opened:
        yield opened


def waiting(store: InboxStore) -> list[str]:
    return [m.message_id for m, _ in store.handling_list()]


def test_a_handled_message_is_never_claimed_again(store: InboxStore) -> None:
    store.add_batch("12345", [message(1), message(2, BOB)])
    owner = JobOwner.current("run-1")
    claim = store.claim_message("MSG0001", owner, max_attempts=5)
    assert (claim.status, claim.attempt) == ("claimed", 1)
    store.mark_handled("MSG0001")
    assert waiting(store) == ["MSG0002"]
    assert (
        store.claim_message("MSG0001", JobOwner.current("run-2"), max_attempts=5).status == "done"
    )
    assert store.claim_message("nope", owner, max_attempts=5).status == "gone"


def test_one_sender_in_order_oldest_first_by_the_messages_own_time(store: InboxStore) -> None:
    # Stored out of order: the later message first.
    store.add_batch("12345", [message(2, second=30), message(1, second=10), message(3, BOB, 20)])
    assert waiting(store) == ["MSG0001", "MSG0003", "MSG0002"]
    owner = JobOwner.current("run-1")
    assert store.claim_message("MSG0002", owner, max_attempts=5).status == "blocked"
    assert store.claim_message("MSG0003", owner, max_attempts=5).status == "claimed"  # Bob's own
    assert store.claim_message("MSG0001", owner, max_attempts=5).status == "claimed"
    store.mark_handled("MSG0001")
    assert store.claim_message("MSG0002", owner, max_attempts=5).status == "claimed"


def test_failures_back_off_then_become_a_dead_letter_that_retry_puts_back(
    store: InboxStore,
) -> None:
    store.add_batch("12345", [message(1)])
    owner = JobOwner.current("run-1")
    assert store.claim_message("MSG0001", owner, max_attempts=2).attempt == 1
    assert not store.mark_failed("MSG0001", "run-1", "exit 1: boom", max_attempts=2, backoff=60)
    assert store.claim_message("MSG0001", owner, max_attempts=2).status == "waiting"
    [(_, state)] = store.handling_list()
    assert (state.attempts, state.last_error, state.dead) == (1, "exit 1: boom", False)

    with store._database.write() as db:  # the backoff is over
        db.execute("UPDATE handling SET next_attempt_at = 0")
    assert store.claim_message("MSG0001", owner, max_attempts=2).attempt == 2
    assert store.mark_failed("MSG0001", "run-1", "exit 1: again", max_attempts=2, backoff=60)
    assert waiting(store) == []
    [(failed, state)] = store.handling_list(failed=True)
    assert (failed.message_id, state.attempts, state.last_error) == ("MSG0001", 2, "exit 1: again")
    assert store.claim_message("MSG0001", owner, max_attempts=2).status == "done"

    with pytest.raises(UsageError, match="no stored message nope"):
        store.retry_messages(["MSG0001", "nope"])
    assert store.handling_list(failed=True)  # nothing changed
    assert store.retry_messages(None) == ["MSG0001"]
    assert store.handling_list(failed=True) == []
    assert store.claim_message("MSG0001", owner, max_attempts=2).attempt == 1


def test_a_claim_of_a_live_run_is_held_and_one_of_a_dead_process_taken_over(
    store: InboxStore,
) -> None:
    store.add_batch("12345", [message(1)])
    assert store.claim_message("MSG0001", JobOwner.current("a"), max_attempts=5).attempt == 1
    held = store.claim_message("MSG0001", JobOwner.current("b"), max_attempts=5)
    assert held.status == "held" and held.holder is not None and held.holder.run_id == "a"
    assert store.renew_message("MSG0001", "a") and not store.renew_message("MSG0001", "b")
    # The holder is a process of this host that is gone (a kill -9): taken over at once.
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    with store._database.write() as db:
        db.execute("UPDATE handling SET owner_pid = ?, owner_start = NULL", (int(gone.stdout),))
    taken = store.claim_message("MSG0001", JobOwner.current("c"), max_attempts=5)
    assert (taken.status, taken.attempt) == ("claimed", 2)
    [(_, state)] = store.handling_list()
    assert state.last_error is not None and state.last_error.startswith("interrupted")
    # The old holder's late failure changes nothing: the claim is c's.
    assert not store.mark_failed("MSG0001", "a", "late", max_attempts=5, backoff=0)
    # An interrupted last attempt leaves a dead letter.
    with store._database.write() as db:
        db.execute("UPDATE handling SET owner_pid = ?, owner_start = NULL", (int(gone.stdout),))
    assert store.claim_message("MSG0001", JobOwner.current("d"), max_attempts=2).status == "dead"
    assert [m.message_id for m, _ in store.handling_list(failed=True)] == ["MSG0001"]


def test_release_keeps_the_attempt_without_a_backoff(store: InboxStore) -> None:
    store.add_batch("12345", [message(1)])
    store.claim_message("MSG0001", JobOwner.current("a"), max_attempts=5)
    store.release_message("MSG0001", "a", "interrupted: stopped")
    claim = store.claim_message("MSG0001", JobOwner.current("b"), max_attempts=5)
    assert (claim.status, claim.attempt) == ("claimed", 2)


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff_delay(n, 30) for n in (1, 2, 3)] == [30, 60, 120]
    assert backoff_delay(40, 30) == MAX_BACKOFF_SECONDS
    assert backoff_delay(3, 0) == 0


_OLD_MESSAGE = (
    "INSERT INTO messages (message_id, registration_id, sender, destination, text, received_at,"
    " received_ts, stored_at) VALUES ('OLD1', '12345', 'tel:+12125550100', '12345', 'old',"
    " '2027-01-15T08:00:00Z', 1800000000, '2027-01-15T08:00:00Z')"
)


def _version_1_store(backend: str) -> None:
    """An inbox as attsms wrote it before handlers (schema 1), with one message."""
    settings = store_settings()
    if backend == "sqlite":
        path = store_path("default")
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as db:
            db.executescript(_INBOX_SQLITE + "PRAGMA user_version = 1;")
            db.execute(_OLD_MESSAGE)
        path.chmod(0o600)
        return
    import psycopg

    from attsms.store.postgres import inbox_schema

    assert settings.database_url is not None
    schema = inbox_schema("default")
    with psycopg.connect(settings.database_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}".encode())
        connection.execute(f"SET search_path TO {schema}".encode())
        for statement in _INBOX_PG.split(";"):
            if statement.strip():
                connection.execute(statement.encode())
        connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        connection.execute("INSERT INTO schema_version VALUES (1)")
        connection.execute(_OLD_MESSAGE.encode())


def test_a_version_1_store_is_upgraded_with_its_messages_counted_as_handled(backend: str) -> None:
    _version_1_store(backend)
    read_only = existing_inbox(store_settings(), "default", read_only=True)
    assert read_only is not None
    with read_only:  # a read upgrades nothing, and shows nothing waiting
        assert read_only.handling_list() == [] and read_only.handling_list(failed=True) == []
        assert not read_only.handling_ready()
    with open_inbox(store_settings(), "default") as store:
        assert store.handling_ready()
        assert store.handling_list() == []  # printed to whatever read them then
        store.add_batch("12345", [message(1)])
        assert waiting(store) == ["MSG0001"]
        assert store.retry_messages(["OLD1"]) == ["OLD1"]  # put back on purpose
        assert waiting(store) == ["OLD1", "MSG0001"]


def test_store_copy_takes_what_handlers_did_along(
    monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    from attsms.store import StoreSettings
    from attsms.store.admin import copy_to

    with open_inbox(StoreSettings(), "default") as local:  # this machine's SQLite inbox
        local.add_batch("12345", [message(1), message(2, BOB), message(3, BOB, 5)])
        local.claim_message("MSG0001", JobOwner.current("a"), max_attempts=5)
        local.mark_handled("MSG0001")
        local.claim_message("MSG0002", JobOwner.current("a"), max_attempts=1)
        local.mark_failed("MSG0002", "a", "exit 1", max_attempts=1, backoff=0)
    copy_to(pg_url)
    with open_inbox(StoreSettings(database_url=pg_url), "default") as shared:
        assert waiting(shared) == ["MSG0003"]  # the handled one is not handed over again
        assert [m.message_id for m, _ in shared.handling_list(failed=True)] == ["MSG0002"]


def test_a_message_put_back_holds_its_senders_later_ones_back_again(store: InboxStore) -> None:
    store.add_batch("12345", [message(1, second=1), message(2, second=2), message(3, second=3)])
    owner = JobOwner.current("a")
    for message_id in ("MSG0001", "MSG0002"):  # the sender's mark moves past both
        assert store.claim_message(message_id, owner, max_attempts=5).status == "claimed"
        store.mark_handled(message_id)
    assert store.retry_messages(["MSG0001"]) == ["MSG0001"]
    assert store.claim_message("MSG0003", owner, max_attempts=5).status == "blocked"
    assert store.claim_message("MSG0001", owner, max_attempts=5).status == "claimed"
