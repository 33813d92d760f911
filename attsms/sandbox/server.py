"""The sandbox over real HTTP: one event loop in one thread, httptools parsing, HTTP/1.1 keep-alive.

    with SandboxServer(SandboxConfig(latency_ms=50)).start() as server:
        httpx.get(f"{server.url}/sandbox/stats")

State lives in memory (one `Sandbox`). Each request is answered by `Sandbox.handle` on the loop,
under the state lock (well under a millisecond); latency and fault delays are timers on the loop,
so slow answers overlap instead of queueing. Requests are parsed by httptools (llhttp, the C
parser `attsms listen` uses through uvicorn) on uvloop where it builds: a thread a connection and
the stdlib's email-based header parsing cost the sandbox more CPU than its answers (issue 25).
uvicorn itself is not used: ASGI cannot close a connection without an answer (a dropped
connection fault).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gc
import html
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import IO, cast

import httptools

from attsms.sandbox.callbacks import CallbackConfig, Notifier
from attsms.sandbox.config import SandboxConfig
from attsms.sandbox.core import Sandbox
from attsms.sandbox.responses import SandboxResponse, invalid_input

# Idle keep-alive connections are closed after this long.
IDLE_TIMEOUT_SECONDS = 30.0
# Far above any valid request (50 addresses and 4096 bytes of text); guards a local server.
MAX_BODY_BYTES = 1 << 20
# What http.server said, so a client sees the same Server header as before.
SERVER_HEADER = f"attsms-sandbox Python/{sys.version.split()[0]}"
SERVED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
# socketserver's default backlog of 5 makes a burst of new connections wait a SYN retry (1 s).
BACKLOG = 128

_REASONS = {status.value: status.phrase for status in HTTPStatus}


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # the libuv loop: a fraction of asyncio's CPU a request
    except ImportError:  # Windows, or a Python it does not build for
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _no_sleep(_: float) -> None:
    """The server waits out `delay` on its loop (a timer), never in `Sandbox.handle`."""


class _BodyError(Exception):
    """A request body that is malformed or larger than MAX_BODY_BYTES."""


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool
    refusal: SandboxResponse | None = None  # the parser's verdict: answer this, then close


def _closes(resp: SandboxResponse) -> bool:
    """Whether the answer says `Connection: close` (an error page does), as http.server read it."""
    return any(
        name.lower() == "connection" and value.lower() == "close"
        for name, value in resp.headers.items()
    )


def _error_page(status: int, message: str) -> SandboxResponse:
    """http.server's send_error answer (HTML, Connection: close), for what is not HTTP at all."""
    explain = {s.value: s.description for s in HTTPStatus}.get(status, "")
    values = {
        "code": status,
        "message": html.escape(message, quote=False),
        "explain": html.escape(explain, quote=False),
    }
    body = (BaseHTTPRequestHandler.error_message_format % values).encode("UTF-8", "replace")
    headers = {"Connection": "close", "Content-Type": BaseHTTPRequestHandler.error_content_type}
    return SandboxResponse(status, headers, body)


class _Serving:
    """What every connection shares: the sandbox, the request log, the open connections."""

    def __init__(self, sandbox: Sandbox, log: IO[str] | None) -> None:
        self.sandbox = sandbox
        self.log = log  # None: no request log at all
        self.connections: set[_Connection] = set()
        self._date_second = -1
        self._date = ""

    def date(self) -> str:
        """The Date header, formatted once a second rather than once a request."""
        now = time.time()
        if int(now) != self._date_second:
            self._date_second = int(now)
            self._date = email.utils.formatdate(self._date_second, usegmt=True)
        return self._date


class _Connection(asyncio.Protocol):
    """One client connection: requests answered one at a time, in the order they came."""

    def __init__(self, serving: _Serving) -> None:
        self._serving = serving
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._peer = "-"
        self._queue: deque[_Request] = deque()
        self._busy = False  # a request is being answered (its delay may be running)
        self._broken = False  # the parser gave up: nothing more is read
        self._idle: asyncio.TimerHandle | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if peer else "-"
        self._serving.connections.add(self)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._serving.connections.discard(self)
        self._queue.clear()
        self._disarm_idle()
        self._transport = None

    def data_received(self, data: bytes) -> None:
        if self._broken:
            return
        self._disarm_idle()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No upgrades here: the request is answered as any other, then the connection is
            # closed (the parser reads nothing after an Upgrade, so a next request would hang).
            self._broken = True
            if self._queue:
                self._queue[-1].keep_alive = False
        except httptools.HttpParserError as exc:
            self._broken = True
            if self._url or isinstance(exc.__context__, _BodyError):
                refusal = invalid_input("body").response()  # as a malformed body always was
            else:
                refusal = _error_page(400, "Bad request syntax")
            self._queue.append(_Request("", "", "", {}, b"", False, refusal))
        self._next()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # --- httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url, self._headers, self._body, self._size = b"", {}, [], 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        # Names as sent, the last of a repeated one winning: what dict(http.server headers) gave.
        self._headers[name.decode("latin-1")] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        for name, value in self._headers.items():
            lower = name.lower()
            if lower == "content-length" and int(value) > MAX_BODY_BYTES:
                raise _BodyError("Content-Length")  # answered now, without waiting for it
            if (
                lower == "expect"
                and value.lower() == "100-continue"
                and self._parser.get_http_version() == "1.1"
                and self._transport is not None
            ):
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits for it

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > MAX_BODY_BYTES:
            raise _BodyError("body")
        self._body.append(body)

    def on_message_complete(self) -> None:
        parser = self._parser
        request = _Request(
            parser.get_method().decode("latin-1"),
            self._url.decode("latin-1"),
            parser.get_http_version(),
            self._headers,
            b"".join(self._body),
            parser.should_keep_alive(),
        )
        self._queue.append(request)
        self._url = b""

    # --- answering ----------------------------------------------------------------------------

    def _next(self) -> None:
        while not self._busy and self._queue and self._transport is not None:
            self._busy = True
            self._answer(self._queue.popleft())
        if not self._busy and not self._queue:
            self._arm_idle()

    def _answer(self, req: _Request) -> None:
        if req.refusal is not None:
            self._finish(req, req.refusal)
            return
        if req.method not in SERVED_METHODS:
            self._finish(req, _error_page(501, f"Unsupported method ({req.method!r})"))
            return
        target = req.target
        if target.startswith("//"):  # as http.server: not taken for a scheme-relative URL
            target = "/" + target.lstrip("/")
        resp = self._serving.sandbox.handle(req.method, target, req.headers, req.body)
        if resp.delay > 0:
            asyncio.get_running_loop().call_later(resp.delay, self._finish, req, resp)
        else:
            self._finish(req, resp)

    def _finish(self, req: _Request, resp: SandboxResponse) -> None:
        self._busy = False
        transport = self._transport
        if transport is None:
            return  # the client stopped waiting (its timeout, during a fault delay)
        if resp.drop_connection:
            transport.close()  # no answer at all: the socket just closes
            return
        try:
            head = self._head(req, resp)
        except UnicodeEncodeError:
            transport.close()  # a header not in latin-1 (a fault rule's): as http.server, no answer
            raise
        transport.write(head + resp.body)
        if not req.keep_alive or req.refusal is not None or _closes(resp):
            transport.close()  # the stream position is unknown, or either side asked to close
            return
        self._next()

    def _head(self, req: _Request, resp: SandboxResponse) -> bytes:
        status = resp.status
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, '')}", f"Server: {SERVER_HEADER}"]
        # A fault rule's Date (a skewed clock) replaces the server's own: one header.
        if not any(name.lower() == "date" for name in resp.headers):
            lines.append(f"Date: {self._serving.date()}")
        lines += [f"{name}: {value}" for name, value in resp.headers.items()]
        lines.append(f"Content-Length: {len(resp.body)}\r\n\r\n")
        log = self._serving.log
        if log is not None:
            line = f"{req.method} {req.target} HTTP/{req.version}" if req.method else "-"
            log.write(f'{self._peer} "{line}" {status} -\n')
            log.flush()
        return "\r\n".join(lines).encode("latin-1", "strict")

    def _arm_idle(self) -> None:
        if self._transport is not None and self._idle is None:
            loop = asyncio.get_running_loop()
            self._idle = loop.call_later(IDLE_TIMEOUT_SECONDS, self.close)

    def _disarm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket as socketserver made one: its errors (socket.gaierror for an unknown
    host, EADDRINUSE...) are what `sandbox serve` maps to messages, unwrapped."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _collect_rarely() -> None:
    """For a process that only serves: a served sandbox keeps every message, phone and outbox
    entry it is sent (containers, no cycles), and with the default thresholds the cyclic GC
    walks that growing heap again and again: a third of a bulk send's CPU (issue 25). What it
    frees here, a few connections' cycles, can wait; collections still run, much less often."""
    gc.freeze()  # what start-up made is never garbage: out of every collection's walk
    gc.set_threshold(10_000, 50, 100)


class SandboxServer:
    """A sandbox on http://host:port (port 0: any free port); `.url` says where."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log: IO[str] | None = None,
        clock: Callable[[], float] = time.time,
        callbacks: CallbackConfig | None = None,
    ) -> None:
        self.sandbox = Sandbox(config, clock=clock, sleep=_no_sleep)
        # Pushes (callbacks.py) run in their own threads from start() to stop().
        self.notifier = Notifier(callbacks) if callbacks is not None and callbacks.active else None
        self.sandbox.notifier = self.notifier
        self._serving = _Serving(self.sandbox, log)
        # Bound here, so `url` is known before serving; IPv4, as http.server's default family.
        self._sock = _listen(host, port)
        self._loop = _new_loop()
        self._server = self._loop.run_until_complete(
            self._loop.create_server(lambda: _Connection(self._serving), sock=self._sock)
        )
        self._thread: threading.Thread | None = None
        self._ran = threading.Event()  # set when the loop stops
        self._serving_in: threading.Thread | None = None  # the thread running the loop

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SandboxServer:
        """Serve in a background (daemon) thread."""
        if self.notifier is not None:
            self.notifier.start()
        self._thread = threading.Thread(target=self._run_loop, name="attsms-sandbox")
        self._thread.daemon = True
        self._serving_in = self._thread  # set before start() so a quick stop() still stops it
        self._thread.start()
        return self

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve in this thread until stop() from another thread, or KeyboardInterrupt.

        `poll_interval` is kept for callers of the stdlib-server version: a loop needs none.
        """
        self._serving_in = threading.current_thread()
        if self.notifier is not None:
            self.notifier.start()
        interrupted: list[int] = []
        # Ctrl-C as a loop event: a KeyboardInterrupt raised inside one of uvloop's callbacks
        # can be lost, and the server would go on serving. Where that cannot be (Windows, not
        # the main thread), Python's own handler raises it.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            self._loop.add_signal_handler(signal.SIGINT, self._interrupt, interrupted)
        try:
            self._run_loop()
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self._loop.remove_signal_handler(signal.SIGINT)
        if interrupted:
            raise KeyboardInterrupt

    def _run_loop(self) -> None:
        self._ran.clear()
        try:
            self._loop.run_forever()
        finally:
            self._ran.set()

    def _interrupt(self, interrupted: list[int]) -> None:
        interrupted.append(signal.SIGINT)
        self._loop.stop()

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call more than once."""
        serving, self._serving_in = self._serving_in, None
        # A stop queued before the loop starts still ends it: it runs in the first iteration.
        if serving is not None and serving is not threading.current_thread():
            self._loop.call_soon_threadsafe(self._loop.stop)
            if serving is not self._thread:
                self._ran.wait()  # serve_forever in another thread: wait for it, as shutdown() did
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        if not self._loop.is_closed() and not self._loop.is_running():
            self._server.close()
            for connection in list(self._serving.connections):
                connection.close()
            self._loop.run_until_complete(asyncio.sleep(0))  # their connection_lost calls
            self._loop.close()
        self._sock.close()
        if self.notifier is not None:
            self.notifier.stop()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run(
    config: SandboxConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    out: IO[str] = sys.stdout,
    *,
    log_requests: bool = False,
    callbacks: CallbackConfig | None = None,
) -> None:
    """Serve a sandbox until Ctrl-C, after printing where it is and the credentials it takes."""
    _collect_rarely()
    server = SandboxServer(
        config, host, port, log=out if log_requests else None, callbacks=callbacks
    )
    pushes = ""
    if callbacks is not None and callbacks.delivery_url:
        pushes += f"  delivery callback: {callbacks.delivery_url}\n"
    if callbacks is not None and callbacks.inbound_url:
        pushes += f"  inbound callback:  {callbacks.inbound_url}\n"
    if config.dialect != "spec":  # the default goes unsaid, as before dialects
        pushes += f"  dialect:          {config.dialect} (inbox and status as AT&T's SDKs read)\n"
    out.write(
        f"attsms sandbox listening on {server.url}\n"
        f"  page:             {server.url}/\n"
        f"  client id:        {config.client_id}\n"
        f"  client secret:    {config.client_secret}\n"
        f"  registration ids: {', '.join(sorted(config.registration_ids))}\n"
        f"{pushes}"
        "Press Ctrl-C to stop.\n"
    )
    out.flush()  # a parent process may be waiting on this line to learn the port
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
