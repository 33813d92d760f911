"""A misbehaving HTTP front for a sandbox: the faults the sandbox's own fault rules cannot make.

    with HostileProxy(server.url) as proxy:
        proxy.mangle("/sms/v3/messaging/inbox", "reset_mid_body", skip=1)
        ...  # point attsms at proxy.url

Every request is forwarded to the sandbox first, so the sandbox really processes it (a send is
accepted, an inbox batch is handed out and forgotten) and its stats count it; then a matching
rule spoils the answer on its way back:

- `reset_mid_body`: the real status line and headers (with the real Content-Length), half the
  body, then a TCP reset (SO_LINGER 0), as when a connection dies during the answer;
- `huge_body`: `200 OK` with a JSON body of `huge_bytes` (50 MB by default) streamed in 64 KB
  writes until the client stops reading; at most `huge_bytes` are ever written. With
  `declare_length=False` there is no Content-Length: the body runs until the connection closes.

Stdlib only, on 127.0.0.1 and an ephemeral port, one daemon thread per connection. It stops on
`stop()` (or leaving the `with`), and by itself after `lifetime` seconds in any case.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

Action = Literal["reset_mid_body", "huge_body"]

HUGE_BYTES = 50 * 1024 * 1024
CHUNK = 64 * 1024
# Headers a proxy must not pass on (hop-by-hop), or that it sets itself.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class _Rule:
    path_prefix: str
    action: Action
    skip: int  # matching requests answered normally before this rule starts
    count: int  # then how many get spoiled
    huge_bytes: int
    declare_length: bool


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection gives its thread back after this
    server: _Server

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, reason, headers, answer = self.server.forward(
            self.command, self.path, dict(self.headers.items()), body
        )
        rule = self.server.take_rule(self.path)
        if rule is None:
            self._answer(status, reason, headers, answer)
        elif rule.action == "reset_mid_body":
            self._reset_mid_body(status, reason, headers, answer)
        else:
            self._huge_body(rule.huge_bytes, declare_length=rule.declare_length)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def _head(
        self, status: int, reason: str, headers: list[tuple[str, str]], length: int | None
    ) -> None:
        self.send_response(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if length is None:
            self.send_header("Connection", "close")  # the body ends when the connection does
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _answer(
        self, status: int, reason: str, headers: list[tuple[str, str]], answer: bytes
    ) -> None:
        self._head(status, reason, headers, len(answer))
        self.wfile.write(answer)

    def _reset_mid_body(
        self, status: int, reason: str, headers: list[tuple[str, str]], answer: bytes
    ) -> None:
        self._head(status, reason, headers, len(answer))
        self.wfile.write(answer[: len(answer) // 2])
        self.wfile.flush()
        # Linger 0: close() sends RST instead of FIN, a reset rather than a tidy end.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def _huge_body(self, size: int, *, declare_length: bool) -> None:
        self.close_connection = True
        self._head(
            200, "OK", [("Content-Type", "application/json")], size if declare_length else None
        )
        prefix = b'{"padding": "'
        written = 0
        try:
            self.wfile.write(prefix)
            written = len(prefix)
            while written < size:
                piece = min(CHUNK, size - written)
                self.wfile.write(b"x" * piece)
                written += piece
        except OSError:
            pass  # the client stopped reading: the point of the exercise
        self.server.note_huge_written(written)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.rules: list[_Rule] = []
        self.lock = threading.Lock()
        self.huge_written: list[int] = []

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=30)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(method, path, body=body or None, headers=sent)
            response = connection.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            connection.close()

    def take_rule(self, path: str) -> _Rule | None:
        with self.lock:
            for rule in self.rules:
                if not path.startswith(rule.path_prefix):
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    return None
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
                return rule
        return None

    def note_huge_written(self, size: int) -> None:
        with self.lock:
            self.huge_written.append(size)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up on a spoiled answer is what this server is for


class HostileProxy:
    """Forwards to `upstream` on http://127.0.0.1:<ephemeral>; `.url` says where."""

    def __init__(self, upstream: str, *, lifetime: float = 120.0) -> None:
        self._server = _Server(upstream)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="hostile-proxy", daemon=True
        )
        self._thread.start()
        self._stopped = threading.Event()
        # Whatever happens to the test, the server does not outlive this.
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()

    def mangle(
        self,
        path_prefix: str,
        action: Action,
        *,
        skip: int = 0,
        count: int = 1,
        huge_bytes: int = HUGE_BYTES,
        declare_length: bool = True,
    ) -> None:
        """Spoil the answers of `count` requests to `path_prefix`, after `skip` good ones."""
        rule = _Rule(path_prefix, action, skip, count, huge_bytes, declare_length)
        with self._server.lock:
            self._server.rules.append(rule)

    def huge_written(self, timeout: float = 10.0) -> int:
        """Bytes of body written for the first huge answer, once the client stopped reading it."""
        deadline = time.monotonic() + timeout
        while True:
            with self._server.lock:
                if self._server.huge_written:
                    return self._server.huge_written[0]
            if time.monotonic() > deadline:
                raise AssertionError("no huge answer finished")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._timer.cancel()
        if threading.current_thread() is not self._thread:
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostileProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
