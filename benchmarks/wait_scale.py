"""`send --wait` and `status --wait` at scale, and `status --all --json` against `history`.

Each measured command runs as a real process (peak RSS: its own VmHWM) for every attsms given
with `--attsms` (default: this venv's), interleaved run by run so the noise of this shared box
hits each alike:

1. `send --to-file F --wait --json` of N recipients to `sandbox serve` (each status final 2 s
   after its send: first seen waiting, then delivered), then `status --all --wait --json` of a
   fresh history of N recipients sent without waiting (the service knows each message). Peak
   RSS at each N of `--recipients`, so the growth shows.
2. `status --all --json` (`status --requests --all --json` where `status` has `--requests`) and
   `history --limit 0 --json` on one history of `--read` recipients
   written straight into the store (`read_scale.fill`; the sandbox knows none of its messages,
   each is asked about and is "gone"): the wall ratio status/history, median of `--runs`.

    python benchmarks/wait_scale.py [--recipients 100000,1000000] [--read 1000000] [--runs 3]
                                    [--attsms /tmp/track-base/.venv/bin/attsms ...]

Measured (this 2-core box, shared; before = the install of the commit before issue 25's change):
send --wait 52 / 56 / 70 MB at 100,000 / 300,000 / 1,000,000 recipients (before 303 / 814 MB at
100,000 / 300,000); status --all --wait 44 / 45 / 48 MB (before 240 / 654 MB).

status --requests --all --json of 1,000,000 (20,000 status GETs, each answered 404), the answers
read by httptools on kept-alive sockets (`attsms/api/lean.py`): 20.0 s against history's 11.3 s,
1.72x (load 1.2-1.7); the commit before, in the same runs, 36.1 s against 10.1 s (3.58x). CPU a
GET: httptools 82 us, http.client 190 (2.20x on this row), httpx 460; a hand-written HTTP/1.1
reader (70 us; 1.54-1.86x) was not kept: the framing is a well-kept parser's. Where the rest
goes: with the requests
answered in-process (no HTTP at all) status takes what history does (11-12 s against 10.8-11.5 s);
the 20,000 GETs alone cost the client 2.0 s user + 1.0 s sys by hand (through httpx 17 s + 4 s), the
sandbox, on the same 2 cores, 5.6 s of CPU. Each page's requests go out while the page before
it is rendered (the main thread waits on answers in under 1% of its samples). Asking a page
ahead through httpx measured 37 s against 9.9 s and was not kept; a shorter GIL switch interval
(1 ms, 20 ms) and 2-16 threads measured within the noise.

The last stop's figures (load 0.5-0.7, 3 runs interleaved, the new sandbox serving both): 1.62x
(15.8 s against 9.5 s), the start of that stop (1d74cd3) 1.80x. `/usr/bin/time`: status 13.0 s
user + 1.8 s system against history's 8.1 + 0.5 s; py-spy --gil: the 8 request threads hold the
GIL ~1.1 s of it, the main thread what history takes. The rest is the GIL's hand-offs around each
request's system calls. Not checking an idle socket before a GET (one select() less) measured
within the noise.

So the GETs now go out from the rendering thread itself (`attsms/api/fanout.py`): 8 non-blocking
kept-alive sockets, moved along between the rows (`StatusPool.pump`); the first answer it cannot
take (5xx, 429, 401, timeout, a dropped connection) stops it and the rest go on the threads, with
the usual retries. Same runs (load 0.5-1, 3 interleaved, the new sandbox serving both): threads
1.76x (17.1 s against 9.0 s), fanout 1.32x (12.3 s against 9.2 s: met); its CPU 10.8 s user +
0.8 s system against history's 8.2 + 0.5 s; peak RSS 44 MB (threads 46-50 MB).
A second session with other work on the box (history 11.4-15.1 s): fanout 1.34x (runs 1.34,
1.55, 1.16), threads 1.66x.

The sandbox's side of that row (issue 25): `sandbox serve` on http.server (a thread a connection,
email-parsed headers) spent ~200 us of CPU on a 404 status GET; on one event loop with httptools
(`attsms/sandbox/server.py`) 118-131 us: 20,000 GETs of unknown ids from 16 httpx threads over
kept-alive sockets, latency 0, CPU from /proc, 3 runs interleaved at load ~2 (207, 196, 198 us
against 118, 131, 128 us; an earlier pair 197 and 185 against 84 and 94). Of what is left, ~22 us
is Python (parsing callbacks, the core, the answer's head; timed with no socket), the rest the
kernel's loopback send and receive and the loop's wake-ups.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # sibling scripts, not a package

from bulk_send import _attsms, _run, bench_env, credentials, running_sandbox
from read_scale import fill


def _delivered(count: int) -> list[str]:
    """`count` distinct numbers the sandbox delivers (its outcome by digits: line 01xx)."""
    numbers = []
    for i in range(count):
        area, rest = divmod(i, 80_000)
        exchange, line = divmod(rest, 100)
        numbers.append(f"+1{212 + area}{200 + exchange}01{line:02d}")
    return numbers


def _env(work: Path, name: str, url: str) -> dict[str, str]:
    env = bench_env(work / name) | credentials(url)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache" / name)  # each install its own .pyc
    return env


def wait_runs(
    attsms: dict[str, list[str]],
    sizes: list[int],
    runs: int,
    work: Path,
    skip: list[str],
    limits: dict[str, int],
) -> None:
    """Peak RSS and wall of `send --wait` and `status --all --wait` at each size (an attsms
    only up to its `limits` size: the one before grows by GBs)."""
    with running_sandbox(_attsms(), bench_env(work / "sb"), latency_ms=0) as url:
        for size in sizes:
            to_file = work / f"to-{size}.txt"
            to_file.write_text("\n".join(_delivered(size)) + "\n")
            send = ["send", "--to-file", str(to_file), "-m", "wait bench", "--json"]
            for run in range(runs):
                for name, argv in attsms.items():
                    if size > limits.get(name, size):
                        continue
                    if "send" not in skip:
                        env = _env(work, f"{name}-{size}-{run}", url)
                        with (work / "out").open("wb") as sink:
                            wall, rss, _ = _run([*argv, *send, "--wait"], env, sink, poll_rss=True)
                        _line(name, "send --wait", size, wall, rss)
                    if "status" not in skip:
                        env = _env(work, f"{name}-{size}-{run}-s", url)
                        _run([*argv, *send], env, subprocess.DEVNULL)
                        argv_status = [*argv, "status", "--all", "--wait", "--json"]
                        with (work / "out").open("wb") as sink:
                            wall, rss, _ = _run(argv_status, env, sink, poll_rss=True)
                        _line(name, "status --all --wait", size, wall, rss)


def _line(name: str, what: str, size: int, wall: float, rss: float) -> None:
    print(f"  {name:<6} {what:<20} {size:>9,}: {wall:6.1f} s, peak RSS {rss:6.1f} MB", flush=True)


def _requests_view(argv: list[str], env: dict[str, str]) -> list[str]:
    """The recent-requests view of `status` in this attsms's spelling: `status --requests --all
    --json` where it has `--requests` (there a bare `status` is the newest send), else the
    older `status --all --json` (piped, no IDs)."""
    shown = subprocess.run(
        [*argv, "status", "--help"], env=env, capture_output=True, text=True, check=False
    )
    return ["status", *(["--requests"] if "--requests" in shown.stdout else []), "--all", "--json"]


def read_runs(attsms: dict[str, list[str]], size: int, runs: int, work: Path) -> None:
    """`status --all --json` against `history --limit 0 --json` on one store, interleaved."""
    env = bench_env(work / "read")
    fill(Path(env["ATTSMS_DATA_DIR"]), size, 0)
    print(f"read: one history of {size:,} recipients ({-(-size // 50):,} messages)")
    with running_sandbox(_attsms(), bench_env(work / "sb-read"), latency_ms=0) as url:
        env |= credentials(url)
        times: dict[tuple[str, str], list[float]] = {}
        views = {name: _requests_view(argv, env) for name, argv in attsms.items()}
        for _ in range(runs):
            for name, argv in attsms.items():
                for what, args in (
                    ("history", ["history", "--limit", "0", "--json"]),
                    ("status", views[name]),
                ):
                    with (work / "out").open("wb") as sink:
                        wall, rss, _ = _run([*argv, *args], env, sink, poll_rss=True)
                    times.setdefault((name, what), []).append(wall)
                    print(f"  {name:<6} {what:<8} {wall:6.2f} s, {rss:6.1f} MB")
        for name in attsms:
            history = statistics.median(times[name, "history"])
            status = statistics.median(times[name, "status"])
            ratio = statistics.median(
                s / h for s, h in zip(times[name, "status"], times[name, "history"], strict=True)
            )
            print(
                f"  {name:<6} status --all --json {status:.2f} s, history --limit 0 --json"
                f" {history:.2f} s: {ratio:.2f}x (median of per-run ratios)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", default="100000,1000000", help="sizes of the waits")
    parser.add_argument("--read", type=int, default=1_000_000, help="size of the read store")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--attsms", action="append", help="an attsms console script (repeat)")
    parser.add_argument(
        "--skip", choices=("send", "status", "wait", "read"), action="append", default=[]
    )
    parser.add_argument(
        "--base-max", type=int, default=300_000, help="largest wait size for the base install"
    )
    args = parser.parse_args()
    scripts = args.attsms or [" ".join(_attsms())]
    attsms = {
        ("base" if "track-base" in s else f"this{i or ''}"): s.split()
        for i, s in enumerate(scripts)
    }
    with tempfile.TemporaryDirectory(prefix="attsms-bench-") as tmp:
        work = Path(tmp)
        if "wait" not in args.skip:
            sizes = [int(n) for n in args.recipients.split(",") if n]
            wait_runs(attsms, sizes, args.runs, work, args.skip, {"base": args.base_max})
        if "read" not in args.skip:
            read_runs(attsms, args.read, args.runs, work)


if __name__ == "__main__":
    main()
