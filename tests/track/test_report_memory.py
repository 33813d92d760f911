"""`attsms report` in flat memory: the growth of RSS while it runs, on a job of 5,000 recipients
and on one of 100,000 in the same store, differs by less than a fixed bound. No wall-clock
assertion (benchmarks/report.py measures time against `history --limit 0 --json`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.helpers.support import Cli, PeakRss, rss_mb

SMALL, BIG = 5_000, 100_000
# Per recipient, the report keeps nothing: what grows is one int a batch (2,000 here) and the
# distinct seconds of the timeline. Held as objects, 95,000 more recipients would be ~25 MB.
BOUND_MB = 4.0


def _fill(key: str, recipients: int, first_id: int, start: float) -> None:
    from attsms.store.history import history_path

    batches = recipients // 50
    with sqlite3.connect(history_path()) as db:
        db.executemany(
            "INSERT INTO batches (id, profile, created_at, updated_at, message, outcome,"
            " message_id, dedupe_key, batch_number, batch_count)"
            " VALUES (?, 'default', ?, ?, 'Hello there', 'accepted', ?, ?, ?, ?)",
            [
                (first_id + n, start + n, start + n, f"SMS{key}{n}", key, n, batches)
                for n in range(batches)
            ],
        )
        statuses = ("DeliveredToTerminal", "DeliveredToNetwork", "DeliveryImpossible", None)
        db.executemany(
            "INSERT INTO recipients (batch_id, position, address, status, status_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                (
                    first_id + i // 50,
                    i % 50,
                    f"tel:+1212{first_id + i:07d}",
                    statuses[i % 4],
                    start + i // 50 + i % 61,
                )
                for i in range(recipients)
            ),
        )


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc for RSS")
def test_a_report_on_20_times_the_recipients_grows_rss_by_a_fixed_bound(cli: Cli) -> None:
    from attsms.store.history import HistoryStore

    HistoryStore.open().close()  # the schema
    _fill("small", SMALL, 1, 1_800_000_000.0)
    _fill("big", BIG, 1_000_000, 1_800_100_000.0)
    assert cli("report", "--key", "small", "--json").exit_code == 0  # warm-up: imports, caches
    growth = {}
    for key in ("small", "big"):
        before = rss_mb()
        with PeakRss() as rss:
            result = cli("report", "--key", key, "--json")
        assert result.exit_code == 0, result.stderr
        growth[key] = rss.peak - before
    assert cli("report", "--key", "big", "--json").json()["funnel"]["recipients"]["count"] == BIG
    extra = growth["big"] - growth["small"]
    assert extra < BOUND_MB, f"RSS grew {growth['big']:.1f} MB for {BIG}, {growth['small']:.1f}"
