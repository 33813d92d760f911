"""Throughput of `--exec` handling with a trivial handler (`true`), its overhead per message over
running the handler alone, and the at-least-once window.

Fills a fresh inbox store (SQLite, the default backend; or ATTSMS_DATABASE_URL) with N messages
from a few senders, then runs `attsms inbox handle --exec true` as cron would (a fresh process)
and times it. The baseline runs `true` N times from Python with the same pipes (stdin, stderr)
and nothing else. The difference per message is what attsms adds: the claim (one serialized
commit), the JSON and variables, the stderr copy, the renewal thread, and the mark (another
commit).

The window is the time from a handler's exit 0 to the commit of its mark: a kill -9 (or power
cut) inside it runs that handler again on the next run (at least once). It is measured in
process, around `mark_handled`, for every message.

    python benchmarks/handler.py [--messages 1000] [--senders 10]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _fill(count: int, senders: int) -> None:
    from attsms.core.models import InboundMessage
    from attsms.store import StoreSettings, open_inbox

    settings = StoreSettings(database_url=os.environ.get("ATTSMS_DATABASE_URL"))
    with open_inbox(settings, "default") as store:
        messages = [
            InboundMessage(
                f"MSG{n:08d}",
                f"message {n}",
                f"tel:+1212555{n % senders:04d}",
                "12345",
                f"2027-01-15T08:{n // 3600 % 60:02d}:{n // 60 % 60:02d}Z",
            )
            for n in range(count)
        ]
        for start in range(0, count, 1000):
            store.add_batch("12345", messages[start : start + 1000])


def _baseline(count: int) -> float:
    """Seconds to run `true` `count` times with the handler's pipes, nothing else."""
    true = shutil.which("true") or "/bin/true"
    started = time.perf_counter()
    for _ in range(count):
        proc = subprocess.Popen(
            [true], stdin=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        assert proc.stdin is not None and proc.stderr is not None
        with contextlib.suppress(BrokenPipeError):  # `true` reads nothing
            proc.stdin.write(b"{}\n")
            proc.stdin.close()
        proc.stderr.read()
        proc.wait()
    return time.perf_counter() - started


def _windows(count: int) -> list[float]:
    """Mark times (exit 0 to commit) for `count` messages, handled in process."""
    from attsms.receive.handler import MessageHandler, handler_config
    from attsms.store import StoreSettings, open_inbox

    settings = StoreSettings(database_url=os.environ.get("ATTSMS_DATABASE_URL"))
    with open_inbox(settings, "default") as store:
        store.retry_messages([f"MSG{n:08d}" for n in range(count)])
        handler = MessageHandler(store, handler_config("true"), log=print)
        return handler.run().windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=10)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="attsms-handler-bench-"))
    try:
        for name in ("config", "cache", "data"):
            os.environ[f"ATTSMS_{name.upper()}_DIR"] = str(home / name)
        _fill(args.messages, args.senders)
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "attsms", "inbox", "handle", "--exec", "true", "-q"],
            check=False,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        if run.returncode != 0:
            raise SystemExit(f"inbox handle exited {run.returncode}: {run.stderr}")
        baseline = _baseline(args.messages)
        windows = sorted(_windows(args.messages))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    count = args.messages
    per = (wall - baseline) / count * 1000
    print(f"backend: {'postgresql' if os.environ.get('ATTSMS_DATABASE_URL') else 'sqlite'}")
    print(f"handled {count} messages with `true` in {wall:.2f} s: {count / wall:.0f} messages/s")
    print(f"`true` alone, {count} times: {baseline:.2f} s ({baseline / count * 1000:.2f} ms each)")
    print(f"attsms's overhead per message (incl. start-up): {per:.2f} ms")
    p99 = windows[min(len(windows) - 1, int(len(windows) * 0.99))]
    print(
        f"at-least-once window (exit 0 to mark committed): median"
        f" {statistics.median(windows) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms,"
        f" max {windows[-1] * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
