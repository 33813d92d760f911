"""`LeanGets`: the client's status GETs over plain keep-alive sockets, without httpx's layers.

`attsms status` over a big history asks one GET a message (20,000 for a million recipients), on
threads that share the GIL with the rendering of the answers: through httpx and httpcore each
cost ~0.5 ms of CPU here, most of it in request and response objects, header normalization and
h11's state machine. This path writes the request as prebuilt bytes and reads the answer with a
few `recv`s: status line, headers, and a body by Content-Length, chunks, or up to the close.

It is only a transport: `AttClient._call` still decides retries, token refresh and what each
answer means, and the outcome is handed back as a `LeanResponse` (what the client reads of an
`httpx.Response`: status, headers, body, `json()`), or as the httpx exception
httpx would have raised (connect errors, timeouts, a connection dropped before any answer), or as
`AnswerBroken` / `AnswerTooLarge`, exactly what the httpx path gives `_call`. The client uses it
only where httpx would add nothing: no custom transport, no proxy from the environment, no
verbose log (which shows httpx's request).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable


# Headers past this many bytes are not an answer of the service.
_MAX_HEAD_BYTES = 64 * 1024
_RECV = 65536


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
    """An answer read by `LeanGets`: the part of `httpx.Response` the client reads (headers by
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


class _Conn:
    __slots__ = ("buffer", "reused", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.reused = False  # taken from the idle list: the server may have closed it

    def fill(self) -> bool:
        """Read more into the buffer; False at the end of the stream."""
        data = self.sock.recv(_RECV)
        if not data:
            return False
        self.buffer += data
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class LeanGets:
    """GETs to one base URL on a few keep-alive connections (one a thread at a time)."""

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
        self._idle: list[_Conn] = []
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
        import httpx

        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = f"GET {self._prefix}{path} HTTP/1.1\r\n{self._head}{extra}\r\n".encode("latin-1")
        conn = self._checkout()
        try:
            status, fields, keep = self._exchange(conn, request)
        except _Dropped:
            conn.close()
            if not conn.reused:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response."
                ) from None
            # An idle keep-alive connection the server had closed: a new one, as clients do.
            conn = self._connect()
            try:
                status, fields, keep = self._exchange(conn, request)
            except _Dropped:
                conn.close()
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response."
                ) from None
            except BaseException:
                conn.close()
                raise
        except BaseException:
            conn.close()
            raise
        try:
            body, keep = self._body(conn, status, fields, keep)
        except BaseException:
            conn.close()
            raise
        if keep:
            self._checkin(conn)
        else:
            conn.close()
        return LeanResponse(status, fields, body)

    # connections ---------------------------------------------------------------------------

    def _checkout(self) -> _Conn:
        with self._lock:
            if self._idle:
                conn = self._idle.pop()
                conn.reused = True
                return conn
        return self._connect()

    def _checkin(self, conn: _Conn) -> None:
        with self._lock:
            if not self._closed and not conn.buffer:
                self._idle.append(conn)
                return
        conn.close()

    def _connect(self) -> _Conn:
        import httpx

        try:
            sock = socket.create_connection((self._host, self._port), self._connect_timeout)
        except TimeoutError as error:
            raise httpx.ConnectTimeout(str(error) or "timed out") from None
        except OSError as error:
            raise httpx.ConnectError(str(error)) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._https:
                sock.settimeout(self._connect_timeout)
                sock = self._context().wrap_socket(sock, server_hostname=self._host)
            sock.settimeout(self._timeout)
        except TimeoutError as error:
            sock.close()
            raise httpx.ConnectTimeout(str(error) or "timed out") from None
        except OSError as error:
            sock.close()
            raise httpx.ConnectError(str(error)) from None
        return _Conn(sock)

    def _context(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl is None:
                import ssl

                self._ssl = (
                    self._ssl_factory() if self._ssl_factory else ssl.create_default_context()
                )
            return self._ssl

    # the exchange --------------------------------------------------------------------------

    def _exchange(self, conn: _Conn, request: bytes) -> tuple[int, dict[str, str], bool]:
        """Send the request, read the status line and headers: (status, headers, keep-alive).
        `_Dropped` when the connection ends before a byte of the answer."""
        import httpx

        try:
            try:
                conn.sock.sendall(request)
            except (BrokenPipeError, ConnectionResetError) as error:
                raise _Dropped from error
            while True:
                end = conn.buffer.find(b"\r\n\r\n")
                while end < 0:
                    if len(conn.buffer) > _MAX_HEAD_BYTES:
                        raise httpx.RemoteProtocolError("the answer's headers are too long")
                    try:
                        more = conn.fill()
                    except ConnectionResetError as error:
                        if not conn.buffer:
                            raise _Dropped from error
                        raise
                    if not more:
                        if not conn.buffer:
                            raise _Dropped
                        raise httpx.RemoteProtocolError("the answer broke off in its headers")
                    end = conn.buffer.find(b"\r\n\r\n")
                head, conn.buffer = conn.buffer[:end], conn.buffer[end + 4 :]
                status, fields, keep = _parse_head(head)
                if not 100 <= status < 200:
                    return status, fields, keep
        except TimeoutError as error:
            raise httpx.ReadTimeout(str(error) or "timed out") from None
        except OSError as error:
            raise httpx.ReadError(str(error)) from None

    def _body(
        self, conn: _Conn, status: int, fields: dict[str, str], keep: bool
    ) -> tuple[bytes, bool]:
        """The body, capped as `_read_capped` caps httpx's; and whether the connection can be
        used again. Once the headers came, any failure is `AnswerBroken`."""
        import httpx

        success = 200 <= status < 300
        limit = self._max_answer if success else self._max_error
        try:
            return _read_body(conn, status, fields, keep, limit)
        except (AnswerTooLarge, AnswerBroken):
            raise
        except TimeoutError as error:
            raise AnswerBroken(status, httpx.ReadTimeout(str(error) or "timed out")) from None
        except httpx.TransportError as error:
            raise AnswerBroken(status, error) from None
        except OSError as error:
            raise AnswerBroken(status, httpx.ReadError(str(error))) from None


def _read_body(
    conn: _Conn, status: int, fields: dict[str, str], keep: bool, limit: int
) -> tuple[bytes, bool]:
    import httpx

    success = 200 <= status < 300
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return _read_chunked(conn, limit, success, status)
    length = fields.get("content-length")
    if length is None:  # the body runs to the close
        body = _read_up_to(conn, limit)
        if len(body) > limit and success:
            raise AnswerTooLarge(status)
        return body[:limit], False
    if not length.isdigit():
        raise httpx.RemoteProtocolError(f"bad Content-Length {length!r}")
    size = int(length)
    if size > limit:
        if success:
            raise AnswerTooLarge(status)  # not a byte of it read
        return _read_up_to(conn, limit)[:limit], False
    while len(conn.buffer) < size:
        if not conn.fill():
            raise httpx.RemoteProtocolError("the answer broke off in its body")
    body, conn.buffer = conn.buffer[:size], conn.buffer[size:]
    return body, keep


def _parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    import httpx

    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise httpx.RemoteProtocolError(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
    fields: dict[str, str] = {}
    keep = version == "HTTP/1.1"
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise httpx.RemoteProtocolError("a header line without a colon")
        value = value.strip()
        name = name.strip().lower()
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
        if name == "connection":
            tokens = value.lower()
            if "close" in tokens:
                keep = False
            elif "keep-alive" in tokens:
                keep = True
    return int(code), fields, keep


def _read_up_to(conn: _Conn, limit: int) -> bytes:
    """Up to the close, or one byte past `limit`."""
    while len(conn.buffer) <= limit and conn.fill():
        pass
    body, conn.buffer = conn.buffer[: limit + 1], b""
    return body


def _line(conn: _Conn, longest: int, what: str) -> bytes:
    """The next CRLF-ended line of the buffer (reading more as needed)."""
    import httpx

    end = conn.buffer.find(b"\r\n")
    while end < 0:
        if len(conn.buffer) > longest or not conn.fill():
            raise httpx.RemoteProtocolError(f"the answer broke off in {what}")
        end = conn.buffer.find(b"\r\n")
    line, conn.buffer = conn.buffer[:end], conn.buffer[end + 2 :]
    return line


def _read_chunked(conn: _Conn, limit: int, success: bool, status: int) -> tuple[bytes, bool]:
    import httpx

    parts: list[bytes] = []
    size = 0
    while True:
        line = _line(conn, 1024, "a chunk size line")
        try:
            chunk = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise httpx.RemoteProtocolError("a bad chunk size line") from None
        if chunk == 0:
            while _line(conn, _MAX_HEAD_BYTES, "its trailers"):  # up to the empty line
                pass
            return b"".join(parts), True
        if size + chunk > limit:
            if success:
                raise AnswerTooLarge(status)
            while len(conn.buffer) < limit - size and conn.fill():
                pass
            parts.append(conn.buffer[: limit - size])
            return b"".join(parts), False
        while len(conn.buffer) < chunk + 2:
            if not conn.fill():
                raise httpx.RemoteProtocolError("the answer broke off in a chunk")
        parts.append(conn.buffer[:chunk])
        conn.buffer = conn.buffer[chunk + 2 :]
        size += chunk
