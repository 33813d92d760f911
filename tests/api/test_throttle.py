"""The throttle (attsms/api/throttle.py) on a fake clock: no sleeps, no threads waiting.

What a run sees: nothing changes until the service says "too fast"; then every start waits for
its Retry-After, fewer requests are in flight and starts are paced; one burst of refusals slows
the run once, not once per refusal; accepted requests win the speed back gradually. Under a
`--rate` ceiling, starts are evenly spaced from the first, and the adaptive rate stays below it.
"""

from __future__ import annotations

import itertools
import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attsms.api.throttle import MIN_RATE, Throttle, ThrottleCancelled, Ticket, parse_rate
from attsms.core.errors import UsageError


class FakeTime:
    """A clock that moves only when something sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def throttle(fake: FakeTime, max_in_flight: int = 8, jitter: float = 1.0) -> Throttle:
    return Throttle(max_in_flight, clock=fake.clock, sleep=fake.sleep, jitter=lambda: jitter)


def start_all(t: Throttle, now: float, n: int) -> list[Ticket]:
    tickets = []
    for _ in range(n):
        assert t.delay(now) == 0.0
        tickets.append(t.begin(now))
    return tickets


def test_until_the_first_rate_limit_nothing_is_held_back(fake: FakeTime) -> None:
    t = throttle(fake, max_in_flight=8)
    tickets = start_all(t, fake.now, 8)  # all at the same instant: no pacing
    assert t.delay(fake.now) is None  # the ninth waits for one to end
    t.accepted(tickets[0], fake.now)
    assert t.delay(fake.now) == 0.0
    assert t.rate is None


def test_a_rate_limit_pauses_for_retry_after_and_halves_window_and_rate(fake: FakeTime) -> None:
    t = throttle(fake, max_in_flight=8)
    now = fake.now
    tickets = start_all(t, now, 8)  # 8 starts in the last second: the rate that tripped it
    wait = t.limited(tickets[0], retry_after=3.0, now=now + 0.1)
    assert wait == pytest.approx(3.0)
    assert (t.window, t.rate) == (4.0, 4.0)
    assert t.delay(now + 0.1) == pytest.approx(3.0)  # every start waits out Retry-After
    assert t.delay(now + 3.1) is None  # 7 still in flight, 4 allowed
    for ticket in tickets[1:5]:
        t.accepted(ticket, now + 3.1)
    assert t.delay(now + 3.1) == 0.0  # 3 in flight now
    started = t.begin(now + 3.1)
    assert t.rate is not None and 4.0 < t.rate < 5.0  # four accepted: a little faster again
    assert t.delay(now + 3.1) == pytest.approx(1 / t.rate)  # the next start is paced
    assert started.started == now + 3.1


def test_one_burst_of_refusals_slows_the_run_once(fake: FakeTime) -> None:
    t = throttle(fake, max_in_flight=8)
    now = fake.now
    tickets = start_all(t, now, 8)
    for ticket in tickets[:6]:  # six answers of the same burst
        t.limited(ticket, retry_after=1.0, now=now + 0.05)
    assert (t.window, t.rate, t.streak) == (4.0, 4.0, 1)
    # A request started after that decrease and refused again: a new round, halved again.
    t.accepted(tickets[6], now + 1.1)
    t.accepted(tickets[7], now + 1.1)
    late = t.begin(now + 1.1)
    t.limited(late, retry_after=1.0, now=now + 1.2)
    assert t.window == pytest.approx((4 + 1 / 4 + 1 / 4.25) / 2)
    assert t.rate == MIN_RATE  # it tripped at 1 start in the last second: half that, floored


def test_the_rate_never_falls_below_the_floor(fake: FakeTime) -> None:
    t = throttle(fake, max_in_flight=1)
    now = fake.now
    for _ in range(10):
        ticket = t.begin(now)
        now += t.limited(ticket, retry_after=0.0, now=now)
    assert t.rate == MIN_RATE
    assert t.window == 1.0  # one request in flight at least, always


def test_without_retry_after_the_pause_backs_off_exponentially(fake: FakeTime) -> None:
    t = throttle(fake, max_in_flight=1, jitter=1.0)  # jitter 1: the full backoff
    now = fake.now
    pauses = []
    for _ in range(7):
        ticket = t.begin(now)
        t.limited(ticket, retry_after=None, now=now)
        pauses.append(t.resume_at - now)
        now = max(t.resume_at, t.next_start)
    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    t.accepted(t.begin(now), now)  # one accepted request: the streak is over
    assert t.streak == 0


def test_the_backoff_is_jittered_down_to_half(fake: FakeTime) -> None:
    t = throttle(fake, max_in_flight=1, jitter=0.0)
    ticket = t.begin(fake.now)
    t.limited(ticket, retry_after=None, now=fake.now)
    assert t.resume_at - fake.now == 0.5


def test_accepted_requests_win_the_speed_back_gradually(fake: FakeTime) -> None:
    t = throttle(fake, max_in_flight=8)
    now = fake.now
    tickets = start_all(t, now, 4)
    t.limited(tickets[0], retry_after=1.0, now=now)  # 4 a second tripped it: now 2 a second
    for ticket in tickets[1:]:
        t.release(ticket)
    assert t.rate == 2.0
    rates = []
    now += 1.0
    for _ in range(40):
        now += t.delay(now) or 0.0
        t.accepted(t.begin(now), now)
        rates.append(t.rate)
    # Up by about RATE_STEP each second, never a jump back to where it tripped.
    assert all(r is None or r > 2.0 for r in rates)
    assert rates[0] is not None and rates[0] < 2.5
    assert rates[-1] is None or rates[-1] > rates[0]
    assert t.window == 8.0  # the window is back to the full pool


def test_the_rate_cap_is_lifted_once_far_above_any_pacing(fake: FakeTime) -> None:
    t = throttle(fake, max_in_flight=2)
    ticket = t.begin(fake.now)
    t.limited(ticket, retry_after=0.0, now=fake.now)
    now = fake.now
    for _ in range(200):
        now += t.delay(now) or 0.0
        t.accepted(t.begin(now), now)
        if t.rate is None:
            break
    assert t.rate is None


def test_acquire_waits_on_the_injected_clock_and_reports_the_answers(fake: FakeTime) -> None:
    t = throttle(fake, max_in_flight=4)
    first = t.acquire()
    wait = t.report(first, limited=True, retry_after=2.0)
    assert wait == pytest.approx(2.0)
    second = t.acquire()  # sleeps 2 s on the fake clock, then starts
    assert fake.sleeps == [pytest.approx(2.0)]
    assert second.started == pytest.approx(1002.0)
    assert t.report(second, accepted=True) == 0.0
    assert (t.in_flight, t.streak) == (0, 0)
    t.report(second)  # reporting twice ends it once
    assert t.in_flight == 0


def test_a_sleep_that_returns_at_once_still_moves_the_throttle_on() -> None:
    slept: list[float] = []
    t = Throttle(4, sleep=slept.append)  # the real clock, a sleep that does not sleep
    t.report(t.acquire(), limited=True, retry_after=30.0)
    t.acquire()  # would spin for 30 s if the throttle trusted only the clock
    assert slept == [pytest.approx(30.0, abs=0.5)]
    assert t.now() >= t.resume_at


def test_threads_wait_for_a_request_in_flight_to_end(fake: FakeTime) -> None:
    t = throttle(fake, max_in_flight=1)
    held = t.acquire()
    started = threading.Event()

    def second() -> None:
        t.acquire()
        started.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not started.wait(0.1)
    t.report(held, accepted=True)
    assert started.wait(5)
    thread.join(5)


def test_cancel_stops_waiting_starts(fake: FakeTime) -> None:
    t = throttle(fake, max_in_flight=1)
    t.acquire()
    failed: list[BaseException] = []

    def waiter() -> None:
        try:
            t.acquire()
        except ThrottleCancelled as error:
            failed.append(error)

    thread = threading.Thread(target=waiter)
    thread.start()
    t.cancel()
    thread.join(5)
    assert len(failed) == 1
    with pytest.raises(ThrottleCancelled):
        t.acquire()


# --- the --rate ceiling (was send.runner.RateLimiter) ------------------------------------


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("10", 10), ("10/s", 10), ("2.5/sec", 2.5), ("300/m", 5), ("300 / min", 5), ("3600/h", 1)],
)
def test_parse_rate(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("text", ["", "fast", "0", "0/s", "-1/s", "10/d", "1e3"])
def test_parse_rate_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--rate"):
        parse_rate(text)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@given(st.floats(0.5, 200), st.integers(1, 60))
def test_rate_limiter_never_starts_more_than_the_rate_in_any_second(
    rate: float, count: int
) -> None:
    clock = FakeClock()
    limiter = Throttle(ceiling=rate, clock=clock.time, sleep=lambda _s: None)
    starts = [limiter.pace() for _ in range(count)]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 1 / rate - 1e-9 for gap in gaps)
    for start in starts:  # any one-second window holds at most `rate` starts (rounded up)
        assert sum(1 for s in starts if start <= s < start + 1 - 1e-9) <= math.ceil(rate)


def test_rate_limiter_spaces_threads_too() -> None:
    limiter = Throttle(ceiling=50)
    starts: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(5):
            start = limiter.pace()
            with lock:
                starts.append(start)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    assert len(starts) == 20
    assert all(b - a >= 0.02 - 1e-9 for a, b in itertools.pairwise(starts))


def test_a_ceiling_paces_from_the_first_start(fake: FakeTime) -> None:
    t = Throttle(8, ceiling=4.0, clock=fake.clock, sleep=fake.sleep)
    t.begin(fake.now)
    assert t.delay(fake.now) == pytest.approx(0.25)  # no burst, even before any rate limit
    assert t.rate is None


def start_all_paced(t: Throttle, now: float, n: int) -> list[Ticket]:
    tickets = []
    for _ in range(n):
        now += t.delay(now) or 0.0
        tickets.append(t.begin(now))
    return tickets


def test_the_adaptive_rate_stays_under_the_ceiling(fake: FakeTime) -> None:
    t = Throttle(8, ceiling=4.0, clock=fake.clock, sleep=fake.sleep, jitter=lambda: 1.0)
    now = fake.now
    tickets = start_all_paced(t, now, 8)  # 8 starts two seconds long: at most 4 a second
    now = tickets[-1].started
    t.limited(tickets[-1], retry_after=0.0, now=now)
    assert t.rate == pytest.approx(
        2.0
    )  # half the ceiling it tripped at, not half of what it measured
    for _ in range(20):
        now += t.delay(now) or 0.0
        t.accepted(t.begin(now), now)
        if t.rate is None:
            break
    assert t.rate is None  # back up to the ceiling: the cap is lifted, the ceiling paces alone
    t.begin(now)
    assert t.delay(now) == pytest.approx(0.25)


def test_pace_holds_no_place_in_flight(fake: FakeTime) -> None:
    t = Throttle(1, ceiling=10.0, clock=fake.clock, sleep=fake.sleep)
    assert [t.pace() for _ in range(3)] == pytest.approx([1000.0, 1000.1, 1000.2])
    assert t.in_flight == 0
    assert fake.sleeps == [pytest.approx(0.1), pytest.approx(0.1)]


@pytest.mark.parametrize("ceiling", [0.0, -1.0])
def test_a_ceiling_must_be_positive(ceiling: float) -> None:
    with pytest.raises(ValueError, match="ceiling"):
        Throttle(ceiling=ceiling)
