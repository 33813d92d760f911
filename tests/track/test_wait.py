"""Waiting for delivery: against the sandbox over HTTP, and the backoff on a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from attsms.api.client import AttClient, RetryPolicy
from attsms.auth.tokens import TokenCache, TokenManager
from attsms.core.errors import ApiError, ExitCode, NetworkError, PartialFailure, TemporaryError
from attsms.core.models import DeliveryInfo, DeliveryStatus
from attsms.sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from attsms.store.history import HistoryStore
from attsms.track.wait import WaitResult, changes, wait_and_record, wait_for_final
from tests.helpers.support import SandboxHttp

StartSandbox = Callable[..., SandboxHttp]

DELIVERED = "tel:+12125550100"  # the sandbox's outcome by digits: 01xx delivered
IMPOSSIBLE = "tel:+12125550901"  # 09xx: DeliveryImpossible
WAITING = "tel:+12125550701"  # 07xx: MessageWaiting for ever


def exit_of(result: WaitResult) -> ExitCode:
    """The exit code a command ends with for `result`, as `cli.main` maps its error."""
    error = result.error()
    return ExitCode.OK if error is None else error.exit_code


@pytest.fixture
def client_for() -> Iterator[Callable[[SandboxHttp], AttClient]]:
    clients: list[AttClient] = []

    def make(server: SandboxHttp) -> AttClient:
        client = AttClient(server.url, retry=RetryPolicy(base_delay=0.01, max_delay=0.02))
        client.tokens = TokenManager(
            client, TokenCache("test"), client_id=DEMO_CLIENT_ID, secret=lambda: DEMO_CLIENT_SECRET
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_waits_until_every_recipient_is_final(
    sandbox_http: StartSandbox, client_for: Callable[[SandboxHttp], AttClient]
) -> None:
    client = client_for(sandbox_http(delivery_seconds=0.3))
    first = client.send([DELIVERED, IMPOSSIBLE], "hi").message_id
    second = client.send(["tel:+12125550801"], "hi").message_id
    seen: list[tuple[str, str, str]] = []

    def on_change(current: DeliveryStatus, previous: DeliveryStatus | None) -> None:
        seen.extend((current.message_id, d.address, d.status) for d in changes(current, previous))

    result = wait_for_final(client, [first, second, first], interval=0.1, on_change=on_change)
    assert not result.timed_out and result.pending_ids == ()
    assert [s.message_id for s in result.statuses] == [first, second]
    assert {(d.address, d.status) for d in result.deliveries} == {
        (DELIVERED, "DeliveredToTerminal"),
        (IMPOSSIBLE, "DeliveryImpossible"),
        ("tel:+12125550801", "DeliveredToNetwork"),
    }
    # Each recipient first seen waiting, then final: every change reported once, in order.
    for address, final in ((DELIVERED, "DeliveredToTerminal"), (IMPOSSIBLE, "DeliveryImpossible")):
        assert [s for m, a, s in seen if a == address] == ["MessageWaiting", final]
    assert exit_of(result) == ExitCode.PARTIAL
    error = result.error()
    assert isinstance(error, PartialFailure) and "1 of 3 recipient(s)" in str(error)


def test_all_delivered_is_exit_0(
    sandbox_http: StartSandbox, client_for: Callable[[SandboxHttp], AttClient]
) -> None:
    client = client_for(sandbox_http(delivery_seconds=0.1))
    message_id = client.send([DELIVERED, "short:12345"], "hi").message_id
    result = wait_for_final(client, [message_id], interval=0.05)
    assert (exit_of(result), result.error()) == (ExitCode.OK, None)


def test_timeout_leaves_pending_and_is_exit_75(
    sandbox_http: StartSandbox, client_for: Callable[[SandboxHttp], AttClient]
) -> None:
    client = client_for(sandbox_http(delivery_seconds=0.05))
    message_id = client.send([DELIVERED, WAITING], "hi").message_id
    result = wait_for_final(client, [message_id], timeout=0.4, interval=0.05)
    assert result.timed_out and result.pending_ids == (message_id,)
    assert 0.4 <= result.waited < 2
    assert [d.address for d in result.not_final] == [WAITING]
    assert exit_of(result) == ExitCode.TEMPFAIL
    error = result.error()
    assert isinstance(error, TemporaryError) and "1 recipient(s) still pending" in str(error)


def test_rate_limited_polls_are_waited_out(
    sandbox_http: StartSandbox, client_for: Callable[[SandboxHttp], AttClient]
) -> None:
    server = sandbox_http(delivery_seconds=0.1)
    client = client_for(server)
    message_id = client.send([DELIVERED], "hi").message_id
    # More 429s than the client retries by itself: the loop must back off and ask again.
    server.faults(
        {
            "method": "GET",
            "path_prefix": "/sms/v3/messaging/outbox/",
            "status": 429,
            "headers": {"Retry-After": "0"},
            "count": 6,
        }
    )
    result = wait_for_final(client, [message_id], timeout=10, interval=0.05)
    assert exit_of(result) == ExitCode.OK
    assert server.stats()["attempts"]["status"] >= 7


def test_an_unknown_message_id_is_raised(
    sandbox_http: StartSandbox, client_for: Callable[[SandboxHttp], AttClient]
) -> None:
    client = client_for(sandbox_http())
    with pytest.raises(ApiError) as caught:
        wait_for_final(client, ["SMSnope"], timeout=5)
    assert caught.value.status == 404


# --- the loop on a fake clock ------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class Scripted:
    """A status client answering from a script: a status string, or an exception to raise."""

    def __init__(self, *answers: str | Exception) -> None:
        self.answers = list(answers)
        self.asked = 0

    def delivery_status(self, message_id: str) -> DeliveryStatus:
        answer = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        if isinstance(answer, Exception):
            raise answer
        return DeliveryStatus(message_id, (DeliveryInfo(DELIVERED, answer),))


def test_polls_back_off_and_never_sleep_past_the_deadline() -> None:
    fake = FakeTime()
    result = wait_for_final(
        Scripted("MessageWaiting"),
        ["m1"],
        timeout=10,
        interval=1,
        max_interval=3,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert fake.sleeps == [1, 1.5, 2.25, 3, 2.25]  # 1.5x each time, capped, cut at the deadline
    assert fake.now == 10 and result.timed_out


def test_retry_after_lengthens_the_wait() -> None:
    fake = FakeTime()
    limited = ApiError("rate limited", status=429, retry_after=7)
    client = Scripted(limited, "DeliveredToTerminal")
    result = wait_for_final(
        client, ["m1"], timeout=60, interval=1, clock=fake.clock, sleep=fake.sleep
    )
    assert fake.sleeps == [7]
    assert exit_of(result) == ExitCode.OK


def test_network_trouble_is_waited_out_until_the_timeout() -> None:
    fake = FakeTime()
    client = Scripted(NetworkError("cannot reach the service"))
    result = wait_for_final(
        client, ["m1"], timeout=5, interval=1, clock=fake.clock, sleep=fake.sleep
    )
    assert result.timed_out and result.statuses == ()
    assert exit_of(result) == ExitCode.TEMPFAIL
    assert "1 message(s) the service did not answer" in str(result.error())


def test_timeout_zero_asks_once() -> None:
    fake = FakeTime()
    client = Scripted("MessageWaiting")
    result = wait_for_final(client, ["m1"], timeout=0, clock=fake.clock, sleep=fake.sleep)
    assert (client.asked, fake.sleeps, result.timed_out) == (1, [], True)


def test_impossible_wins_over_pending() -> None:
    statuses = (
        DeliveryStatus("m1", (DeliveryInfo(DELIVERED, "DeliveryImpossible"),)),
        DeliveryStatus("m2", (DeliveryInfo(WAITING, "MessageWaiting"),)),
    )
    result = WaitResult(statuses=statuses, pending_ids=("m2",), timed_out=True, waited=5)
    assert exit_of(result) == ExitCode.PARTIAL


def test_changes_lists_only_what_moved() -> None:
    before = DeliveryStatus(
        "m1", (DeliveryInfo(DELIVERED, "MessageWaiting"), DeliveryInfo(WAITING, "MessageWaiting"))
    )
    after = DeliveryStatus(
        "m1",
        (DeliveryInfo(DELIVERED, "DeliveredToTerminal"), DeliveryInfo(WAITING, "MessageWaiting")),
    )
    assert changes(after, before) == [DeliveryInfo(DELIVERED, "DeliveredToTerminal")]
    assert changes(after, None) == list(after.deliveries)


# --- wait_and_record: the loop of `send --wait` and `status --wait` ---------------------------


@pytest.fixture
def history() -> Iterator[HistoryStore]:
    with HistoryStore.open() as store:
        store.record_batch(profile="default", message="hi", addresses=[DELIVERED], message_id="m1")
        yield store


def test_each_new_status_is_recorded_before_the_caller_is_told(history: HistoryStore) -> None:
    told: list[tuple[str | None, str]] = []

    def on_change(current: DeliveryStatus, _previous: DeliveryStatus | None) -> None:
        batch = history.get(current.message_id)
        assert batch is not None
        told.append((batch.recipients[0].status, current.deliveries[0].status))

    client = Scripted("MessageWaiting", "MessageWaiting", "DeliveredToTerminal")
    result = wait_and_record(
        client, history, ["m1"], timeout=10, interval=0.01, on_change=on_change
    )
    assert told == [
        ("MessageWaiting", "MessageWaiting"),
        ("DeliveredToTerminal", "DeliveredToTerminal"),
    ]
    assert (client.asked, exit_of(result)) == (3, ExitCode.OK)


def test_a_final_receipt_already_stored_is_not_asked_about(history: HistoryStore) -> None:
    history.update_statuses("m1", [DeliveryInfo(DELIVERED, "DeliveredToTerminal")])
    client = Scripted("MessageWaiting")
    result = wait_and_record(client, history, ["m1"], timeout=10)
    assert client.asked == 0
    assert [d.status for d in result.deliveries] == ["DeliveredToTerminal"]


def test_answers_already_had_stand_for_the_first_round(history: HistoryStore) -> None:
    seen: list[str] = []
    client = Scripted("DeliveredToTerminal")
    waiting = DeliveryStatus("m1", (DeliveryInfo(DELIVERED, "MessageWaiting"),))
    wait_and_record(
        client,
        history,
        ["m1"],
        timeout=10,
        interval=0.01,
        on_change=lambda current, _: seen.append(current.deliveries[0].status),
        answered={"m1": waiting},
    )
    assert client.asked == 1  # the second round only
    assert seen == ["MessageWaiting", "DeliveredToTerminal"]
