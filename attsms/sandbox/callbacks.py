"""Callbacks: the sandbox POSTs what the real service pushes, and retries as it would.

- Delivery status notifications, for sends that asked for `notifyDeliveryStatus`, when a
  recipient's status changes (`delivery_seconds` after the send):
  `{"deliveryInfoNotification": {"messageId", "deliveryInfo": {"address", "deliveryStatus"}}}`.
- Inbound messages, instead of queueing them for pull:
  `{"DateTime", "MessageId", "Message", "SenderAddress", "DestinationAddress"}`.

The bodies are built here from those shapes (AT&T's public sample listeners), not from any client
code. A failed or non-2xx POST is tried again after a bounded exponential backoff, a bounded
number of times, by a few background threads; callback URLs must be loopback ones (the sandbox is
a local test tool, never a way to make this machine POST elsewhere). Stdlib only.
"""

from __future__ import annotations

import heapq
import http.client
import ipaddress
import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

KINDS = ("delivery", "inbound")
COUNTERS = ("queued", "sent", "acknowledged", "retried", "abandoned")


@dataclass(frozen=True)
class CallbackConfig:
    """Where to push, and how hard to try. Backoff doubles from `first_backoff` up to
    `max_backoff`; after `attempts` POSTs or `give_up_after` seconds a callback is abandoned."""

    delivery_url: str | None = None
    inbound_url: str | None = None
    attempts: int = 12
    first_backoff: float = 0.1
    max_backoff: float = 5.0
    give_up_after: float = 120.0
    timeout: float = 10.0
    workers: int = 4

    def __post_init__(self) -> None:
        for url in (self.delivery_url, self.inbound_url):
            if url is not None:
                check_callback_url(url)
        checks = {
            "attempts": self.attempts >= 1,
            "first_backoff": self.first_backoff >= 0,
            "max_backoff": self.max_backoff >= self.first_backoff,
            "give_up_after": self.give_up_after >= 0,
            "timeout": self.timeout > 0,
            "workers": self.workers >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid callback setting: {', '.join(bad)}")

    @property
    def active(self) -> bool:
        return self.delivery_url is not None or self.inbound_url is not None


def check_callback_url(url: str) -> None:
    """ValueError unless `url` is an http:// URL on a loopback address (127.0.0.0/8, ::1,
    localhost)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"callback URL {url!r} is not an http:// URL")
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"callback URL {url!r} is not on a loopback address")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ValueError(f"callback URL {url!r} has an invalid port") from None


def delivery_body(message_id: str, address: str, status: str) -> dict[str, Any]:
    return {
        "deliveryInfoNotification": {
            "messageId": message_id,
            "deliveryInfo": {"address": address, "deliveryStatus": status},
        }
    }


def inbound_body(message: dict[str, Any]) -> dict[str, Any]:
    """The pushed form of a queued inbound message (the inbox list's wire shape)."""
    return {
        "DateTime": message["dateTime"],
        "MessageId": message["messageId"],
        "Message": message["message"],
        "SenderAddress": message["senderAddress"],
        "DestinationAddress": message["destinationAddress"],
    }


@dataclass
class _Job:
    kind: str
    url: str
    body: bytes
    first_due: float
    attempt: int = 0


class Notifier:
    """Background POSTs with retries. `start()` once; `stop()` drops what is still queued."""

    def __init__(self, config: CallbackConfig) -> None:
        self.config = config
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Job]] = []
        self._seq = itertools.count()
        self._in_flight = 0
        self._counts = {kind: dict.fromkeys(COUNTERS, 0) for kind in KINDS}
        self._stopping = False
        self._threads: list[threading.Thread] = []

    # --- what the sandbox calls ----------------------------------------------------------------

    def pushes_inbound(self) -> bool:
        return self.config.inbound_url is not None

    def pushes_delivery(self) -> bool:
        return self.config.delivery_url is not None

    def delivery(self, message_id: str, address: str, status: str, delay: float) -> None:
        if self.config.delivery_url is not None:
            body = delivery_body(message_id, address, status)
            self._queue("delivery", self.config.delivery_url, body, delay)

    def inbound(self, message: dict[str, Any]) -> None:
        if self.config.inbound_url is not None:
            self._queue("inbound", self.config.inbound_url, inbound_body(message), 0.0)

    def stats(self) -> dict[str, Any]:
        with self._cond:
            result: dict[str, Any] = {kind: dict(counts) for kind, counts in self._counts.items()}
            result["pending"] = len(self._heap) + self._in_flight
        return result

    def reset(self) -> None:
        """Forget queued callbacks and counters (POST /sandbox/reset)."""
        with self._cond:
            self._heap.clear()
            self._counts = {kind: dict.fromkeys(COUNTERS, 0) for kind in KINDS}

    def idle(self) -> bool:
        with self._cond:
            return not self._heap and self._in_flight == 0

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Notifier:
        for n in range(self.config.workers):
            thread = threading.Thread(
                target=self._work, name=f"attsms-sandbox-callback-{n}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=self.config.timeout + 1)
        self._threads.clear()

    # --- the workers ---------------------------------------------------------------------------

    def _queue(self, kind: str, url: str, body: dict[str, Any], delay: float) -> None:
        now = time.monotonic()
        job = _Job(kind, url, json.dumps(body).encode("utf-8"), first_due=now + delay)
        with self._cond:
            self._counts[kind]["queued"] += 1
            heapq.heappush(self._heap, (now + delay, next(self._seq), job))
            self._cond.notify()

    def _next(self) -> _Job | None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    self._in_flight += 1
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(None if not self._heap else self._heap[0][0] - now)
        return None

    def _work(self) -> None:
        connections: dict[str, http.client.HTTPConnection] = {}
        while (job := self._next()) is not None:
            ok = self._post(connections, job)
            with self._cond:
                self._in_flight -= 1
                counts = self._counts[job.kind]
                counts["sent"] += 1
                job.attempt += 1
                if ok:
                    counts["acknowledged"] += 1
                    continue
                cfg = self.config
                backoff = min(cfg.max_backoff, cfg.first_backoff * 2 ** (job.attempt - 1))
                due = time.monotonic() + backoff
                if job.attempt >= cfg.attempts or due - job.first_due > cfg.give_up_after:
                    counts["abandoned"] += 1
                    continue
                counts["retried"] += 1
                heapq.heappush(self._heap, (due, next(self._seq), job))
                self._cond.notify()
        for conn in connections.values():
            conn.close()

    def _post(self, connections: dict[str, http.client.HTTPConnection], job: _Job) -> bool:
        parts = urlsplit(job.url)
        netloc = parts.netloc
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for fresh in (False, True):  # a kept-alive connection the receiver closed: once more
            conn = connections.get(netloc)
            if conn is None or fresh:
                if conn is not None:
                    conn.close()
                conn = http.client.HTTPConnection(
                    parts.hostname or "127.0.0.1", parts.port or 80, timeout=self.config.timeout
                )
                connections[netloc] = conn
            try:
                conn.request(
                    "POST",
                    path,
                    body=job.body,
                    headers={"Content-Type": "application/json", "Connection": "keep-alive"},
                )
                response = conn.getresponse()
                response.read()
                if response.will_close:
                    conn.close()
                    connections.pop(netloc, None)
                return 200 <= response.status < 300
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                connections.pop(netloc, None)
                if fresh:
                    return False
            except (OSError, http.client.HTTPException):
                conn.close()
                connections.pop(netloc, None)
                return False
        return False
