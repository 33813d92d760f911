"""Start-up time of `attsms --version` and `attsms --help` against `python -c pass`.

Runs the three commands interleaved (so machine noise hits all alike) and prints medians and the
ratio of each to bare Python. Targets: --version <= 2x, --help <= 5x.

    python benchmarks/startup.py [--runs 30]
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
    runs = parser.parse_args().runs
    attsms = _attsms()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "attsms --version": [*attsms, "--version"],
        "attsms --help": [*attsms, "--help"],
        "attsms send --help": [*attsms, "send", "--help"],
    }
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


if __name__ == "__main__":
    main()
