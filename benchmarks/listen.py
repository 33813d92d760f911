"""`attsms listen` under load: N delivery notifications from C concurrent senders.

Seeds a fresh history (SQLite, in a temp dir) with N recipients (batches of 50), starts a real
`attsms listen` process, and has C threads (one keep-alive connection each) POST one delivery
notification per recipient. Every answer must be 200 {"stored": true}: each receipt was stored
before its 2xx. Prints notifications/s, latency percentiles and the listener's peak RSS.
Goal: >= 1,000 notifications/s with the SQLite store.

    python benchmarks/listen.py [--count 10000] [--senders 16] [--kind delivery|inbound]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TOKEN = "benchmark-listen-token-0123456789"


def _seed(count: int) -> list[tuple[str, str]]:
    """(message id, address) of `count` accepted recipients, in batches of 50."""
    from attsms.store import StoreSettings, open_history

    pairs: list[tuple[str, str]] = []
    with open_history(StoreSettings()) as store:  # the local files of ATTSMS_DATA_DIR
        for batch in range((count + 49) // 50):
            message_id = f"SMSBENCH{batch:08d}"
            numbers = range(batch * 50, min(count, batch * 50 + 50))
            addresses = [f"tel:+1212{5_000_000 + n:07d}" for n in numbers]  # valid NANP
            store.record_batch(
                profile="default", message="bench", addresses=addresses, message_id=message_id
            )
            pairs += [(message_id, a) for a in addresses]
    return pairs


def _body(kind: str, n: int, pair: tuple[str, str]) -> bytes:
    if kind == "delivery":
        message_id, address = pair
        note = {
            "messageId": message_id,
            "deliveryInfo": {"address": address, "deliveryStatus": "DeliveredToTerminal"},
        }
        return json.dumps({"deliveryInfoNotification": note}).encode()
    inbound = {
        "DateTime": "2026-12-01T00:00:00Z",
        "MessageId": f"MSGBENCH{n:08d}",
        "Message": f"bench #{n}",
        "SenderAddress": "tel:+12125550100",
        "DestinationAddress": "12345",
    }
    return json.dumps(inbound).encode()


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--kind", choices=("delivery", "inbound"), default="delivery")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="attsms-listen-bench-"))
    for name in ("config", "cache", "data"):
        os.environ[f"ATTSMS_{name.upper()}_DIR"] = str(home / name)
    os.environ["ATTSMS_LISTEN_TOKEN"] = TOKEN
    pairs = _seed(args.count) if args.kind == "delivery" else [("", "")] * args.count

    err = (home / "listen.err").open("w+b")
    proc = subprocess.Popen(
        [sys.executable, "-m", "attsms", "listen", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=err,
    )
    try:
        deadline = time.monotonic() + 30
        started = re.compile(rb"listening on http://([\d.]+):(\d+)")
        while not (m := started.search((home / "listen.err").read_bytes())):
            assert proc.poll() is None and time.monotonic() < deadline, "listen did not start"
            time.sleep(0.05)
        host, port = m.group(1).decode(), int(m.group(2))
        path = f"/notify/{TOKEN}/{args.kind}"
        latencies: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(args.senders + 1)

        def sender(index: int) -> None:
            conn = http.client.HTTPConnection(host, port, timeout=60)
            mine: list[float] = []
            start.wait()
            for n in range(index, args.count, args.senders):
                body = _body(args.kind, n, pairs[n])
                began = time.perf_counter()
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                answer = response.read()
                mine.append(time.perf_counter() - began)
                if response.status != 200 or json.loads(answer) != {"stored": True}:
                    with lock:
                        failures.append(f"{response.status} {answer[:100]!r}")
            conn.close()
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=sender, args=(i,)) for i in range(args.senders)]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        rss = _peak_rss_kib(proc.pid)
    finally:
        proc.terminate()
        code = proc.wait(timeout=60)
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    print(f"{args.count} {args.kind} notifications, {args.senders} senders, SQLite store")
    print(f"  throughput      {args.count / elapsed:,.0f} notifications/s ({elapsed:.2f} s)")
    print(f"  latency p50     {pct(0.50):.1f} ms")
    print(f"  latency p99     {pct(0.99):.1f} ms")
    print(f"  listener RSS    {rss / 1024:.1f} MiB peak")
    print(f"  not stored      {len(failures)}{' e.g. ' + failures[0] if failures else ''}")
    print(f"  listen exit     {code} (SIGTERM)")


if __name__ == "__main__":
    main()
