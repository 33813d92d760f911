"""The PostgreSQL store against the SQLite one, side by side: bulk send and inbox drain.

1. Bulk send: 10,000 recipients (200 requests) with `attsms send --to-file` at 50 ms sandbox
   latency, as a real process, once with local SQLite files and once with ATTSMS_DATABASE_URL.
2. Inbox drain: `attsms inbox pull --jsonl > file` draining 10,000 injected messages.

Runs alternate (SQLite, PostgreSQL, SQLite, …) so machine noise hits both alike; the ratio of
medians is the verdict. Target: PostgreSQL <= 1.3x SQLite for each. Traffic is checked: every
address reached once, every message stored once.

The PostgreSQL server is a throwaway cluster (tests/helpers/pg.py: initdb + pg_ctl, as the
`postgres` user when run as root) with fsync on, as SQLite's synchronous=FULL is;
ATTSMS_TEST_DATABASE_URL uses a running server instead.

    python benchmarks/store_compare.py [--recipients 10000] [--messages 10000] [--runs 3]
                                       [--concurrency 8]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bulk_send: a sibling script

from bulk_send import _attsms, running_sandbox

from tests.helpers import pg

LATENCY_MS = 50
TARGET_RATIO = 1.3
REGISTRATION_ID = "12345"
INJECT_CHUNK = 10_000


def _http(method: str, url: str, payload: Any = None) -> Any:
    import httpx

    response = httpx.request(method, url, json=payload, timeout=60)
    response.raise_for_status()
    return response.json()


def _timed(argv: list[str], env: dict[str, str], stdout: Any) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=stdout, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv[:3])}… exited {proc.returncode}: {proc.stderr.decode()}")
    return wall


def _numbers(count: int, offset: int) -> list[str]:
    return [
        f"+1{212 + (offset + i) // 8_000_000}{2000000 + (offset + i) % 8_000_000:07d}"
        for i in range(count)
    ]


def bulk_send(
    attsms: list[str],
    env: dict[str, str],
    url: str,
    work: Path,
    count: int,
    concurrency: int,
    offset: int,
) -> float:
    to_file = work / "recipients.txt"
    to_file.write_text("\n".join(_numbers(count, offset)) + "\n")
    before = _http("GET", url + "/sandbox/stats")["delivered_to"]
    argv = [*attsms, "send", "--to-file", str(to_file), "-m", "compare"]
    argv += ["--concurrency", str(concurrency)]
    wall = _timed(argv, env, subprocess.DEVNULL)
    after = _http("GET", url + "/sandbox/stats")["delivered_to"]
    reached = {a: n - before.get(a, 0) for a, n in after.items() if n != before.get(a, 0)}
    if len(reached) != count or set(reached.values()) != {1}:
        sys.exit(f"wrong traffic: {len(reached)} addresses reached, want {count} once each")
    return wall


def drain(attsms: list[str], env: dict[str, str], url: str, work: Path, count: int) -> float:
    left = count
    while left:
        chunk = min(left, INJECT_CHUNK)
        payload = {"from": "+12125550100", "text": "compare", "count": chunk}
        _http("POST", f"{url}/sandbox/inbox/{REGISTRATION_ID}", payload)
        left -= chunk
    out = work / "drain.jsonl"
    with out.open("wb") as sink:
        wall = _timed([*attsms, "inbox", "pull", REGISTRATION_ID, "--jsonl"], env, sink)
    ids = [json.loads(line)["message_id"] for line in out.read_text().splitlines()]
    if len(ids) != count or len(set(ids)) != count:
        sys.exit(f"wrong drain: {len(ids)} lines, {len(set(ids))} distinct, want {count}")
    return wall


def _ratio_line(name: str, sqlite: list[float], postgres: list[float]) -> str:
    a, b = statistics.median(sqlite), statistics.median(postgres)
    ratio = b / a
    verdict = "ok" if ratio <= TARGET_RATIO else "MISSED"
    return (
        f"{name:<12} sqlite {a:6.2f} s   postgresql {b:6.2f} s   ratio {ratio:4.2f}x"
        f" (target <= {TARGET_RATIO}x: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    why_not = pg.available()
    if why_not:
        sys.exit(f"no PostgreSQL: {why_not}")
    attsms = _attsms()
    with (
        tempfile.TemporaryDirectory(prefix="attsms-bench-") as tmp,
        pg.running(fsync=True) as cluster,
    ):
        work = Path(tmp)
        base = {**os.environ}
        for name in ("ATTSMS_SANDBOX", "ATTSMS_PROFILE", "ATTSMS_DATABASE_URL", "NO_COLOR"):
            base.pop(name, None)
        base["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        with running_sandbox(attsms, {**base, "ATTSMS_DATA_DIR": str(work / "sb")}) as url:
            envs: dict[str, dict[str, str]] = {}
            for backend in ("sqlite", "postgresql"):
                env = dict(base)
                for name in ("CONFIG", "CACHE", "DATA"):
                    env[f"ATTSMS_{name}_DIR"] = str(work / backend / name.lower())
                env |= {
                    "ATTSMS_BASE_URL": url,
                    "ATTSMS_CLIENT_ID": "sandbox-client-id",
                    "ATTSMS_CLIENT_SECRET": "sandbox-client-secret",
                }
                if backend == "postgresql":
                    env["ATTSMS_DATABASE_URL"] = cluster.create_database("bench")
                envs[backend] = env
                # Warm-up: token cache, store creation, .pyc files.
                _timed([*attsms, "send", "+12125550199", "-m", "warm-up"], env, subprocess.DEVNULL)
                _timed([*attsms, "inbox", "pull", REGISTRATION_ID], env, subprocess.DEVNULL)
            print(
                f"{args.recipients} recipients at {LATENCY_MS} ms latency (--concurrency"
                f" {args.concurrency}); {args.messages} inbound messages; {args.runs} runs each"
            )
            sends: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
            drains: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
            offsets = itertools.count(0, args.recipients)
            jobs: list[tuple[str, Callable[[], float], dict[str, list[float]]]] = []
            for _ in range(args.runs):
                for backend in ("sqlite", "postgresql"):
                    env = envs[backend]
                    offset = next(offsets)
                    jobs.append(
                        (
                            backend,
                            lambda e=env, o=offset: bulk_send(  # type: ignore[misc]
                                attsms, e, url, work, args.recipients, args.concurrency, o
                            ),
                            sends,
                        )
                    )
                    jobs.append(
                        (
                            backend,
                            lambda e=env: drain(attsms, e, url, work, args.messages),  # type: ignore[misc]
                            drains,
                        )
                    )
            for backend, job, into in jobs:
                into[backend].append(job())
            print(_ratio_line("bulk send", sends["sqlite"], sends["postgresql"]))
            print(_ratio_line("inbox drain", drains["sqlite"], drains["postgresql"]))


if __name__ == "__main__":
    main()
