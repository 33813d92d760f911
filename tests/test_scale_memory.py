"""Issue 16: a send's memory does not grow with its recipients (a million must fit).

The send runs in this process (its RSS is what is measured) against a sandbox in a child process
(whose own memory, holding every message, is not ours to count). RSS is sampled while it runs;
the bound is on growth, not on time. Before issue 16 a send grew ~2.5 KB a recipient: 50,000
recipients took ~40 MB more here (now ~15 MB, most of it the rows captured in a StringIO).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support import Cli, PeakRss, rss_mb

RECIPIENTS = 50_000
# 50,000 recipients as int64s are 0.4 MB; the rows printed (captured here in a StringIO) ~5 MB.
GROWTH_BOUND_MB = 25


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc for RSS")
def test_sending_to_50000_recipients_grows_rss_by_a_fixed_bound(
    cli: Cli, sandbox_process: str, tmp_path: Path
) -> None:
    to_file = tmp_path / "to.txt"
    to_file.write_text("".join(f"+1212{2000000 + i:07d}\n" for i in range(RECIPIENTS)))
    # Warm up: imports, the token, the history file; their memory is not the send's.
    assert cli("send", "+12125550199", "-m", "warm-up").exit_code == 0
    before = rss_mb()
    with PeakRss() as rss:
        result = cli("send", "--to-file", str(to_file), "-m", "hi")
    assert result.exit_code == 0, result.stderr
    assert len(result.lines) == RECIPIENTS
    growth = rss.peak - before
    assert growth < GROWTH_BOUND_MB, f"RSS grew {growth:.1f} MB for {RECIPIENTS} recipients"
    stats = httpx.get(sandbox_process + "/sandbox/stats", timeout=10).json()
    sent = {a: n for a, n in stats["delivered_to"].items() if a != "tel:+12125550199"}
    assert len(sent) == RECIPIENTS and set(sent.values()) == {1}  # each texted exactly once


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc for RSS")
def test_rerunning_a_keyed_job_of_50000_grows_rss_by_a_fixed_bound(
    cli: Cli, sandbox_process: str, tmp_path: Path
) -> None:
    # A re-run reads what the first run did, a batch at a time: before, every earlier attempt
    # came back at once with its recipients as objects (~280 bytes a recipient, 282 MB for a
    # million; 76 MB now).
    to_file = tmp_path / "to.txt"
    to_file.write_text("".join(f"+1212{2000000 + i:07d}\n" for i in range(RECIPIENTS)))
    argv = ("send", "--to-file", str(to_file), "-m", "hi", "--dedupe-key", "big", "-q")
    assert cli(*argv).exit_code == 0
    assert cli("send", "+12125550199", "-m", "warm-up", "--dedupe-key", "small").exit_code == 0
    before = rss_mb()
    with PeakRss() as rss:
        rerun = cli(*argv, "--json")
    assert rerun.exit_code == 0, rerun.stderr
    assert rerun.json()["summary"]["already_sent"] == RECIPIENTS
    growth = rss.peak - before
    # Measured here: 15.4 MB before, 6.7 MB now (~5 MB of it the --json rows captured).
    assert growth < 11, f"RSS grew {growth:.1f} MB re-running {RECIPIENTS}"
    stats = httpx.get(sandbox_process + "/sandbox/stats", timeout=10).json()
    assert stats["send_requests"] == RECIPIENTS // 50 + 1  # the re-run sent nothing
