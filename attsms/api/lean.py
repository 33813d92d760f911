"""`LeanHttp`: the client's status GETs and send POSTs on kept-alive sockets, their answers
read by `httptools` (llhttp, the parser uvicorn's `listen` already runs on), without httpx's
layers.

`attsms status` over a big history asks one GET a message (20,000 for a million recipients), on
threads that share the GIL with the rendering of the answers: through httpx each cost ~0.5 ms
of CPU here, most of it in request and response objects, header normalization and h11's state
machine (httpcore alone ~0.32 ms, urllib3 ~0.29, the standard library's `http.client` ~0.19).
A send has the same cost on each of 16 threads, which take turns on the GIL: a bare 16-thread
script sending 4,000 requests of 50 at 50 ms latency took 1.10x the floor through httpx, 1.04x
this way.
Here the request is prebuilt bytes and the answer goes through llhttp in C: the framing
(Content-Length, chunks, 1xx answers, what a header may hold) is the parser's; this module moves
the bytes, keeps a few connections alive, and says what went wrong in the words of the httpx
path. One thing llhttp leaves to its caller: a body that runs to the close ends at the close.

It is only a transport: `AttClient._call` still decides retries, token refresh and what each
answer means, and the outcome is handed back as a `LeanResponse` (what the client reads of an
`httpx.Response`: status, headers, body, `json()`), or as the httpx exception
httpx would have raised (connect errors, timeouts, a connection dropped before any answer), or as
`AnswerBroken` / `AnswerTooLarge`, exactly what the httpx path gives `_call`. The client uses it
only where httpx would add nothing: no custom transport, no proxy from the environment, no
verbose log (which shows httpx's request).

A GET that finds its kept-alive connection closed before a byte of the answer is asked again on
a new one, as HTTP clients do. A POST never is: it may have been read and acted on, so that is the
httpx path's `RemoteProtocolError` (a send's unknown outcome). Like httpcore's pool, an idle
connection the server has closed (readable: its end of file is waiting) is left before it is
used, so a send does not go out on a connection already gone.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

RECV_BYTES = 65536
MAX_HEAD_BYTES = 64 * 1024  # headers past this are not an answer of the service


class Answer(Protocol):
    """What `AttClient` reads of an answer: an `httpx.Response`, or a `LeanResponse`."""

    @property
    def status_code(self) -> int: ...
    @property
    def is_success(self) -> bool: ...
    @property
    def content(self) -> bytes: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    def json(self) -> Any: ...


class LeanResponse:
    """An answer read by `LeanHttp`: the part of `httpx.Response` the client reads (headers by
    lower-case name, repeated ones joined as httpx joins them), without building one."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return json.loads(self.content)  # as httpx's: bytes, their encoding detected


class AnswerTooLarge(Exception):
    """A 2xx answer longer than MAX_ANSWER_BYTES; it was not read."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status} answer over the size any real answer has")
        self.status = status


class AnswerBroken(Exception):
    """The status line and headers came, then the body broke off: the service did answer."""

    def __init__(self, status: int, cause: Exception) -> None:
        super().__init__(str(cause))
        self.status = status
        self.cause = cause


class _Dropped(Exception):
    """The connection ended before a byte of the answer: safe to ask again on a new one."""


class Reading:
    """One answer as llhttp hands it over (its callbacks). A 1xx answer before it (`100
    Continue`) is passed over: llhttp reads it as a message of its own, then this one."""

    __slots__ = ("body", "done", "fields", "head", "keep", "parser", "size", "status")

    def __init__(self) -> None:
        import httptools  # here, not at the top: every command imports the client

        self.parser = httptools.HttpResponseParser(self)
        self.fields: dict[str, str] = {}
        self.status = 0
        self.head = False  # the final answer's headers are complete
        self.body: list[bytes] = []
        self.size = 0
        self.done = False
        self.keep = False  # asked as it ends: llhttp forgets once the message is complete

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1").strip()
        self.fields[key] = f"{self.fields[key]}, {text}" if key in self.fields else text

    def on_headers_complete(self) -> None:
        status = int(self.parser.get_status_code())
        if 100 <= status < 200:  # an interim answer: its headers are not this answer's
            self.fields = {}
            return
        self.status, self.head = status, True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.size += len(body)

    def on_message_complete(self) -> None:
        if self.head:
            self.done, self.keep = True, bool(self.parser.should_keep_alive())


class Conn:
    """A kept-alive connection and the reading of its next answer."""

    __slots__ = ("reading", "reused", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reused = False  # taken from the idle list: the server may have closed it
        self.reading = Reading()

    def next_answer(self) -> None:
        """A fresh reading (and parser) for the next answer on this connection."""
        self.reading = Reading()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class LeanHttp:
    """GETs and JSON POSTs to one base URL on a few keep-alive connections (one a thread at a
    time)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        connect_timeout: float,
        user_agent: str,
        max_answer: int,
        max_error: int,
        ssl_context: Callable[[], ssl.SSLContext] | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme.lower() == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        netloc = parts.netloc.rpartition("@")[2]
        self._head = (
            f"Host: {netloc}\r\nUser-Agent: {user_agent}\r\nAccept: application/json\r\n"
            "Accept-Encoding: identity\r\n"
        )
        self._timeout, self._connect_timeout = timeout, connect_timeout
        self._max_answer, self._max_error = max_answer, max_error
        self._ssl_factory = ssl_context  # made at the first HTTPS connection (a CA bundle read)
        self._ssl: ssl.SSLContext | None = None
        self._idle: list[Conn] = []
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def get(self, path: str, headers: dict[str, str]) -> LeanResponse:
        """One GET of `path` (under the base URL's path) with `headers` added."""
        return self._request("GET", path, headers, b"")

    def post_json(self, path: str, headers: dict[str, str], body: bytes) -> LeanResponse:
        """One POST of the JSON `body` (encoded by the caller) to `path`, sent at most once."""
        sized = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        return self._request("POST", path, {**sized, **headers}, body)

    def _request(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> LeanResponse:
        import httpx

        request = self.request_bytes(method, path, headers, body)
        conn = self._checkout()
        try:
            try:
                status = self._exchange(conn, request)
            except _Dropped:
                conn.close()
                if not conn.reused or method != "GET":  # a POST may have been acted on
                    raise
                # An idle keep-alive connection the server had closed: a new one, as clients do.
                conn = self.connect()
                status = self._exchange(conn, request)
            content, keep = self._body(conn, status)
        except _Dropped:
            conn.close()
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response."
            ) from None
        except BaseException:
            conn.close()
            raise
        fields = conn.reading.fields
        if keep:
            conn.next_answer()
            self._checkin(conn)
        else:
            conn.close()
        return LeanResponse(status, fields, content)

    def request_bytes(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        """The request as it goes on the wire (`LocalProtocolError` for a header that would
        smuggle a line of its own)."""
        import httpx

        for name, value in headers.items():
            if any(ch in name + value for ch in "\r\n\0"):
                raise httpx.LocalProtocolError(f"a header {name!r} holds a line break")
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = f"{method} {self._prefix}{path} HTTP/1.1\r\n{self._head}{extra}\r\n"
        return head.encode("latin-1") + body

    @property
    def timeout(self) -> float:
        return self._timeout

    def limit(self, status: int) -> int:
        """The most of an answer's body read: a 2xx's or an error's."""
        return self._max_answer if 200 <= status < 300 else self._max_error

    # connections ---------------------------------------------------------------------------

    def _checkout(self) -> Conn:
        """An idle connection still open, else a new one."""
        while True:
            with self._lock:
                if not self._idle:
                    break
                conn = self._idle.pop()
            if _closed_by_server(conn):
                conn.close()
                continue
            conn.reused = True
            return conn
        return self.connect()

    def _checkin(self, conn: Conn) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    def connect(self) -> Conn:
        """A new connection (httpx's `ConnectError` / `ConnectTimeout` when it cannot be made)."""
        import httpx

        try:
            sock = socket.create_connection((self._host, self._port), self._connect_timeout)
        except TimeoutError as error:
            raise httpx.ConnectTimeout(str(error) or "timed out") from None
        except OSError as error:
            raise httpx.ConnectError(str(error)) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._https:  # the handshake under the connect timeout
                sock = self._context().wrap_socket(sock, server_hostname=self._host)
            sock.settimeout(self._timeout)
        except TimeoutError as error:
            sock.close()
            raise httpx.ConnectTimeout(str(error) or "timed out") from None
        except OSError as error:  # a certificate not trusted, a handshake refused
            sock.close()
            raise httpx.ConnectError(str(error)) from None
        return Conn(sock)

    def _context(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl is None:
                import ssl

                self._ssl = (
                    self._ssl_factory() if self._ssl_factory else ssl.create_default_context()
                )
            return self._ssl

    # the exchange --------------------------------------------------------------------------

    def _exchange(self, conn: Conn, request: bytes) -> int:
        """Send the request and read up to the end of the final answer's headers (1xx answers
        passed over): its status. `_Dropped` when the connection ends before a byte of it."""
        import httpx

        seen = 0
        try:
            try:
                conn.sock.sendall(request)
            except (BrokenPipeError, ConnectionResetError) as error:
                raise _Dropped from error
            reading = conn.reading
            while not reading.head:
                try:
                    data = conn.sock.recv(RECV_BYTES)
                except ConnectionResetError as error:
                    if not seen:
                        raise _Dropped from error
                    raise
                if not data:
                    if not seen:
                        raise _Dropped
                    raise httpx.RemoteProtocolError("the answer broke off in its headers")
                seen += len(data)
                feed(reading, data)
                if seen > MAX_HEAD_BYTES and not reading.head:
                    raise httpx.RemoteProtocolError("the answer's headers are too long")
            return reading.status
        except TimeoutError as error:
            raise httpx.ReadTimeout(str(error) or "timed out") from None
        except OSError as error:
            raise httpx.ReadError(str(error)) from None

    def _body(self, conn: Conn, status: int) -> tuple[bytes, bool]:
        """The body, capped as `_read_capped` caps httpx's; and whether the connection can be
        used again. Once the headers came, any failure is `AnswerBroken`."""
        import httpx

        reading = conn.reading
        success = 200 <= status < 300
        limit = self.limit(status)
        length = reading.fields.get("content-length", "")
        is_framed = framed(reading.fields)
        if length.isdigit() and int(length) > limit and success:
            raise AnswerTooLarge(status)  # not a byte of it read
        try:
            while not reading.done and reading.size <= limit:
                data = conn.sock.recv(RECV_BYTES)
                if not data:
                    if is_framed:
                        raise httpx.RemoteProtocolError("the answer broke off in its body")
                    break  # a body that runs to the close: done at the close
                feed(reading, data)
        except (AnswerTooLarge, AnswerBroken):
            raise
        except TimeoutError as error:
            raise AnswerBroken(status, httpx.ReadTimeout(str(error) or "timed out")) from None
        except httpx.TransportError as error:
            raise AnswerBroken(status, error) from None
        except OSError as error:
            raise AnswerBroken(status, httpx.ReadError(str(error))) from None
        body = b"".join(reading.body)
        if len(body) > limit:
            if success:
                raise AnswerTooLarge(status)
            return body[:limit], False
        keep = reading.done and is_framed and reading.keep
        return body, keep


def framed(fields: Mapping[str, str]) -> bool:
    """Whether an answer says where its body ends (a length, or chunks); else it runs to the
    close, and its connection cannot be used again."""
    return fields.get("content-length", "").isdigit() or "chunked" in fields.get(
        "transfer-encoding", ""
    )


def _closed_by_server(conn: Conn) -> bool:
    """Whether an idle connection has something to read: between answers that can only be its
    end (or bytes no request asked for), so it is not used again (httpcore's test too)."""
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):  # closed under us
        return True
    return bool(readable)


def feed(reading: Reading, data: bytes) -> None:
    """Hand `data` to the answer's parser; its complaint as httpx's."""
    import httptools
    import httpx

    try:
        reading.parser.feed_data(data)
    except httptools.HttpParserError as error:
        raise httpx.RemoteProtocolError(f"not an HTTP/1.1 answer: {error}") from None
