"""Start-up time of `attsms --version` and `attsms --help` against `python -c pass`, and the cost
of one send against a bare httpx script.

Runs the commands interleaved (so machine noise hits all alike) and prints medians and the ratio
of each to bare Python. Targets: --version <= 2x, --help <= 5x. Then one `attsms send` with a
cached token against a sandbox, against a bare `httpx.post` script doing the same request
(`bulk_send.single_send_ratio`). Target (issue 16): <= 1.3x.

    python benchmarks/startup.py [--runs 30] [--single-runs 20] [--baseline PATH/bin/attsms]

`--baseline` times another installation's `attsms` (say, the last release in a venv of its own)
in the same interleaved loop and prints each command's ratio to it: a side-by-side comparison on
a noisy machine. Time installed console scripts (`pip install .`, not `-e`), as users run them.

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


if __name__ == "__main__":
    main()
