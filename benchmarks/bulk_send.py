"""Bulk send against `attsms sandbox serve --latency-ms 50`, and one send against bare httpx.

1. N recipients (N/50 requests) with `attsms send --to-file`, as a real process, for each N of
   `--recipients` (default 20,000 and 200,000): wall time, the latency floor (requests /
   concurrency x latency), their ratio, and peak RSS of that process; /sandbox/stats must show
   exactly N/50 send requests reaching N distinct addresses once each, and stdout N rows.
   Targets (issue 16): at the largest N wall <= 1.15x the floor; peak RSS <= 100 MB and at most
   1.2x the peak RSS of the smallest N.
2. One send with a cached token against a bare httpx script posting the same request, runs
   interleaved so machine noise hits both alike; the ratio of medians. Target: <= 1.3x.
   (`benchmarks/startup.py --single` runs only this.)

    python benchmarks/bulk_send.py [--recipients 20000,200000] [--runs 1] [--concurrency 16]
                                   [--single-runs 20] [--bare] [--keyed]
                                   [--compare OTHER/bin/attsms]

`--compare` runs another attsms (the console script of an install of an earlier commit) beside
this one, interleaved run by run against the same sandbox, and prints both side by side: the
before-and-after figures of a change on a noisy machine.

Everything runs in a temporary config/cache/data dir; nothing touches your own.

Before issue 16 (measured here, 20,000 recipients, one run): 1.88 s wall against a 1.25 s floor
(1.50x), peak RSS 57.2 MB; the issue's own figures: 2.5 KB a recipient, 246 MB at 100,000. What
held it (from the code, confirmed by the RSS after each change): the file read whole, a list of
raw strings, a dict of normalized ones, a tuple of addresses, `plan.batches` as a list of tuples,
a Future per batch, every `BatchOutcome` with its addresses, then a `RecipientResult` and a dict a
row for `out.records` at the end.

cProfile of `attsms send --to-file` (20,000 recipients, piped) after streaming: of 2.1 s, the main
thread waited 0.99 s on the workers' results; 20,001 `write` + flush calls (a row each) 0.13 s,
now one write a batch; `plan_send` 0.36 s before the first request, of which `normalize` ~2.2 us
a number (now ~1 us: one regex for the common US forms, no libphonenumber) and the de-duplication
(now a 2 MB bitmap of hashes, exact checks only for the codes whose bit was already set).

Now: recipients are read a block at a time and kept as int64s in an `array('q')`; batches are cut
as each is sent; a fixed pool of threads takes the next batch as it finishes one, so a request
never waits on the main thread; the main thread writes each batch's rows (TSV, JSON lines, or the
--json document piece by piece) and keeps a count-only outcome per batch.

After (one run each, this busy 2-core box): 20,000: 1.80 s, floor 1.25 s (1.44x: 0.3 s of it is
start-up), 44.9 MB; 200,000: 14.64 s, floor 12.50 s (1.17x), 52.1 MB (1.16x the RSS at 20,000).
A bare 16-thread httpx script (no start-up, no validation, no journal, no output) sending the
same 4,000 requests to the same sandbox took 13.81 s (1.11x): the sandbox's own processing and
the 2 shared cores set the floor one can reach here.

Then (stop 20) the sandbox: runs got slower one after another against one server (100,000
recipients: 1.16x, 1.25x, 1.29x, ...). Its once-a-second prune of expired statuses asked every
stored address for its final outcome under the sandbox's lock, so the prune grew with everything
ever sent (200,000 addresses: ~0.2 s of every second, with the GIL held while the client's
answers waited). Each message now keeps whether it is final, worked out once when it is sent.
After, side by side on one server (2 runs each): 20,000: 1.31x (start-up and the checking pass
are ~0.45 s of its 1.25 s floor); 200,000: 13.84-13.89 s, 1.11x, 47.1 MB; the bare script
(`--bare`, the same 4,000 requests from 16 threads, nothing else) 13.38 s, 1.07x. A client per
thread (httpcore's pool polls each of its connections under one lock for every request) was
tried and measured: 0.1 s less CPU in 3.6 s, no change in wall; not kept. Nor is moving each
batch's closing journal write (`finish_batch`, an fsync) off the worker thread: leaving it out
altogether changed nothing measurable (200,000, 3 runs each: 1.13x with it, 1.15x without).

Issue 25 (10,000 recipients at 50 ms in at most 1.0 s, the floor 0.63 s): py-spy showed the send
threads queued on the journal, two commits a batch, each waiting for an fsync (~2 ms on this
disk) under the store's one lock. The threads now hand their writes to a group commit
(`attsms/send/journal.py`): whoever writes next commits everything waiting in one transaction;
one holding a claim waits for the disk (the claim is durable before its request), outcomes alone
do not (`synchronous=NORMAL` for that commit: a kill keeps them, a power cut can only make one
"may have gone"). Claiming batches ahead of their requests was not done: a `kill -9` would leave
them `sending`, reported unknown and never sent. `--compare` (two sessions of 8 and 10 runs each,
interleaved, under a load average of 9-11 from other sessions): before 3.54x and 3.13x the floor,
after 3.35x and 2.72x, the bare script 2.66x and 2.27x; CPU 0.79 -> 0.75 s and 0.74 -> 0.67 s
(bare 0.48 s, 0.42 s: the rest is attsms's start-up and checks). On a quiet box (load 1.0-1.2,
10 runs each): before 1.58x, after 1.61x (1.01 s), bare 1.52x (0.95 s); CPU 0.62 -> 0.60 s.
Then the sends on the lean transport (`attsms/api/lean.py`, as the status GETs: the POST as
prebuilt bytes on a kept-alive socket, its answer read by httptools, never sent again on a drop)
and `sandbox serve` on one event loop: quiet box (load 0.7-1.6), 10 runs each against the start
of that stop (1d74cd3): before 1.51x, after 1.47x (0.92 s: met), bare 1.44x; CPU 0.52 -> 0.38 s
(bare 0.36 s); peak RSS 38.2 MB. At 200,000 (`--single-runs 0 --bare`): 1.12x, 43 MB, 1.12x the
RSS at 20,000; bare 1.09x.

`--keyed` (the largest N under a dedupe key, then again): a keyed re-run read every earlier
attempt with its recipients as objects (a million: 282 MB, 5.8 s, in a separate run against a
sandbox without latency); now a batch's recipients are read as it is settled (76 MB, 4.2 s), and
the first run sorts its recipients in merged runs (91 -> 69 MB). At 200,000: first run 14.18 s,
50.2 MB; re-run 0.99 s, 45.1 MB.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LATENCY_MS = 50
TARGET_FLOOR_RATIO = 1.15  # wall / latency floor, at the largest N
TARGET_RSS_MB = 100.0
TARGET_RSS_GROWTH = 1.2  # peak RSS at the largest N / at the smallest
TARGET_RATIO = 1.3

# The same traffic as `attsms send` at the largest N, by the simplest client: no start-up, no
# validation, no journal, no output. What it reaches is the floor this machine allows.
BARE_BULK = """
import os, sys, threading, httpx
numbers = [f"tel:+1{2122000000 + i}" for i in range(int(sys.argv[1]))]  # exchange 2xx
batches = iter([numbers[i:i + 50] for i in range(0, len(numbers), 50)])
take = threading.Lock()
client = httpx.Client(base_url=os.environ["BENCH_URL"],
                      headers={"Authorization": "Bearer " + os.environ["BENCH_TOKEN"]},
                      limits=httpx.Limits(max_connections=20, max_keepalive_connections=20))
def work():
    while True:
        with take:
            batch = next(batches, None)
        if batch is None:
            return
        r = client.post("/sms/v3/messaging/outbox",
                        json={"outboundSMSRequest": {"address": batch, "message": "bare"}})
        if r.status_code != 201:
            failed.append(r.status_code)
failed = []
threads = [threading.Thread(target=work) for _ in range(int(sys.argv[2]))]
for t in threads: t.start()
for t in threads: t.join()
sys.exit(f"{len(failed)} requests failed: {failed[:5]}" if failed else 0)
"""

BARE_HTTPX = """
import os, httpx
response = httpx.post(
    os.environ["BENCH_URL"] + "/sms/v3/messaging/outbox",
    json={"outboundSMSRequest": {"address": ["tel:+12125550100"], "message": "hi"}},
    headers={"Authorization": "Bearer " + os.environ["BENCH_TOKEN"]},
)
response.raise_for_status()
print(response.json()["outboundSMSResponse"]["messageId"])
"""


def _attsms() -> list[str]:
    script = Path(sys.executable).parent / "attsms"
    if script.exists():
        return [str(script)]
    found = shutil.which("attsms")
    return [found] if found else [sys.executable, "-m", "attsms"]


def _numbers(count: int) -> list[str]:
    """`count` distinct valid NANP numbers, written the ways people write them."""
    formats = ("+1 {a} {x} {n}", "({a}) {x}-{n}", "{a}.{x}.{n}", "1{a}{x}{n}", "+1{a}{x}{n}")
    numbers = []
    for i in range(count):
        area, rest = divmod(i, 8_000_000)
        exchange, line = divmod(rest, 10_000)
        fmt = formats[i % len(formats)]
        numbers.append(fmt.format(a=212 + area, x=f"{200 + exchange % 800:03d}", n=f"{line:04d}"))
    return numbers


def _stats(url: str) -> dict[str, Any]:
    import httpx

    stats: dict[str, Any] = httpx.get(url + "/sandbox/stats", timeout=10).json()
    return stats


def _token(url: str, env: dict[str, str]) -> str:
    """A token for the bare script, fetched outside any timing."""
    import httpx

    form = {
        "grant_type": "client_credentials",
        "client_id": env["ATTSMS_CLIENT_ID"],
        "client_secret": env["ATTSMS_CLIENT_SECRET"],
        "scope": "SMS",
    }
    response = httpx.post(url + "/oauth/v4/token", data=form, timeout=10)
    return str(response.json()["access_token"])


def _run(
    argv: list[str],
    env: dict[str, str],
    stdout: Any,
    *,
    poll_rss: bool = False,
    cpu: list[float] | None = None,
) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB of this one child, and exit status.

    `poll_rss`: the peak is the child's own VmHWM, read from /proc as it runs. wait4's ru_maxrss
    is not: Linux carries the high-water mark across fork and exec, so a child of a parent that
    grew (this script, after reading /sandbox/stats for 200,000 addresses) reports the parent's.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.PIPE)
    status_file = Path(f"/proc/{proc.pid}/status")
    hwm_kb = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG if poll_rss else 0)
        if pid:
            break
        with contextlib.suppress(OSError, ValueError):  # it may have just ended
            hwm_kb = max(hwm_kb, _vm_hwm_kb(status_file))
        time.sleep(0.01)
    wall = time.perf_counter() - started
    if cpu is not None:  # user + system seconds: what a busy machine's other load leaves alone
        cpu.append(usage.ru_utime + usage.ru_stime)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        assert proc.stderr is not None
        sys.exit(f"{' '.join(argv[:3])}… exited {proc.returncode}: {proc.stderr.read().decode()}")
    if hwm_kb:
        return wall, hwm_kb / 1024, proc.returncode
    # ru_maxrss is kilobytes on Linux, bytes on macOS.
    rss_mb = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return wall, rss_mb, proc.returncode


def _vm_hwm_kb(status_file: Path) -> int:
    for line in status_file.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def running_sandbox(
    attsms: list[str],
    env: dict[str, str],
    latency_ms: int = LATENCY_MS,
    cpu: list[float] | None = None,
) -> Iterator[str]:
    """`attsms sandbox serve` on a free port for the block; yields its URL. `cpu`: gets the
    sandbox's CPU seconds (user + system, from /proc) at the end of the block, as it shares the
    cores with the client measured."""
    proc = subprocess.Popen(
        [*attsms, "sandbox", "serve", "--port", "0", "--latency-ms", str(latency_ms)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # "attsms sandbox listening on http://127.0.0.1:PORT"
        if "listening on" not in first:
            sys.exit(f"the sandbox did not start: {first!r}")
        yield first.split()[-1]
        if cpu is not None:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bench_env(work: Path) -> dict[str, str]:
    """This environment with every attsms directory under `work`."""
    env = {**os.environ}
    for name in ("CONFIG", "CACHE", "DATA"):
        env[f"ATTSMS_{name}_DIR"] = str(work / name.lower())
    for name in ("ATTSMS_SANDBOX", "ATTSMS_PROFILE", "NO_COLOR", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    # Compiled once, as an installed package is: without .pyc files every run would compile
    # attsms from source (CI sets PYTHONDONTWRITEBYTECODE), which the bare script never does.
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def credentials(url: str) -> dict[str, str]:
    return {
        "ATTSMS_BASE_URL": url,
        "ATTSMS_CLIENT_ID": "sandbox-client-id",
        "ATTSMS_CLIENT_SECRET": "sandbox-client-secret",
    }


def single_send_ratio(attsms: list[str], runs: int) -> tuple[float, float]:
    """Medians of one send (cached token) by attsms and by the bare httpx script, in seconds,
    against a sandbox of its own (no added latency)."""
    with tempfile.TemporaryDirectory(prefix="attsms-bench-") as tmp:
        env = bench_env(Path(tmp))
        with running_sandbox(attsms, env, latency_ms=0) as url:
            env |= credentials(url)
            _run([*attsms, "send", "+12125550199", "-m", "warm-up"], env, subprocess.DEVNULL)
            return single(attsms, env, url, runs)


def bulk(
    attsms: list[str],
    env: dict[str, str],
    url: str,
    work: Path,
    count: int,
    concurrency: int,
    cpu: list[float] | None = None,
) -> tuple[float, float]:
    to_file = work / "recipients.txt"
    out_file = work / "out.tsv"
    before = _stats(url)
    argv = [*attsms, "send", "--to-file", str(to_file), "-m", "Bulk benchmark"]
    argv += ["--concurrency", str(concurrency)]
    with out_file.open("wb") as out:
        wall, rss, _ = _run(argv, env, out, poll_rss=True, cpu=cpu)
    after = _stats(url)
    requests = after["send_requests"] - before["send_requests"]
    delivered = {
        address: n - before["delivered_to"].get(address, 0)
        for address, n in after["delivered_to"].items()
        if n != before["delivered_to"].get(address, 0)
    }
    expected_requests = -(-count // 50)
    lines = out_file.read_text().count("\n")
    ok = requests == expected_requests and len(delivered) == count and lines == count
    ok = ok and set(delivered.values()) == {1}
    if not ok:
        sys.exit(
            f"wrong traffic: {requests} send requests (want {expected_requests}),"
            f" {len(delivered)} addresses reached (want {count}, once each), {lines} rows"
        )
    return wall, rss


def keyed(
    attsms: list[str], env: dict[str, str], url: str, work: Path, count: int, concurrency: int
) -> None:
    """The largest N as a keyed job, then the same job again: the re-run sends nothing and
    reads the first run's journal (its memory must not grow with the job either)."""
    argv = [*attsms, "send", "--to-file", str(work / "recipients.txt"), "-m", "Keyed benchmark"]
    argv += ["--concurrency", str(concurrency), "--dedupe-key", "bench-keyed"]
    before = _stats(url)["send_requests"]
    for run in ("first run", "re-run"):
        wall, rss, _ = _run(argv, env, subprocess.DEVNULL, poll_rss=True)
        sent = _stats(url)["send_requests"] - before
        print(f"  keyed {count:,}, {run}: wall {wall:.2f} s, peak RSS {rss:.1f} MB")
    if sent != -(-count // 50):
        sys.exit(f"the keyed job made {sent} send requests, want {-(-count // 50)}")


def single(attsms: list[str], env: dict[str, str], url: str, runs: int) -> tuple[float, float]:
    bare_env = {**env, "BENCH_URL": url, "BENCH_TOKEN": _token(url, env)}
    attsms_argv = [*attsms, "send", "+12125550100", "-m", "hi"]
    bare_argv = [sys.executable, "-c", BARE_HTTPX]
    times: dict[str, list[float]] = {"attsms": [], "bare": []}
    for argv, e in ((attsms_argv, env), (bare_argv, bare_env)):  # warm caches
        _run(argv, e, subprocess.DEVNULL)
    for _ in range(runs):
        times["attsms"].append(_run(attsms_argv, env, subprocess.DEVNULL)[0])
        times["bare"].append(_run(bare_argv, bare_env, subprocess.DEVNULL)[0])
    return statistics.median(times["attsms"]), statistics.median(times["bare"])


def compare(
    before: list[str], after: list[str], recipients: str, runs: int, concurrency: int
) -> None:
    """`bulk` by two attsms installs, interleaved (before, after, before, ...) against one
    sandbox, each with its own data dir: wall / floor and peak RSS of every run, side by side,
    and between them the bare httpx script (`BARE_BULK`): the floor this machine allows now."""
    with tempfile.TemporaryDirectory(prefix="attsms-bench-") as tmp:
        work = Path(tmp)
        env = bench_env(work)
        with running_sandbox(after, env) as url:
            envs = {}
            for name in ("before", "after"):
                envs[name] = bench_env(work / name) | credentials(url)
            pairs = (("before", before), ("after", after))
            for name, argv in pairs:  # warm: tokens, history files, .pyc files
                _run(
                    [*argv, "send", "+12125550199", "-m", "warm-up"], envs[name], subprocess.DEVNULL
                )
            for count in [int(n) for n in recipients.split(",") if n]:
                (work / "recipients.txt").write_text("\n".join(_numbers(count)) + "\n")
                floor = -(-count // 50) / concurrency * LATENCY_MS / 1000
                seen: dict[str, list[tuple[float, float]]] = {"before": [], "after": [], "bare": []}
                cpu: dict[str, list[float]] = {name: [] for name in seen}
                bare_env = {**env, "BENCH_URL": url, "BENCH_TOKEN": _token(url, envs["after"])}
                bare = [sys.executable, "-c", BARE_BULK, str(count), str(concurrency)]
                for _ in range(runs):
                    for name, argv in pairs:
                        wall, rss = bulk(argv, envs[name], url, work, count, concurrency, cpu[name])
                        seen[name].append((wall / floor, rss))
                    wall, rss, _ = _run(
                        bare, bare_env, subprocess.DEVNULL, poll_rss=True, cpu=cpu["bare"]
                    )
                    seen["bare"].append((wall / floor, rss))
                print(
                    f"bulk send of {count:,} at {LATENCY_MS} ms, floor {floor:.2f} s,"
                    f" {runs} runs each, interleaved:"
                )
                for name in seen:
                    ratios = sorted(r for r, _ in seen[name])
                    print(
                        f"  {name:>6}: median {statistics.median(ratios):.2f}x the floor"
                        f" (runs {', '.join(f'{r:.2f}' for r, _ in seen[name])}),"
                        f" peak RSS {max(m for _, m in seen[name]):.1f} MB,"
                        f" CPU median {statistics.median(cpu[name]):.2f} s"
                    )


def _verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--recipients", default="20000,200000", help="comma-separated recipient counts"
    )
    parser.add_argument("--runs", type=int, default=1, help="bulk runs per count")
    parser.add_argument("--concurrency", type=int, default=16, help="attsms send --concurrency")
    parser.add_argument("--single-runs", type=int, default=20, help="0: skip the single send")
    parser.add_argument(
        "--bare", action="store_true", help="also time a bare httpx script at the largest N"
    )
    parser.add_argument(
        "--keyed", action="store_true", help="also the largest N as a keyed job, run twice"
    )
    parser.add_argument(
        "--compare", metavar="ATTSMS", help="another attsms executable, run interleaved"
    )
    args = parser.parse_args()
    attsms = _attsms()
    if args.compare:
        compare([args.compare], attsms, args.recipients, args.runs, args.concurrency)
        return
    with tempfile.TemporaryDirectory(prefix="attsms-bench-") as tmp:
        work = Path(tmp)
        env = bench_env(work)
        with running_sandbox(attsms, env) as url:
            env |= credentials(url)
            # Pre-warm: the token cache, the history file, .pyc files and the page cache.
            _run([*attsms, "send", "+12125550199", "-m", "warm-up"], env, subprocess.DEVNULL)
            counts = [int(n) for n in args.recipients.split(",") if n]
            print(
                f"bulk send: sandbox latency {LATENCY_MS} ms, --concurrency {args.concurrency},"
                f" {args.runs} run(s) each"
            )
            results: dict[int, tuple[float, float]] = {}
            for count in counts:
                (work / "recipients.txt").write_text("\n".join(_numbers(count)) + "\n")
                walls, rsss = [], []
                for _ in range(args.runs):
                    wall, rss = bulk(attsms, env, url, work, count, args.concurrency)
                    walls.append(wall)
                    rsss.append(rss)
                wall, rss = statistics.median(walls), max(rsss)
                runs = list(zip(walls, rsss, strict=True))
                floor = -(-count // 50) / args.concurrency * LATENCY_MS / 1000
                results[count] = (wall / floor, rss)
                print(
                    f"  {count:>9,} recipients: wall {wall:.2f} s, floor {floor:.2f} s,"
                    f" ratio {wall / floor:.2f}x, peak RSS {rss:.1f} MB"
                    f" (runs: {', '.join(f'{w:.2f} s {r:.1f} MB' for w, r in runs)});"
                    " /sandbox/stats: every recipient texted exactly once"
                )
            largest, smallest = max(counts), min(counts)
            if args.bare:
                bare_env = {**env, "BENCH_URL": url, "BENCH_TOKEN": _token(url, env)}
                argv = [sys.executable, "-c", BARE_BULK, str(largest), str(args.concurrency)]
                wall, _, _ = _run(argv, bare_env, subprocess.DEVNULL)
                floor = -(-largest // 50) / args.concurrency * LATENCY_MS / 1000
                print(
                    f"  bare {args.concurrency}-thread httpx script, {largest:,} recipients:"
                    f" wall {wall:.2f} s, ratio {wall / floor:.2f}x (the floor this machine allows)"
                )
            if args.keyed:
                keyed(attsms, env, url, work, largest, args.concurrency)
            ratio, rss = results[largest]
            growth = rss / results[smallest][1]
            print(
                f"  at {largest:,}: wall/floor {ratio:.2f}x (target <= {TARGET_FLOOR_RATIO}x:"
                f" {_verdict(ratio, TARGET_FLOOR_RATIO)}), peak RSS {rss:.1f} MB (target <="
                f" {TARGET_RSS_MB:.0f} MB: {_verdict(rss, TARGET_RSS_MB)}), {growth:.2f}x the RSS"
                f" at {smallest:,} (target <= {TARGET_RSS_GROWTH}x:"
                f" {_verdict(growth, TARGET_RSS_GROWTH)})"
            )
            if args.single_runs <= 0:
                return
            ours, bare = single(attsms, env, url, args.single_runs)
            ratio = ours / bare
            print(
                f"single send, cached token: attsms {ours * 1000:.0f} ms, bare httpx"
                f" {bare * 1000:.0f} ms, ratio {ratio:.2f}x"
                f" (target <= {TARGET_RATIO}x: {_verdict(ratio, TARGET_RATIO)})"
            )


if __name__ == "__main__":
    main()
