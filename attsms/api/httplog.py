"""The verbose HTTP log (`--verbose`): each exchange line by line, its secrets redacted.

Bearer tokens and cookies are blanked out, and every secret a form or JSON body may carry
(`attsms.core.redaction.redact_body`), before a line is logged; bodies are cut at 2000 characters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from attsms.core.redaction import redact_body

if TYPE_CHECKING:
    import httpx


def log_exchange(log: Callable[[str], None], response: httpx.Response, elapsed: float) -> None:
    request = response.request
    log(f"> {request.method} {request.url}")
    for name, value in request.headers.items():
        shown = "***" if name.lower() in ("authorization", "cookie") else value
        log(f"> {name}: {shown}")
    if request.content:
        log("> " + redact_body(request.content.decode("utf-8", "replace"))[:2000])
    log(f"< {response.status_code} {response.reason_phrase} ({elapsed * 1000:.0f} ms)")
    for name, value in response.headers.items():
        shown = "***" if name.lower() == "set-cookie" else value
        log(f"< {name}: {shown}")
    if response.content:
        log("< " + redact_body(response.content.decode("utf-8", "replace"))[:2000])


def log_unread(log: Callable[[str], None], response: httpx.Response) -> None:
    """The status line of an answer too large to read (its headers and body are not logged)."""
    log(f"< {response.status_code} {response.reason_phrase} (too large: unread)")
