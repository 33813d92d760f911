"""The verbose HTTP log (`--verbose`): each exchange line by line, its secrets redacted.

Bearer tokens, cookies and every secret a form or JSON body may carry (client secret, access and
refresh tokens) are blanked out before a line is logged; bodies are cut at 2000 characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

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


def log_exchange(log: Callable[[str], None], response: httpx.Response, elapsed: float) -> None:
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


def log_unread(log: Callable[[str], None], response: httpx.Response) -> None:
    """The status line of an answer too large to read (its headers and body are not logged)."""
    log(f"< {response.status_code} {response.reason_phrase} (too large: unread)")
