"""The AT&T SMS API client: the one owner of httpx, the base URL, retries and error mapping.

Every operation returns a dataclass from `attsms.core.models`; every failure is an `AttsmsError`.
Responses are parsed leniently because the real service is less tidy than its spec: keys in
camelCase or PascalCase, counts sent as strings, 200 where 201 is documented, missing
`resourceReference`, HTML or empty bodies from gateways.

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

import math
import os
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

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
from attsms.core.models import (
    DeliveryInfo,
    DeliveryStatus,
    InboundMessage,
    InboxBatch,
    SendResult,
    Token,
    header_safe,
)
from attsms.core.numbers import canonical

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")

TOKEN_PATH = "/oauth/v4/token"
REVOKE_PATH = "/oauth/v4/revoke"
OUTBOX_PATH = "/sms/v3/messaging/outbox"
INBOX_PATH = "/sms/v3/messaging/inbox"

MAX_ADDRESSES = 50
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

UNKNOWN_HINT = "it may or may not have been sent; check `attsms status` before resending"

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


# --- lenient parsing -------------------------------------------------------------------------


def field(obj: Any, *names: str) -> Any:
    """`obj[name]` for the first of `names` present, compared case-insensitively; else None."""
    if not isinstance(obj, Mapping):
        return None
    for name in names:  # the spec's own spelling: no need to fold every key
        value = obj.get(name)
        if value is not None:
            return value
    folded = {str(k).casefold(): v for k, v in obj.items()}
    for name in names:
        value = folded.get(name.casefold())
        if value is not None:
            return value
    return None


def as_int(value: Any, default: int = 0) -> int:
    """An integer the service may have sent as a number or a string ("3", "3.0")."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return default
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else default
    return default


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def as_list(value: Any) -> list[Any]:
    """A list the service may have sent as a single object."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        # JSON may carry lone surrogates ("\ud800"), which no UTF-8 store or stream can hold.
        return value if value.isascii() else _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def parse_token(body: Any, now: float) -> Token:
    access = as_str(field(body, "access_token", "accessToken"))
    if not access:
        raise ApiError("the token answer holds no access_token", status=200)
    if not header_safe(access):  # never quoted: it is a secret, however malformed
        raise ApiError(
            "the token answer holds an access_token that cannot be sent (not visible ASCII)",
            status=200,
        )
    expires_in = as_int(field(body, "expires_in", "expiresIn"), default=0)
    return Token(
        access_token=access,
        refresh_token=as_str(field(body, "refresh_token", "refreshToken")),
        expires_at=None if expires_in <= 0 else now + expires_in,
        token_type=as_str(field(body, "token_type", "tokenType")) or "BEARER",
    )


def parse_send(body: Any, addresses: Sequence[str]) -> SendResult:
    response = field(body, "outboundSMSResponse")
    message_id = as_str(field(response, "messageId"))
    if not message_id:
        raise ValueError("no outboundSMSResponse.messageId")
    reference = field(response, "resourceReference")
    return SendResult(
        message_id=message_id,
        addresses=tuple(addresses),
        resource_url=as_str(field(reference, "resourceURL")),
    )


def parse_delivery_status(body: Any, message_id: str) -> DeliveryStatus:
    info_list = field(body, "deliveryInfoList")
    if not isinstance(info_list, Mapping):
        raise ValueError("no deliveryInfoList")
    deliveries = []
    for item in as_list(field(info_list, "deliveryInfo")):
        address = as_str(field(item, "address"))
        status = as_str(field(item, "deliveryStatus"))
        if address is None or status is None:
            raise ValueError("a deliveryInfo without address or deliveryStatus")
        deliveries.append(DeliveryInfo(address=canonical(address), status=status))
    return DeliveryStatus(
        message_id=message_id,
        deliveries=tuple(deliveries),
        resource_url=as_str(field(info_list, "resourceURL")),
    )


def parse_inbox(body: Any) -> InboxBatch:
    message_list = field(body, "inboundSMSMessageList")
    if not isinstance(message_list, Mapping):
        raise ValueError("no inboundSMSMessageList")
    messages = []
    for item in as_list(field(message_list, "inboundSMSMessage")):
        message_id = as_str(field(item, "messageId"))
        if not message_id:
            raise ValueError("an inbound message without messageId")
        messages.append(
            InboundMessage(
                message_id=message_id,
                message=as_str(field(item, "message")) or "",
                sender=canonical(as_str(field(item, "senderAddress")) or ""),
                destination=as_str(field(item, "destinationAddress")) or "",
                received_at=as_str(field(item, "dateTime")) or "",
            )
        )
    return InboxBatch(
        messages=tuple(messages),
        pending=as_int(field(message_list, "totalNumberOfPendingMessages")),
        resource_url=as_str(field(message_list, "resourceURL")),
    )


# --- errors ----------------------------------------------------------------------------------

_HINTS = {
    "POL0001": "the service's rate or quota limit was reached; try again later",
    "POL0003": f"at most {MAX_ADDRESSES} addresses go in one request",
    "POL0013": "the request named an address twice",
    "POL1009": "the app is not provisioned for the SMS scope; check it in the AT&T portal",
    "POL1010": "the app is suspended; contact AT&T developer support",
    "SVC0004": "no address in the request was valid",
    "SVC0280": "the message is too long",
    "SVC1000": "the service is busy; try again later",
}


@dataclass(frozen=True)
class ServiceFault:
    code: str | None
    text: str


def parse_error_body(body: Any) -> ServiceFault | None:
    """The service's error as one sentence, from any of the shapes it has used."""
    request_error = field(body, "RequestError", "requestError")
    exception = field(request_error, "ServiceException", "PolicyException")
    if isinstance(exception, Mapping):
        code = as_str(field(exception, "MessageId", "messageId"))
        text = as_str(field(exception, "Text", "text")) or "no description"
        variables = field(exception, "Variables", "variables")
        values = [str(v) for v in as_list(variables)]
        if isinstance(variables, str):
            values = [v.strip() for v in variables.split(",")] if "%2" in text else [variables]
        for index in range(len(values), 0, -1):  # %10 before %1
            text = text.replace(f"%{index}", values[index - 1])
        return ServiceFault(code=code, text=text)
    # OAuth servers answer RFC 6749 errors: {"error": "invalid_client", "error_description": ...}
    oauth_error = as_str(field(body, "error"))
    if oauth_error:
        description = as_str(field(body, "error_description"))
        return ServiceFault(
            code=None, text=f"{oauth_error}: {description}" if description else oauth_error
        )
    return None


def _body_kind(response: httpx.Response) -> str:
    if not response.content.strip():
        return "an empty body"
    content_type = response.headers.get("content-type", "")
    if "html" in content_type or response.content.lstrip()[:1] == b"<":
        return "an HTML page"
    return "a body that is not the service's JSON"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def error_from_response(response: httpx.Response, what: str) -> ApiError:
    """One-line `ApiError` for a non-2xx answer, whatever its body."""
    status = response.status_code
    try:
        fault = parse_error_body(response.json())
    except (ValueError, UnicodeDecodeError, RecursionError):
        fault = None
    retry_after = _retry_after(response)
    if fault is None:
        message = f"{what} failed: the service answered HTTP {status} with {_body_kind(response)}"
        code = None
    else:
        code = fault.code
        prefix = f"{code} " if code else ""
        message = f"{what} failed: {prefix}{fault.text} (HTTP {status})"
    hint = _HINTS.get(code or "")
    if status == 401:
        hint = "run `attsms login`, or check ATTSMS_CLIENT_ID and ATTSMS_CLIENT_SECRET"
    elif status == 429:
        wait = f" after {retry_after:g} s" if retry_after is not None else " later"
        hint = f"rate limited; try again{wait}"
    elif hint is None and status >= 500:
        hint = "the service had a problem; try again later"
    return ApiError(message, status=status, code=code, hint=hint, retry_after=retry_after)


# --- verbose HTTP log ------------------------------------------------------------------------

_SECRET_FORM_FIELDS = ("client_secret", "refresh_token", "token", "access_token", "code")
# Every spelling parse_token accepts (accessToken, ACCESS_TOKEN…), quoted or not, whole or cut.
_SECRET_JSON = re.compile(
    r'("(?:access_?token|refresh_?token|client_?secret)"\s*:\s*)(?:"(?:[^"\\]|\\.)*"|[^\s,}\]]+)',
    re.IGNORECASE,
)
_SECRET_FORM = re.compile(r"(\b(?:" + "|".join(_SECRET_FORM_FIELDS) + r")=)[^&\s]*")


def redact(text: str) -> str:
    """Blank out secrets in a form or JSON body before it is logged."""
    return _SECRET_FORM.sub(r"\1***", _SECRET_JSON.sub(r'\1"***"', text))


def _log_exchange(log: Callable[[str], None], response: httpx.Response, elapsed: float) -> None:
    request = response.request
    log(f"> {request.method} {request.url}")
    for name, value in request.headers.items():
        shown = "***" if name.lower() in ("authorization", "cookie") else value
        log(f"> {name}: {shown}")
    if request.content:
        log("> " + redact(request.content.decode("utf-8", "replace"))[:2000])
    log(f"< {response.status_code} {response.reason_phrase} ({elapsed * 1000:.0f} ms)")
    for name, value in response.headers.items():
        shown = "***" if name.lower() == "set-cookie" else value
        log(f"< {name}: {shown}")
    if response.content:
        log("< " + redact(response.content.decode("utf-8", "replace"))[:2000])


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

    def close(self) -> None:
        self.throttle.cancel()
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
        response = self._call("GET", f"{OUTBOX_PATH}/{_segment(message_id)}", what, CallKind.READ)
        return self._parse(response, what, parse_delivery_status, message_id)

    def inbox(self, registration_id: str) -> InboxBatch:
        """One batch of inbound messages. The service forgets what it returns: store it first."""
        what = f"reading the inbox of {registration_id}"
        path = f"{INBOX_PATH}/{_segment(registration_id)}"
        response = self._call("GET", path, what, CallKind.INBOX)
        try:
            return self._parse(response, what, parse_inbox)
        except ApiError as error:  # a 2xx we cannot read: the service already let go of it
            raise ApiError(error.message, status=error.status, hint=INBOX_LOST_HINT) from None

    # plumbing ------------------------------------------------------------------------------

    def _parse(
        self, response: httpx.Response, what: str, parser: Callable[..., T], *args: Any
    ) -> T:
        body = self._json(response, what)
        try:
            return parser(body, *args)
        except ValueError as error:
            raise ApiError(
                f"{what} failed: the answer has an unexpected shape ({error})",
                status=response.status_code,
            ) from None

    @staticmethod
    def _json(response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ApiError(
                f"{what} failed: the service answered HTTP {response.status_code}"
                f" with {_body_kind(response)}",
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
    ) -> httpx.Response:
        """One API call with the retries that are safe for its `kind`; returns a 2xx response."""
        import httpx

        auth, idempotent, consuming = kind.auth, kind is not CallKind.SEND, kind is CallKind.INBOX

        refreshed = False
        attempt = 0
        stale: str | None = None
        limited_since: float | None = None  # when the service first said "too fast" to this call
        signal_before = received_signal()
        while True:
            headers = {}
            if auth:
                if self.tokens is None:
                    raise AuthError("no credentials", hint="run `attsms login`")
                # Before the throttle: a token call must not wait for a slot this call holds.
                token = self.tokens.access_token(stale=stale)
                headers["Authorization"] = f"Bearer {token}"
            retry_after: float | None = None
            ticket = None if idempotent else self._start(what, limited_since, signal_before)
            try:
                response = self._send_once(method, path, headers=headers, data=data, json=json)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                # Nothing reached the service: safe to retry, even a send.
                failure: AttsmsError = NetworkError(
                    f"{what} failed: cannot reach {self.base_url} ({_describe(error)})",
                    hint="check the network and the base URL, then try again",
                )
            except AnswerTooLarge as error:
                raise self._too_large(error, what, kind) from None
            except (
                AnswerBroken,
                httpx.TimeoutException,
                httpx.NetworkError,
                httpx.RemoteProtocolError,
            ) as error:
                broken = isinstance(error, AnswerBroken)
                cause = _describe(error.cause if isinstance(error, AnswerBroken) else error)
                if not idempotent:
                    happened = "its answer broke off" if broken else "no answer from the service"
                    raise UnknownOutcomeError(
                        f"{what}: {happened} after the request was sent ({cause})",
                        hint=UNKNOWN_HINT,
                    ) from None
                source = f"from {self.base_url}"
                happened = f"the answer {source} broke off" if broken else f"no answer {source}"
                failure = NetworkError(
                    f"{what} failed: {happened} ({cause})", hint="try again later"
                )
                if consuming and (broken or isinstance(error, httpx.TimeoutException)):
                    # The service may have produced the answer, and forgotten what it handed out
                    # in it: asking again would fetch the next batch and hide the loss. (A
                    # connection dropped before any answer is retried, as HTTP clients do.)
                    raise NetworkError(failure.message, hint=INBOX_LOST_HINT) from None
            else:
                if response.is_success:
                    if ticket is not None:
                        self.throttle.report(ticket, accepted=True)
                    return response
                if response.status_code == 401 and auth and not refreshed:
                    # A stale or revoked token: get a new one once, retry once.
                    refreshed = True
                    stale = headers["Authorization"].removeprefix("Bearer ")
                    continue
                api_error = error_from_response(response, what)
                failure = api_error
                retry_after = api_error.retry_after
                if not idempotent:
                    if _is_rate_limit(api_error):
                        assert ticket is not None
                        limited_since = self._rate_limited(
                            what, api_error, ticket, limited_since, signal_before
                        )
                        continue  # the throttle's next start waits as long as it must
                    raise self._send_error(api_error)
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
        return _is_rate_limit(error) or error.code == "SVC1000" or error.status >= 500

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

    @staticmethod
    def _send_error(error: ApiError) -> AttsmsError:
        """A send's error answer, other than a rate limit, as what it says of the message.

        A 4xx is the request refused before anything was done: it failed, and a re-run may send
        it. A 5xx says only that something went wrong, not that nothing was done: a backend may
        have taken the message before it, a gateway or a load balancer answered the error (the
        service's own SVC1000 included: it does not say which node gave up, or when). So it is
        an unknown outcome, never resent by itself.
        """
        if error.status < 500:
            return error
        gateway = " (a gateway's page, not the service's answer)" if error.code is None else ""
        return UnknownOutcomeError(f"{error.message}{gateway}", hint=UNKNOWN_HINT)

    def _send_once(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        data: Mapping[str, str] | None,
        json: Any,
    ) -> httpx.Response:
        import httpx

        started = time.monotonic()
        request = self._http.build_request(method, path, headers=headers, data=data, json=json)
        response = self._http.send(request, stream=True)
        try:
            _read_capped(response)
        except AnswerTooLarge:
            if self._log is not None:
                self._log(f"< {response.status_code} {response.reason_phrase} (too large: unread)")
            raise
        except httpx.TransportError as error:
            raise AnswerBroken(response.status_code, error) from None
        finally:
            response.close()
        if self._log is not None:
            _log_exchange(self._log, response, time.monotonic() - started)
        return response


def _is_rate_limit(error: ApiError) -> bool:
    """429, or AT&T's POL0001 (a 403 for rate and quota limits): refused before any work."""
    return error.status == 429 or error.code == "POL0001"


class AnswerTooLarge(Exception):
    """A 2xx answer longer than MAX_ANSWER_BYTES; it was not read."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status} answer over {MAX_ANSWER_BYTES} bytes")
        self.status = status


class AnswerBroken(Exception):
    """The status line and headers came, then the body broke off: the service did answer."""

    def __init__(self, status: int, cause: Exception) -> None:
        super().__init__(str(cause))
        self.status = status
        self.cause = cause


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


def _segment(value: str) -> str:
    from urllib.parse import quote

    # "." and ".." would be resolved as dot segments: `inbox pull ..` asked for another path.
    return quote(value, safe="") if value.strip(".") else value.replace(".", "%2E")


def _describe(error: Exception) -> str:
    text = str(error).strip().splitlines()
    detail = text[0] if text else ""
    name = type(error).__name__
    return f"{name}: {detail}" if detail else name
