"""The built-in (in-process) sandbox: a 10,000-recipient `attsms --sandbox send`, its peak RSS,
and a one-recipient `--sandbox send` after N sent against one on a fresh sandbox (issue 25).

    python benchmarks/sandbox_inproc.py --baseline /tmp/sbx-base/.venv/bin/attsms \
        [--count 10000] [--rounds 3] [--singles 5] [--history 100000]

With `--baseline` (another installation's attsms, say the commit before, `pip install .` in a
venv of its own), each round runs both installations one after the other, alternating which
goes first, each in a fresh data directory, and prints each figure's ratio (this / baseline);
the summary is the median over rounds. Noise on this shared box hits both alike.

`--history N` then sends N more recipients through this installation (not the baseline: its
whole-state rewrite makes that quadratic) and times one-recipient sends again: the cost must
not grow with N. Targets: the one-recipient send after N within noise of the one on a fresh
sandbox (the process start-up is most of it), and the 10,000 send close to `sandbox serve`
with no latency.

Before (the whole JSON state loaded and rewritten per request): 10,000 took 7.6 s and 121 MB, a
one-recipient send after it 0.37 s, 20,000 took 26 s. After: the state is an SQLite database
(attsms/sandbox/sqlstate.py); a request reads and writes only its rows, on a connection the
transport keeps open (closing a WAL database's last connection checkpoints and syncs it: that
was 4.6 ms of a 7 ms request until the connection was kept).

Measured (this 2-core box, shared, load average 4-6; 5 rounds against the commit before):
10,000 in 1.30-2.86 s against 5.08-7.11 s, median ratio 0.26x; peak RSS 42 MB against
125-137 MB (0.32x); a one-recipient send after the 10,000 0.82x; on a fresh sandbox 1.25x in the
rounds' medians of 5, 1.03x in a separate 16-run interleaved loop (noise: the process start-up
is nearly all of it). `--history 1000000`: each 100,000 in 7.6-13 s at 42 MB, a one-recipient
send after N sent 0.80-1.41x the same on an empty sandbox, median 1.01x; state.db grows about
8 MB per 100,000 distinct recipients (each address's count, kept until reset as `sandbox serve`
keeps it, and the messages within their 30-minute status retention).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # bulk_send: a sibling script, not a package

from bulk_send import _attsms, _numbers, _run, bench_env


def _send_many(attsms: list[str], work: Path, count: int, offset: int = 0) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `--sandbox send` of `count` recipients."""
    to_file = work / f"recipients-{offset}.txt"
    to_file.write_text("\n".join(_numbers(offset + count)[offset:]) + "\n")
    argv = [*attsms, "--sandbox", "send", "--to-file", str(to_file), "-m", "bench", "-q"]
    wall, rss, _ = _run(argv, bench_env(work), subprocess.DEVNULL, poll_rss=True)
    return wall, rss


def _send_one(attsms: list[str], work: Path, runs: int) -> float:
    """Median wall seconds of `runs` one-recipient `--sandbox send`s."""
    argv = [*attsms, "--sandbox", "send", "+12125550199", "-m", "one", "-q"]
    return statistics.median(
        _run(argv, bench_env(work), subprocess.DEVNULL)[0] for _ in range(runs)
    )


def _round(attsms: list[str], root: Path, count: int, singles: int) -> dict[str, float]:
    fresh = Path(tempfile.mkdtemp(dir=root))
    one_fresh = _send_one(attsms, fresh, singles)
    work = Path(tempfile.mkdtemp(dir=root))
    wall, rss = _send_many(attsms, work, count)
    return {
        "send": wall,
        "rss": rss,
        "one_fresh": one_fresh,
        "one_after": _send_one(attsms, work, singles),
    }


def _show(name: str, figures: dict[str, float], count: int) -> str:
    return (
        f"{name}: {count:,} in {figures['send']:.2f} s, {figures['rss']:.0f} MB; one recipient "
        f"fresh {figures['one_fresh'] * 1000:.0f} ms, after {count:,} "
        f"{figures['one_after'] * 1000:.0f} ms"
    )


def _singles(attsms: list[str], works: list[Path], runs: int) -> list[float]:
    """Median one-recipient send in each of `works`, the runs interleaved."""
    walls: list[list[float]] = [[] for _ in works]
    argv = [*attsms, "--sandbox", "send", "+12125550199", "-m", "one", "-q"]
    for _ in range(runs):
        for wall, work in zip(walls, works, strict=True):
            wall.append(_run(argv, bench_env(work), subprocess.DEVNULL)[0])
    return [statistics.median(w) for w in walls]


def _history(attsms: list[str], root: Path, count: int, history: int, singles: int) -> None:
    """Send `history` recipients in steps; after each, one-recipient sends there against the
    same on a sandbox that sent nothing else, interleaved."""
    work, fresh = Path(tempfile.mkdtemp(dir=root)), Path(tempfile.mkdtemp(dir=root))
    _singles(attsms, [work, fresh], 1)  # both made, tokens cached
    ratios = []
    sent = 0
    while sent < history:
        step = min(count * 10, history - sent)
        wall, rss = _send_many(attsms, work, step, offset=sent)
        sent += step
        after, none = _singles(attsms, [work, fresh], singles)
        ratios.append(after / none)
        size = (work / "data" / "sandbox" / "state.db").stat().st_size / 1e6
        print(
            f"  after {sent:,} sent: one recipient {after * 1000:.0f} ms, "
            f"{after / none:.2f}x the {none * 1000:.0f} ms of a sandbox with none sent; "
            f"the last {step:,} took {wall:.2f} s, {rss:.0f} MB; state.db {size:.0f} MB",
            flush=True,
        )
    median = statistics.median(ratios)
    print(f"one recipient after N / after none, median over the steps: {median:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="ATTSMS", help="another attsms to compare against")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--singles", type=int, default=5, help="one-recipient sends per figure")
    parser.add_argument("--history", type=int, default=0, help="N for the growth check; 0: skip")
    args = parser.parse_args()
    this = _attsms()
    ratios: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="attsms-sbx-bench-") as tmp:
        root = Path(tmp)
        for n in range(args.rounds):
            order = [("this", this)]
            if args.baseline:
                order.append(("baseline", [args.baseline]))
                if n % 2:
                    order.reverse()
            results = {name: _round(argv, root, args.count, args.singles) for name, argv in order}
            for name, figures in results.items():
                print(f"round {n + 1} {_show(name, figures, args.count)}", flush=True)
            if "baseline" in results:
                for key, value in results["this"].items():
                    ratios.setdefault(key, []).append(value / results["baseline"][key])
        if ratios:
            summary = ", ".join(f"{k} {statistics.median(v):.3f}x" for k, v in ratios.items())
            print(f"this / baseline, medians of {args.rounds} rounds: {summary}")
        if args.history:
            print(f"growth: one-recipient sends while {args.history:,} are sent (this attsms)")
            _history(this, root, args.count, args.history, args.singles)


if __name__ == "__main__":
    main()
