"""Many status GETs at once from ONE thread: `attsms status` over a big history.

On a pool of threads each GET's system calls let go of the GIL, and each answer takes it back
from the thread rendering the listing: at 20,000 GETs those hand-offs cost more than the requests
(benchmarks/wait_scale.py: the client's CPU 14.8 s against history's 8.6 s, the request threads
holding the GIL ~1.1 s of it). Here the requests go out on a few non-blocking kept-alive sockets
and the rendering thread moves them along (`pump`) between its rows: nothing waits on a socket
in another thread, nothing takes the GIL from it.

Only the plain case is taken here. What is not a whole answer in time (a connection refused,
dropped or broken off, a timeout, an answer too large, a 401, an answer worth retrying) comes
back as None, and the caller stops the fanout and asks that message and the rest the usual way
(`AttClient.delivery_status` on threads, with its retries, pauses, token refresh and error
mapping; `attsms.track.pool`): a status GET is safe to repeat. Connections are made blocking
(bounded by the connect timeout) and kept; a request this small goes out in one send.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from attsms.api.lean import MAX_HEAD_BYTES, RECV_BYTES, Conn, LeanHttp, LeanResponse, feed, framed

if TYPE_CHECKING:
    from attsms.api.client import AttClient
    from attsms.core.errors import AttsmsError
    from attsms.core.models import DeliveryStatus


@dataclass(slots=True)
class _Flight:
    key: str
    request: bytes
    conn: Conn
    deadline: float
    retried: bool
    seen: int = 0


class LeanFanout:
    """GETs on up to `width` non-blocking connections of `lean`'s base URL, moved along by
    `pump` in the one thread that owns this."""

    def __init__(self, lean: LeanHttp, width: int) -> None:
        import selectors

        self._lean = lean
        self._width = max(1, width)
        self._selector = selectors.DefaultSelector()
        self._readable = selectors.EVENT_READ
        self._queue: deque[tuple[str, bytes, bool]] = deque()  # key, request, retried
        self._idle: list[Conn] = []
        self._flights: dict[int, _Flight] = {}  # by the socket's file descriptor
        self._open = 0

    @property
    def busy(self) -> bool:
        return bool(self._queue or self._flights)

    def add(self, key: str, path: str, headers: dict[str, str]) -> None:
        self._queue.append((key, self._lean.request_bytes("GET", path, headers, b""), False))

    def pump(self, timeout: float) -> list[tuple[str, LeanResponse | None]]:
        """Start what may start, read what has come (waiting up to `timeout` for it): the
        answers complete, None for each to ask again the usual way."""
        done: list[tuple[str, LeanResponse | None]] = []
        self._start(done)
        if self._flights:
            for key, _ in self._selector.select(timeout):
                flight = self._flights.get(key.fd)
                if flight is not None:
                    self._read(flight, done)
            now = time.monotonic()
            for flight in [f for f in self._flights.values() if f.deadline < now]:
                self._fail(flight, done)  # a timeout: asked again, with the usual retries
            self._start(done)  # on the connections just freed
        return done

    def close(self) -> None:
        for flight in list(self._flights.values()):
            self._drop(flight.conn)
        for conn in self._idle:
            conn.close()
        self._idle, self._flights, self._queue = [], {}, deque()
        self._selector.close()

    # the flights -----------------------------------------------------------------------------

    def _start(self, done: list[tuple[str, LeanResponse | None]]) -> None:
        while self._queue and (self._idle or self._open < self._width):
            key, request, retried = self._queue.popleft()
            conn = self._idle.pop() if self._idle and not retried else self._connect()
            if conn is None:
                done.append((key, None))
                continue
            try:
                sent = conn.sock.send(request)
            except (BrokenPipeError, ConnectionResetError):
                sent = 0 if conn.reused and not retried else -1  # a kept-alive one let go
            except OSError:  # ssl's "want" errors are OSErrors too
                sent = -1
            if sent != len(request):  # a request this small goes out whole, or not at all here
                self._drop(conn)
                if sent == 0:
                    self._queue.appendleft((key, request, True))
                else:
                    done.append((key, None))
                continue
            deadline = time.monotonic() + self._lean.timeout
            flight = _Flight(key, request, conn, deadline, retried)
            self._flights[conn.sock.fileno()] = flight
            self._selector.register(conn.sock, self._readable)

    def _connect(self) -> Conn | None:
        try:
            conn = self._lean.connect()
        except Exception:  # the usual way says what went wrong, after its retries
            return None
        conn.sock.setblocking(False)
        self._open += 1
        return conn

    def _read(self, flight: _Flight, done: list[tuple[str, LeanResponse | None]]) -> None:
        import ssl

        reading = flight.conn.reading
        while not reading.done:
            try:
                data = flight.conn.sock.recv(RECV_BYTES)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                return  # the rest later
            except ConnectionResetError:
                self._ended(flight, done, reset=True)
                return
            except Exception:  # broken TLS: asked again
                self._fail(flight, done)
                return
            if not data:
                self._ended(flight, done)
                return
            flight.seen += len(data)
            try:
                feed(reading, data)
            except Exception:  # not HTTP: the usual way says so
                self._fail(flight, done)
                return
            limit = self._lean.limit(reading.status or 200)
            declared = reading.fields.get("content-length", "") if reading.head else ""
            too_long = reading.size > limit or (declared.isdigit() and int(declared) > limit)
            if too_long or (not reading.head and flight.seen > MAX_HEAD_BYTES):
                self._fail(flight, done)
                return
        self._land(flight, done, keep=reading.keep and framed(reading.fields))

    def _ended(
        self, flight: _Flight, done: list[tuple[str, LeanResponse | None]], *, reset: bool = False
    ) -> None:
        """The server closed (or reset) the connection: the end of a body that runs to the
        close; before a byte on a kept-alive one, the server had let it go: once more on a new
        one (a GET: safe to repeat)."""
        reading = flight.conn.reading
        if reading.head and not framed(reading.fields) and not reset:
            self._land(flight, done, keep=False)
        elif flight.seen == 0 and flight.conn.reused and not flight.retried:
            self._unregister(flight)
            self._drop(flight.conn)
            self._queue.appendleft((flight.key, flight.request, True))
        else:
            self._fail(flight, done)

    def _land(
        self, flight: _Flight, done: list[tuple[str, LeanResponse | None]], *, keep: bool
    ) -> None:
        reading, conn = flight.conn.reading, flight.conn
        self._unregister(flight)
        answer = LeanResponse(reading.status, reading.fields, b"".join(reading.body))
        done.append((flight.key, answer))
        if keep:
            conn.next_answer()
            conn.reused = True
            self._idle.append(conn)
        else:
            self._drop(conn)

    def _fail(self, flight: _Flight, done: list[tuple[str, LeanResponse | None]]) -> None:
        self._unregister(flight)
        self._drop(flight.conn)
        done.append((flight.key, None))

    def _unregister(self, flight: _Flight) -> None:
        self._flights.pop(flight.conn.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(flight.conn.sock)

    def _drop(self, conn: Conn) -> None:
        conn.close()
        self._open -= 1


class StatusFanout:
    """`client`'s status GETs through a `LeanFanout`: each answer read as `delivery_status`
    reads it, or None where that call would ask again."""

    def __init__(self, client: AttClient, lean: LeanHttp, width: int) -> None:
        self._client = client
        self._fanout = LeanFanout(lean, width)
        self._headers: dict[str, str] | None = None
        self._refused: list[tuple[str, DeliveryStatus | AttsmsError | None]] = []

    @property
    def busy(self) -> bool:
        return bool(self._refused) or self._fanout.busy

    def add(self, message_id: str) -> None:
        try:
            if self._headers is None:
                self._headers = self._client.status_headers()
            self._fanout.add(message_id, self._client.status_path(message_id), self._headers)
        except Exception:  # no credentials, a bad header: the usual way says so
            self._refused.append((message_id, None))

    def pump(self, timeout: float) -> list[tuple[str, DeliveryStatus | AttsmsError | None]]:
        done, self._refused = self._refused, []
        for message_id, response in self._fanout.pump(0 if done else timeout):
            answer = None if response is None else self._client.status_answer(message_id, response)
            done.append((message_id, answer))
        return done

    def close(self) -> None:
        self._fanout.close()
