"""The kill -9 window of `attsms inbox pull`: how long a batch exists only in flight.

The service deletes inbound messages as it hands them out. From the moment it has produced an
answer until the pull's COMMIT of that batch has returned (fsync'd: the store runs with
`synchronous=FULL`), the batch exists only in the network and in the pull's memory: a pull killed
without warning (kill -9, the OOM killer, a power cut) inside that window loses the batch.
SIGTERM, SIGHUP and Ctrl-C wait for the commit (tests/promises/test_signals.py). This measures
the window batch by batch, as six moments on the machine-wide monotonic clock:

    produced    the sandbox has taken the batch out of the inbox (the service has forgotten it)
    received    the client has the whole answer (status and body read)
    parsed      the client has the messages as objects (JSON decoded, shape checked)
    storing     the store is asked to add them (BEGIN IMMEDIATE: waits for another writer)
    committing  the rows are written (keywords read, opt-outs applied), COMMIT starts
    committed   the COMMIT returned: the batch is on disk

The sandbox runs in this process, in a thread, with no added latency (a real service adds the
network's); the pull is a fresh `python -m attsms inbox pull` process, as cron runs it, with those
moments recorded by wrapping the client and the store. The first batch of a run is reported
apart: it pays for anything the process loads late. Prints the median and worst windows and where
the time goes.

    python benchmarks/pull_window.py [--batches 20] [--batch-size 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attsms.sandbox import SandboxConfig
    from attsms.sandbox.server import SandboxServer

Batch = dict[str, float]  # moment name -> monotonic seconds
REGISTRATION_ID = "12345"

# Run in the pull's process: wrap the three client-side moments, then run attsms as cron would.
_PULL = r"""
import atexit, contextlib, json, sys, time
from attsms.api import client as api
from attsms.store import inbox

marks = []

def wrap(owner, name, before=None, after=None):
    inner = getattr(owner, name)
    def wrapper(*args, **kwargs):
        if before:
            marks.append((before, time.monotonic()))
        result = inner(*args, **kwargs)
        if after and (name != "_call" or kwargs.get("consuming")):
            marks.append((after, time.monotonic()))
        return result
    setattr(owner, name, wrapper)

wrap(api.AttClient, "_call", after="received")
wrap(api.AttClient, "inbox", after="parsed")
wrap(inbox.InboxStore, "add_batch", before="storing", after="committed")
transaction = inbox.InboxStore._transaction

@contextlib.contextmanager
def timed_transaction(self):
    with transaction(self):
        yield
        marks.append(("committing", time.monotonic()))  # rows written, COMMIT next

inbox.InboxStore._transaction = timed_transaction
marks_path = sys.argv[1]

def save():
    with open(marks_path, "w") as file:
        json.dump(marks, file)

atexit.register(save)
sys.argv = ["attsms", "inbox", "pull", "12345", "-q", "--jsonl"]
from attsms.cli.main import main
code = main()
sys.stdout.flush()
sys.exit(code)
"""


def _serve(config: SandboxConfig) -> tuple[SandboxServer, list[float]]:
    """A sandbox server in this process, and the list it appends `produced` moments to."""
    from attsms.sandbox.core import Sandbox
    from attsms.sandbox.server import SandboxServer

    produced: list[float] = []
    lock = threading.Lock()
    process = Sandbox.process

    def timed(self: Sandbox, method: str, target: str, *args: Any, **kwargs: Any) -> Any:
        response = process(self, method, target, *args, **kwargs)
        if method == "GET" and "/messaging/inbox/" in target and response.status == 200:
            with lock:
                produced.append(time.monotonic())
        return response

    Sandbox.process = timed  # type: ignore[method-assign]
    return SandboxServer(config, "127.0.0.1", 0).start(), produced


def _run(url: str, env: dict[str, str], produced: list[float], messages: int) -> list[Batch]:
    import httpx

    httpx.post(
        f"{url}/sandbox/inbox/{REGISTRATION_ID}",
        json={"from": "+12125550100", "text": "window", "count": messages},
        timeout=30,
    ).raise_for_status()
    produced.clear()
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as marks_file:
        marks_path = Path(marks_file.name)
    try:
        pull = subprocess.run(
            [sys.executable, "-c", _PULL, str(marks_path)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if pull.returncode != 0:
            raise SystemExit(f"the pull failed ({pull.returncode}): {pull.stderr.strip()}")
        if len(pull.stdout.splitlines()) != messages:
            raise SystemExit(f"the pull printed {len(pull.stdout.splitlines())} of {messages}")
        marks = json.loads(marks_path.read_text())
    finally:
        marks_path.unlink(missing_ok=True)
    batches: list[Batch] = []
    current: Batch = {}
    for name, moment in marks:
        current[name] = moment
        if name == "committed":
            batches.append(current)
            current = {}
    # The drain ends with an empty answer, produced but never stored: it holds nothing.
    for batch, moment in zip(batches, produced, strict=False):
        batch["produced"] = moment
    return batches


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


def _report(label: str, batches: list[Batch]) -> None:
    if not batches:
        return
    steps = [
        ("produced -> received", "produced", "received"),
        ("received -> parsed", "received", "parsed"),
        ("parsed -> storing", "parsed", "storing"),
        ("storing -> committing", "storing", "committing"),
        ("COMMIT (fsync)", "committing", "committed"),
    ]
    windows = [b["committed"] - b["produced"] for b in batches]
    print(f"{label} ({len(batches)} batches)")
    print(f"  window      median {_ms(statistics.median(windows))}   worst {_ms(max(windows))}")
    for title, start, end in steps:
        spans = [b[end] - b[start] for b in batches]
        print(f"  {title:22} median {_ms(statistics.median(spans))}   worst {_ms(max(spans))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from attsms.sandbox import SandboxConfig

    config = SandboxConfig(inbox_batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as home:
        server, produced = _serve(config)
        url = server.url
        env = {
            **os.environ,
            "ATTSMS_CONFIG_DIR": f"{home}/config",
            "ATTSMS_CACHE_DIR": f"{home}/cache",
            "ATTSMS_DATA_DIR": f"{home}/data",
            "ATTSMS_BASE_URL": url,
            "ATTSMS_CLIENT_ID": config.client_id,
            "ATTSMS_CLIENT_SECRET": config.client_secret,
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
        first: list[Batch] = []
        rest: list[Batch] = []
        try:
            for _ in range(args.runs):
                batches = _run(url, env, produced, args.batches * args.batch_size)
                first.extend(batches[:1])
                rest.extend(batches[1:])
        finally:
            server.stop()
    print(f"kill -9 window of `attsms inbox pull`, {args.batch_size} messages a batch")
    _report("first batch of a run", first)
    _report("later batches", rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
