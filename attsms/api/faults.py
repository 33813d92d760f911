"""What the service's error answers mean: each one as a one-line `ApiError` with a hint.

Whatever the body (the service's own error object, an OAuth error, a gateway's HTML page, nothing),
a non-2xx answer becomes one sentence naming the call, the service's code and the HTTP status,
plus what to do about it and how long the service asked to wait (`Retry-After`). For a send, what
the error says of the message decides whether it failed or may have gone (`send_error`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from attsms.api.parsers import parse_error_body
from attsms.core.errors import ApiError, AttsmsError, UnknownOutcomeError

if TYPE_CHECKING:
    from attsms.api.lean import Answer

MAX_ADDRESSES = 50  # the service's limit per request (POL0003 above it)

UNKNOWN_HINT = "it may or may not have been sent; check `attsms status` before resending"

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


def hint_for(code: str | None) -> str | None:
    """What to do about the service's error `code`: the hint its one-line error carries."""
    return _HINTS.get(code or "")


def body_kind(response: Answer) -> str:
    """What an answer that is not the service's JSON holds, for an error message."""
    if not response.content.strip():
        return "an empty body"
    content_type = response.headers.get("content-type", "")
    if "html" in content_type or response.content.lstrip()[:1] == b"<":
        return "an HTML page"
    return "a body that is not the service's JSON"


def _retry_after(response: Answer) -> float | None:
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


def error_from_response(response: Answer, what: str) -> ApiError:
    """One-line `ApiError` for a non-2xx answer, whatever its body."""
    status = response.status_code
    try:
        fault = parse_error_body(response.json())
    except (ValueError, UnicodeDecodeError, RecursionError):
        fault = None
    retry_after = _retry_after(response)
    if fault is None:
        message = f"{what} failed: the service answered HTTP {status} with {body_kind(response)}"
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


def is_rate_limit(error: ApiError) -> bool:
    """429, or AT&T's POL0001 (a 403 for rate and quota limits): refused before any work."""
    return error.status == 429 or error.code == "POL0001"


def send_error(error: ApiError) -> AttsmsError:
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
