"""Request pacing, its one owner: the user's fixed cap (`--rate`) and the slow-down when the
service says sends come too fast (429, or 403 POL0001).

The cap is a ceiling: at most N starts a second, evenly spaced from the first (a burst of N at
once would trip the very per-second limit it is there to respect). `parse_rate` reads it.

One `Throttle` belongs to one `AttClient`, and every send thread of a run goes through it, so the
whole run slows down together, not each batch on its own (which only makes the others trip the
limit in its place). It works as TCP's congestion control does (AIMD):

- until the first rate-limit answer it does nothing but the ceiling, if any: no other cap on
  starts, up to `max_in_flight`;
- a rate-limit answer pauses every start for the service's `Retry-After` (or, without one, an
  exponential backoff with jitter), halves how many requests may be in flight, and caps starts a
  second at half the rate that tripped the limit (multiplicative decrease). Answers to requests
  that started before that decrease were part of the same burst and do not halve it again;
- each accepted request adds a little back (additive increase): about one more request in flight
  per round and `RATE_STEP` more starts a second each second, until the cap is lifted again (to
  the ceiling, if any: the adaptive rate never goes above it).

The send runner paces its batch starts under `--rate` with a `Throttle` of its own (`pace`: a start
that holds no place in flight, since the runner's pool bounds its concurrency).

The pure steps (`delay`, `begin`, `limited`, `accepted`) take the time as an argument and are
unit-tested on a fake clock; `acquire`, `report` and `pace` are the thread-safe wrappers.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from attsms.core.errors import UsageError

# Starts a second: the slowest adaptive pacing (longer waits come from Retry-After, or a ceiling
# below it).
MIN_RATE = 1.0
RATE_STEP = 0.5  # starts a second gained per second of accepted requests
BASE_BACKOFF = 1.0  # seconds: the first pause after a rate limit that named no Retry-After
MAX_BACKOFF = 30.0
RECENT = 1.0  # seconds of starts that make up "the rate that tripped the limit"


class ThrottleCancelled(Exception):
    """The client is closing: no request may start any more."""


@dataclass
class Ticket:
    """One request's place in the throttle, from its start to its answer."""

    started: float
    released: bool = False


class Throttle:
    """An adaptive limit on concurrent requests and starts a second, under an optional fixed
    ceiling of starts a second; shared by threads."""

    def __init__(
        self,
        max_in_flight: int = 20,
        *,
        ceiling: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if ceiling is not None and not ceiling > 0:
            raise ValueError("ceiling must be positive")
        self.max_in_flight = max(1, max_in_flight)
        self.window = float(self.max_in_flight)  # requests allowed in flight
        self.ceiling = ceiling  # starts a second, the user's cap; None: none
        self.rate: float | None = None  # starts a second, adaptive; None: no cap but the ceiling
        self.in_flight = 0
        self.resume_at = -math.inf  # nothing starts before this (Retry-After)
        self.next_start = -math.inf  # the pacing under `rate` and `ceiling`
        self.streak = 0  # decreases since the last accepted request
        self.last_decrease = -math.inf
        self._recent: deque[float] = deque()
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._cancelled = False
        self._cond = threading.Condition()
        self._time = -math.inf  # see `now`

    # --- the pure steps (the caller holds the lock, or owns the throttle alone) ---------------

    def delay(self, now: float) -> float | None:
        """Seconds before a request may start: 0 now, None once one in flight ends."""
        timed = max(self.resume_at, self.next_start) - now  # Retry-After, then the pacing
        if timed > 0:
            return timed
        if self.in_flight >= int(self.window):
            return None
        return 0.0

    def begin(self, now: float) -> Ticket:
        self.in_flight += 1
        interval = self._interval()
        if interval is not None:
            self.next_start = now + interval
        self._recent.append(now)
        while self._recent and self._recent[0] < now - RECENT:
            self._recent.popleft()
        return Ticket(started=now)

    def accepted(self, ticket: Ticket, now: float) -> None:
        """The service took the request: end it, and win back a little of the speed."""
        self._end(ticket)
        self.streak = 0
        self.window = min(float(self.max_in_flight), self.window + 1.0 / self.window)
        if self.rate is not None:
            self.rate += RATE_STEP / self.rate
            far = self.rate >= 2 * self.max_in_flight  # far past any pacing
            back = self.ceiling is not None and self.rate >= self.ceiling  # the ceiling paces alone
            if far or back:  # lift the cap
                self.rate = None

    def limited(self, ticket: Ticket, retry_after: float | None, now: float) -> float:
        """The service said "too fast" to this request: end it and slow down. Returns how many
        seconds a start must now wait at least (the pause, or the pacing)."""
        self._end(ticket)
        pause = retry_after
        if ticket.started >= self.last_decrease:  # a new round, not the rest of the same burst
            self.streak += 1
            self.last_decrease = now
            self.window = max(1.0, self.window / 2)
            recent = max(1, sum(1 for t in self._recent if t >= now - RECENT))
            tripped = min(recent / RECENT, self._pace_rate())
            self.rate = max(MIN_RATE, tripped / 2)
            self.next_start = max(self.next_start, ticket.started + 1.0 / self._pace_rate())
            if pause is None:
                longest = min(MAX_BACKOFF, BASE_BACKOFF * 2 ** (self.streak - 1))
                pause = longest * (0.5 + 0.5 * self._jitter())  # spreads clients out
        if pause is not None:
            self.resume_at = max(self.resume_at, now + pause)
        return max(self.resume_at, self.next_start, now) - now

    def _pace_rate(self) -> float:
        """Starts a second the pacing allows: the adaptive rate under the ceiling; inf: any."""
        rate = math.inf if self.rate is None else self.rate
        return rate if self.ceiling is None else min(rate, self.ceiling)

    def _interval(self) -> float | None:
        """Seconds from one start to the next; None: starts are not paced."""
        rate = self._pace_rate()
        return None if rate == math.inf else 1.0 / rate

    def release(self, ticket: Ticket) -> None:
        """The request ended without saying anything about the rate (an error, a timeout)."""
        self._end(ticket)

    def _end(self, ticket: Ticket) -> None:
        if not ticket.released:
            ticket.released = True
            self.in_flight -= 1

    # --- the blocking wrappers ----------------------------------------------------------------

    def now(self) -> float:
        """The throttle's time: the clock, but never before the end of a wait it slept. A sleep
        is trusted to have slept (time.sleep does), so an injected one that returns at once
        moves this time on instead of making waiters spin on a clock that did not move."""
        with self._cond:
            return self._now()

    def _now(self) -> float:
        self._time = max(self._time, self._clock())
        return self._time

    def acquire(self) -> Ticket:
        """Wait until a request may start, and start it."""
        with self._cond:
            return self._acquire()

    def pace(self) -> float:
        """Wait for the next start the pacing allows, and take it without a place in flight: for
        a caller that bounds its own concurrency (the send runner's pool under `--rate`). Returns
        when it started, on the throttle's time."""
        with self._cond:
            ticket = self._acquire()
            self._end(ticket)
            self._cond.notify_all()
            return ticket.started

    def _acquire(self) -> Ticket:
        """`acquire`, the lock held (it is let go while sleeping)."""
        while True:
            if self._cancelled:
                raise ThrottleCancelled
            now = self._now()
            wait = self.delay(now)
            if wait == 0.0:
                return self.begin(now)
            if wait is None:
                self._cond.wait()  # until a request in flight ends
                continue
            # Outside the lock: others may end requests (or see the same pause) meanwhile.
            self._cond.release()
            try:
                self._sleep(wait)
            finally:
                self._cond.acquire()
            self._time = max(self._time, now + wait)

    def report(
        self,
        ticket: Ticket,
        *,
        accepted: bool = False,
        limited: bool = False,
        retry_after: float | None = None,
    ) -> float:
        """End `ticket` with what its answer said; returns the wait `limited` gives (else 0)."""
        with self._cond:
            try:
                now = self._now()
                if limited:
                    return self.limited(ticket, retry_after, now)
                if accepted:
                    self.accepted(ticket, now)
                else:
                    self.release(ticket)
                return 0.0
            finally:
                self._cond.notify_all()

    def cancel(self) -> None:
        """Make every waiting and later `acquire` raise ThrottleCancelled."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()


_RATE = re.compile(
    r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*",
    re.IGNORECASE,
)
_PER = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0}
_PER |= {"h": 3600.0, "hour": 3600.0}


def parse_rate(text: str) -> float:
    """Requests per second from `10`, `10/s`, `300/m`, `1000/h`: the `--rate` ceiling."""
    match = _RATE.fullmatch(text)
    rate = float(match.group(1)) / _PER[(match.group(2) or "s").lower()] if match else 0.0
    if not rate > 0:
        raise UsageError(
            f"invalid --rate {text!r}", hint="give requests per second or minute, e.g. 10/s, 300/m"
        )
    return rate
