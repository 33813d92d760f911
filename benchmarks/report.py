"""`attsms report` on a big keyed job against `history --limit 0 --json` on the same store.

A history of N recipients (N/50 accepted batches, every one of the job `bench`, with a mix of
delivery statuses and times) is written straight into the store of a temporary data dir, as
`read_scale.py` does, then each command runs as a real process with its output to a file:

    attsms history --limit 0 --json     (the yardstick: every row printed, a page at a time)
    attsms report --key bench --json    attsms report --since 30d --json
    attsms report --key bench --html F

    python benchmarks/report.py [--recipients 1000000]

The aim (issue 26): a report on 1,000,000 recipients within 2x of the history's wall time, in
flat memory. Measured on a busy 2-core box (1,000,000 recipients): history --json 58.1 s and
33.7 MB; report --key --json 14.9 s (0.26x) and 28.7 MB; report --since 30d --json 12.0 s
(0.21x) and 26.8 MB; report --key --html 11.2 s (0.19x) and 29.3 MB.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # bulk_send: a sibling script, not a package

from bulk_send import _attsms, _run, bench_env

STATUSES = ("DeliveredToTerminal", "DeliveredToNetwork", "DeliveryImpossible", "MessageWaiting")


def commands(work: Path) -> dict[str, list[str]]:
    return {
        "history --limit 0 --json": ["history", "--limit", "0", "--json"],
        "report --key bench --json": ["report", "--key", "bench", "--json"],
        "report --since 30d --json": ["report", "--since", "30d", "--json"],
        "report --key bench --html": ["report", "--key", "bench", "--html", str(work / "r.html")],
    }


def fill(data_dir: Path, recipients: int) -> None:
    """The history, written with attsms's own store, then made one keyed job with statuses."""
    os.environ["ATTSMS_DATA_DIR"] = str(data_dir)
    from attsms.store.history import HistoryStore

    batches = -(-recipients // 50)
    with HistoryStore.open() as history:
        for n in range(batches):
            first = n * 50
            addresses = [
                f"tel:+1212{2000000 + i:07d}" for i in range(first, min(first + 50, recipients))
            ]
            history.record_batch(
                profile="default", message="Report benchmark", addresses=addresses,
                message_id=f"SMS{n:016d}",
            )  # fmt: skip
    now = time.time()
    with sqlite3.connect(data_dir / "history.sqlite3") as db:
        db.execute(
            "UPDATE batches SET dedupe_key = 'bench', batch_number = id - 1, batch_count = ?,"
            " created_at = ? + id * 0.05",
            (batches, now - 3600),
        )
        db.execute(
            "INSERT INTO jobs (profile, account, key, fingerprint, batch_count, recipient_count,"
            " created_at) VALUES ('default', '', 'bench', 'x', ?, ?, ?)",
            (batches, recipients, now - 3600),
        )
        for i, status in enumerate(STATUSES):
            db.execute(
                "UPDATE recipients SET status = ?, status_at = (SELECT created_at FROM batches"
                " WHERE id = batch_id) + position % 37 WHERE position % 4 = ?",
                (status, i),
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    args = parser.parse_args()
    attsms = _attsms()
    with tempfile.TemporaryDirectory(prefix="attsms-bench-") as tmp:
        work = Path(tmp)
        env = bench_env(work)
        fill(Path(env["ATTSMS_DATA_DIR"]), args.recipients)
        print(f"a keyed job of {args.recipients:,} recipients")
        walls: dict[str, float] = {}
        for name, argv in commands(work).items():
            out = work / "out"
            with out.open("wb") as sink:
                wall, rss, _ = _run([*attsms, *argv], env, sink, poll_rss=True)
            walls[name] = wall
            size = out.stat().st_size / 2**20
            print(f"  {name:<28} wall {wall:5.2f} s, peak RSS {rss:6.1f} MB, {size:6.1f} MB out")
        base = walls["history --limit 0 --json"]
        for name, wall in walls.items():
            if name.startswith("report"):
                print(f"  {name:<28} {wall / base:4.2f}x the history's wall time")


if __name__ == "__main__":
    main()
