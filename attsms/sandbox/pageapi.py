"""The page of a served sandbox: its files at `/` and `/sandbox/page/…`, and the JSON it reads.

    GET  /                                  the page (page/index.html)
    GET  /sandbox/page/{app.js|app.css}     its script and style
    GET  /sandbox/changes                   {"version": n}: polled, n grows on every change
    GET  /sandbox/phones?q=&offset=&limit=  numbers, newest activity first, filtered by digits
    GET  /sandbox/phones/{number}           one phone's thread
    POST /sandbox/phones/{number}/outcome   {"outcome": "DeliveryImpossible" | … | null}
    GET  /sandbox/faults                    the armed fault rules

Replies go to `POST /sandbox/inbox/{registrationId}` as any client's would. Every state-changing
`/sandbox/` request from a browser must come from the page's own origin (`check_origin`).
"""

from __future__ import annotations

import time
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from attsms.sandbox.addresses import FINAL_STATUSES, final_outcome, normalize, normalize_sender
from attsms.sandbox.responses import SandboxError, SandboxResponse, invalid_input, json_response
from attsms.sandbox.segments import billing

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from attsms.sandbox.core import Sandbox, _Request

# What a phone's next deliveries may be set to; None (or absent) follows the number's digits.
OUTCOMES = ("DeliveredToTerminal", "DeliveredToNetwork", "DeliveryImpossible", "MessageWaiting")
MAX_PAGE = 200

_FILES = {"app.js": "text/javascript", "app.css": "text/css"}
# The page runs only its own files: no inline script, nothing from elsewhere, never in a frame.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOCAL_HOSTS = frozenset({"localhost", "::1"})


def routes(sandbox: Sandbox) -> list[tuple[str, str, Callable[..., SandboxResponse]]]:
    """The page's routes, for the core's table of sandbox-only endpoints."""
    seg = r"([^/]+)"
    return [
        ("GET", r"/sandbox/page/(app\.js|app\.css)", lambda req, name: _file(name)),
        ("GET", r"/sandbox/changes", lambda req: _changes(sandbox)),
        ("GET", r"/sandbox/phones", lambda req: _phones(sandbox, req)),
        ("GET", rf"/sandbox/phones/{seg}", lambda req, number: _thread(sandbox, req, number)),
        ("POST", rf"/sandbox/phones/{seg}/outcome", lambda req, n: _outcome(sandbox, req, n)),
        ("GET", r"/sandbox/faults", lambda req: json_response(200, {"rules": _rules(sandbox)})),
    ]


def check_origin(method: str, headers: Mapping[str, str]) -> None:
    """Refuse (403) a state-changing request that a browser sent for a page of another origin.

    curl, httpx and attsms send no Origin and pass. A browser sends Origin with every POST, and
    Sec-Fetch-Site: the page's own requests are same-origin, addressed by IP literal or localhost
    (a DNS name could be rebound to 127.0.0.1 by a hostile site, so it is refused too).
    """
    if method in _SAFE_METHODS:
        return
    fetch_site = headers.get("sec-fetch-site")
    origin = headers.get("origin")
    refused = fetch_site is not None and fetch_site not in ("same-origin", "none")
    if origin is not None:
        host = headers.get("host", "")
        name = urlsplit(f"http://{host}").hostname or ""
        local = name in _LOCAL_HOSTS or name.replace(".", "").isdigit()
        refused = refused or origin != f"http://{host}" or not local
    if refused:
        raise SandboxError(403, "POL0010", "Cross-origin request refused: %1", origin or "")


def index() -> SandboxResponse:
    return _file("index.html")


def _file(name: str) -> SandboxResponse:
    body = resources.files("attsms.sandbox").joinpath("page", name).read_bytes()
    kind = _FILES.get(name, "text/html")
    return SandboxResponse(200, {"Content-Type": f"{kind}; charset=utf-8", **_PAGE_HEADERS}, body)


def _changes(sandbox: Sandbox) -> SandboxResponse:
    return json_response(200, {"version": sandbox.phones.version}, {"Cache-Control": "no-store"})


def _int_param(params: dict[str, list[str]], name: str, default: int, top: int) -> int:
    raw = params.get(name, [str(default)])[-1]
    if not raw.isdigit() or int(raw) > top:
        raise invalid_input(name)
    return int(raw)


def _phones(sandbox: Sandbox, req: _Request) -> SandboxResponse:
    params = parse_qs(req.query)
    query = "".join(c for c in params.get("q", [""])[-1] if c.isdigit())
    offset = _int_param(params, "offset", 0, 10**9)
    limit = _int_param(params, "limit", 50, MAX_PAGE)
    phones, total = sandbox.phones.page(query, offset, limit)
    outcomes = sandbox.state.outcomes
    listing = [
        {
            "address": p.address,
            "number": _e164(p.address),
            "lastActivity": _iso(p.last),
            "received": p.received,
            "sent": p.sent,
            "outcome": outcomes.get(p.address),
        }
        for p in phones
    ]
    registrations = sorted(sandbox.config.registration_ids)
    answer = {"phones": listing, "total": total, "offset": offset, "limit": limit}
    answer |= {"version": sandbox.phones.version, "registrations": registrations}
    return json_response(200, answer, {"Cache-Control": "no-store"})


def _address(number: str) -> str:
    address = normalize(number) or normalize(f"tel:{number}") or normalize_sender(number)
    if address is None:
        raise invalid_input("number")
    return address


def _thread(sandbox: Sandbox, req: _Request, number: str) -> SandboxResponse:
    address = _address(number)
    phone = sandbox.phones.phone(address)
    events = [_event(sandbox, e, req.now) for e in (phone.events if phone else ())]
    answer = {
        "address": address,
        "number": _e164(address),
        "outcome": sandbox.state.outcomes.get(address),
        "numberRule": final_outcome(address),
        "events": events,
        "version": sandbox.phones.version,
    }
    pending = [e["finalAtMs"] for e in events if e.get("finalAtMs") and not e["final"]]
    answer["refreshInMs"] = max(0, min(pending) - int(req.now * 1000)) if pending else None
    return json_response(200, answer, {"Cache-Control": "no-store"})


def _event(sandbox: Sandbox, event: dict[str, Any], now: float) -> dict[str, Any]:
    shown = {k: event[k] for k in ("kind", "messageId", "text")} | {"at": _iso(event["at"])}
    if event["kind"] == "sent":
        return shown | {"to": event["to"], "dateTime": event["dateTime"]}
    bill = billing(event["text"])
    decided_at = event["at"] + sandbox.config.delivery_seconds
    waiting = now < decided_at
    status = "MessageWaiting" if waiting else event["outcome"]
    final = status in FINAL_STATUSES
    lasting = event["outcome"] not in FINAL_STATUSES  # never final: stays as it turns
    shown |= {"encoding": bill.encoding, "segments": bill.segments, "units": bill.units}
    shown |= {"status": status, "final": final, "statusAt": None if waiting else _iso(decided_at)}
    shown |= {"finalStatus": event["outcome"], "finalAtMs": int(decided_at * 1000)}
    shown["finalAt"] = None if lasting else _iso(decided_at)
    return shown


def _outcome(sandbox: Sandbox, req: _Request, number: str) -> SandboxResponse:
    address = _address(number)
    payload = req.body and _json_object(req.body)
    outcome = payload.get("outcome") if isinstance(payload, dict) else None
    if outcome is not None and outcome not in OUTCOMES:
        raise invalid_input("outcome")
    if outcome is None:
        sandbox.state.outcomes.pop(address, None)
    else:
        sandbox.state.outcomes[address] = outcome
    sandbox.phones.changed()
    return json_response(200, {"address": address, "outcome": outcome})


def _json_object(body: bytes) -> dict[str, Any]:
    import json

    try:
        payload = json.loads(body)
    except ValueError:
        raise invalid_input("body") from None
    if not isinstance(payload, dict):
        raise invalid_input("body")
    return payload


def _rules(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [dict(rule) for rule in sandbox.state.faults]


def _e164(address: str) -> str:
    return address.removeprefix("tel:")


def _iso(seconds: float) -> str:
    millis = int(seconds * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
