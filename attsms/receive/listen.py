"""`attsms listen`: receive what the service pushes (delivery receipts, inbound messages).

    POST /notify/<token>/delivery   {"deliveryInfoNotification": {"messageId", "deliveryInfo":
                                     {"address", "deliveryStatus"}}}
    POST /notify/<token>/inbound    {"DateTime", "MessageId", "Message", "SenderAddress",
                                     "DestinationAddress"}
    GET  /healthz                   200 {"ok": true}

A small ASGI app (no framework) that uvicorn serves; both are loaded only by this command. Every
notification is stored through a `NotificationSink` BEFORE its 2xx goes out, so the service,
which retries a push until it gets a 2xx, never loses one; a duplicate is stored once and still
answered 2xx. Bad input gets its status and is never stored: a wrong token 404 (the same answer
as an unknown path, so a scanner learns nothing), a body over the cap 413, a wrong content type
415, malformed JSON, an unknown shape, an address that is not a phone number or short code or
a DateTime that is not an ISO 8601 time 400 (nothing of it stored, no opt-out), a body that
stops arriving 408, a store that cannot be written 503 (the service tries again later). No
answer ever holds a traceback.

Storing runs in ONE writer thread (receive/writer.py) that takes every notification waiting
and stores them together (one transaction where the store allows): commits are the cost, so
concurrent pushes share them (group commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import re
import secrets
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from attsms.api.parsers import as_list, as_str, field
from attsms.auth.credentials import (
    LISTEN_TOKEN_ENV,
    SERVICE,
    CredentialStore,
    KeyringUnavailable,
    SecretLocation,
    listen_token_store,
)
from attsms.core.errors import UsageError, listen_error
from attsms.core.inbound import sender_address, time_text
from attsms.core.keywords import keyword_of
from attsms.core.models import DeliveryInfo, InboundMessage
from attsms.core.numbers import display
from attsms.receive.writer import StoreUnavailable, Writer

if TYPE_CHECKING:
    import socket

    from attsms.auth.profiles import ActiveProfile

MAX_BODY_BYTES = 64 * 1024  # a notification is a few hundred bytes
BODY_TIMEOUT_SECONDS = 10.0  # a body that stops arriving (slow loris) is answered 408
JSON_TYPES = ("application/json", "text/json")
_KINDS = ("delivery", "inbound")  # POST /notify/<token>/<kind>
TOKEN_BYTES = 24
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,256}")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_REGISTRATION = re.compile(r"\+?[0-9]{3,15}")
_WRAPPER = "inboundSMSMessageNotification"  # OneAPI's, around the message


# --- what is pushed --------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryReceipt:
    """One delivery status notification: a message's status at one (or more) recipients."""

    message_id: str
    deliveries: tuple[DeliveryInfo, ...]

    def row(self) -> dict[str, Any]:
        return {
            "type": "delivery",
            "message_id": self.message_id,
            "deliveries": [{"to": display(d.address), "status": d.status} for d in self.deliveries],
        }


@dataclass(frozen=True)
class InboundPush:
    """One pushed inbound message and the registration ID (short code) it was sent to."""

    registration_id: str
    message: InboundMessage

    def row(self) -> dict[str, Any]:
        """What `inbox pull --jsonl` prints for a message, plus "type"."""
        m = self.message
        return {
            "type": "inbound",
            "message_id": m.message_id,
            "received_at": m.received_at,
            "from": display(m.sender),
            "to": display(m.destination),
            "text": m.message,
            "keyword": keyword_of(m.message),  # "stop", "start", "help" or null
        }


Notification = DeliveryReceipt | InboundPush


class ShapeError(ValueError):
    """The body is JSON, but not a notification of the kind its URL says."""


def parse_delivery(body: Any) -> DeliveryReceipt:
    """A delivery notification, leniently: any key case, `tel:` with or without +1, a list of
    deliveryInfo as well as one, extra fields ignored. ShapeError if it is not one."""
    note = field(body, "deliveryInfoNotification")
    if not isinstance(note, Mapping):
        raise ShapeError("no deliveryInfoNotification object")
    message_id = as_str(field(note, "messageId"))
    if not message_id or not message_id.strip():
        raise ShapeError("no messageId")
    deliveries = []
    for info in as_list(field(note, "deliveryInfo")):
        address = as_str(field(info, "address"))
        status = as_str(field(info, "deliveryStatus"))
        if not address or not status:
            raise ShapeError("a deliveryInfo without address or deliveryStatus")
        deliveries.append(DeliveryInfo(_address(address, "address"), status.strip()))
    if not deliveries:
        raise ShapeError("no deliveryInfo")
    return DeliveryReceipt(message_id.strip(), tuple(deliveries))


def parse_inbound(body: Any, default_registration: str | None = None) -> InboundPush:
    """An inbound message, leniently (as parse_delivery); the OneAPI wrapper
    `{"inboundSMSMessageNotification": {"inboundSMSMessage": {...}}}` is taken too. Without a
    DestinationAddress the message is for `default_registration`. ShapeError if not one."""
    if type(body) is dict and "MessageId" in body and _WRAPPER not in body:
        item: Any = body  # the spec's own shape: no key folding needed to rule out the wrapper
    else:
        wrapped = field(field(body, _WRAPPER), "inboundSMSMessage")
        item = wrapped if isinstance(wrapped, Mapping) else body
    if not isinstance(item, Mapping):
        raise ShapeError("not a JSON object")
    message_id = as_str(field(item, "MessageId"))
    if not message_id or not message_id.strip():
        raise ShapeError("no MessageId")
    sender = as_str(field(item, "SenderAddress"))
    if not sender or not sender.strip():
        raise ShapeError("no SenderAddress")
    destination = (as_str(field(item, "DestinationAddress")) or "").strip()
    registration = destination.removeprefix("short:").removeprefix("tel:") or default_registration
    if not registration:
        raise ShapeError("no DestinationAddress")
    if destination and not _REGISTRATION.fullmatch(registration):
        raise ShapeError("DestinationAddress is not a short code or phone number")
    message = InboundMessage(
        message_id=message_id.strip(),
        message=as_str(field(item, "Message")) or "",
        sender=_address(sender, "SenderAddress"),
        destination=destination or registration,
        received_at=_moment(field(item, "DateTime")),
    )
    return InboundPush(registration, message)


def _address(raw: str, name: str) -> str:
    """`raw` in its wire form when it is a phone number or short code (`core.inbound`'s rule);
    else ShapeError: what is stored must be reachable by `optout remove`, `--from`…"""
    address = sender_address(raw)
    if address is None:
        raise ShapeError(f"{name} is not a phone number or short code")
    return address


def _moment(value: Any) -> str:
    """A DateTime as it was sent, when it is an ISO 8601 time (`core.inbound`'s rule); "" when
    there is none (the store then dates the message by its arrival). ShapeError for anything
    else: a time that is not one would sort anywhere and match every `--since`."""
    text = time_text(value)
    if text is None:
        raise ShapeError("DateTime is not a time (ISO 8601)")
    return text


# --- where it goes ---------------------------------------------------------------------------


class OutputClosed(Exception):
    """`on_stored` could not print the row: the reader of `--jsonl` went away."""


# --- the token -------------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_ok(token: str) -> bool:
    """A token that can stand in a URL path as it is (what `new_token` makes, or similar)."""
    return bool(_TOKEN_SHAPE.fullmatch(token))


# --- the ASGI app ----------------------------------------------------------------------------

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _Reject(Exception):
    def __init__(self, status: int, reason: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = tuple(headers)


@dataclass
class Counters:
    requests: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0


class ListenApp:
    """The ASGI app. `on_stored(row)` gets each new notification (for --jsonl), `log(line)` one
    line per request (never the token: the path is shown with `***` in its place).

    When the reader of the rows goes away (`output_open()` false before storing, or `on_stored`
    raising OutputClosed after), the app sets `output_closed` and calls `stop_serving()`: from
    then on nothing more is stored (503, so the service pushes it again to the next listener),
    and what was stored is still answered 2xx, never 5xx (its retry would be a duplicate that no
    handler sees)."""

    def __init__(
        self,
        token: str,
        writer: Writer,
        *,
        default_registration: str | None = None,
        on_stored: Callable[[dict[str, Any]], None] | None = None,
        output_open: Callable[[], bool] | None = None,
        log: Callable[[str], None] | None = None,
        max_body: int = MAX_BODY_BYTES,
        body_timeout: float = BODY_TIMEOUT_SECONDS,
    ) -> None:
        self._token = token.encode("utf-8")
        # The log line's form of the paths a push comes to, computed once, not per request.
        paths = (f"/notify/{token}/{kind}" for kind in _KINDS)
        self._shown_paths = {path: _shown_path(path) for path in paths}
        self._writer = writer
        self._default_registration = default_registration
        self._on_stored = on_stored
        self._output_open = output_open
        self._log = log
        self._log_lines: list[str] = []  # `log` lines of this event-loop turn (`flush_log`)
        self._max_body = max_body
        self._body_timeout = body_timeout
        self.counters = Counters()
        self.output_closed = False
        self.stop_serving: Callable[[], None] = lambda: None  # set by serve()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # websockets: not served
            return
        started = time.monotonic()
        self.counters.requests += 1
        method = scope["method"]
        outcome = ""
        try:
            status, payload, outcome = await self._handle(scope, receive)
            headers: tuple[tuple[str, str], ...] = ()
        except _Reject as reject:
            self.counters.rejected += 1
            status, payload, outcome, headers = (
                reject.status,
                {"error": reject.reason},
                reject.reason,
                reject.headers,
            )
        except StoreUnavailable as error:
            self.counters.rejected += 1
            status, payload, headers = 503, {"error": "store unavailable"}, (("Retry-After", "5"),)
            outcome = f"store unavailable: {error}"
        except Exception as error:  # never a traceback to the sender
            status, payload, headers = 500, {"error": "internal error"}, ()
            outcome = f"internal error: {type(error).__name__}"
        await _answer(send, status, payload, headers, head=method == "HEAD")
        if self._log is not None:
            elapsed = (time.monotonic() - started) * 1000
            client = scope.get("client") or ("-", 0)
            path = scope.get("path", "")
            shown = self._shown_paths.get(path) or _shown_path(path)
            line = f"{client[0]} {method} {shown} {status} {elapsed:.1f}ms"
            if not self._log_lines:  # the lines of one event-loop turn: one write, at its end
                asyncio.get_running_loop().call_soon(self.flush_log)
            self._log_lines.append(line + (f" {outcome}" if outcome else ""))

    def flush_log(self) -> None:
        """Log the lines waiting, in one call (one write to stderr, not one per request: with
        32 senders a turn answers up to 32, and each write was a system call of its own)."""
        lines, self._log_lines = self._log_lines, []
        if lines and self._log is not None:
            self._log("\n".join(lines))

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, Any], str]:
        path: str = scope.get("path", "")
        method: str = scope["method"]
        if path == "/healthz":
            if method not in ("GET", "HEAD"):
                raise _Reject(405, "method not allowed", [("Allow", "GET, HEAD")])
            return 200, {"ok": True}, ""
        kind = self._route(path)
        if method != "POST":
            raise _Reject(405, "method not allowed", [("Allow", "POST")])
        headers = _headers(scope)
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in JSON_TYPES:
            raise _Reject(415, "Content-Type must be application/json")
        body = await self._body(headers, receive)
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise _Reject(400, "malformed JSON") from None
        try:
            notification: Notification = (
                parse_delivery(parsed)
                if kind == "delivery"
                else parse_inbound(parsed, self._default_registration)
            )
        except ShapeError as error:
            article = "an" if kind == "inbound" else "a"
            raise _Reject(400, f"not {article} {kind} notification: {error}") from None
        if self._on_stored is not None and (
            self.output_closed or (self._output_open is not None and not self._output_open())
        ):
            self._reader_gone()
            raise _Reject(503, "stdout closed: not stored, stopping", [("Retry-After", "5")])
        new = await self._writer.submit(notification)
        if not new:
            self.counters.duplicates += 1
            return 200, {"stored": False}, "duplicate"
        self.counters.stored += 1
        outcome = "stored"
        if self._on_stored is not None:
            try:
                if self.output_closed:
                    raise OutputClosed
                self._on_stored(notification.row())
            except OutputClosed:  # stored: answered 2xx all the same, never 5xx
                self._reader_gone()
                outcome = "stored, not printed: stdout closed"
        return 200, {"stored": True}, outcome

    def _reader_gone(self) -> None:
        if not self.output_closed:
            self.output_closed = True
            self.stop_serving()

    def _route(self, path: str) -> str:
        parts = path.split("/")
        # ["", "notify", token, kind]
        if len(parts) != 4 or parts[0] or parts[1] != "notify":
            raise _Reject(404, "not found")
        token_ok = hmac.compare_digest(parts[2].encode("utf-8", "surrogatepass"), self._token)
        if not token_ok or parts[3] not in _KINDS:
            raise _Reject(404, "not found")
        return parts[3]

    async def _body(self, headers: Mapping[str, str], receive: Receive) -> bytes:
        declared = headers.get("content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise _Reject(400, "bad Content-Length") from None
            if length > self._max_body:
                raise _Reject(413, f"body over {self._max_body} bytes")
        body = bytearray()
        # Nearly every push comes in one segment: uvicorn holds its body before the app runs,
        # so receive() answers at once and needs no deadline set and cancelled.
        if _body_in(receive) and self._take(await receive(), body):
            return bytes(body)
        try:
            # One deadline for the rest of the body; asyncio.timeout adds no task per receive().
            async with asyncio.timeout(self._body_timeout):
                while not self._take(await receive(), body):
                    pass
                return bytes(body)
        except TimeoutError:
            raise _Reject(408, "body not received in time") from None

    def _take(self, message: dict[str, Any], body: bytearray) -> bool:
        """Add a receive() message's part of the body to `body`; True when that was the last."""
        if message["type"] == "http.disconnect":
            raise _Reject(400, "client went away")
        body += message.get("body", b"")
        if len(body) > self._max_body:
            raise _Reject(413, f"body over {self._max_body} bytes")
        return not message.get("more_body", False)


def _body_in(receive: Receive) -> bool:
    """Whether uvicorn already holds (the first part of) the request's body, so `receive()`
    answers without waiting: its request cycle's `message_event` is set. False for anything
    else, which then reads under the deadline as always."""
    event = getattr(getattr(receive, "__self__", None), "message_event", None)
    return isinstance(event, asyncio.Event) and event.is_set()


def _headers(scope: Scope) -> dict[str, str]:
    """The two headers read (Content-Type, Content-Length), by lower-case name; the last of
    each wins. ASGI servers give names in lower case; any other case is taken too."""
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key = name if name in _READ_HEADERS else name.lower()
        if key in _READ_HEADERS:
            found[_READ_HEADERS[key]] = value.decode("latin-1")
    return found


_READ_HEADERS = {b"content-type": "content-type", b"content-length": "content-length"}


def _shown_path(path: str) -> str:
    """The path for a log line: a token's place masked, control characters escaped."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == "notify":
        parts[2] = "***"
    shown = "/".join(parts)[:200]
    return shown.encode("unicode_escape", "backslashreplace").decode("ascii")


async def _answer(
    send: Send,
    status: int,
    payload: dict[str, Any],
    headers: Sequence[tuple[str, str]],
    *,
    head: bool = False,
) -> None:
    if status == 200 and not headers and payload == _STORED_TRUE:  # nearly every answer
        body, raw_headers = _STORED_ANSWER
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": b"" if head else body})
        return
    body = json.dumps(payload).encode("utf-8")
    raw_headers = _json_headers(body)
    raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    if status in (408, 413, 400) or status >= 500:
        # What is left of the body is unread: do not reuse the connection.
        raw_headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def _json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]


_STORED_TRUE = {"stored": True}
_STORED_BODY = json.dumps(_STORED_TRUE).encode("utf-8")
_STORED_ANSWER = (_STORED_BODY, _json_headers(_STORED_BODY))  # uvicorn only reads the list


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# --- running it ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenProfile:
    """Whose notifications these are, and where the listen token lives."""

    name: str
    store_kind: str  # "keyring" or "file" (the profile's secret store)
    registration_id: str | None  # for an inbound push that names no destination


def listen_profile(active: ActiveProfile, *, sandbox_registration: str | None) -> ListenProfile:
    """Whose notifications `listen` stores: `active`, with its registration ID (this run's
    ATTSMS_REGISTRATION_ID, else the saved one; the sandbox's, which the command line passes,
    with --sandbox)."""
    if active.sandbox:
        # The sandbox's data is all local test data: its token goes to the 0600 file store.
        return ListenProfile(active.name, "file", sandbox_registration)
    saved = active.saved
    return ListenProfile(
        active.name, saved.store_kind if saved else "keyring", active.registration_id
    )


@dataclass(frozen=True)
class ListenToken:
    value: str
    where: str  # e.g. "environment (ATTSMS_LISTEN_TOKEN)", "keyring (…)", "file …"
    created: bool
    reveal: str = ""  # how its owner sees it whole, e.g. "see it with `cat <file>`"

    @property
    def masked(self) -> str:
        """What stderr shows when it is not a terminal (a log, journald): 4 characters."""
        return self.value[:4] + "…"


def _reveal(location: SecretLocation, store: CredentialStore) -> str:
    if location.kind == "env":
        return f"it is the value of {LISTEN_TOKEN_ENV}"
    if location.kind == "file":
        return f"see it with `cat {location.detail}`"
    return f"see it with `keyring get {SERVICE} {store.key}`"


def listen_token(who: ListenProfile, *, create: bool = True) -> ListenToken | None:
    """The profile's listen token: ATTSMS_LISTEN_TOKEN, else its store; made and saved there
    when there is none and `create`. Raises AuthError/StoreError when the store cannot be used
    (no keyring: the error names `store = "file"` and the variable)."""
    store = listen_token_store(who.name, "file" if who.store_kind == "file" else "keyring")
    try:
        found = store.lookup()
    except KeyringUnavailable as error:
        raise KeyringUnavailable(
            f"{error.message}; the listen token is kept where the client secret is",
            hint=f"set {LISTEN_TOKEN_ENV}, or use the file store (`attsms login --store file`)",
        ) from None
    if found is not None:
        value, location = found
        if not token_ok(value):
            raise UsageError(
                f"the listen token in {location.describe()} is not 16-256 URL-safe characters",
                hint=f"set {LISTEN_TOKEN_ENV} to a longer one, or remove it to have one made",
            )
        return ListenToken(value, location.describe(), False, _reveal(location, store))
    if not create:
        return None
    value = new_token()
    location = store.save(value)
    return ListenToken(value, location.describe(), True, _reveal(location, store))


@contextlib.contextmanager
def _kept_signals() -> Iterator[list[int]]:
    """SIGTERM and SIGINT that land before uvicorn takes the signals (a supervisor may stop the
    listener the moment it announces its URLs): kept, for the server to act on, not lost (the
    listener would run on, deaf to them)."""
    early: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield early
        return
    before = {sig: signal.signal(sig, lambda s, _: early.append(s)) for sig in _SIGNALS}
    try:
        yield early
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port and listening; a one-line AttsmsError when it cannot be."""
    import socket

    try:
        family, kind, proto = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][:3]
        # The protocol matters: asyncio sets TCP_NODELAY only on sockets it knows are TCP, and
        # without it every keep-alive answer (headers, then body) waits ~40 ms for a delayed ACK.
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
    except OSError as error:
        mapped = listen_error(error, host, port)
        if mapped is None:
            raise
        raise mapped from None
    sock.listen(1024)
    return sock


def serve(
    app: ListenApp,
    writer: Writer,
    host: str,
    port: int,
    *,
    announce: Callable[[str], None],
) -> None:
    """Serve `app` on host:port with uvicorn until SIGTERM or SIGINT (or the app's reader went
    away: `app.output_closed`), then finish the requests in flight, stop the writer and return.
    `announce(url)` is called once listening."""
    import uvicorn

    from attsms.receive.wire import http_protocol

    sock = _bound_socket(host, port)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises a caught SIGTERM/SIGINT after its graceful shutdown, which would
            # make the exit 143/130; a listener that stopped as asked exits 0.
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
            for sig in early:  # asked to stop while announcing: stop at once, gracefully
                self.handle_exit(sig, None)
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    config = uvicorn.Config(
        app,
        # httptools and uvloop where they build (else h11 on asyncio): a fraction of the cost
        # per request; each answer in one send (receive/wire.py).
        http=http_protocol(),
        loop="auto",
        lifespan="off",
        access_log=False,  # the app logs one line per request itself, token masked
        proxy_headers=False,  # the log names the peer: no X-Forwarded-For pass per request
        log_level="warning",
        server_header=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=30,
        h11_max_incomplete_event_size=16 * 1024,
    )
    server = Server(config)
    app.stop_serving = lambda: setattr(server, "should_exit", True)
    with _kept_signals() as early:
        writer.start()
        try:
            announce(f"http://{shown_host}:{bound_port}")
            server.run(sockets=[sock])
        finally:
            app.flush_log()
            sock.close()
            writer.stop()  # after the last request was answered: everything answered is stored
