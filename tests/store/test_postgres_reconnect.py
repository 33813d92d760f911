"""The PostgreSQL store after a dropped connection (server restarted, an idle connection killed by
a proxy, pg_terminate_backend): the next transaction reconnects, the one in flight fails in one
line (exit 75) and is never retried, and a held `named_lock` is reported lost, never assumed.

Against a real throwaway PostgreSQL cluster (tests/conftest_pg.py). Connections are dropped the way
they are in production: `pg_terminate_backend` from a second session, or a TCP forwarder in front
of the server that closes every connection through it (a proxy, a restarted server).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from attsms.core.errors import ExitCode, StoreError
from attsms.core.models import InboundMessage, InboxBatch
from attsms.store.postgres import HISTORY_SCHEMA, DatabaseUnreachableError, PostgresDatabase
from tests.cli.test_listen import TOKEN, Listener
from tests.helpers import pg
from tests.helpers.support import Cli, SandboxHttp, sender, store_settings

ALICE = "+12125550100"


# --- helpers -------------------------------------------------------------------------------------


def terminate(url: str, *, idle_only: bool = False) -> int:
    """Terminate attsms's sessions on `url`'s database (no other test's): how many were."""
    import psycopg

    sql = (
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
        " WHERE datname = %s AND application_name = 'attsms' AND pid <> pg_backend_pid()"
    )
    if idle_only:
        sql += " AND state = 'idle'"
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as admin:
        rows = admin.execute(sql.encode(), (_database_name(url),)).fetchall()
    return sum(1 for (done,) in rows if done)


def sessions(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
            " AND application_name = 'attsms'",
            (_database_name(url),),
        ).fetchone()
    assert row is not None
    return int(row[0])


def count(url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as admin:
        row = admin.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()  # noqa: S608
    assert row is not None
    return int(row[0])


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text, text
    return text


class Proxy:
    """A TCP forwarder in front of the server. `stop()` drops every connection through it and
    refuses new ones (a restarted server, a proxy that killed its connections); `start()` again
    serves on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._guard = threading.Lock()

    def start(self) -> Proxy:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in its thread
            self._listener.close()
            self._listener = None
        with self._guard:
            opened, self._open = self._open, []
        for each in opened:
            with contextlib.suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)
            each.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._guard:
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def shared(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every store of this process (and of its child processes) in a fresh database."""
    monkeypatch.setenv("ATTSMS_DATABASE_URL", pg_url)
    return pg_url


def _record(store: Any, message: str) -> int:
    return int(
        store.record_batch(
            profile="default", message=message, addresses=[ALICE], message_id=f"id-{message}"
        )
    )


# --- the history: the next transaction reconnects, nothing lost or doubled -----------------------


def test_a_history_whose_backend_was_terminated_between_writes_reconnects(shared: str) -> None:
    from attsms.store import open_history

    with open_history(store_settings()) as store:
        for n in range(3):
            _record(store, f"before-{n}")
        assert terminate(shared) == 1
        # A read first: it reconnects too (`attsms listen` reads a receipt's batch first).
        batch = store.get("id-before-0")
        assert batch is not None and batch.message == "before-0"
        assert terminate(shared) == 1
        for n in range(3):
            _record(store, f"after-{n}")
        assert sessions(shared) == 1  # the old session is gone, one new one: no leak
    assert count(shared, "attsms.batches") == 6
    assert count(shared, "attsms.recipients") == 6
    assert count(shared, "(SELECT DISTINCT message FROM attsms.batches) AS m") == 6


def test_the_transaction_in_flight_fails_in_one_line_and_is_never_retried(shared: str) -> None:
    database = PostgresDatabase.open(shared, schema="t_flight", what="the test store")
    try:
        with database.write() as db:
            database.execute("CREATE SCHEMA IF NOT EXISTS t_flight")
            db.execute("CREATE TABLE t_flight.rows (n INTEGER NOT NULL)")
            db.execute("INSERT INTO t_flight.rows VALUES (?)", (1,))
        # Dropped between two statements of a transaction: that transaction fails (exit 75).
        with pytest.raises(DatabaseUnreachableError) as caught, database.write() as db:
            db.execute("INSERT INTO t_flight.rows VALUES (?)", (2,))
            terminate(shared)
            db.execute("INSERT INTO t_flight.rows VALUES (?)", (3,))
        assert caught.value.exit_code == ExitCode.TEMPFAIL
        assert "lost the connection" in _one_line(caught.value)
        # Dropped after the last statement: the COMMIT fails, outcome for the caller unknown, so it
        # raises and is never sent again (the server rolled it back).
        with pytest.raises(DatabaseUnreachableError), database.write() as db:
            db.execute("INSERT INTO t_flight.rows VALUES (?)", (4,))
            terminate(shared)
        # The next transaction reconnects.
        with database.write() as db:
            db.execute("INSERT INTO t_flight.rows VALUES (?)", (5,))
        with database.read() as db:
            rows = [n for (n,) in db.execute("SELECT n FROM t_flight.rows ORDER BY n")]
        assert rows == [1, 5]
    finally:
        database.close()


def test_a_read_only_store_reconnects_read_only_on_its_schema(shared: str) -> None:
    from attsms.store import open_history, read_history

    with open_history(store_settings()) as store:
        _record(store, "one")
    reader = read_history(store_settings())
    assert reader is not None
    with reader:
        assert terminate(shared) == 1
        assert [b.message for b in reader.recent(limit=10)] == ["one"]
        database = reader._db
        assert isinstance(database, PostgresDatabase)
        assert database.reconnects == 1
        with database.read() as db:
            assert db.execute("SHOW search_path").fetchone()[0] == HISTORY_SCHEMA
        with pytest.raises(StoreError, match="read-only"), database.write() as db:
            db.execute("DELETE FROM batches")
    assert count(shared, "attsms.batches") == 1


def test_a_dropped_server_that_stays_down_is_exit_75_in_one_line_then_it_carries_on(
    pg_url: str, pg_cluster: pg.Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from attsms.store import open_history, postgres

    monkeypatch.setattr(postgres, "RECONNECT_PAUSE_SECONDS", 1.0)
    proxy = Proxy(pg_cluster.host, pg_cluster.port).start()
    url = pg_url.replace(f":{pg_cluster.port}/", f":{proxy.port}/")
    assert url != pg_url
    monkeypatch.setenv("ATTSMS_DATABASE_URL", url)
    try:
        with open_history(store_settings()) as store:
            _record(store, "one")
            proxy.stop()  # every connection through it closed, new ones refused
            with pytest.raises(DatabaseUnreachableError) as caught:
                _record(store, "two")
            line = _one_line(caught.value)
            assert caught.value.exit_code == ExitCode.TEMPFAIL
            assert "cannot reach the database" in line and pg_cluster.password not in line
            proxy.start()
            # Bounded: right after a failed reconnect, the next transaction fails at once
            # (a server that does not answer costs one connect timeout per pause, not per batch).
            with pytest.raises(DatabaseUnreachableError, match="cannot reach the database"):
                _record(store, "three")
            time.sleep(1.0)
            _record(store, "four")
    finally:
        proxy.stop()
    assert count(pg_url, "attsms.batches") == 2


# --- named locks: a lost lock is reported, never assumed -----------------------------------------


def test_a_held_named_lock_whose_connection_dropped_is_reported_lost(shared: str) -> None:
    import psycopg

    database = PostgresDatabase.open(shared, schema="t_lock", what="the test store")
    other = PostgresDatabase.open(shared, schema="t_lock", what="the test store")
    try:
        with database.write() as db:
            database.execute("CREATE SCHEMA IF NOT EXISTS t_lock")
            db.execute("CREATE TABLE t_lock.rows (n INTEGER NOT NULL)")
        with database.named_lock("12345.pull", timeout=0):
            with pytest.raises(TimeoutError), other.named_lock("12345.pull", timeout=0):
                pass  # held: nobody else gets it
            assert terminate(shared, idle_only=True) >= 1
            # The holder learns it at its next transaction, and at every one after it while it
            # still counts on the lock: nothing is written as if it were held.
            for _ in range(2):
                with pytest.raises(DatabaseUnreachableError) as caught, database.write() as db:
                    db.execute("INSERT INTO t_lock.rows VALUES (?)", (1,))
                line = _one_line(caught.value)
                assert "lock" in line and "12345.pull" in line, line
            with pytest.raises(DatabaseUnreachableError, match=r"12345\.pull"), database.read():
                pass
            # It is really gone: another session takes it meanwhile.
            with other.named_lock("12345.pull", timeout=0):
                pass
        # Once the holder has let it go, the next transaction reconnects.
        with database.write() as db:
            db.execute("INSERT INTO t_lock.rows VALUES (?)", (2,))
        # and the lock works again on the new connection
        with (
            database.named_lock("12345.pull", timeout=0),
            pytest.raises(TimeoutError),
            other.named_lock("12345.pull", timeout=0),
        ):
            pass
        with other.named_lock("12345.pull", timeout=0):
            pass
    finally:
        database.close()
        other.close()
    with psycopg.connect(shared, autocommit=True) as check:
        assert check.execute("SELECT n FROM t_lock.rows").fetchall() == [(2,)]


class _Service:
    """The inbox side of the API: batches in order; the second call first drops the store's
    connection (as if the database restarted while the service was answering)."""

    def __init__(self, url: str, batches: list[InboxBatch]) -> None:
        self._url = url
        self._batches = batches
        self.calls = 0

    def inbox(self, registration_id: str) -> InboxBatch:
        self.calls += 1
        if self.calls == 2:
            assert terminate(self._url) == 1
        return self._batches.pop(0)


def _messages(first: int, last: int) -> tuple[InboundMessage, ...]:
    return tuple(
        InboundMessage(
            f"MSG{n}", f"hello {n}", f"tel:+1212555{n:04d}", "12345", "2026-01-01T00:00Z"
        )
        for n in range(first, last + 1)
    )


def test_a_pull_whose_lock_connection_dropped_stops_and_hands_the_batch_back(
    shared: str,
) -> None:
    from attsms.receive.pull import InboxPull, UnstoredMessagesError
    from attsms.store import open_inbox

    service = _Service(
        shared, [InboxBatch(_messages(1, 3), pending=3), InboxBatch(_messages(4, 6), pending=0)]
    )
    with open_inbox(store_settings(), "default") as store:
        stored: list[str] = []
        with (
            InboxPull(service, sender(), "12345", store=store) as pull,
            pytest.raises(UnstoredMessagesError) as caught,
        ):
            for batch in pull.batches():
                stored += [m.message_id for m in batch.new]
        # The first batch is stored; the second, which the service no longer has, is handed back
        # (the command prints it) rather than lost, and not stored as if the lock still held.
        assert stored == ["MSG1", "MSG2", "MSG3"]
        assert [m.message_id for m in caught.value.messages] == ["MSG4", "MSG5", "MSG6"]
        assert "lock" in str(caught.value) and "\n" not in str(caught.value)
        # The next pull on this store reconnects and takes the lock afresh.
        later = _Service(shared, [InboxBatch(_messages(7, 7), pending=0)])
        with InboxPull(later, sender(), "12345", store=store) as pull:
            assert [m.message_id for b in pull.batches() for m in b.new] == ["MSG7"]
        assert [m.message_id for m in store.iter_messages()] == ["MSG1", "MSG2", "MSG3", "MSG7"]


# --- the commands: a long send and `attsms listen` ride over a dropped connection ----------------


def test_a_long_send_carries_on_after_its_connection_dropped_and_sends_each_number_once(
    shared: str,
    cli: Cli,
    sandbox_http: Callable[..., SandboxHttp],
    use_server: Callable[[SandboxHttp], SandboxHttp],
    tmp_path: Path,
) -> None:
    server = use_server(sandbox_http(latency_ms=150))
    numbers = [f"+1212{5000000 + i:07d}" for i in range(300)]  # 6 batches
    to = tmp_path / "to.txt"
    to.write_text("\n".join(numbers) + "\n")
    argv = ["send", "--to-file", str(to), "-m", "drop", "--dedupe-key", "drop"]
    run = subprocess.Popen(
        [sys.executable, "-m", "attsms", *argv, "--concurrency", "1", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    deadline = time.monotonic() + 30
    while int(server.stats()["send_requests"]) < 2:
        assert run.poll() is None, run.communicate()[1].decode()
        assert time.monotonic() < deadline, "the send made no progress"
        time.sleep(0.01)
    # Between two transactions (a request in flight): the run's next one reconnects.
    while not terminate(shared, idle_only=True):
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    delivered = Counter(
        {n.removeprefix("tel:"): k for n, k in server.stats()["delivered_to"].items()}
    )
    assert set(delivered) == set(numbers) and max(delivered.values()) == 1
    history = cli("history", "--limit", "0", "--json")
    assert history.exit_code == 0, history.stderr
    statuses = [r for b in history.json() for r in b["recipients"]]
    assert len(statuses) == 300 and {b["outcome"] for b in history.json()} == {"accepted"}


def _inbound(n: int) -> dict[str, str]:
    return {
        "MessageId": f"MSG{n}",
        "Message": f"hi {n}",
        "SenderAddress": f"tel:+1212555{n:04d}",
        "DestinationAddress": "12345",
        "DateTime": "2026-12-01T00:00:00Z",
    }


def _receipt(message_id: str) -> dict[str, Any]:
    return {
        "deliveryInfoNotification": {
            "messageId": message_id,
            "deliveryInfo": {"address": ALICE[1:], "deliveryStatus": "DeliveredToTerminal"},
        }
    }


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[Callable[[], Listener]]:
    made: list[Listener] = []

    def start() -> Listener:
        made.append(Listener(tmp_path, env={"ATTSMS_LISTEN_TOKEN": TOKEN}).start())
        return made[-1]

    yield start
    for each in made:
        each.kill()


def test_listen_keeps_storing_after_its_backend_was_terminated(
    shared: str, cli: Cli, listening: Callable[[], Listener]
) -> None:
    lis = listening()
    with httpx.Client(timeout=30) as client:
        # A receipt for a message this history never sent: read, nothing to store. It opens the
        # history, as the inbound messages open the inbox.
        answer = client.post(lis.delivery_url, json=_receipt("NOT-OURS-1"))
        assert (answer.status_code, answer.json()) == (200, {"stored": False})
        for n in range(1, 6):
            answer = client.post(lis.inbound_url, json=_inbound(n))
            assert (answer.status_code, answer.json()) == (200, {"stored": True}), answer.text
        assert terminate(shared) == 3  # the history's session, the inbox's and the opt-outs'
        # Every one answered 2xx at once: no 503, no retry needed.
        for n in range(6, 11):
            answer = client.post(lis.inbound_url, json=_inbound(n))
            assert (answer.status_code, answer.json()) == (200, {"stored": True}), answer.text
        answer = client.post(lis.delivery_url, json=_receipt("NOT-OURS-2"))
        assert (answer.status_code, answer.json()) == (200, {"stored": False}), answer.text
    listed = cli("inbox", "list", "--limit", "0", "--jsonl")
    assert listed.exit_code == 0, listed.stderr
    ids = [json.loads(line)["message_id"] for line in listed.lines]
    assert sorted(ids, key=lambda i: int(i[3:])) == [f"MSG{n}" for n in range(1, 11)]
    assert "Traceback" not in lis.stderr and " 503" not in lis.stderr
