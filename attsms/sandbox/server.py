"""The sandbox over real HTTP: stdlib ThreadingHTTPServer, HTTP/1.1 keep-alive, a thread a request.

    with SandboxServer(SandboxConfig(latency_ms=50)).start() as server:
        httpx.get(f"{server.url}/sandbox/stats")

State lives in memory (one `Sandbox`); latency and fault delays sleep in the request's own thread
after the state lock is released, so slow answers overlap instead of queueing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import IO, Any, ClassVar

from attsms.sandbox.callbacks import CallbackConfig, Notifier
from attsms.sandbox.config import SandboxConfig
from attsms.sandbox.core import Sandbox
from attsms.sandbox.responses import SandboxResponse, invalid_input

# Idle keep-alive connections give up their thread after this long.
IDLE_TIMEOUT_SECONDS = 30.0
# Far above any valid request (50 addresses and 4096 bytes of text); guards a local server.
MAX_BODY_BYTES = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    server_version = "attsms-sandbox"
    timeout = IDLE_TIMEOUT_SECONDS
    # Headers and body go out in separate writes; with Nagle on, keep-alive answers would stall
    # ~40 ms on the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True  # the stream position is unknown: do not reuse it
            self._write(invalid_input("body").response())
            return
        resp = self.server.sandbox.handle(
            self.command, self.path, dict(self.headers.items()), body, scheme="http"
        )
        if resp.drop_connection:
            self.close_connection = True  # no answer at all: the socket just closes
            return
        self._write(resp)

    def _write(self, resp: SandboxResponse) -> None:
        try:
            if any(name.lower() == "date" for name in resp.headers):
                # A fault rule's Date (a skewed clock) replaces the server's own: one header.
                self.log_request(resp.status)
                self.send_response_only(resp.status)
                self.send_header("Server", self.version_string())
            else:
                self.send_response(resp.status)
            for name, value in resp.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            self.wfile.write(resp.body)
        except ConnectionError:
            # The client stopped waiting (its timeout, during a fault delay): nothing to tell it.
            self.close_connection = True

    def _read_body(self) -> bytes:
        """The request body; ValueError if it is malformed or larger than MAX_BODY_BYTES."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                if size < 0 or sum(map(len, chunks)) + size > MAX_BODY_BYTES:
                    raise ValueError("chunk size")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_BODY_BYTES:  # read(-1) would wait for the client to close
            raise ValueError("Content-Length")
        return self.rfile.read(length)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:
        if self.server.log is not None:
            self.server.log.write(f"{self.address_string()} {format % args}\n")
            self.server.log.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog of 5 makes a burst of new connections wait a SYN retry (1 s).
    request_queue_size = 128
    sandbox: Sandbox
    log: IO[str] | None

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request is routine (timeouts, Ctrl-C), not worth a traceback
        # on stderr; anything else is a sandbox bug and keeps socketserver's report.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class SandboxServer:
    """A sandbox on http://host:port (port 0: any free port); `.url` says where."""

    # How often the serve loop looks for stop(): often in the background (tests start and stop
    # many servers), rarely in the foreground, where Ctrl-C interrupts the wait anyway.
    _BACKGROUND_POLL: ClassVar[float] = 0.01
    _FOREGROUND_POLL: ClassVar[float] = 0.5

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
        self.sandbox = Sandbox(config, clock=clock)
        # Pushes (callbacks.py) run in their own threads from start() to stop().
        self.notifier = Notifier(callbacks) if callbacks is not None and callbacks.active else None
        self.sandbox.notifier = self.notifier
        self._httpd = _Server((host, port), _Handler)
        self._httpd.sandbox = self.sandbox
        self._httpd.log = log  # None: no request log at all
        self._thread: threading.Thread | None = None
        self._serving_in: threading.Thread | None = None  # the thread inside serve_forever

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]  # IPv4: the stdlib server's default family
        return f"http://{host!s}:{port}"

    def start(self) -> SandboxServer:
        """Serve in a background (daemon) thread."""
        if self.notifier is not None:
            self.notifier.start()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            args=(self._BACKGROUND_POLL,),
            name="attsms-sandbox",
            daemon=True,
        )
        self._serving_in = self._thread  # set before start() so a quick stop() still shuts down
        self._thread.start()
        return self

    def serve_forever(self, poll_interval: float = _FOREGROUND_POLL) -> None:
        """Serve in this thread until stop() from another thread, or KeyboardInterrupt."""
        self._serving_in = threading.current_thread()
        if self.notifier is not None:
            self.notifier.start()
        self._httpd.serve_forever(poll_interval=poll_interval)

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call more than once."""
        serving, self._serving_in = self._serving_in, None
        # shutdown() waits for the serve loop, so never from inside it (Ctrl-C in run()).
        if serving is not None and serving is not threading.current_thread():
            self._httpd.shutdown()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        self._httpd.server_close()
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
