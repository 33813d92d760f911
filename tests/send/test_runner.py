"""The sending core without the CLI: rate cap, thread pool, outcomes, input rules."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from attsms.auth.session import timeout_from_env
from attsms.core.errors import (
    ApiError,
    ExitCode,
    NetworkError,
    StoreError,
    UnknownOutcomeError,
    UsageError,
)
from attsms.core.models import SendResult
from attsms.send.input import read_input
from attsms.send.plan import SendPlan, describe_characters, plan_send
from attsms.send.results import ACCEPTED, FAILED, UNKNOWN
from attsms.send.runner import SendOptions, send_batches
from attsms.store.history import HistoryStore


@pytest.fixture
def store() -> Iterator[HistoryStore]:
    with HistoryStore.open() as opened:
        yield opened


def plan(count: int, message: str = "hi") -> SendPlan:
    return SendPlan(tuple(f"tel:+1212{2000000 + i:07d}" for i in range(count)), message)


class FakeClient:
    """Records calls and how many overlap; `fail[n]` is raised by the n-th call."""

    def __init__(
        self, delay: float = 0.0, fail: dict[int, Exception] | None = None, fill: int = 0
    ) -> None:
        self.delay = delay
        self.fail = fail or {}
        # A call waits (up to 5 s) until `fill` calls are in flight at once: a pool that really
        # runs that many reaches its peak however slowly its threads start on a loaded machine.
        self.fill = fill
        self.calls: list[tuple[str, ...]] = []
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Condition()

    def send(self, addresses: Sequence[str], message: str, *, notify: bool = False) -> SendResult:
        with self._lock:
            number = len(self.calls)
            self.calls.append(tuple(addresses))
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self._lock.notify_all()
            if self.fill:
                self._lock.wait_for(lambda: self.peak >= self.fill, timeout=5)
        try:
            time.sleep(self.delay)
            if number in self.fail:
                raise self.fail[number]
            return SendResult(f"m{number}", tuple(addresses))
        finally:
            with self._lock:
                self.in_flight -= 1


# --- the thread pool ----------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_concurrency_is_respected(store: HistoryStore, concurrency: int) -> None:
    client = FakeClient(delay=0.03, fill=concurrency)
    report = send_batches(
        client, store, plan(500), profile="p", options=SendOptions(concurrency=concurrency)
    )
    assert client.peak == concurrency  # ten batches: enough to fill every slot, never more
    assert sorted(client.calls) == sorted(plan(500).batches)
    assert [o.result for o in report.outcomes] == [ACCEPTED] * 10
    assert [o.number for o in report.outcomes] == list(range(10))
    assert report.error() is None


def test_rate_cap_with_threads(store: HistoryStore) -> None:
    client = FakeClient()
    started = time.monotonic()
    send_batches(client, store, plan(300), profile="p", options=SendOptions(rate=20))
    assert time.monotonic() - started >= 5 / 20 - 0.01


def test_outcomes_per_batch_and_the_exit_they_make(store: HistoryStore) -> None:
    client = FakeClient(
        fail={
            1: ApiError("refused", status=400, code="SVC0002"),
            2: UnknownOutcomeError("no answer"),
            3: RuntimeError("odd httpx error"),
        }
    )
    report = send_batches(client, store, plan(250), profile="p", options=SendOptions(concurrency=1))
    assert [o.result for o in report.outcomes] == [ACCEPTED, FAILED, UNKNOWN, UNKNOWN, ACCEPTED]
    assert report.count(ACCEPTED) == 100 and report.count(UNKNOWN) == 100
    error = report.error()
    assert error is not None and error.exit_code == ExitCode.UNKNOWN_OUTCOME  # 5 wins over 4
    assert "1 more failed" in str(error)
    by_batch = {b.batch_number: b for b in store.recent(limit=None)}
    assert {n: b.outcome for n, b in by_batch.items()} == {
        0: "accepted",
        1: "failed",
        2: "unknown",
        3: "unknown",
        4: "accepted",
    }
    assert by_batch[3].error is not None and "RuntimeError" in by_batch[3].error


def test_failed_batches_alone_are_exit_4(store: HistoryStore) -> None:
    client = FakeClient(fail={0: NetworkError("cannot reach")})
    report = send_batches(client, store, plan(100), profile="p", options=SendOptions(concurrency=1))
    error = report.error()
    assert error is not None and error.exit_code == ExitCode.PARTIAL
    assert "--dedupe-key" in str(error)


def test_auth_refusal_stops_batches_not_yet_started(store: HistoryStore) -> None:
    refused = ApiError("app suspended", status=403, code="POL1010")
    client = FakeClient(delay=0.02, fail={0: refused})
    report = send_batches(
        client, store, plan(1000), profile="p", options=SendOptions(concurrency=2)
    )
    assert len(client.calls) <= 3  # the refused one, and what was already in flight
    assert report.nothing_went or report.count(ACCEPTED) <= 100
    assert report.count(FAILED) >= 900
    assert all(o.error is refused for o in report.outcomes if o.result == FAILED and not o.sent)


def test_a_batch_that_cannot_be_recorded_is_not_sent(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(store, "write_journal", broken)
    client = FakeClient()
    report = send_batches(client, store, plan(60), profile="p")
    assert client.calls == []
    assert report.nothing_went
    error = report.error()
    assert isinstance(error, StoreError)


def test_prepare_runs_once_and_only_when_something_is_sent(store: HistoryStore) -> None:
    prepared: list[int] = []
    options = SendOptions(dedupe_key="k")
    for run in (1, 2):
        send_batches(
            FakeClient(),
            store,
            plan(60),
            profile="p",
            options=options,
            prepare=lambda run=run: prepared.append(run),  # type: ignore[misc]
        )
    assert prepared == [1]  # the second run found both batches already sent


# --- input -----------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_message_on_a_terminal_says_how_to_give_one() -> None:
    with pytest.raises(UsageError) as caught:
        read_input(["+12125550100"], stdin=Terminal())
    assert "-m TEXT" in str(caught.value) and "--message-file" in str(caught.value)


def test_message_from_piped_stdin_loses_trailing_newlines_only() -> None:
    given_input = read_input(["+12125550100"], stdin=io.StringIO("  hi\n\nthere \r\n"))
    assert given_input.message == "  hi\n\nthere "


def test_message_file_bom_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "m.txt"
    path.write_bytes(b"\xef\xbb\xbfhello\n")
    assert read_input(["+12125550100"], message_file=str(path)).message == "hello"


def test_plan_fingerprint_names_the_text_and_the_set_of_recipients() -> None:
    one = plan_send(["2125550100", "2125550101"], "hi")
    assert one.fingerprint == plan_send(["+1 212 555 0100", "212.555.0101"], "hi").fingerprint
    assert one.fingerprint == plan_send(["2125550101", "2125550100"], "hi").fingerprint
    assert one.fingerprint != plan_send(["2125550100", "2125550101"], "hi!").fingerprint
    assert one.fingerprint != plan_send(["2125550100"], "hi").fingerprint
    # What attsms 0.1 recorded: the order counted.
    assert (
        one.ordered_fingerprint != plan_send(["2125550101", "2125550100"], "hi").ordered_fingerprint
    )


def test_a_keyed_job_batches_its_recipients_in_one_order_whatever_the_input_order() -> None:
    numbers = [f"212555{i:04d}" for i in range(120)]
    forward = plan_send(numbers, "hi")
    backward = plan_send(list(reversed(numbers)), "hi")
    assert forward.job_batches == backward.job_batches
    assert [len(b) for b in forward.job_batches] == [50, 50, 20]


def test_describe_characters() -> None:
    assert describe_characters(["’", "\u00a0", "😀"]) == "’ (U+2019), (U+00A0), 😀 (U+1F600)"


@pytest.mark.parametrize(("raw", "seconds"), [("", None), ("2.5", 2.5), (" 30 ", 30.0)])
def test_timeout_from_env(raw: str, seconds: float | None) -> None:
    assert timeout_from_env({"ATTSMS_TIMEOUT": raw}) == seconds


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "inf", "nan"])
def test_timeout_from_env_rejects(raw: str) -> None:
    with pytest.raises(UsageError, match="ATTSMS_TIMEOUT"):
        timeout_from_env({"ATTSMS_TIMEOUT": raw})


def test_the_command_states_the_core_limits() -> None:
    import attsms.cli.commands.send as command
    import attsms.send.runner as core

    assert command.DEFAULT_CONCURRENCY == core.DEFAULT_CONCURRENCY
    assert command.MAX_CONCURRENCY == core.MAX_CONCURRENCY
