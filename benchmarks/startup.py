"""Start-up time of `attsms --version` and `attsms --help` against `python -c pass`, and the cost
of one send against a bare httpx script.

Runs the commands interleaved (so machine noise hits all alike) and prints medians and the ratio
of each to bare Python. Targets: --version <= 2x, --help <= 5x. Then one `attsms send` with a
cached token against a sandbox, against a bare `httpx.post` script doing the same request
(`bulk_send.single_send_ratio`). Target (issue 16): <= 1.3x.

    python benchmarks/startup.py [--runs 30] [--single-runs 20] [--baseline PATH/bin/attsms]
                                 [--instructions]

`--instructions` counts the instructions each command executes under valgrind's callgrind
instead of timing it: the same count whatever else the machine is doing, so a ratio that holds
on a shared, noisy box (valgrind from Debian's packages; each run takes a second or so).

`--baseline` times another installation's `attsms` (say, the last release in a venv of its own)
in the same interleaved loop and prints each command's ratio to it: a side-by-side comparison on
a noisy machine. Time installed console scripts (`pip install .`, not `-e`), as users run them.

Issue 25, `--help`: the help of a command does not change between runs, so `python -m
attsms.cli.docgen` renders every page at the two widths click uses most (a terminal of 100 columns
or more, and one of 80 or a pipe) into attsms/cli/help.json, and `cli.main` prints the page from
there before importing Typer (tests/cli/test_help_cache.py: each page is what Typer prints).
`-X importtime` of `attsms --help` before: attsms.cli.app 33 ms of which typer 29 (typer.main 21,
its vendored click 5, typer.completion 7), attsms.cli.output 25 (dataclasses 11 with inspect 9,
typing 4.5, pathlib 3.5), re 7.5; after: attsms.cli.main 2.5, attsms.core.interrupts 2.4, json 1.5,
and nothing else of attsms. Left: Python's own start-up and the console script's imports. Measured
(`--instructions`, installed wheels, side by side): python -c pass 38.2 M instructions; `attsms
--help` 389 M before (10.2x), 80 M after (2.1x); `attsms --version` 72.7 M (1.9x). Timed on the
same box under load from other work, the medians swing too much to quote; quiet, 7.9x before.
Any other width, or an option before `--help` (`attsms --sandbox send --help`), is Typer's.

Profile of one send before issue 16 (`python -X importtime`, cumulative ms, this 2-core box):
httpx 86 (the bare script pays it too), attsms.cli.app 37 of which typer 33 (typer also loads rich),
phonenumbers 23 (to tell a US area code from a Canadian one), attsms.send.runner 15, sqlite3 and
filelock for the history; cProfile: `httpx.Client()` building a verified SSL context, loading the
CA bundle, ~22 ms, even for the sandbox's http:// URL. Measured: 1.39x a bare httpx POST.
Fixed: US numbers are read with a table of the non-US NANP area codes (no phonenumbers import),
and a plain-HTTP client gets a bare SSL context: 1.21x. Typer is still imported for a send.

Stop 20, `-X importtime` of a piped send again: of httpx's 107 ms (cumulative, inflated by the
tracing), 57 ms was `httpx._main`, httpx's own command line, which loads click, rich.console,
rich.progress, rich.syntax and pygments on `import httpx`. attsms never runs it; `cli.main` now
makes that one import fail (a None in sys.modules), and httpx falls back to its stub, as it does
when the `httpx[cli]` extras are missing. The bare script still loads it. Measured, interleaved,
20 runs each: 178 vs 187 ms (0.95x), 191 vs 191 ms (1.00x), 191 vs 188 ms (1.01x).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _attsms() -> list[str]:
    script = Path(sys.executable).parent / "attsms"
    if script.exists():
        return [str(script)]
    found = shutil.which("attsms")
    return [found] if found else [sys.executable, "-m", "attsms"]


def _time(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--single-runs", type=int, default=20, help="0: skip the single send")
    parser.add_argument("--baseline", metavar="ATTSMS", help="another attsms to compare against")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions (callgrind), not time"
    )
    args = parser.parse_args()
    runs = args.runs
    attsms = _attsms()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "attsms --version": [*attsms, "--version"],
        "attsms --help": [*attsms, "--help"],
        "attsms send --help": [*attsms, "send", "--help"],
    }
    if args.baseline:
        for flags in (["--version"], ["--help"], ["send", "--help"]):
            commands["baseline " + " ".join(flags)] = [args.baseline, *flags]
    if args.instructions:
        _count_instructions(commands)
        return
    for argv in commands.values():  # warm the page cache and .pyc files
        _time(argv)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(_time(argv))
    base = statistics.median(samples["python -c pass"])
    print(f"{'command':<22}{'median ms':>10}{'ratio':>8}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:<22}{median * 1000:>10.1f}{median / base:>7.1f}x")
    if args.baseline:
        print("against the baseline, side by side:")
        for name in ("--version", "--help", "send --help"):
            ours = statistics.median(samples[f"attsms {name}"])
            theirs = statistics.median(samples[f"baseline {name}"])
            print(f"  attsms {name:<14}{ours / theirs:>7.2f}x the baseline")
    if args.single_runs > 0:
        sys.path.insert(0, str(Path(__file__).parent))
        from bulk_send import single_send_ratio

        ours, bare = single_send_ratio(attsms, args.single_runs)
        verdict = "ok" if ours / bare <= 1.3 else "MISSED"
        print(
            f"single send, cached token: attsms {ours * 1000:.0f} ms, bare httpx"
            f" {bare * 1000:.0f} ms, ratio {ours / bare:.2f}x (target <= 1.3x: {verdict})"
        )


def _count_instructions(commands: dict[str, list[str]]) -> None:
    """Each command's instruction count under callgrind, and its ratio to `python -c pass`."""
    if shutil.which("valgrind") is None:
        sys.exit("--instructions needs valgrind (apt-get install valgrind)")
    counts = {}
    for name, argv in commands.items():
        _time(argv)  # .pyc files written before counting
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *_python(argv)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=True,
        )
        collected = [line for line in done.stderr.splitlines() if "Collected" in line]
        counts[name] = int(collected[-1].split()[-1])
    base = counts["python -c pass"]
    print(f"{'command':<22}{'instructions':>14}{'ratio':>8}")
    for name, count in counts.items():
        print(f"{name:<22}{count / 1e6:>12.1f} M{count / base:>7.1f}x")


def _python(argv: list[str]) -> list[str]:
    """`argv` with a console script run by its interpreter: valgrind follows no #! line."""
    script = Path(argv[0])
    first = script.read_bytes()[:200].split(b"\n")[0] if script.is_file() else b""
    if first.startswith(b"#!") and b"python" in first:
        return [first[2:].decode().strip(), *argv]
    return argv


if __name__ == "__main__":
    main()
