"""The in-process sandbox's cost per request does not grow with its history (issue 25).

Counted, not timed: the SQLite virtual-machine steps a request runs (a progress handler called
every step) and the Python memory it allocates at its peak (tracemalloc). A state that is loaded
and rewritten whole per request grows both with every recipient ever sent.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

import attsms.sandbox.core
from attsms.sandbox import SandboxConfig, store
from tests.helpers.sandbox_harness import Harness, inprocess_harness

STEPS: list[int] = [0]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """STEPS[0] counts the SQLite VM steps of every sandbox connection from now on."""
    connect = store._connect

    def counting(path: Path, timeout: float) -> sqlite3.Connection:
        conn = connect(path, timeout)

        def step() -> int:
            STEPS[0] += 1
            return 0

        conn.set_progress_handler(step, 1)
        return conn

    monkeypatch.setattr(store, "_connect", counting)
    STEPS[0] = 0
    yield STEPS


def _cost(sb: Harness, number: int) -> tuple[int, int]:
    """(VM steps, peak bytes allocated) of a one-recipient send."""
    STEPS[0] = 0
    tracemalloc.start()
    try:
        sb.send_ok(f"tel:+1212555{number:04d}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return STEPS[0], peak


def _bulk(sb: Harness, recipients: int, area: str) -> None:
    for start in range(0, recipients, 50):
        sb.send_ok([f"tel:+1{area}5{n:06d}" for n in range(start, start + 50)])


def test_a_one_recipient_send_costs_the_same_after_10000_sent(
    tmp_path: Path, counted: list[int]
) -> None:
    with inprocess_harness(tmp_path / "state.db") as sb:
        sb.send_ok("tel:+12125550001")  # the database made, a token fetched
        steps_before, peak_before = _cost(sb, 2)
        _bulk(sb, 10_000, "313")  # all still within their status retention: nothing pruned
        steps_after, peak_after = _cost(sb, 3)
        assert sb.stats()["send_requests"] == 2 + 200 + 1
    assert steps_before > 0
    # The same statements on a deeper index: within a few steps, not 10,000 recipients' worth.
    assert steps_after <= steps_before * 1.1 + 20, (steps_before, steps_after)
    assert peak_after <= peak_before * 1.2 + 32_000, (peak_before, peak_after)


def test_the_in_process_sandbox_is_pruned_as_the_served_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attsms.sandbox.core, "MAX_OUTBOX", 120)
    monkeypatch.setattr(attsms.sandbox.core, "MAX_TOKENS", 3)
    path = tmp_path / "state.db"
    config = SandboxConfig(status_retention_seconds=10, delivery_seconds=1)
    with inprocess_harness(path, config) as sb:
        first = sb.get_token().json()["access_token"]
        for _ in range(5):
            assert sb.get_token().status_code == 200
        assert sb.token  # the newest, fetched last
        _bulk(sb, 200, "212")
        outbox = sb.client.get("/sandbox/outbox").json()
        assert outbox["total"] == 120  # the newest, oldest dropped first
        assert outbox["outbox"][-1]["address"] == "tel:+12125000199"
        assert sb.inbox_with(first).status_code == 401  # the oldest token went
        sb.clock.advance(1 + 10 + 1)
        sb.inject()  # any request prunes first
    with contextlib.closing(sqlite3.connect(path)) as conn:
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("messages", "outbox", "access_tokens", "refresh_tokens")
        }
    assert counts == {"messages": 0, "outbox": 120, "access_tokens": 3, "refresh_tokens": 3}


def test_an_inbox_pull_costs_the_same_however_many_are_pending(
    tmp_path: Path, counted: list[int]
) -> None:
    with inprocess_harness(tmp_path / "state.db") as sb:
        assert sb.inject(count=300).status_code == 200
        sb.inbox()  # the token fetched
        STEPS[0] = 0
        assert sb.inbox().json()["inboundSMSMessageList"]["totalNumberOfPendingMessages"] == 100
        few = STEPS[0]
        assert sb.inject(count=10_000).status_code == 200
        STEPS[0] = 0
        listing = sb.inbox().json()["inboundSMSMessageList"]
        many = STEPS[0]
    assert listing["totalNumberOfPendingMessages"] == 10_000
    assert many <= few * 1.1 + 20, (few, many)
