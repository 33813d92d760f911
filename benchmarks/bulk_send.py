"""Bulk send against `attsms sandbox serve --latency-ms 50`, and one send against bare httpx.

1. 10,000 recipients (200 requests) with `attsms send --to-file`, as a real process: wall time and
   peak RSS of that process; /sandbox/stats must show exactly 200 send requests reaching 10,000
   distinct addresses once each. Targets: <= 1.5 s wall, <= 80 MB RSS.
2. One send with a cached token against a bare httpx script posting the same request, runs
   interleaved so machine noise hits both alike; the ratio of medians. Target: <= 1.5x.

    python benchmarks/bulk_send.py [--recipients 10000] [--runs 3] [--concurrency 8,16]
                                   [--single-runs 20]

Everything runs in a temporary config/cache/data dir; nothing touches your own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LATENCY_MS = 50
TARGET_WALL = 1.5
TARGET_RSS_MB = 80.0
TARGET_RATIO = 1.5

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


def _run(argv: list[str], env: dict[str, str], stdout: Any) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB (of this one child, via wait4) and exit status."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        assert proc.stderr is not None
        sys.exit(f"{' '.join(argv[:3])}… exited {proc.returncode}: {proc.stderr.read().decode()}")
    # ru_maxrss is kilobytes on Linux, bytes on macOS.
    rss_mb = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return wall, rss_mb, proc.returncode


def _start_sandbox(attsms: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*attsms, "sandbox", "serve", "--port", "0", "--latency-ms", str(LATENCY_MS)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "attsms sandbox listening on http://127.0.0.1:PORT"
    if "listening on" not in first:
        proc.kill()
        sys.exit(f"the sandbox did not start: {first!r}")
    return proc, first.split()[-1]


def bulk(
    attsms: list[str], env: dict[str, str], url: str, work: Path, count: int, concurrency: int
) -> tuple[float, float]:
    to_file = work / "recipients.txt"
    out_file = work / "out.tsv"
    before = _stats(url)
    argv = [*attsms, "send", "--to-file", str(to_file), "-m", "Bulk benchmark"]
    argv += ["--concurrency", str(concurrency)]
    with out_file.open("wb") as out:
        wall, rss, _ = _run(argv, env, out)
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


def _verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3, help="bulk runs per concurrency")
    parser.add_argument(
        "--concurrency", default="8,16", help="comma-separated --concurrency values to run"
    )
    parser.add_argument("--single-runs", type=int, default=20, help="0: skip the single send")
    args = parser.parse_args()
    attsms = _attsms()
    with tempfile.TemporaryDirectory(prefix="attsms-bench-") as tmp:
        work = Path(tmp)
        env = {**os.environ}
        for name in ("CONFIG", "CACHE", "DATA"):
            env[f"ATTSMS_{name}_DIR"] = str(work / name.lower())
        for name in ("ATTSMS_SANDBOX", "ATTSMS_PROFILE", "NO_COLOR", "PYTHONDONTWRITEBYTECODE"):
            env.pop(name, None)
        # Compiled once, as an installed package is: without .pyc files every run would compile
        # attsms from source (CI sets PYTHONDONTWRITEBYTECODE), which the bare script never does.
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        server, url = _start_sandbox(attsms, env)
        try:
            env |= {
                "ATTSMS_BASE_URL": url,
                "ATTSMS_CLIENT_ID": "sandbox-client-id",
                "ATTSMS_CLIENT_SECRET": "sandbox-client-secret",
            }
            (work / "recipients.txt").write_text("\n".join(_numbers(args.recipients)) + "\n")
            # Pre-warm: the token cache, the history file, .pyc files and the page cache.
            _run([*attsms, "send", "+12125550199", "-m", "warm-up"], env, subprocess.DEVNULL)
            print(
                f"bulk send: {args.recipients} recipients, {-(-args.recipients // 50)} requests,"
                f" sandbox latency {LATENCY_MS} ms"
            )
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                walls, rsss = [], []
                for _ in range(args.runs):
                    wall, rss = bulk(attsms, env, url, work, args.recipients, concurrency)
                    walls.append(wall)
                    rsss.append(rss)
                wall, rss = statistics.median(walls), max(rsss)
                print(
                    f"  --concurrency {concurrency:<3} wall median {wall:.2f} s"
                    f" (runs: {', '.join(f'{w:.2f}' for w in walls)};"
                    f" target <= {TARGET_WALL} s: {_verdict(wall, TARGET_WALL)}),"
                    f" peak RSS {rss:.1f} MB"
                    f" (target <= {TARGET_RSS_MB:.0f} MB: {_verdict(rss, TARGET_RSS_MB)})"
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
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
