"""The sandbox core: a stateful emulator of the AT&T SMS API behind one call, `Sandbox.handle`.

AT&T endpoints (spec: att-sms-api.openapi.yaml):
    POST /oauth/v4/token                      form: client_credentials or refresh_token grant
    POST /oauth/v4/revoke                     form: token, token_type_hint, client_id/secret
    POST /sms/v3/messaging/outbox             send (Bearer token)
    GET  /sms/v3/messaging/outbox/{id}        delivery status (Bearer token)
    GET  /sms/v3/messaging/inbox/{regId}      inbound batch; returned messages are removed

Sandbox-only endpoints (no auth, never faulted or delayed, JSON in and out):
    POST   /sandbox/inbox/{regId}   {"from": "+1…", "text": "…", "count": 1}
                                    -> {"injected": n, "pending": total}
    GET    /sandbox/stats           counters by operation, send requests, messages per address
    GET    /sandbox/outbox          what was accepted: message id, address, text per recipient
    POST   /sandbox/faults          {"rules": [rule, …]}: queue canned answers (faults.py)
    DELETE /sandbox/faults          drop queued rules
    POST   /sandbox/reset           forget everything
    GET    /  and /sandbox/phones…  the page of the phones (pageapi.py, docs/sandbox.md)

Errors always come in the spec's shape, {"RequestError": {"ServiceException"|"PolicyException":
{"MessageId", "Text", "Variables"}}}, with `%1` in Text filled by Variables. docs/sandbox.md lists
every rule (address forms, delivery outcomes by digits, retention, faults).
"""

from __future__ import annotations

import hmac
import json
import math
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from attsms.sandbox import pageapi
from attsms.sandbox.addresses import FINAL_STATUSES, final_outcome, normalize, normalize_sender
from attsms.sandbox.config import SandboxConfig
from attsms.sandbox.dialects import delivery_status_body, inbox_body
from attsms.sandbox.faults import fault_answer, parse_fault_rule
from attsms.sandbox.phones import PhoneBook
from attsms.sandbox.responses import (
    JSON_TYPE,
    SandboxError,
    SandboxResponse,
    bad_value,
    invalid_input,
    json_response,
    no_resources,
    not_found,
    unauthorized,
)
from attsms.sandbox.state import ExpiryPair, PruneCutoffs, SandboxState, StateStore

if TYPE_CHECKING:
    from attsms.sandbox.callbacks import Notifier

__all__ = ["Sandbox", "SandboxError", "SandboxResponse"]

MAX_ADDRESSES = 50
MAX_MESSAGE_BYTES = 4096
MAX_INJECT = 10_000
# The network retried undelivered messages for up to 72 hours; after that status is gone too.
UNDELIVERED_RETENTION_SECONDS = 72 * 3600
# Bounds the state file when a client (wrongly) fetches a token for every call.
MAX_TOKENS = 1000
# Bounds the outbox (and the state file holding it); the oldest entries go first.
MAX_OUTBOX = 100_000

FORM_TYPE = "application/x-www-form-urlencoded"


def _expired(record: Mapping[str, Any], now: float) -> bool:
    expires_at = record["expires_at"]
    return expires_at is not None and now >= expires_at


def _expiry(now: float, lifetime: int) -> float | None:
    return None if lifetime == 0 else now + lifetime


def callback_stats(notifier: Notifier | None) -> dict[str, Any]:
    """The callback counters for /sandbox/stats; zeros when this sandbox pushes nothing."""
    if notifier is not None:
        return notifier.stats()
    from attsms.sandbox.callbacks import COUNTERS, KINDS

    zeros: dict[str, Any] = {kind: dict.fromkeys(COUNTERS, 0) for kind in KINDS}
    zeros["pending"] = 0
    return zeros


def _utf8_ok(text: str) -> bool:
    # JSON may carry lone surrogates; they are not text and cannot be stored or sent.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str
    now: float
    query: str = ""


Handler = Callable[..., SandboxResponse]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    operation: str = ""  # the stats counter; none for sandbox-only endpoints


class Sandbox:
    """The emulator. Thread-safe; `state` is plain data that a caller may persist and reload."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        state: StateStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config if config is not None else SandboxConfig()
        self.state: StateStore = state if state is not None else SandboxState()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # Set by the HTTP server when it pushes callbacks; a state file cannot push.
        self.notifier: Notifier | None = None
        self._last_prune = -math.inf
        # What the page shows (phones.py): in memory, for the served sandbox.
        self.phones = PhoneBook()
        seg = r"([^/]+)"
        self._api_routes = [
            _Route("POST", re.compile(r"/oauth/v4/token"), self._token, "token"),
            _Route("POST", re.compile(r"/oauth/v4/revoke"), self._revoke, "revoke"),
            _Route("POST", re.compile(r"/sms/v3/messaging/outbox"), self._send, "send"),
            _Route("GET", re.compile(rf"/sms/v3/messaging/outbox/{seg}"), self._status, "status"),
            _Route("GET", re.compile(rf"/sms/v3/messaging/inbox/{seg}"), self._inbox, "inbox"),
        ]
        self._sandbox_routes = [
            _Route("POST", re.compile(rf"/sandbox/inbox/{seg}"), self._inject),
            _Route("GET", re.compile(r"/sandbox/stats"), self._stats),
            _Route("GET", re.compile(r"/sandbox/outbox"), self._outbox),
            _Route("POST", re.compile(r"/sandbox/faults"), self._set_faults),
            _Route("DELETE", re.compile(r"/sandbox/faults"), self._clear_faults),
            _Route("POST", re.compile(r"/sandbox/reset"), self._reset),
            *[_Route(m, re.compile(p), h) for m, p, h in pageapi.routes(self)],
        ]

    # --- entry points -------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        scheme: str = "http",
    ) -> SandboxResponse:
        """Answer one request, sleeping for latency and fault delays after releasing the lock."""
        resp = self.process(method, target, headers, body, scheme=scheme)
        if resp.delay > 0:
            self._sleep(resp.delay)
        return resp

    def process(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        scheme: str = "http",
    ) -> SandboxResponse:
        """Answer one request without sleeping; the caller honours `delay` and `drop_connection`."""
        lower = {k.lower(): v for k, v in headers.items()}
        base_url = f"{scheme}://{lower.get('host', 'localhost')}"
        path, query = urlsplit(target)[2:4]
        if path == "/" and method.upper() == "GET":
            return pageapi.index()
        with self._lock:
            now = self._clock()
            # At most once a (clock) second: the server sees many requests, the file transport
            # builds a new Sandbox each time and so prunes before every save.
            if now - self._last_prune >= 1.0:
                self.prune(now)
            req = _Request(method.upper(), path, lower, body, base_url, now, query)
            if path.startswith("/sandbox/"):
                try:
                    pageapi.check_origin(req.method, lower)
                    route, args = self._route(self._sandbox_routes, req)
                    return route.handler(req, *args)
                except SandboxError as err:
                    return err.response()
            resp = self._api_call(req)
        resp.delay += self.config.latency_ms / 1000
        return resp

    def prune(self, now: float | None = None) -> None:
        """Forget what can no longer be asked for: expired statuses and tokens."""
        now = self._clock() if now is None else now
        self._last_prune = now
        cfg = self.config
        self.state.prune(
            PruneCutoffs(
                now=now,
                final_sent_before=now - cfg.delivery_seconds - cfg.status_retention_seconds,
                waiting_sent_before=now - UNDELIVERED_RETENTION_SECONDS,
                max_tokens=MAX_TOKENS,
            )
        )

    # --- dispatch -----------------------------------------------------------------------------

    def _route(self, routes: list[_Route], req: _Request) -> tuple[_Route, list[str]]:
        allowed = []
        for route in routes:
            if m := route.pattern.fullmatch(req.path):
                if route.method == req.method:
                    return route, [unquote(g) for g in m.groups()]
                allowed.append(route.method)
        if allowed:
            raise SandboxError(
                405,
                "SVC0001",
                "Method not allowed: %1",
                f"{req.method} {req.path}",
                headers={"Allow": ", ".join(allowed)},
            )
        raise not_found(f"{req.method} {req.path}")

    def _api_call(self, req: _Request) -> SandboxResponse:
        try:
            route, args = self._route(self._api_routes, req)
        except SandboxError as err:
            return err.response()
        operation = route.operation
        if operation == "token" and self._form_fields(req).get("grant_type") == "refresh_token":
            operation = "refresh"
        self._count("attempts", operation)
        rule = self._take_fault(req)
        if rule is not None and not rule["after_processing"]:
            return fault_answer(rule, None)
        try:
            # Limits and random failures answer before any state change, so a retry is safe.
            self._check_rate(req.now)
            self._check_random_failure()
            resp = route.handler(req, *args)
        except SandboxError as err:
            resp = err.response()
        if 200 <= resp.status < 300:
            self._count("operations", operation)
        return resp if rule is None else fault_answer(rule, resp)

    def _count(self, kind: str, operation: str) -> None:
        counts = self.state.stats[kind]
        counts[operation] = counts.get(operation, 0) + 1

    # --- randomness ---------------------------------------------------------------------------

    def _random(self, purpose: str, index: int) -> random.Random:
        # One generator per draw, derived from (seed, purpose, index): the only randomness state
        # to persist is a counter, so separate processes sharing a state file never repeat an id
        # and a seeded sandbox answers the same in-process and over HTTP.
        seed = self.config.seed
        if seed is None:
            return random.Random(secrets.randbits(128))
        return random.Random(f"{seed}:{purpose}:{index}")

    def _hex(self, nbytes: int) -> str:
        if self.config.seed is None:
            return secrets.token_hex(nbytes)
        self.state.draws += 1
        return f"{self._random('id', self.state.draws).getrandbits(nbytes * 8):0{nbytes * 2}x}"

    # --- faults and limits --------------------------------------------------------------------

    def _take_fault(self, req: _Request) -> dict[str, Any] | None:
        for rule in self.state.faults:
            if rule["method"] in ("*", req.method) and req.path.startswith(rule["path_prefix"]):
                rule["count"] -= 1
                if rule["count"] <= 0:
                    self.state.faults.remove(rule)
                return rule
        return None

    def _check_rate(self, now: float) -> None:
        limit = self.config.rate_limit
        if not limit:
            return
        window = math.floor(now)
        rate = self.state.rate
        if rate["window"] != window:
            rate["window"], rate["count"] = window, 0
        rate["count"] += 1
        if rate["count"] > limit:
            retry_after = max(1, math.ceil(window + 1 - now))
            raise SandboxError(
                429,
                "POL0001",
                "Rate limit exceeded: more than %1 requests per second",
                str(limit),
                headers={"Retry-After": str(retry_after)},
            )

    def _check_random_failure(self) -> None:
        self.state.requests += 1
        rate = self.config.fail_rate
        if rate and self._random("fail", self.state.requests).random() < rate:
            raise no_resources()

    # --- OAuth --------------------------------------------------------------------------------

    def _form_fields(self, req: _Request) -> dict[str, str]:
        try:
            return dict(parse_qsl(req.body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return {}

    def _form(self, req: _Request) -> dict[str, str]:
        if not req.headers.get("content-type", "").lower().startswith(FORM_TYPE):
            raise invalid_input("Content-Type")
        return self._form_fields(req)

    def _check_client(self, form: Mapping[str, str]) -> None:
        for name in ("client_id", "client_secret"):
            if not form.get(name):
                raise invalid_input(name)
        cfg = self.config
        id_ok = hmac.compare_digest(form["client_id"].encode(), cfg.client_id.encode())
        secret_ok = hmac.compare_digest(form["client_secret"].encode(), cfg.client_secret.encode())
        if not (id_ok and secret_ok):
            raise SandboxError(
                401, "SVC0001", "Invalid client credentials for %1", form["client_id"]
            )

    def _token(self, req: _Request) -> SandboxResponse:
        form = self._form(req)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise invalid_input("grant_type")
        if grant_type not in ("client_credentials", "refresh_token"):
            raise bad_value("grant_type")
        self._check_client(form)
        if grant_type == "client_credentials":
            scope = form.get("scope", "").strip()
            if not scope:
                raise invalid_input("scope")
            # The spec says space-separated; AT&T's own samples used commas.
            if "SMS" not in re.split(r"[\s,]+", scope):
                raise SandboxError(403, "POL1009", "The app is not provisioned for scope %1", scope)
            grant = self._hex(8)
        else:
            old = form.get("refresh_token")
            if not old:
                raise invalid_input("refresh_token")
            record = self.state.take_refresh_token(old)  # rotation: usable once
            if record is None or _expired(record, req.now):
                raise unauthorized("refresh token")
            grant = record["grant"]
        return self._issue(grant, req.now)

    def _issue(self, grant: str, now: float) -> SandboxResponse:
        cfg = self.config
        access, refresh = self._hex(16), self._hex(16)
        expiries = ExpiryPair(_expiry(now, cfg.token_lifetime), _expiry(now, cfg.refresh_lifetime))
        self.state.add_tokens(access, refresh, grant, expiries)
        payload = {
            "access_token": access,
            "token_type": "BEARER",
            "expires_in": cfg.token_lifetime,
            "refresh_token": refresh,
        }
        return json_response(200, payload, {"Cache-Control": "no-store"})

    def _revoke(self, req: _Request) -> SandboxResponse:
        form = self._form(req)
        self._check_client(form)
        token = form.get("token")
        if not token:
            raise invalid_input("token")
        if form.get("token_type_hint", "access_token") not in ("access_token", "refresh_token"):
            raise bad_value("token_type_hint")
        # The hint is only a hint (RFC 7009): look in both places. Unknown tokens are not an error.
        # Revoking a refresh token ends the whole grant, its access tokens included.
        self.state.revoke(token)
        return json_response(200, {})

    def _authorize(self, req: _Request) -> None:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        record = self.state.access_token(token.strip()) if scheme.lower() == "bearer" else None
        if record is None or _expired(record, req.now):
            raise unauthorized("access token")

    # --- SMS ----------------------------------------------------------------------------------

    def _json_body(self, req: _Request, part: str) -> Any:
        if not req.headers.get("content-type", "").lower().startswith(JSON_TYPE):
            raise invalid_input("Content-Type")
        try:
            return json.loads(req.body)
        except ValueError:
            raise invalid_input(part) from None

    def _send(self, req: _Request) -> SandboxResponse:
        self._authorize(req)
        addresses, message, notify = self._outbound(req)
        valid = _checked_addresses(addresses)
        if not message:
            raise invalid_input("message")
        if len(message.encode("utf-8")) > MAX_MESSAGE_BYTES:
            raise SandboxError(
                400, "SVC0280", "Message too long. Allowed length is %1", str(MAX_MESSAGE_BYTES)
            )
        message_id = f"SMS{self._hex(8)}"
        self._record_send(message_id, valid, message, notify, req.now)
        url = f"{req.base_url}/sms/v3/messaging/outbox/{message_id}"
        response = {"messageId": message_id, "resourceReference": {"resourceURL": url}}
        return json_response(201, {"outboundSMSResponse": response})

    def _outbound(self, req: _Request) -> tuple[list[str], str, bool]:
        """The addresses, message and notifyDeliveryStatus of a send, each of the right type."""
        payload = self._json_body(req, "outboundSMSRequest")
        outbound = payload.get("outboundSMSRequest") if isinstance(payload, dict) else None
        if not isinstance(outbound, dict):
            raise invalid_input("outboundSMSRequest")
        addresses = outbound.get("address")
        if isinstance(addresses, str):  # the service took a lone address as well as a list
            addresses = [addresses]
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
            raise invalid_input("address")
        message = outbound.get("message")
        if not isinstance(message, str) or not _utf8_ok(message):
            raise invalid_input("message")
        notify = outbound.get("notifyDeliveryStatus", False)
        if not isinstance(notify, bool):
            raise invalid_input("notifyDeliveryStatus")
        return addresses, message, notify

    def _record_send(
        self, message_id: str, valid: list[str], message: str, notify: bool, now: float
    ) -> None:
        """The message, each recipient's count and outbox entry, and its receipts to push."""
        chosen = self.state.outcomes
        outcomes = {a: chosen.get(a) or final_outcome(a) for a in valid}
        record = {
            "sent_at": now,
            "addresses": valid,
            "message": message,
            "notify": notify,
            # Worked out once: `prune` asks it of every message every second.
            "final": all(o in FINAL_STATUSES for o in outcomes.values()),
            # A phone's outcome set on the page, chosen at send time over the number's rule.
            "outcomes": {a: o for a, o in outcomes.items() if a in chosen},
        }
        self.state.add_message(message_id, record)
        self.state.add_recipients(message_id, valid, message, now, MAX_OUTBOX)
        self.phones.received_all(message_id, message, now, outcomes)
        if self.notifier is not None and notify:
            for address, outcome in outcomes.items():
                if outcome != "MessageWaiting":  # 07xx never changes: nothing to tell
                    self.notifier.delivery(
                        message_id, address, outcome, delay=self.config.delivery_seconds
                    )

    def _delivery_status(self, msg: Mapping[str, Any], address: str, now: float) -> str:
        if now < msg["sent_at"] + self.config.delivery_seconds:
            return "MessageWaiting"
        return str(msg.get("outcomes", {}).get(address) or final_outcome(address))

    def _gone(self, msg: Mapping[str, Any], now: float) -> bool:
        sent_at: float = msg["sent_at"]
        final = msg.get("final")  # absent from a state file written before it was kept
        if final is None:
            final = all(final_outcome(a) in FINAL_STATUSES for a in msg["addresses"])
        if final:
            final_at = sent_at + self.config.delivery_seconds
            return now - final_at > self.config.status_retention_seconds
        return now - sent_at > UNDELIVERED_RETENTION_SECONDS

    def _status(self, req: _Request, message_id: str) -> SandboxResponse:
        self._authorize(req)
        msg = self.state.message(message_id)
        if msg is None or self._gone(msg, req.now):
            raise not_found(f"message {message_id}")
        statuses = [(a, self._delivery_status(msg, a, req.now)) for a in msg["addresses"]]
        url = f"{req.base_url}/sms/v3/messaging/outbox/{message_id}"
        return json_response(
            200, delivery_status_body(self.config.dialect, message_id, statuses, url)
        )

    def _known_registration(self, registration_id: str) -> bool:
        return registration_id in self.config.registration_ids or self.state.has_inbox(
            registration_id
        )

    def _inbox(self, req: _Request, registration_id: str) -> SandboxResponse:
        self._authorize(req)
        if not self._known_registration(registration_id):
            raise not_found(f"registration {registration_id}")
        # Returned means gone, as on the real service.
        batch, left = self.state.take_inbox(registration_id, self.config.inbox_batch_size)
        url = f"{req.base_url}/sms/v3/messaging/inbox/{registration_id}"
        return json_response(200, inbox_body(self.config.dialect, batch, left, url))

    # --- sandbox-only -------------------------------------------------------------------------

    def _sandbox_body(self, req: _Request) -> dict[str, Any]:
        # No Content-Type demanded here: these are for people with curl as much as for tests.
        if not req.body.strip():
            return {}
        try:
            payload = json.loads(req.body)
        except ValueError:
            raise invalid_input("body") from None
        if not isinstance(payload, dict):
            raise invalid_input("body")
        return payload

    def _inject(self, req: _Request, registration_id: str) -> SandboxResponse:
        payload = self._sandbox_body(req)
        sender = payload.get("from")
        address = normalize_sender(sender) if isinstance(sender, str) else None
        if address is None:
            raise invalid_input("from")
        text = payload.get("text")
        if not isinstance(text, str) or not _utf8_ok(text):
            raise invalid_input("text")
        count = payload.get("count", 1)
        if type(count) is not int or not 1 <= count <= MAX_INJECT:
            raise invalid_input("count")
        when = payload.get("at", _date_time(req.now))
        if not isinstance(when, str):  # the time the person texted; any text (tests send junk)
            raise invalid_input("at")
        push = self.notifier is not None and self.notifier.pushes_inbound()
        queued = []
        for n in range(1, count + 1):
            message = {
                "messageId": f"MSG{self._hex(8)}",
                "message": f"{text} #{n}" if count > 1 else text,
                "senderAddress": address,
                "destinationAddress": registration_id,
                "dateTime": when,
            }
            self.phones.sent(address, message, req.now)
            if push:
                assert self.notifier is not None
                self.notifier.inbound(message)  # pushed instead of queued for pull
            else:
                queued.append(message)
        # Adding none still creates the registration, as injecting always did.
        pending = self.state.add_inbox(registration_id, queued)
        answer = {"injected": count, "pending": pending}
        if push:
            answer["pushed"] = count
        return json_response(200, answer)

    def _stats(self, req: _Request) -> SandboxResponse:
        stats = self.state.stats
        return json_response(
            200,
            {
                "operations": stats["operations"],
                "attempts": stats["attempts"],
                "send_requests": stats["attempts"].get("send", 0),
                "delivered_to": self.state.delivered_to(),
                "callbacks": callback_stats(self.notifier),
            },
        )

    def _outbox(self, req: _Request) -> SandboxResponse:
        entries = [
            {
                "messageId": entry["messageId"],
                "address": entry["address"],
                "message": entry["message"],
                "sentAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry["sent_at"])),
            }
            for entry in self.state.outbox_entries()
        ]
        return json_response(200, {"outbox": entries, "total": len(entries)})

    def _set_faults(self, req: _Request) -> SandboxResponse:
        rules = self._sandbox_body(req).get("rules")
        if not isinstance(rules, list):
            raise invalid_input("rules")
        parsed = [parse_fault_rule(rule) for rule in rules]  # all or nothing
        self.state.faults.extend(parsed)
        self.phones.changed()
        return json_response(200, {"queued": len(self.state.faults)})

    def _clear_faults(self, req: _Request) -> SandboxResponse:
        cleared = len(self.state.faults)
        self.state.faults.clear()
        self.phones.changed()
        return json_response(200, {"cleared": cleared})

    def _reset(self, req: _Request) -> SandboxResponse:
        self.state.clear()
        self.phones.clear()
        if self.notifier is not None:
            self.notifier.reset()
        return json_response(200, {"reset": True})


def _checked_addresses(addresses: list[str]) -> list[str]:
    """The recipients in canonical form, refused as the service refuses them: too many (POL0003),
    none valid (SVC0004), some invalid (SVC0002 naming them), one twice (POL0013)."""
    if len(addresses) > MAX_ADDRESSES:
        raise SandboxError(
            400, "POL0003", "Too many addresses specified in message part %1", "address"
        )
    canonical = [normalize(a) for a in addresses]
    invalid = [a for a, c in zip(addresses, canonical, strict=True) if c is None]
    if len(invalid) == len(addresses):  # also the empty list
        raise SandboxError(
            400, "SVC0004", "No valid addresses provided in message part %1", "address"
        )
    if invalid:
        raise invalid_input(", ".join(invalid))
    valid = [c for c in canonical if c is not None]
    duplicated = sorted(a for a, n in Counter(valid).items() if n > 1)
    if duplicated:
        raise SandboxError(400, "POL0013", "Duplicated addresses: %1", ", ".join(duplicated))
    return valid


def _date_time(now: float) -> str:
    """`now` as the service's DateTime, to the millisecond: a STOP and a START injected in one
    second keep their order, as a person's two texts would."""
    millis = int(now * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{millis:03d}Z"
