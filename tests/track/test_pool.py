"""The one status pool: answers in the order asked, errors as answers, N requests at a time."""

from __future__ import annotations

import threading
import time

from attsms.core.errors import ApiError, AttsmsError
from attsms.core.models import DeliveryInfo, DeliveryStatus
from attsms.track.pool import StatusPool


class Slow:
    """A status client that takes a while per request and counts how many run at once."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.fail = fail
        self.running = 0
        self.most = 0
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def delivery_status(self, message_id: str) -> DeliveryStatus:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
        time.sleep(0.02)
        with self._lock:
            self.running -= 1
        if message_id in self.fail:
            raise ApiError(f"not found: {message_id}", status=404)
        return DeliveryStatus(message_id, (DeliveryInfo("tel:+12125550100", "MessageWaiting"),))


def test_answers_come_in_the_order_asked_with_errors_as_answers() -> None:
    client = Slow(fail=frozenset({"m3"}))
    ids = [f"m{n}" for n in range(10)]
    with StatusPool(client, concurrency=4) as pool:
        answers = list(pool.ask(ids))
    assert [a.message_id for a in answers if isinstance(a, DeliveryStatus)] == [
        m for m in ids if m != "m3"
    ]
    assert isinstance(answers[3], AttsmsError) and "m3" in answers[3].message
    assert 1 < client.most <= 4


def test_the_threads_serve_every_question_until_closed() -> None:
    client = Slow()
    pool = StatusPool(client, concurrency=3)
    for round_ in range(3):
        assert len(list(pool.ask([f"r{round_}m{n}" for n in range(6)]))) == 6
    pool.close()
    assert len(client.threads) <= 3  # the same threads each round, not new ones
    assert all(name.startswith("status") for name in client.threads)


def test_one_id_or_one_at_a_time_asks_in_this_thread() -> None:
    client = Slow()
    with StatusPool(client, concurrency=1) as pool:
        assert len(list(pool.ask(["a", "b", "c"]))) == 3
    with StatusPool(client, concurrency=8) as pool:
        assert len(list(pool.ask(["d"]))) == 1
    assert client.threads == {threading.current_thread().name}
