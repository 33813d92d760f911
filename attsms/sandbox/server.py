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
from typing import IO, ClassVar

from attsms.sandbox.config import SandboxConfig
from attsms.sandbox.core import Sandbox

# Idle keep-alive connections give up their thread after this long.
IDLE_TIMEOUT_SECONDS = 30.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    server_version = "attsms-sandbox"
    timeout = IDLE_TIMEOUT_SECONDS
    server: _Server

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "bad request body")
            return
        resp = self.server.sandbox.handle(
            self.command, self.path, dict(self.headers.items()), body, scheme="http"
        )
        if resp.drop_connection:
            self.close_connection = True  # no answer at all: the socket just closes
            return
        try:
            self.send_response(resp.status)
            for name, value in resp.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            self.wfile.write(resp.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client stopped waiting (its timeout, during a fault delay): nothing to tell it.
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:
        if self.server.log is not None:
            self.server.log.write(f"{self.address_string()} {format % args}\n")
            self.server.log.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    sandbox: Sandbox
    log: IO[str] | None


class SandboxServer:
    """A sandbox on http://host:port (port 0: any free port); `.url` says where."""

    _POLL_SECONDS: ClassVar[float] = 0.05  # how quickly stop() is noticed

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log: IO[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sandbox = Sandbox(config, clock=clock)
        self._httpd = _Server((host, port), _Handler)
        self._httpd.sandbox = self.sandbox
        self._httpd.log = log  # None: no request log at all
        self._thread: threading.Thread | None = None
        self._serving_in: threading.Thread | None = None  # the thread inside serve_forever

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{f'[{host_text}]' if ':' in host_text else host_text}:{port}"

    def start(self) -> SandboxServer:
        """Serve in a background (daemon) thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="attsms-sandbox", daemon=True
        )
        self._serving_in = self._thread  # set before start() so a quick stop() still shuts down
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until stop() from another thread, or KeyboardInterrupt."""
        self._serving_in = threading.current_thread()
        self._httpd.serve_forever(poll_interval=self._POLL_SECONDS)

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
) -> None:
    """Serve a sandbox until Ctrl-C, after printing where it is and the credentials it takes."""
    server = SandboxServer(config, host, port, log=out if log_requests else None)
    out.write(
        f"attsms sandbox listening on {server.url}\n"
        f"  client id:        {config.client_id}\n"
        f"  client secret:    {config.client_secret}\n"
        f"  registration ids: {', '.join(sorted(config.registration_ids))}\n"
        "Press Ctrl-C to stop.\n"
    )
    out.flush()  # a parent process may be waiting on this line to learn the port
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
