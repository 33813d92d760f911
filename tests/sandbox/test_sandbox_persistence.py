"""The file-backed sandbox: sharing between transports, threads and processes; pruning; safety;
the state.json of an older attsms moved into the database."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from filelock import FileLock

from attsms.sandbox import SandboxConfig
from attsms.sandbox.core import MAX_TOKENS, Sandbox, SandboxError
from attsms.sandbox.state import SandboxState
from attsms.sandbox.store import (
    SandboxStateError,
    check,
    clear_faults,
    inject_inbound,
    locked,
    read_outbox,
    read_stats,
    reset,
    set_faults,
)
from attsms.sandbox.transport import InProcessTransport
from tests.helpers.sandbox_harness import (
    SEND_PATH,
    FakeClock,
    core_request,
    core_token,
    inprocess_harness,
    memory,
)

A = "tel:+12125551234"


def rows(path: Path, table: str) -> list[str]:
    """The keys saved in one table of the sandbox's database (tokens, message ids, addresses)."""
    key = {"messages": "id", "delivered": "address", "outbox": "address"}.get(table, "token")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [row[0] for row in conn.execute(f"SELECT {key} FROM {table} ORDER BY rowid")]  # noqa: S608


def test_two_transports_on_one_file_are_one_sandbox(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    clock = FakeClock()
    with inprocess_harness(path, clock=clock) as a, inprocess_harness(path, clock=clock) as b:
        message_id = a.send_ok(A)
        resp = b.client.get(f"{SEND_PATH}/{message_id}", headers=a.auth())
        assert resp.status_code == 200
        b.inject(text="hello")
        assert a.inbox().json()["inboundSMSMessageList"]["numberOfMessagesInThisBatch"] == 1
        assert b.inbox().json()["inboundSMSMessageList"]["numberOfMessagesInThisBatch"] == 0
    with inprocess_harness(path, clock=clock) as c:  # and a later "process" still sees it all
        assert c.stats()["delivered_to"] == {A: 1}


def test_state_file_is_private_and_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "state.db"
    with inprocess_harness(path) as sb:
        for _ in range(5):
            sb.send_ok(A)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.with_suffix(".lock").stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.db", "state.lock"]
    assert read_stats(path)["delivered_to"] == {A: 5}


def test_old_statuses_and_expired_tokens_are_pruned_on_save(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    config = SandboxConfig(token_lifetime=100, status_retention_seconds=10, delivery_seconds=1)
    with inprocess_harness(path, config) as sb:
        message_id = sb.send_ok(A)
        assert rows(path, "messages") == [message_id]
        sb.clock.advance(1 + 10 + 1)
        sb.inject()  # any request prunes before it saves
        assert rows(path, "messages") == []
        assert len(rows(path, "access_tokens")) == 1
        sb.clock.advance(100)
        sb.inject()
        assert rows(path, "access_tokens") == []
        assert len(rows(path, "refresh_tokens")) == 1  # refresh tokens live 90 days


def _legacy_state_json(path: Path, clock: FakeClock) -> tuple[str, str, str]:
    """A state.json as an older attsms wrote it: a token, a final and a waiting message (saved
    before `final` was kept), an inbound message and some faults. Returns (token, ids…)."""
    sandbox = Sandbox(SandboxConfig(status_retention_seconds=10, delivery_seconds=1), clock=clock)
    token = core_token(sandbox)
    ids = []
    for address in (A, "tel:+12125550700"):  # 07xx: MessageWaiting for good
        body = {"outboundSMSRequest": {"address": address, "message": "old"}}
        resp = core_request(sandbox, "POST", SEND_PATH, json=body, token=token)
        ids.append(resp.json()["outboundSMSResponse"]["messageId"])
    core_request(sandbox, "POST", "/sandbox/inbox/777", json={"from": A, "text": "hey"})
    core_request(sandbox, "POST", "/sandbox/faults", json={"rules": [{"path_prefix": "/x"}]})
    assert isinstance(sandbox.state, SandboxState)
    data = memory(sandbox).to_json()
    for message in data["messages"].values():
        del message["final"]
    path.write_text(json.dumps(data))
    return token, ids[0], ids[1]


def test_an_older_state_json_is_moved_into_the_database(tmp_path: Path) -> None:
    legacy, path = tmp_path / "state.json", tmp_path / "state.db"
    clock = FakeClock()
    token, final_id, waiting_id = _legacy_state_json(legacy, clock)
    config = SandboxConfig(status_retention_seconds=10, delivery_seconds=1)
    with inprocess_harness(path, config, clock) as sb:
        assert sb.statuses(final_id) == {A: "MessageWaiting"}  # the old token still works
        assert sb.inbox_with(token).status_code == 200
        assert not legacy.exists()  # all of it is in the database now
        stats = sb.stats()
        assert stats["delivered_to"] == {A: 1, "tel:+12125550700": 1}
        assert stats["attempts"]["send"] == 2
        assert [e["message"] for e in read_outbox(path)["outbox"]] == ["old", "old"]
        pulled = sb.client.get("/sms/v3/messaging/inbox/777", headers=sb.auth(token)).json()
        assert pulled["inboundSMSMessageList"]["inboundSMSMessage"][0]["message"] == "hey"
        assert sb.client.delete("/sandbox/faults").json() == {"cleared": 1}
        # Messages saved before `final` was kept: it is worked out, so the final one goes after
        # the retention and the one still waiting stays.
        sb.clock.advance(1 + 10 + 1)
        sb.inject()  # any request prunes first
        assert rows(path, "messages") == [waiting_id]


def test_a_broken_older_state_json_raises_until_reset(tmp_path: Path) -> None:
    legacy, path = tmp_path / "state.json", tmp_path / "state.db"
    legacy.write_text("{not json")
    with pytest.raises(SandboxStateError) as raised:
        check(path)
    assert raised.value.path == legacy
    assert legacy.read_text() == "{not json"  # left for a look
    reset(path)
    assert not legacy.exists()
    check(path)
    assert read_stats(path)["send_requests"] == 0
    legacy.write_text("{}")  # an older attsms run again: the database is the sandbox now
    check(path)
    reset(path)
    assert not legacy.exists()


def test_token_count_is_capped(tmp_path: Path) -> None:
    sandbox = Sandbox(SandboxConfig(token_lifetime=0))
    first = core_token(sandbox)
    for _ in range(MAX_TOKENS + 5):
        core_token(sandbox)
    sandbox.prune()
    assert len(memory(sandbox).tokens) == MAX_TOKENS
    assert first not in memory(sandbox).tokens  # the oldest go first
    assert core_request(sandbox, "GET", "/sms/v3/messaging/inbox/12345", token=first).status == 401


@pytest.mark.parametrize("content", [b"{not json", b"SQLite format 3\x00" + b"\xff" * 200])
def test_a_broken_state_file_raises_until_reset(tmp_path: Path, content: bytes) -> None:
    # Raised, not a 500: a client retries a 500, and retrying cannot mend the file.
    path = tmp_path / "state.db"
    path.write_bytes(content)
    with inprocess_harness(path) as sb:
        with pytest.raises(SandboxStateError, match="is not a sandbox state file") as raised:
            sb.get_token()
        assert raised.value.path == path
        assert path.read_bytes() == content  # left for a look
        assert sb.client.post("/sandbox/reset").status_code == 200
        assert sb.get_token().status_code == 200


def test_state_round_trips_and_rejects_other_json() -> None:
    state = SandboxState()
    state.inbox["1"] = [{"message": "x"}]
    state.draws = 4
    assert SandboxState.from_json(json.loads(json.dumps(state.to_json()))) == state
    bad: object
    for bad in ([], {"version": 2}, {"version": 1}, {**state.to_json(), "inbox": []}):
        with pytest.raises(ValueError, match="sandbox state"):
            SandboxState.from_json(bad)


def test_in_process_helpers(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    assert inject_inbound(path, "12345", "+15555550100", "hi", count=3) == {
        "injected": 3,
        "pending": 3,
    }
    assert inject_inbound(path, "12345", "tel:5555550100", "again") == {"injected": 1, "pending": 4}
    with pytest.raises(SandboxError) as caught:
        inject_inbound(path, "12345", "not a number", "hi")
    assert (caught.value.status, caught.value.message_id) == (400, "SVC0002")
    assert str(caught.value) == "SVC0002: Invalid input value for message part from"
    assert set_faults(path, [{"status": 500}, {"status": 502}]) == 2
    assert clear_faults(path) == 2
    with inprocess_harness(path) as sb:
        sb.send_ok(A)
    stats = read_stats(path)
    assert stats["delivered_to"] == {A: 1}
    assert stats["send_requests"] == 1
    assert stats["operations"] == {
        "token": 1,
        "refresh": 0,
        "revoke": 0,
        "send": 1,
        "status": 0,
        "inbox": 0,
    }
    reset(path)
    assert read_stats(path)["delivered_to"] == {}


def test_threads_of_one_process_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with inprocess_harness(path) as one, inprocess_harness(path) as two:
        token = one.token
        barrier = threading.Barrier(8)

        def send_five(worker: int) -> list[int]:
            harness = one if worker % 2 else two
            barrier.wait()
            return [
                harness.client.post(
                    SEND_PATH,
                    json={
                        "outboundSMSRequest": {
                            "address": [f"tel:+1212555{worker:02d}{n:02d}"],
                            "message": "hi",
                        }
                    },
                    headers=one.auth(token),
                ).status_code
                for n in range(5)
            ]

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(send_five, range(8)))
    assert results == [[201] * 5] * 8
    delivered = read_stats(path)["delivered_to"]
    assert len(delivered) == 40
    assert set(delivered.values()) == {1}
    assert len(rows(path, "messages")) == 40


CHILD = textwrap.dedent(
    """
    import sys
    import time
    from pathlib import Path

    import httpx

    from tests.helpers.sandbox_harness import CREDENTIALS, SEND_PATH, TOKEN_PATH
    from attsms.sandbox.transport import InProcessTransport

    path, area, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    Path(sys.argv[4]).touch()  # ready
    while not Path(sys.argv[5]).exists():  # go
        time.sleep(0.001)
    with httpx.Client(transport=InProcessTransport(path), base_url="http://sandbox.local") as c:
        form = {"grant_type": "client_credentials", "scope": "SMS", **CREDENTIALS}
        token = c.post(TOKEN_PATH, data=form).json()["access_token"]
        for n in range(count):
            body = {"outboundSMSRequest": {"address": f"tel:+1{area}555{n:04d}", "message": "x"}}
            r = c.post(SEND_PATH, json=body, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 201, r.text
    """
)


def test_two_processes_sending_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    go = tmp_path / "go"
    ready = tmp_path
    count = 30
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), area, str(count), str(ready / area), str(go)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for area in ("212", "312")
    ]
    # Start both only once both are ready, so their requests really interleave.
    while not all((ready / area).exists() for area in ("212", "312")):
        if any(child.poll() is not None for child in children):
            break
        time.sleep(0.001)
    go.touch()
    for child in children:
        _, stderr = child.communicate(timeout=60)
        assert child.returncode == 0, stderr
    stats = read_stats(path)
    assert stats["operations"]["token"] == 2
    assert stats["send_requests"] == 2 * count
    assert len(stats["delivered_to"]) == 2 * count
    assert set(stats["delivered_to"].values()) == {1}
    assert len(rows(path, "messages")) == 2 * count


def test_a_state_locked_too_long_is_an_httpx_connect_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    transport = InProcessTransport(path, lock_timeout=0.05)
    with httpx.Client(transport=transport, base_url="http://sandbox.local") as client:
        # Held by this process (another thread) ...
        with locked(path), pytest.raises(httpx.ConnectError, match="sandbox state"):
            client.get("/sandbox/stats")
        # ... or by another process, which is what a FileLock of its own looks like.
        with FileLock(path.with_suffix(".lock")), pytest.raises(httpx.ConnectError):
            client.get("/sandbox/stats")
        assert client.get("/sandbox/stats").status_code == 200


def test_a_kept_connection_sees_the_file_replaced_and_other_writers(tmp_path: Path) -> None:
    # The transport keeps its database open between requests; what others do between two of
    # them (another process, `attsms sandbox reset`, a user deleting the file) is what it sees.
    path = tmp_path / "state.db"
    with inprocess_harness(path) as sb:
        sb.send_ok(A)
        for name in ("state.db", "state.db-wal", "state.db-shm"):
            (tmp_path / name).unlink(missing_ok=True)  # gone: a fresh sandbox
        assert sb.stats()["delivered_to"] == {}
        assert sb.inject().json() == {"injected": 1, "pending": 1}
        assert inject_inbound(path, "12345", "+15555550100", "more") == {
            "injected": 1,
            "pending": 2,
        }
        assert sb.inject().json() == {"injected": 1, "pending": 3}
        reset(path)
        assert sb.inject().json() == {"injected": 1, "pending": 1}
