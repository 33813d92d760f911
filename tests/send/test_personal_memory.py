"""Issue 16 for personal texts: a --template send's memory does not grow with its rows.

Before, a template send held a set of every address, a count per distinct text and the whole
plan (every batch's addresses and text) before the first request: ~350 bytes a row, 90 MB for a
200,000-row dry run. Now the addresses seen and the texts counted are int64s in sorted arrays
and the plan is spilled to an unnamed temporary file, read back a batch at a time.

The run is in this process (its RSS is what is measured); the bound is on growth, not on time.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers.support import Cli, PeakRss, rss_mb

TEMPLATE = "Hi {first_name}, your table for {party} is ready at 7:30"


def _csv(path: Path, rows: int, *, names: int | None = None) -> None:
    """`rows` distinct numbers; first names all different, or `names` of them in turn."""
    with path.open("w", encoding="utf-8") as out:
        out.write("phone,first_name,party\n")
        for i in range(rows):
            name = f"Guest{i if names is None else i % names}"
            out.write(f"+1212{2000000 + i:07d},{name},{i % 4 + 1 if names is None else 2}\n")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc for RSS")
def test_a_dry_run_of_100000_personal_texts_grows_rss_by_a_fixed_bound(
    cli: Cli, tmp_path: Path
) -> None:
    people = tmp_path / "people.csv"
    _csv(people, 100_000)
    small = tmp_path / "small.csv"
    _csv(small, 10)
    # Warm up: imports and the code paths; their memory is not the rows'.
    assert cli("--sandbox", "send", "--to-file", str(small), "--template", "-m", TEMPLATE,
               "--dry-run").exit_code == 0  # fmt: skip
    before = rss_mb()
    with PeakRss() as rss:
        result = cli("--sandbox", "send", "--to-file", str(people), "--template", "-m", TEMPLATE,
                     "--dry-run", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    facts = result.json()
    assert facts["recipients"] == 100_000 and facts["requests"] == 100_000
    growth = rss.peak - before
    # 100,000 rows as int64s (addresses and text digests) are under 2 MB; before: ~35 MB.
    assert growth < 10, f"RSS grew {growth:.1f} MB for 100,000 rows"


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc for RSS")
def test_a_send_of_50000_rows_sharing_texts_grows_rss_by_a_fixed_bound(
    cli: Cli, sandbox_process: str, tmp_path: Path
) -> None:
    rows, names = 50_000, 8  # 8 texts shared by 6,250 people each: 1,000 requests
    people = tmp_path / "people.csv"
    _csv(people, rows, names=names)
    assert cli("send", "+12125550199", "-m", "warm-up").exit_code == 0
    before = rss_mb()
    with PeakRss() as rss:
        result = cli("send", "--to-file", str(people), "--template", "-m", TEMPLATE)
    assert result.exit_code == 0, result.stderr
    assert len(result.lines) == rows
    growth = rss.peak - before
    # Measured: 15 MB before the plan was spilled, 10.6 MB after (5 MB of it the rows captured).
    assert growth < 25, f"RSS grew {growth:.1f} MB for {rows} rows"
    stats = httpx.get(sandbox_process + "/sandbox/stats", timeout=10).json()
    assert stats["send_requests"] == 1 + rows // 50
    sent = {a: n for a, n in stats["delivered_to"].items() if a != "tel:+12125550199"}
    assert len(sent) == rows and set(sent.values()) == {1}  # each texted exactly once
    outbox = httpx.get(sandbox_process + "/sandbox/outbox", timeout=30).json()
    texts = {e["address"]: e["message"] for e in outbox["outbox"]}
    for i in (0, 1, 7, 8, rows - 1):
        expected = f"Hi Guest{i % names}, your table for 2 is ready at 7:30"
        assert texts[f"tel:+1212{2000000 + i:07d}"] == expected
