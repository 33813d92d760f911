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
        [--python LABEL=PATH ...] [--ceiling]

Measured (issue 25's listen row; --count 10000, 3 runs interleaved, load average 3.4-3.9 on 2
CPUs, shared with other work; client ceiling 25,553/s), medians, before (the start commit,
installed) -> after, and the listener's CPU per notification:
    SQLite      receipts  8,975/s -> 8,948/s (1.00x)  p99 10.9 -> 11.0 ms   88 ->  89 us
    SQLite      inbound   5,367/s -> 6,754/s (1.26x)  p99 21.5 -> 12.5 ms  151 -> 126 us
    PostgreSQL  receipts  4,161/s -> 5,326/s (1.28x)  p99 17.1 -> 18.0 ms  142 -> 106 us
    PostgreSQL  inbound   2,428/s -> 4,121/s (1.70x)  p99 33.5 -> 22.1 ms  200 -> 151 us
PostgreSQL is now 1.68x (receipts) and 1.64x (inbound) SQLite's time, 2.2x and 2.2x before.
A second run (load 4.3-4.4, ceiling 22,997/s): SQLite 8,774 -> 8,716/s (0.99x) and 6,494 ->
7,780/s (1.20x), PostgreSQL 4,620 -> 5,884/s (1.27x) and 2,541 -> 4,536/s (1.79x), p99 at most
18 ms after; PostgreSQL 1.48x and 1.72x SQLite's time (1.90x and 2.56x before). The STOPs are
not what is left of the gap: PostgreSQL inbound alone, with and without them, did ~6,000/s
alike (load 4); its server shares the 2 cores with the listener and the senders.
On a quiet box (load 0.6, ceiling 36,173/s, --runs 2) the start commit did SQLite 7,365/s and
6,351/s, PostgreSQL 5,529/s and 2,013/s (3.2x SQLite's time for inbound).
Quiet box (load 0.2-1.7, stop 23, 10,000 each, medians of 2; before = the start of that stop):
    SQLite      receipts 7,266/s -> 7,888/s   inbound 6,726/s -> 7,499/s   p99 6.8 ms
    PostgreSQL  receipts 5,303/s -> 8,265/s   inbound 3,106/s -> 7,121/s   p99 7.2 / 7.9 ms
The listener's CPU, 113-134 us a notification, on 2 cores shared with the senders, is the bound.
Quiet box (load 0.5-1.7, --count 20000, 3 runs, client ceiling 34,579 and 38,754/s), two
sessions, before = the start of the last stop (1d74cd3) -> now (one INSERT a group of inbound
messages on SQLite too, the spec's shape parsed without folding keys):
    SQLite      receipts 10,543 -> 11,135/s, 10,446 -> 10,851/s   inbound 9,032 -> 10,940/s,
                8,501 -> 9,483/s                                    p99 4.3-5.9 ms
    PostgreSQL  receipts  9,342 -> 10,448/s,  9,385 -> 10,521/s   inbound 7,275 -> 7,937/s,
                6,926 -> 7,617/s (1.38x, 1.25x SQLite's time)       p99 5.0-7.7 ms
    the listener's CPU 83-109 us a notification (was 94-126).
py-spy --gil on the listener (SQLite inbound, ~9,600/s): the GIL is held 57% of the time; of
that, 12% is uvloop's write of the answers (the send syscall, under the GIL) and 10% the loop
itself; the writer thread's SQL runs outside it. The box's 2 cores are shared with the senders.
A third session (load 0.5-1.0): SQLite 9,612/s receipts, 10,216/s inbound; PostgreSQL 11,154/s
and 7,610/s; runs within a session swing +-20%. Per thread from /proc (SQLite inbound, 80,000 at
~9,300/s, 2 s sampled): the box ~36% idle, the event-loop thread ~66% of a core, the writer ~39%:
not CPU-bound. Each of the 32 senders waits for its commit, so the rate is the closed loop's
latency (a group of ~18 every ~1.9 ms). sys.setswitchinterval 0.5 ms and 2 ms (a wrapper
running the listener) measured within the noise: delivery 11,871 and 11,725/s against 10,259/s,
inbound 9,391 and 9,426/s against 10,073/s. The writer, timed from inside (Writer._store wrapped,
40,000 a run): never idle (0.01-0.03 ms between groups), a group the median 16 of the 32
senders, each stored in 1.8-2.7 ms of wall time for 0.6-1.0 ms of its thread's CPU (alone, with
no event loop beside it: 0.41 ms of CPU in 0.53 ms for 18). So the rate is the writer's wall
time a group: the GIL taken back after each statement (4 a group of inbound messages) while
the loop runs, and the disk. So a group of new inbound messages on SQLite is now one INSERT
in autocommit (SqliteDatabase.write_one; a message pushed again fails it whole, and the group
goes the old way): store 1.6-1.8 ms a group (was 2.5-2.7), 1.21x the inbound rate of the commit
before, 4 runs interleaved. RETURNING was not used: each row fetched is a step, a GIL round trip
of its own. Against the start of the stop (1d74cd3), three sessions on a busy box (client
ceiling 28,453, 14,682, 39,897/s; SQLite alone at 26,867/s): SQLite inbound 1.22x, 1.20x,
1.45x and 1.30x, receipts (unchanged) 1.07x, 0.89x, 0.88x and 1.05x; PostgreSQL 0.95-1.22x
(unchanged path: the noise).
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
from collections.abc import Callable, Iterator
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
    rows = [row for row in rows if row[0] >= 4] or rows
    return tuple(statistics.median(row[i] for row in rows) for i in range(3))  # type: ignore[return-value]


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
    size, wall, cpu = (statistics.median(g[i] for g in probed) for i in range(3))
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
