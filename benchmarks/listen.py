"""`attsms listen` at send rate: receipts and inbound messages from 32 keep-alive senders.

For each store (SQLite files in a temp dir; a throwaway PostgreSQL cluster with fsync on, as
SQLite's synchronous=FULL is: tests/helpers/pg.py) and each kind (delivery receipts for N
seeded recipients, batches of 50; N inbound messages), starts a real `attsms listen` process
and has C concurrent senders, one keep-alive HTTP/1.1 connection each, POST one notification
after another. Every answer must be 200 {"stored": true}: each was committed before its 2xx.
Prints notifications/s, p50/p99 latency and the listener's peak RSS.

The senders are asyncio processes (`--client-processes`, 2) writing and parsing HTTP/1.1 by
hand (uvloop when it is installed), so the client is not what is measured: `--ceiling` runs
them against a trivial server that answers at once, the most this client can show on this box
(on a busy 2-core box one process tops out at 3,000-6,000/s, two near 10,000/s).

Before/after: `--python before=/tmp/listen-base/bin/python --python after=.venv/bin/python`
runs each listener in turn (rounds interleaved: before, after, before, after…) so the noise of
a shared box hits both alike; the verdict is the ratio of medians.

Prints, besides the rate and latency, the listener's CPU time (user + system, all its threads)
per notification: on a shared box the rate follows the other load, this much less.

What bounds it: each sender waits for its commit, so C senders get at most C notifications per
commit; but an fsync on this box's disk is ~0.2 ms when the box is quiet (the ~4 ms once written
here was measured under heavy load), so the disk would allow far more than 10,000/s. The bound is
the listener's CPU: one Python process (httptools/uvloop under uvicorn, and the group-commit
writer thread), ~90-150 us per notification, on 2 cores it shares with the senders (and with
PostgreSQL's server).

    python benchmarks/listen.py [--count 10000] [--senders 32] [--client-processes 2]
        [--runs 3] [--kinds delivery,inbound] [--stores sqlite,postgresql]
        [--python LABEL=PATH ...] [--ceiling] [--probe]

`--probe` runs each listener with its writer timed group by group (`Writer._store` wrapped) and
prints the median group and the wall and CPU time of storing one: a much steadier signal than
the rate, which swings +-20% from run to run on this shared box.

Measured, stop 36 (issue 25's listen row; quiet box, load 0.5-1.8, client ceiling 29,625 and
35,867/s; --count 40000, 3-4 runs interleaved; "before" = f823226, the start of the stop):
    before -> now, three sessions:
    SQLite      receipts 10,644 -> 13,369/s, 12,036 -> 11,504/s, 13,391 -> 13,408/s
                inbound  11,712 -> 12,074/s, 12,049 -> 12,744/s, 12,568 -> 12,962/s
    PostgreSQL  receipts 11,990 -> 12,936/s, 10,262 -> 12,672/s
                inbound   8,831 -> 11,954/s,  9,026 -> 10,091/s (CPU 94 -> 80 us each)
    now alone, two more sessions: SQLite receipts 12,774 and 14,010/s, inbound 11,479 and
    14,263/s; PostgreSQL 14,243 and 11,002/s.
    p99 3.7-6.2 ms; the listener's CPU 62-98 us a notification. Every SQLite median at
    --count 40000 or more that day was above 10,000/s, before and after (one at --count 20000,
    before the box settled: 9,852/s); single SQLite runs fell to 9,410/s
    now (8,564/s before).
    --probe: a group is 15-16 of the 32 senders; receipts stored in 1.1-1.4 ms (0.4-0.5 ms of
    the writer's CPU), inbound in 0.9-1.1 ms (0.4-0.5 ms).
What changed in it: py-spy --gil on the listener showed asyncio.timeout's enter and exit at 4%
of the event loop's GIL time, uvicorn's X-Forwarded-For middleware 3.8%, masking the token in
the log line 2.9%. A body uvicorn already holds (nearly every push: one segment) is now read
with no deadline set, the middleware is off, and the two push paths' masked form is computed
once. Tried and not kept, measured with --probe: a group of receipts on SQLite as BEGIN, one
SELECT of what would change, one UPDATE ... FROM and COMMIT (4 statements instead of 18): its
store time 1.19 ms against 1.21 ms, the rate 0.99x; and the gathered answer written with
os.write, which gives up the GIL for the system call: the writer's store time fell (0.70 against
0.89 ms) but the rate did not rise (0.80-0.98x in one session, 1.06-1.15x in another).
What bounds it: the box. At 12,000/s the listener uses ~1 core and the 32 senders ~0.7 (the
client's own cost, from its ceiling), on 2. Each sender waits for its commit, so the rate is a
group (half the senders) over the writer's wall time a group, and that wall time is mostly
waiting for the GIL while the event loop answers and parses the other half (the writer's CPU
is a third of it; a commit alone on this disk is 0.12 ms).

Earlier (stops 23-35, same command): before issue 25, 679/s and 799/s on SQLite, 404/s and
714/s on PostgreSQL (load 12-15). Stop 35, quiet box, medians of three sessions: SQLite
receipts 9,612-11,135/s, inbound 9,483-10,940/s; PostgreSQL 10,448-11,154/s and 7,610-7,937/s.
A group of inbound messages is one statement on either store (SQLite: one INSERT in autocommit,
`SqliteDatabase.write_one`; a message pushed again fails it whole, and that group goes the old
way); it took the SQLite inbound rate 1.20-1.45x in five sessions. A shorter GIL switch interval
(0.5 ms, 2 ms) measured within the noise. Each answer goes out in one send (receive/wire.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOKEN = "benchmark-listen-token-0123456789"
STORED = b'{"stored": true}'


@dataclass
class Result:
    rate: float
    p50: float
    p99: float
    rss_mib: float
    failures: list[str]
    cpu_us: float = 0.0  # the listener's CPU (user + system, all threads) per notification
    # --probe: the writer's groups (median size) and the wall and thread CPU time of storing one
    groups: tuple[float, float, float] | None = None


# --- the notifications ---------------------------------------------------------------------------


def _seed(count: int, database_url: str | None) -> list[tuple[str, str]]:
    """(message id, address) of `count` accepted recipients, in batches of 50."""
    from attsms.store import StoreSettings, open_history

    pairs: list[tuple[str, str]] = []
    with open_history(StoreSettings(database_url=database_url)) as store:
        for batch in range((count + 49) // 50):
            message_id = f"SMSBENCH{batch:08d}"
            numbers = range(batch * 50, min(count, batch * 50 + 50))
            addresses = [f"tel:+1212{5_000_000 + n:07d}" for n in numbers]  # valid NANP
            store.record_batch(
                profile="default", message="bench", addresses=addresses, message_id=message_id
            )
            pairs += [(message_id, a) for a in addresses]
    return pairs


def _body(kind: str, n: int, pairs: list[tuple[str, str]]) -> bytes:
    if kind == "delivery":
        message_id, address = pairs[n]
        note = {
            "messageId": message_id,
            "deliveryInfo": {"address": address, "deliveryStatus": "DeliveredToTerminal"},
        }
        return json.dumps({"deliveryInfoNotification": note}).encode()
    inbound = {
        "DateTime": f"2026-12-01T00:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "MessageId": f"MSGBENCH{n:08d}",
        "Message": "STOP" if n % 100 == 7 else f"bench #{n}",  # some opt-outs on the way
        "SenderAddress": f"tel:+1212{5_000_000 + n % 5000:07d}",
        "DestinationAddress": "12345",
    }
    return json.dumps(inbound).encode()


def _requests(kind: str, count: int, pairs: list[tuple[str, str]], host: str) -> list[bytes]:
    path = f"/notify/{TOKEN}/{kind}"
    out = []
    for n in range(count):
        body = _body(kind, n, pairs)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


# --- the senders ---------------------------------------------------------------------------------


class _Sender(asyncio.Protocol):
    """One keep-alive connection sending its share of the requests one after another."""

    def __init__(self, requests: list[bytes], done: asyncio.Future[None]) -> None:
        self.requests = requests
        self.next = 0
        self.done = done
        self.buffer = b""
        self.began = 0.0
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:  # uvloop's is no asyncio.Transport
        self.transport = transport

    def go(self) -> None:
        if self.next == len(self.requests):
            if not self.done.done():
                self.done.set_result(None)
            return
        assert self.transport is not None
        self.began = time.perf_counter()
        self.transport.write(self.requests[self.next])
        self.next += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end]
        match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        length = int(match.group(1)) if match else 0
        if len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        self.latencies.append(time.perf_counter() - self.began)
        if not head.startswith(b"HTTP/1.1 200") or body != STORED:
            self.failures.append(f"{head[:12]!r} {body[:80]!r}")
        self.go()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():  # what was not answered counts as not stored, with the reason
            unanswered = len(self.requests) - len(self.latencies)
            self.failures += [f"connection lost ({exc}), {self.failures[-1:]}"] * unanswered
            self.done.set_result(None)


def _factory(protocol: _Sender) -> Callable[[], _Sender]:
    return lambda: protocol


@dataclass
class _Raw:
    latencies: list[float]
    failures: list[str]
    began: float
    ended: float


async def _send_all(
    host: str, port: int, requests: list[bytes], senders: int, ready: Callable[[], object]
) -> _Raw:
    loop = asyncio.get_running_loop()
    protocols: list[_Sender] = []
    for index in range(senders):
        share = requests[index::senders]
        protocol = _Sender(share, loop.create_future())
        transport, _ = await loop.create_connection(_factory(protocol), host, port)
        protocol.transport = transport
        protocols.append(protocol)
    ready()  # every client process connected: all start together
    began = time.perf_counter()
    for protocol in protocols:
        protocol.go()
    await asyncio.gather(*(p.done for p in protocols))
    ended = time.perf_counter()
    for protocol in protocols:
        protocol.transport.close()
    latencies = [x for p in protocols for x in p.latencies]
    return _Raw(latencies, [f for p in protocols for f in p.failures], began, ended)


def _client(
    host: str, port: int, requests: list[bytes], senders: int, ready: Callable[[], object]
) -> _Raw:
    try:
        import uvloop

        return uvloop.run(_send_all(host, port, requests, senders, ready))
    except ImportError:
        return asyncio.run(_send_all(host, port, requests, senders, ready))


def _child(
    host: str, port: int, requests: list[bytes], senders: int, barrier: Any, out: Any
) -> None:
    out.put(_client(host, port, requests, senders, barrier.wait))


def _result(out: Any, children: list[Any]) -> _Raw:
    """The next client process's result; exits when they all ended without one (one that
    raised), rather than wait for ever."""
    import queue

    while True:
        try:
            raw: _Raw = out.get(timeout=5)
            return raw
        except queue.Empty:
            if not any(child.is_alive() for child in children):
                codes = [child.exitcode for child in children]
                sys.exit(f"the client processes ended without a result (exit codes {codes})")


def _run_senders(
    host: str, port: int, requests: list[bytes], senders: int, processes: int = 1
) -> Result:
    """`senders` connections over `processes` client processes (a share of a busy box's CPU
    each: one process can be what is measured), started together."""
    if processes <= 1:
        raws = [_client(host, port, requests, senders, lambda: None)]
    else:
        context = multiprocessing.get_context("fork")
        barrier, out = context.Barrier(processes), context.Queue()
        children = [
            context.Process(
                target=_child,
                args=(host, port, requests[i::processes], senders // processes, barrier, out),
            )
            for i in range(processes)
        ]
        for child in children:
            child.start()
        raws = [_result(out, children) for _ in children]
        for child in children:
            child.join()
    latencies = sorted(x for raw in raws for x in raw.latencies)
    elapsed = max(r.ended for r in raws) - min(r.began for r in raws)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    failures = [f for raw in raws for f in raw.failures]
    return Result(len(requests) / elapsed, pct(0.50), pct(0.99), 0.0, failures)


# --- the listener --------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


# --probe: `attsms listen` with its writer's `_store` timed, a line per group written at exit
# (size, wall ms, the writer thread's CPU ms) to $ATTSMS_BENCH_PROBE.
_PROBE = """
import atexit, os, sys, time
import attsms.receive.writer as writer
rows, store = [], writer.Writer._store
def timed(self, batch):
    wall, cpu = time.perf_counter(), time.thread_time()
    store(self, batch)
    rows.append((len(batch), time.perf_counter() - wall, time.thread_time() - cpu))
def save():
    with open(os.environ["ATTSMS_BENCH_PROBE"], "w") as out:
        out.writelines(f"{n} {w * 1e3:.4f} {c * 1e3:.4f}\\n" for n, w, c in rows)
writer.Writer._store = timed
atexit.register(save)
from attsms.cli.main import main
sys.argv[0] = "attsms"
sys.exit(main())
"""


def _probed(path: Path) -> tuple[float, float, float]:
    """Median group size, store wall ms and store CPU ms of the groups of four or more (the
    first and last few of a run are stragglers)."""
    rows = [tuple(map(float, line.split())) for line in path.read_text().splitlines()]
    return _medians([row for row in rows if row[0] >= 4] or rows)


def _medians(rows: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """The median of each of the first three columns."""
    size, wall, cpu = (statistics.median(row[i] for row in rows) for i in range(3))
    return size, wall, cpu


@contextlib.contextmanager
def _listener(
    python: str, env: dict[str, str], home: Path, *, probe: bool = False
) -> Iterator[tuple[str, int, int]]:
    err_path = home / "listen.err"
    start = ["-c", _PROBE] if probe else ["-m", "attsms"]
    with err_path.open("w+b") as err:
        proc = subprocess.Popen(
            [python, *start, "listen", "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            cwd=home,  # not the work tree: `python -m attsms` must find the installed attsms
        )
        try:
            deadline = time.monotonic() + 30
            started = re.compile(rb"listening on http://([\d.]+):(\d+)")
            while not (m := started.search(err_path.read_bytes())):
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"listen did not start: {err_path.read_text()[-2000:]}")
                time.sleep(0.05)
            yield m.group(1).decode(), int(m.group(2)), proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def one_run(
    python: str,
    kind: str,
    count: int,
    senders: tuple[int, int],
    database_url: str | None,
    *,
    probe: bool = False,
) -> Result:
    with tempfile.TemporaryDirectory(prefix="attsms-listen-bench-") as tmp:
        home = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATTSMS_")}
        for name in ("config", "cache", "data"):
            env[f"ATTSMS_{name.upper()}_DIR"] = os.environ[f"ATTSMS_{name.upper()}_DIR"] = str(
                home / name
            )
        env["ATTSMS_LISTEN_TOKEN"] = TOKEN
        env["ATTSMS_BENCH_PROBE"] = str(home / "probe.txt")
        if database_url is not None:
            env["ATTSMS_DATABASE_URL"] = database_url
        pairs = _seed(count, database_url) if kind == "delivery" else []
        with _listener(python, env, home, probe=probe) as (host, port, pid):
            requests = _requests(kind, count, pairs, f"{host}:{port}")
            cpu = _cpu_seconds(pid)
            result = _run_senders(host, port, requests, *senders)
            result.cpu_us = (_cpu_seconds(pid) - cpu) / count * 1e6
            result.rss_mib = _peak_rss_kib(pid) / 1024
        if probe:  # written as the listener exited
            result.groups = _probed(home / "probe.txt")
        if result.failures:  # the listener's own word on what it did not store
            lines = (home / "listen.err").read_text(errors="replace").splitlines()
            odd = [line for line in lines if " 200 " not in line and "listening" not in line]
            print(
                f"  {kind} with {python}: {len(result.failures)} not stored;",
                *odd[-5:],
                sep="\n    ",
            )
        return result


# --- the client's own ceiling --------------------------------------------------------------------

_TRIVIAL = """
import asyncio, sys
ANSWER = b'HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: 16\\r\\n\\r\\n'
ANSWER += b'{"stored": true}'
class P(asyncio.Protocol):
    def connection_made(self, t): self.t = t; self.buf = b''
    def data_received(self, d):
        self.buf += d
        while True:
            end = self.buf.find(b'\\r\\n\\r\\n')
            if end < 0: return
            n = int(self.buf[:end].lower().split(b'content-length: ')[1].split(b'\\r\\n')[0])
            if len(self.buf) < end + 4 + n: return
            self.buf = self.buf[end + 4 + n:]
            self.t.write(ANSWER)
async def main():
    server = await asyncio.get_running_loop().create_server(P, '127.0.0.1', 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


def ceiling(count: int, senders: tuple[int, int]) -> Result:
    proc = subprocess.Popen([sys.executable, "-c", _TRIVIAL], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        requests = _requests("inbound", count, [], f"127.0.0.1:{port}")
        return _run_senders("127.0.0.1", port, requests, *senders)
    finally:
        proc.terminate()
        proc.wait()


# --- the report ----------------------------------------------------------------------------------


def _line(label: str, results: list[Result]) -> str:
    rates = [r.rate for r in results]
    p99 = statistics.median(r.p99 for r in results)
    p50 = statistics.median(r.p50 for r in results)
    bad = sum(len(r.failures) for r in results)
    example = next((r.failures[0] for r in results if r.failures), "")
    return (
        f"  {label:<34} {statistics.median(rates):8,.0f}/s"
        f" (runs {', '.join(f'{x:,.0f}' for x in rates)})"
        f"  p50 {p50:5.1f} ms  p99 {p99:6.1f} ms"
        f"  CPU {statistics.median(r.cpu_us for r in results):4.0f} us/each"
        f"  RSS {max(r.rss_mib for r in results):5.1f} MiB"
        f"  not stored {bad}{' e.g. ' + example if example else ''}" + _groups_line(results)
    )


def _groups_line(results: list[Result]) -> str:
    probed = [r.groups for r in results if r.groups is not None]
    if not probed:
        return ""
    size, wall, cpu = _medians(probed)
    return f"\n  {'':<34} writer: {size:.0f} a group, stored in {wall:.2f} ms ({cpu:.2f} ms CPU)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", default="delivery,inbound")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--python", action="append", default=[], metavar="LABEL=PATH")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--ceiling", action="store_true", help="also the client's own ceiling")
    parser.add_argument(
        "--probe", action="store_true", help="time the listener's writer, group by group"
    )
    args = parser.parse_args()
    # Absolute, not resolved: a venv's python is a symlink that must stay one.
    pythons = [(p.split("=", 1)[0], str(Path.cwd() / p.split("=", 1)[1])) for p in args.python]
    pythons = pythons or [("this", sys.executable)]
    senders = (args.senders, args.client_processes)
    kinds = args.kinds.split(",")
    stores = args.stores.split(",")
    print(
        f"{args.count} notifications per run, {args.senders} keep-alive senders in"
        f" {args.client_processes} client processes, {args.runs} runs"
        f" interleaved; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    if args.ceiling:
        print(_line("client ceiling (trivial server)", [ceiling(args.count, senders)]))
    with contextlib.ExitStack() as stack:
        cluster = None
        if "postgresql" in stores:
            from tests.helpers import pg

            why_not = pg.available()
            if why_not:
                sys.exit(f"no PostgreSQL: {why_not}")
            cluster = stack.enter_context(pg.running(fsync=True))
        results: dict[tuple[str, str, str], list[Result]] = {}
        for run in range(args.runs):
            for store in stores:
                for kind in kinds:
                    for label, python in pythons:
                        url = None
                        if cluster is not None and store == "postgresql":
                            url = cluster.create_database(f"bench_{label}_{kind}_{run}")
                        result = one_run(python, kind, args.count, senders, url, probe=args.probe)
                        results.setdefault((store, kind, label), []).append(result)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        for (store, kind, label), found in results.items():
            print(_line(f"{store:<10} {kind:<8} {label}", found))
        if len(pythons) == 2:
            (first, _), (second, _) = pythons
            for store in stores:
                for kind in kinds:
                    a = statistics.median(r.rate for r in results[(store, kind, first)])
                    b = statistics.median(r.rate for r in results[(store, kind, second)])
                    print(f"  {store:<10} {kind:<8} {second}/{first}: {b / a:.2f}x")


if __name__ == "__main__":
    main()
