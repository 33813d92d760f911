"""Issue 16: a send's memory does not grow with its recipients (a million must fit).

The send runs in this process (its RSS is what is measured) against a sandbox in a child process
(whose own memory, holding every message, is not ours to count). RSS is sampled while it runs;
the bound is on growth, not on time. Before issue 16 a send grew ~2.5 KB a recipient: 50,000
recipients took ~40 MB more here (now ~15 MB, most of it the rows captured in a StringIO).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Cli

RECIPIENTS = 50_000
# 50,000 recipients as int64s are 0.4 MB; the rows printed (captured here in a StringIO) ~5 MB.
GROWTH_BOUND_MB = 25


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class _PeakRss:
    """The highest RSS of this process while the block runs, sampled every 5 ms."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, _rss_mb())

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[str]:
    env = {**os.environ, "ATTSMS_DATA_DIR": str(tmp_path / "sandbox-data")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "attsms", "sandbox", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "listening on" in first, first
    try:
        yield first.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc for RSS")
def test_sending_to_50000_recipients_grows_rss_by_a_fixed_bound(
    cli: Cli, sandbox_process: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTSMS_BASE_URL", sandbox_process)
    monkeypatch.setenv("ATTSMS_CLIENT_ID", "sandbox-client-id")
    monkeypatch.setenv("ATTSMS_CLIENT_SECRET", "sandbox-client-secret")
    to_file = tmp_path / "to.txt"
    to_file.write_text("".join(f"+1212{2000000 + i:07d}\n" for i in range(RECIPIENTS)))
    # Warm up: imports, the token, the history file; their memory is not the send's.
    assert cli("send", "+12125550199", "-m", "warm-up").exit_code == 0
    before = _rss_mb()
    with _PeakRss() as rss:
        result = cli("send", "--to-file", str(to_file), "-m", "hi")
    assert result.exit_code == 0, result.stderr
    assert len(result.lines) == RECIPIENTS
    growth = rss.peak - before
    assert growth < GROWTH_BOUND_MB, f"RSS grew {growth:.1f} MB for {RECIPIENTS} recipients"
    stats = httpx.get(sandbox_process + "/sandbox/stats", timeout=10).json()
    sent = {a: n for a, n in stats["delivered_to"].items() if a != "tel:+12125550199"}
    assert len(sent) == RECIPIENTS and set(sent.values()) == {1}  # each texted exactly once
