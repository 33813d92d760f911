"""`AttClient`, the AT&T SMS API client: the one owner of httpx, base URL, token use, retries.

Every operation returns a dataclass from `attsms.core.models` (read by `attsms.api.parsers`);
every failure is an `AttsmsError` (an error answer worded by `attsms.api.faults`).

Retries are safe ones only. Token calls and GETs are retried on 5xx, 429 and network errors. A send
is retried only when it surely did not reach the service (a connect error) or the service refused
it before doing any work (429, 403 POL0001: rate limits, waited out until
`ATTSMS_RATE_LIMIT_TIMEOUT` through a `Throttle` shared by every send thread). Any 5xx (even the
service's own SVC1000), a timeout or a dropped connection after the request was written, or an
answer that cannot be read is an unknown outcome, never resent: a backend may have taken the
message before something answered the error.
An inbox read hands out messages the service then forgets, so once its answer may have been
produced (a timeout waiting for it, an answer broken off) it is not asked again: the error says
those messages may be lost. No answer is read past `MAX_ANSWER_BYTES`.
"""

from __future__ import annotations

import datetime
import math
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from attsms.api.faults import (
    MAX_ADDRESSES,
    UNKNOWN_HINT,
    body_kind,
    error_from_response,
    is_rate_limit,
    send_error,
)
from attsms.api.httplog import log_exchange, log_unread
from attsms.api.lean import Answer, AnswerBroken, AnswerTooLarge, LeanHttp
from attsms.api.parsers import parse_delivery_status, parse_inbox, parse_send, parse_token
from attsms.api.throttle import Throttle, ThrottleCancelled, Ticket
from attsms.core.errors import (
    ApiError,
    AttsmsError,
    AuthError,
    NetworkError,
    TemporaryError,
    UnknownOutcomeError,
    UsageError,
)
from attsms.core.interrupts import received_signal
from attsms.core.models import DeliveryStatus, InboxBatch, SendResult, Token

if TYPE_CHECKING:
    import httpx

    from attsms.api.fanout import StatusFanout

T = TypeVar("T")

TOKEN_PATH = "/oauth/v4/token"
REVOKE_PATH = "/oauth/v4/revoke"
OUTBOX_PATH = "/sms/v3/messaging/outbox"
INBOX_PATH = "/sms/v3/messaging/inbox"

USER_AGENT = "attsms"

# attsms never reads more of an answer than this: the largest real one (an inbox batch) is far
# smaller, and a broken server or proxy must not be able to fill memory.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
# Of an error answer only the service's error object matters: a long gateway page is cut short.
MAX_ERROR_BYTES = 64 * 1024

# How long a send is retried while the service keeps saying it comes too fast (429, POL0001):
# long enough to ride out the bursts of a big job, short enough for cron to run it again.
RATE_LIMIT_TIMEOUT_ENV = "ATTSMS_RATE_LIMIT_TIMEOUT"
DEFAULT_RATE_LIMIT_TIMEOUT = 300.0
RATE_LIMIT_HINT = "try again later, e.g. with --rate 1/s"

INBOX_LOST_HINT = (
    "the service removes the messages it hands out, so any handed out in that answer are lost;"
    " run `attsms inbox pull` again for the rest"
)


class TokenSource(Protocol):
    """Hands out bearer tokens; `stale` is a token the service just refused with 401."""

    def access_token(self, *, stale: str | None = None) -> str: ...


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # the first try plus three retries
    base_delay: float = 0.5
    max_delay: float = 8.0
    # A Retry-After longer than this is not waited out: the command exits 75 and cron tries later.
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        # Full jitter: spreads out many clients (or many batches) that failed together.
        # `attempt` counts from 1 at the first retry, which waits up to `base_delay`.
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def rate_limit_timeout_from_env(environ: Mapping[str, str] | None = None) -> float:
    """`ATTSMS_RATE_LIMIT_TIMEOUT`: seconds a send may stay rate limited before it gives up
    (default 300; 0 gives up at the first rate limit)."""
    raw = (os.environ if environ is None else environ).get(RATE_LIMIT_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_RATE_LIMIT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise UsageError(
            f"{RATE_LIMIT_TIMEOUT_ENV}={raw!r} is not a number of seconds", hint="e.g. 300"
        )
    return seconds


# --- the client ------------------------------------------------------------------------------


class CallKind(Enum):
    """What an API call is, which decides how it may be retried (and whether it needs a token)."""

    TOKEN = "token"  # a token call: no bearer token; safe to repeat
    READ = "read"  # a GET that changes nothing (delivery status): safe to repeat
    # A send: never repeated once it may have reached the service, and started through the
    # shared throttle, which rate limits slow down (see `_rate_limited`).
    SEND = "send"
    # An inbox read: repeatable, except once an answer may have been produced, since the service
    # forgets what it puts in one.
    INBOX = "inbox"

    @property
    def auth(self) -> bool:
        return self is not CallKind.TOKEN


class AttClient:
    """A client of one AT&T SMS API base URL.

    `tokens` supplies bearer tokens for API calls (token calls themselves need none). `transport`
    lets the in-process sandbox or a test stand in for the network; everything above it, request
    building, parsing, retries, runs the same either way.
    """

    def __init__(
        self,
        base_url: str,
        *,
        tokens: TokenSource | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        log: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_connections: int = 20,
        rate_limit_timeout: float | None = None,
    ) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.retry = retry or RetryPolicy()
        self.rate_limit_timeout = (
            rate_limit_timeout if rate_limit_timeout is not None else rate_limit_timeout_from_env()
        )
        self._log = log
        self._sleep = sleep
        # Sends only: every thread of a run slows down together when the service says so.
        self.throttle = Throttle(max_connections, clock=clock, sleep=sleep)
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        # Status GETs (many, on threads beside the rendering) and sends (16 threads taking turns
        # on the GIL) go the lean way when httpx would add nothing to them: no transport of a
        # test or the sandbox, no proxy.
        self._lean = self._lean_http(timeout, connect_timeout) if transport is None else None
        if transport is None and self.base_url.lower().startswith("http://"):
            # Plain HTTP (the sandbox, a local relay) needs no SSL context, and httpx builds one
            # for every client, loading the CA bundle (~20 ms of a one-number send). This one is
            # bare: it only stands in for the context a plain-HTTP connection never uses.
            import ssl

            transport = httpx.HTTPTransport(
                verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), limits=limits
            )
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=limits,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    def _lean_http(self, timeout: float, connect_timeout: float) -> LeanHttp | None:
        from urllib.request import getproxies

        scheme = self.base_url.partition(":")[0].lower()
        if scheme not in ("http", "https") or getproxies():
            return None
        return LeanHttp(
            self.base_url,
            timeout=timeout,
            connect_timeout=connect_timeout,
            user_agent=USER_AGENT,
            max_answer=MAX_ANSWER_BYTES,
            max_error=MAX_ERROR_BYTES,
            ssl_context=_ssl_context,
        )

    def close(self) -> None:
        self.throttle.cancel()
        if self._lean is not None:
            self._lean.close()
        self._http.close()

    def __enter__(self) -> AttClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # OAuth ---------------------------------------------------------------------------------

    def fetch_token(self, client_id: str, client_secret: str, scope: str = "SMS") -> Token:
        """A new token by the client-credentials grant."""
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": scope,
        }
        return self._token_call(form, "getting an access token")

    def refresh_token(self, client_id: str, client_secret: str, refresh_token: str) -> Token:
        """A new token by the refresh grant; the answer may carry a new refresh token."""
        form = {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        }
        token = self._token_call(form, "refreshing the access token")
        if token.refresh_token is None:  # no rotation: the old refresh token stays good
            token = Token(token.access_token, refresh_token, token.expires_at, token.token_type)
        return token

    def revoke(
        self, client_id: str, client_secret: str, token: str, hint: str = "access_token"
    ) -> None:
        form = {
            "client_id": client_id,
            "client_secret": client_secret,
            "token": token,
            "token_type_hint": hint,
        }
        self._call("POST", REVOKE_PATH, "revoking the token", CallKind.TOKEN, data=form)

    def _token_call(self, form: dict[str, str], what: str) -> Token:
        now = time.time()
        try:
            response = self._call("POST", TOKEN_PATH, what, CallKind.TOKEN, data=form)
        except ApiError as error:
            if error.status in (400, 401):
                raise AuthError(
                    f"{error.message}", hint="check the client id and secret (`attsms login`)"
                ) from None
            raise
        body = self._json(response, what)
        try:
            return parse_token(body, now)
        except ApiError as error:  # say which call it was, as every other error does
            raise ApiError(f"{what} failed: {error.message}", status=error.status) from None

    # SMS -----------------------------------------------------------------------------------

    def send(self, addresses: Sequence[str], message: str, *, notify: bool = False) -> SendResult:
        """Queue one message to up to 50 wire addresses (`tel:+1…`, `short:…`)."""
        if not addresses:
            raise ValueError("send needs at least one address")
        if len(addresses) > MAX_ADDRESSES:
            raise ValueError(f"at most {MAX_ADDRESSES} addresses per request")
        payload: dict[str, Any] = {"address": list(addresses), "message": message}
        if notify:
            payload["notifyDeliveryStatus"] = True
        what = "sending the message"
        response = self._call(
            "POST", OUTBOX_PATH, what, CallKind.SEND, json={"outboundSMSRequest": payload}
        )
        try:
            return parse_send(response.json(), addresses)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            # It was accepted (2xx) but we cannot tell its ID: sending again would text twice.
            raise UnknownOutcomeError(
                f"{what}: the service accepted it (HTTP {response.status_code}) but its answer"
                f" could not be read ({error})",
                hint="it was probably sent; do not resend blindly",
            ) from None

    def delivery_status(self, message_id: str) -> DeliveryStatus:
        what = f"getting the status of {message_id}"
        response = self._call("GET", self.status_path(message_id), what, CallKind.READ)
        return self._parse(response, what, parse_delivery_status, message_id)

    # Many status GETs from the rendering thread (attsms.api.fanout): the parts of
    # `delivery_status`, its retries and token refresh left to it.

    def status_fanout(self, width: int) -> StatusFanout | None:
        """Status GETs on `width` connections moved along by the caller's thread; None where
        the lean transport is not used (a test's transport, a proxy, --verbose)."""
        if self._lean is None or self._log is not None:
            return None
        from attsms.api.fanout import StatusFanout

        return StatusFanout(self, self._lean, width)

    @staticmethod
    def status_path(message_id: str) -> str:
        return f"{OUTBOX_PATH}/{_segment(message_id)}"

    def status_headers(self) -> dict[str, str]:
        return self._headers(CallKind.READ, None)

    def status_answer(
        self, message_id: str, response: Answer
    ) -> DeliveryStatus | AttsmsError | None:
        """A status GET's answer read as `delivery_status` reads it; None where that call would
        ask again (a refused token, an answer worth retrying)."""
        what = f"getting the status of {message_id}"
        if response.is_success:
            try:
                return self._parse(response, what, parse_delivery_status, message_id)
            except AttsmsError as error:
                return error
        if response.status_code == 401:
            return None
        refused = error_from_response(response, what)
        return None if self._retryable(refused) else refused

    def inbox(self, registration_id: str) -> InboxBatch:
        """One batch of inbound messages. The service forgets what it returns: store it first."""
        what = f"reading the inbox of {registration_id}"
        path = f"{INBOX_PATH}/{_segment(registration_id)}"
        response = self._call("GET", path, what, CallKind.INBOX)
        try:
            return self._parse(response, what, parse_inbox)
        except ApiError as error:  # a 2xx we cannot read: the service already let go of it
            raise ApiError(error.message, status=error.status, hint=INBOX_LOST_HINT) from None

    def server_time(self) -> datetime.datetime | None:
        """The service's clock: the `Date` header of an answer to a harmless request (the status
        of no message, asked without a token: it reads nothing, changes nothing and sends
        nothing; whatever its status), or None when the answer has no readable Date."""
        from email.utils import parsedate_to_datetime

        import httpx

        try:
            response = self._http.get(f"{OUTBOX_PATH}/clock-check")
            response.close()
        except httpx.HTTPError as error:
            raise self._unreachable(error, "asking the service for its time") from None
        header = response.headers.get("date")
        try:
            return None if header is None else parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None

    # plumbing ------------------------------------------------------------------------------

    def _parse(self, response: Answer, what: str, parser: Callable[..., T], *args: Any) -> T:
        body = self._json(response, what)
        try:
            return parser(body, *args)
        except ValueError as error:
            raise ApiError(
                f"{what} failed: the answer has an unexpected shape ({error})",
                status=response.status_code,
            ) from None

    @staticmethod
    def _json(response: Answer, what: str) -> Any:
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ApiError(
                f"{what} failed: the service answered HTTP {response.status_code}"
                f" with {body_kind(response)}",
                status=response.status_code,
            ) from None

    def _call(
        self,
        method: str,
        path: str,
        what: str,
        kind: CallKind,
        *,
        data: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Answer:
        """One API call with the retries that are safe for its `kind`; returns a 2xx response."""
        import httpx

        sending = kind is CallKind.SEND
        refreshed = False
        attempt = 0
        stale: str | None = None
        limited_since: float | None = None  # when the service first said "too fast" to this call
        signal_before = received_signal()
        while True:
            headers = self._headers(kind, stale)
            retry_after: float | None = None
            ticket = self._start(what, limited_since, signal_before) if sending else None
            try:
                response = self._send_once(method, path, kind, headers, data=data, json=json)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                failure: AttsmsError = self._unreachable(error, what)
            except AnswerTooLarge as error:
                raise self._too_large(error, what, kind) from None
            except (
                AnswerBroken,
                httpx.TimeoutException,
                httpx.NetworkError,
                httpx.RemoteProtocolError,
            ) as error:
                failure = self._no_answer(error, what, kind)
            else:
                if response.is_success:
                    if ticket is not None:
                        self.throttle.report(ticket, accepted=True)
                    return response
                if response.status_code == 401 and kind.auth and not refreshed:
                    # A stale or revoked token: get a new one once, retry once.
                    refreshed = True
                    stale = headers["Authorization"].removeprefix("Bearer ")
                    continue
                api_error = error_from_response(response, what)
                failure = api_error
                retry_after = api_error.retry_after
                if sending:
                    if is_rate_limit(api_error):
                        assert ticket is not None
                        limited_since = self._rate_limited(
                            what, api_error, ticket, limited_since, signal_before
                        )
                        continue  # the throttle's next start waits as long as it must
                    raise send_error(api_error)
                if not self._retryable(api_error):
                    raise api_error
            finally:
                if ticket is not None:
                    self.throttle.report(ticket)  # a no-op when already reported
            attempt += 1
            if attempt >= self.retry.attempts or (
                retry_after is not None and retry_after > self.retry.max_retry_after
            ):
                raise failure
            self._sleep(self.retry.delay(attempt, retry_after))

    def _headers(self, kind: CallKind, stale: str | None) -> dict[str, str]:
        """A call's own headers: its bearer token, unless it is a token call. `stale` is a token
        the service just refused."""
        if not kind.auth:
            return {}
        if self.tokens is None:
            raise AuthError("no credentials", hint="run `attsms login`")
        # Before the throttle: a token call must not wait for a slot this call holds.
        return {"Authorization": f"Bearer {self.tokens.access_token(stale=stale)}"}

    def _unreachable(self, error: Exception, what: str) -> AttsmsError:
        """Nothing reached the service: safe to retry, even a send."""
        return NetworkError(
            f"{what} failed: cannot reach {self.base_url} ({_describe(error)})",
            hint="check the network and the base URL, then try again",
        )

    def _no_answer(self, error: Exception, what: str, kind: CallKind) -> AttsmsError:
        """The request went out and no whole answer came back (a timeout, a dropped connection,
        an answer broken off). Returns the failure to retry after; raises at once where asking
        again is not safe: a send, or an inbox read whose answer may have been produced."""
        import httpx

        broken = isinstance(error, AnswerBroken)
        cause = _describe(error.cause if isinstance(error, AnswerBroken) else error)
        if kind is CallKind.SEND:
            happened = "its answer broke off" if broken else "no answer from the service"
            raise UnknownOutcomeError(
                f"{what}: {happened} after the request was sent ({cause})",
                hint=UNKNOWN_HINT,
            ) from None
        source = f"from {self.base_url}"
        happened = f"the answer {source} broke off" if broken else f"no answer {source}"
        failure = NetworkError(f"{what} failed: {happened} ({cause})", hint="try again later")
        if kind is CallKind.INBOX and (broken or isinstance(error, httpx.TimeoutException)):
            # The service may have produced the answer, and forgotten what it handed out in it:
            # asking again would fetch the next batch and hide the loss. (A connection dropped
            # before any answer is retried, as HTTP clients do.)
            raise NetworkError(failure.message, hint=INBOX_LOST_HINT) from None
        return failure

    def _too_large(self, error: AnswerTooLarge, what: str, kind: CallKind) -> AttsmsError:
        size = f"over {MAX_ANSWER_BYTES // 2**20} MB"
        if kind is CallKind.SEND:
            return UnknownOutcomeError(
                f"{what}: the service accepted it (HTTP {error.status}) but its answer could not"
                f" be read ({size}, more than any real answer)",
                hint="it was probably sent; do not resend blindly",
            )
        return ApiError(
            f"{what} failed: the service answered HTTP {error.status} with a body {size}, more"
            " than any real answer; it was not read",
            status=error.status,
            hint=INBOX_LOST_HINT
            if kind is CallKind.INBOX
            else f"check the base URL {self.base_url}",
        )

    @staticmethod
    def _retryable(error: ApiError) -> bool:
        """For a request safe to repeat (a token call, a GET): worth another try."""
        return is_rate_limit(error) or error.code == "SVC1000" or error.status >= 500

    def _start(self, what: str, limited_since: float | None, signal_before: int | None) -> Ticket:
        """A send's start, when the shared throttle lets it go."""
        waited = "" if limited_since is None else " while it waited out a rate limit"
        stopped = TemporaryError(
            f"{what} failed: the run stopped before it was sent{waited}", hint="run it again"
        )
        try:
            ticket = self.throttle.acquire()
        except ThrottleCancelled:
            raise stopped from None
        if limited_since is not None and received_signal() != signal_before:
            # Told to stop (see `_rate_limited`) while it waited: it has not gone, so it stays so.
            self.throttle.report(ticket)
            raise stopped
        return ticket

    def cancel_waits(self) -> None:
        """Sends waiting for the throttle (a rate limit) give up at once, and none start any
        more: for a run that is being stopped."""
        self.throttle.cancel()

    def _rate_limited(
        self,
        what: str,
        error: ApiError,
        ticket: Ticket,
        limited_since: float | None,
        signal_before: int | None,
    ) -> float:
        """A send the service refused as too fast: slow the whole run down, and give up (with
        `error` reworded) once it has been refused for longer than `rate_limit_timeout`, or
        once the process was told to stop. Returns when this send was first refused."""
        wait = self.throttle.report(ticket, limited=True, retry_after=error.retry_after)
        now = self.throttle.now()
        since = now if limited_since is None else limited_since
        last = error.message.removeprefix(f"{what} failed: ")
        if now - since + wait > self.rate_limit_timeout:
            raise ApiError(
                f"{what} failed: rate limited by the service for {now - since:.0f} s, which a"
                f" lower --rate avoids (the last answer: {last})",
                status=error.status,
                code=error.code,
                hint=RATE_LIMIT_HINT,
                retry_after=error.retry_after,
            )
        if received_signal() != signal_before:
            # Ctrl-C (held while a batch is under way), SIGTERM or SIGHUP: the run is stopping,
            # and this batch surely did not go; waiting out the limit would only delay the stop.
            raise ApiError(
                f"{what} failed: rate limited by the service, and the run was stopped before"
                f" it could try again (the last answer: {last})",
                status=error.status,
                code=error.code,
                retry_after=error.retry_after,
            )
        return since

    def _send_once(
        self,
        method: str,
        path: str,
        kind: CallKind,
        headers: dict[str, str],
        *,
        data: Mapping[str, str] | None,
        json: Any,
    ) -> Answer:
        import httpx

        if self._lean is not None and self._log is None:  # httpx would add nothing
            if kind is CallKind.READ:
                return self._lean.get(path, headers)  # a status GET
            if kind is CallKind.SEND and json is not None and data is None:
                return self._lean.post_json(path, headers, _json_body(json))

        started = time.monotonic()
        request = self._http.build_request(method, path, headers=headers, data=data, json=json)
        response = self._http.send(request, stream=True)
        try:
            _read_capped(response)
        except AnswerTooLarge:
            if self._log is not None:
                log_unread(self._log, response)
            raise
        except httpx.TransportError as error:
            raise AnswerBroken(response.status_code, error) from None
        finally:
            response.close()
        if self._log is not None:
            log_exchange(self._log, response, time.monotonic() - started)
        return response


def _read_capped(response: httpx.Response) -> None:
    """Read a streamed answer's body, at most MAX_ANSWER_BYTES (AnswerTooLarge past that for a
    2xx; an error answer is just cut at MAX_ERROR_BYTES). Then `.content` and `.json()` work."""
    limit = MAX_ANSWER_BYTES if response.is_success else MAX_ERROR_BYTES
    declared = response.headers.get("content-length", "")
    if response.is_success and declared.isdigit() and int(declared) > limit:
        raise AnswerTooLarge(response.status_code)  # not a byte of it read
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():  # decoded: the cap holds for a gzip bomb too
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            if response.is_success:
                raise AnswerTooLarge(response.status_code)
            break
    # What httpx's own Response.read() does, but bounded.
    response._content = b"".join(chunks)[:limit]


def _json_body(value: Any) -> bytes:
    """`value` as httpx's `json=` encodes it (compact UTF-8; NaN refused), so a send's body is
    the same bytes whichever way it goes."""
    import json

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def _ssl_context() -> Any:
    """The context httpx's own client would verify the service's certificate with."""
    import httpx

    return httpx.create_ssl_context()


def _segment(value: str) -> str:
    from urllib.parse import quote

    # "." and ".." would be resolved as dot segments: `inbox pull ..` asked for another path.
    return quote(value, safe="") if value.strip(".") else value.replace(".", "%2E")


def _describe(error: Exception) -> str:
    text = str(error).strip().splitlines()
    detail = text[0] if text else ""
    name = type(error).__name__
    return f"{name}: {detail}" if detail else name
