"""`LeanGets`: the client's status GETs over the standard library's `http.client`, without
httpx's layers.

`attsms status` over a big history asks one GET a message (20,000 for a million recipients), on
threads that share the GIL with the rendering of the answers: through httpx and httpcore each
cost ~0.48 ms of CPU here, most of it in request and response objects, header normalization and
h11's state machine; `http.client` on a kept-alive connection ~0.16 ms (httpcore alone ~0.32,
urllib3 ~0.29). The HTTP itself (framing, chunks, 1xx answers, header checks) is
`http.client`'s; this module keeps a few connections alive and says what went wrong in the
words of the httpx path.

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
import http.client
import json
import socket
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable


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
    __slots__ = ("http", "reused")

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self.http = connection
        self.reused = False  # taken from the idle list: the server may have closed it

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.http.close()


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
        self._headers = {
            "User-Agent": user_agent,
            "Accept": "application/json",
            "Accept-Encoding": "identity",
        }
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

        target = self._prefix + path
        fields = {**self._headers, **headers}
        conn = self._checkout()
        try:
            try:
                answer = self._exchange(conn, target, fields)
            except _Dropped:
                conn.close()
                if not conn.reused:
                    raise
                # An idle keep-alive connection the server had closed: a new one, as clients do.
                conn = self._connect()
                answer = self._exchange(conn, target, fields)
            body, keep = self._body(answer)
        except _Dropped:
            conn.close()
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response."
            ) from None
        except BaseException:
            conn.close()
            raise
        if keep:
            self._checkin(conn)
        else:
            conn.close()
        return LeanResponse(answer.status, _fields(answer), body)

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
            if not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    def _connect(self) -> _Conn:
        import httpx

        connection: http.client.HTTPConnection
        if self._https:
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._connect_timeout, context=self._context()
            )
        else:
            connection = http.client.HTTPConnection(
                self._host, self._port, timeout=self._connect_timeout
            )
        try:
            connection.connect()  # TLS included: its handshake under the connect timeout
            assert connection.sock is not None
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection.sock.settimeout(self._timeout)
        except TimeoutError as error:
            connection.close()
            raise httpx.ConnectTimeout(str(error) or "timed out") from None
        except OSError as error:  # refused, unreachable, a certificate not trusted
            connection.close()
            raise httpx.ConnectError(str(error)) from None
        return _Conn(connection)

    def _context(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl is None:
                import ssl

                self._ssl = (
                    self._ssl_factory() if self._ssl_factory else ssl.create_default_context()
                )
            return self._ssl

    # the exchange --------------------------------------------------------------------------

    @staticmethod
    def _exchange(conn: _Conn, target: str, fields: dict[str, str]) -> http.client.HTTPResponse:
        """Send the request and read the status line and headers (1xx answers passed over).
        `_Dropped` when the connection ends before a byte of the answer."""
        import httpx

        try:
            conn.http.request("GET", target, headers=fields)
            return conn.http.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError) as error:
            raise _Dropped from error
        except ConnectionResetError as error:
            raise _Dropped from error
        except TimeoutError as error:
            raise httpx.ReadTimeout(str(error) or "timed out") from None
        except http.client.HTTPException as error:  # a status line or header no server sends
            raise httpx.RemoteProtocolError(f"not an HTTP/1.1 answer: {error!r:.80}") from None
        except OSError as error:
            raise httpx.ReadError(str(error)) from None

    def _body(self, answer: http.client.HTTPResponse) -> tuple[bytes, bool]:
        """The body, capped as `_read_capped` caps httpx's; and whether the connection can be
        used again. Once the headers came, any failure is `AnswerBroken`."""
        import httpx

        status = answer.status
        success = 200 <= status < 300
        limit = self._max_answer if success else self._max_error
        length = answer.getheader("content-length")
        try:
            if length is not None and length.strip().isdigit() and int(length) > limit:
                if success:
                    raise AnswerTooLarge(status)  # not a byte of it read
                return answer.read(limit), False
            body = answer.read(limit + 1)
            if len(body) > limit:
                if success:
                    raise AnswerTooLarge(status)
                return body[:limit], False
            if not answer.isclosed():  # more than `limit` bytes left unread
                answer.read()
            return body, not answer.will_close
        except (AnswerTooLarge, AnswerBroken):
            raise
        except TimeoutError as error:
            raise AnswerBroken(status, httpx.ReadTimeout(str(error) or "timed out")) from None
        except http.client.HTTPException as error:  # IncompleteRead, a bad chunk
            raise AnswerBroken(status, httpx.RemoteProtocolError(str(error) or "")) from None
        except OSError as error:
            raise AnswerBroken(status, httpx.ReadError(str(error))) from None


def _fields(answer: http.client.HTTPResponse) -> dict[str, str]:
    """The answer's headers by lower-case name, repeated ones joined as httpx joins them."""
    fields: dict[str, str] = {}
    for name, value in answer.getheaders():
        key = name.lower()
        fields[key] = f"{fields[key]}, {value}" if key in fields else value
    return fields
