"""Reading a big history and inbox: peak RSS and wall of the commands that print them all.

A history of N recipients (N/50 accepted batches) and an inbox of M messages are written straight
into the stores of a temporary data dir (no sandbox needed), then each command runs as a real
process with its output to a file:

    attsms history --limit 0 --json      attsms history --limit 0 (TSV)
    attsms inbox list --limit 0 --json   attsms inbox export --json
    attsms inbox export --format csv     attsms status --all --json

    python benchmarks/read_scale.py [--recipients 200000] [--messages 200000]

Before stop 20 these read everything, then built every row and document, then wrote: a history
of a million recipients as JSON took 1.6 GB (12 s), its TSV 516 MB; 200,000 stored messages
574 MB to export as JSON. Now the stores are read a page at a time (keyset pages: 100 batches,
1,000 messages) and each page written as it comes, byte for byte what one read printed.
`status --all --json` read every batch and kept every answer: 2.1 GB (37 s) for a million
recipients; now a page of the history is asked about and printed before the next.
Measured (1,000,000 recipients, 200,000 messages, this 2-core box): history JSON 32 MB (8.0 s),
TSV 44 MB (2.2 s); inbox list JSON 26 MB (1.9 s), export JSON 26 MB (2.4 s); status --all
--json 49 MB (29 s, 20,000 requests), output byte for byte as before.
`benchmarks/wait_scale.py` sets status --all --json beside history on one store, interleaved.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # bulk_send: a sibling script, not a package

from bulk_send import _attsms, _run, bench_env, credentials, running_sandbox

COMMANDS = {
    "history --limit 0 --json": ["history", "--limit", "0", "--json"],
    "history --limit 0": ["history", "--limit", "0"],
    "inbox list --limit 0 --json": ["inbox", "list", "--limit", "0", "--json"],
    "inbox export --json": ["inbox", "export", "--json"],
    "inbox export --format csv": ["inbox", "export", "--format", "csv"],
    # Every send asked about (a sandbox of its own, which knows none of them: each is "gone").
    "status --requests --all --json": ["status", "--requests", "--all", "--json"],
}


def fill(data_dir: Path, recipients: int, messages: int) -> None:
    """The stores, written in this process with attsms's own store classes."""
    os.environ["ATTSMS_DATA_DIR"] = str(data_dir)
    from attsms.core.models import InboundMessage
    from attsms.store.history import HistoryStore
    from attsms.store.inbox import InboxStore

    with HistoryStore.open() as history:
        for n in range(-(-recipients // 50)):
            first = n * 50
            addresses = [
                f"tel:+1212{2000000 + i:07d}" for i in range(first, min(first + 50, recipients))
            ]
            history.record_batch(
                profile="default", message="Read benchmark", addresses=addresses,
                message_id=f"SMS{n:016d}",
            )  # fmt: skip
    with InboxStore.open("default") as inbox:
        for start in range(0, messages, 1000):
            batch = [
                InboundMessage(
                    f"m{i}",
                    f"hello there, number {i}",
                    f"tel:+1212{3000000 + i:07d}",
                    "12345",
                    "2026-12-01T10:00:00Z",
                )
                for i in range(start, min(start + 1000, messages))
            ]
            inbox.add_batch("12345", batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    attsms = _attsms()
    with tempfile.TemporaryDirectory(prefix="attsms-bench-") as tmp:
        work = Path(tmp)
        env = bench_env(work)
        fill(Path(env["ATTSMS_DATA_DIR"]), args.recipients, args.messages)
        print(f"history of {args.recipients:,} recipients, inbox of {args.messages:,} messages")
        with running_sandbox(attsms, {**env, "ATTSMS_DATA_DIR": str(work / "sandbox")}, 0) as url:
            for name, argv in COMMANDS.items():
                out = work / "out"
                with out.open("wb") as sink:
                    wall, rss, _ = _run(
                        [*attsms, *argv], env | credentials(url), sink, poll_rss=True
                    )
                size = out.stat().st_size / 2**20
                print(
                    f"  {name:<28} wall {wall:5.2f} s, peak RSS {rss:6.1f} MB, {size:6.1f} MB out"
                )


if __name__ == "__main__":
    main()
