"""`attsms status` as a user meets it, against the sandbox over real HTTP.

The sandbox decides outcomes by the number: `…01xx` delivered to the terminal, `…08xx` to the
network, `…09xx` impossible, `…07xx` waiting forever; all wait `delivery_seconds` first. Runs are
in-process (`cli(...)` with the environment pointing at a `sandbox_http` server); the sandbox's
counters (/sandbox/stats) say how many status requests reached it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from attsms.core.errors import UsageError
from attsms.store.history import HistoryStore, Outcome
from attsms.track.status import parse_since, summarize
from tests.helpers.support import Cli, Result, SandboxHttp, both_dialects

StartSandbox = Callable[..., SandboxHttp]
OUTBOX = "/sms/v3/messaging/outbox"


@pytest.fixture
def history() -> Iterator[HistoryStore]:
    with HistoryStore.open() as store:
        yield store


def rows(result: Result) -> list[list[str]]:
    return [line.split("\t") for line in result.lines]


def send(cli: Cli, *numbers: str, text: str = "hi") -> str:
    result = cli("send", *numbers, "-m", text)
    assert result.exit_code == 0, result.stderr
    return rows(result)[0][0]


def status_requests(server: SandboxHttp) -> int:
    return int(server.stats()["attempts"].get("status", 0))


def record_at(
    monkeypatch: pytest.MonkeyPatch, store: HistoryStore, moment: datetime, **batch: Any
) -> int:
    """A history row as if written at `moment`."""
    with monkeypatch.context() as patch:
        patch.setattr("attsms.store.history.time.time", lambda: moment.timestamp())
        return store.record_batch(
            profile=batch.pop("profile", "default"), message=batch.pop("message", "hi"), **batch
        )


# --- by message ID ---------------------------------------------------------------------------


@both_dialects
def test_status_moves_from_waiting_to_final_and_is_written_to_history(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, history: HistoryStore
) -> None:
    use_server(sandbox_http(delivery_seconds=0.3))
    message_id = send(cli, "2125550100", "2125550801", "2125550901")
    early = cli("status", message_id)
    assert early.exit_code == 0, early.stderr
    assert [row[:3] for row in rows(early)] == [
        [message_id, "+12125550100", "MessageWaiting"],
        [message_id, "+12125550801", "MessageWaiting"],
        [message_id, "+12125550901", "MessageWaiting"],
    ]
    time.sleep(0.4)
    late = cli("status", message_id)
    assert late.exit_code == 0  # without --wait, a failed delivery is a status, not an error
    assert [row[1:3] for row in rows(late)] == [
        ["+12125550100", "DeliveredToTerminal"],
        ["+12125550801", "DeliveredToNetwork"],
        ["+12125550901", "DeliveryImpossible"],
    ]
    batch = history.get(message_id)
    assert batch is not None
    assert [r.status for r in batch.recipients] == [
        "DeliveredToTerminal",
        "DeliveredToNetwork",
        "DeliveryImpossible",
    ]


@both_dialects
def test_json_is_one_document_per_message(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    use_server(sandbox_http(delivery_seconds=0))
    first = send(cli, "2125550100", text="first")
    second = send(cli, "2125550901", text="second")
    result = cli("status", first, second, first, "--json")
    assert result.exit_code == 0, result.stderr
    documents = result.json()
    assert [d["message_id"] for d in documents] == [first, second]  # the repeat asked once
    assert documents[1]["deliveries"] == [
        {
            "address": "tel:+12125550901",
            "to": "+12125550901",
            "status": "DeliveryImpossible",
            "final": True,
        }
    ]
    assert documents[1]["summary"] == "1 impossible"
    assert (documents[1]["message"], documents[1]["source"]) == ("second", "service")


def test_pascal_case_answers_are_read_and_recorded(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, history: HistoryStore
) -> None:
    server = use_server(sandbox_http(delivery_seconds=60))
    message_id = send(cli, "2125550100")
    # Some real answers: PascalCase keys, one DeliveryInfo object rather than a list, the
    # number without its "+", and a count sent as a string.
    body = (
        '{"DeliveryInfoList": {"DeliveryInfo": {"Address": "tel:12125550100",'
        ' "DeliveryStatus": "DeliveredToTerminal"}, "NumberOfDeliveryInfo": "1",'
        f' "ResourceURL": "{server.url}{OUTBOX}/{message_id}"}}}}'
    )
    server.faults({"method": "GET", "path_prefix": OUTBOX, "status": 200, "body": body})
    result = cli("status", message_id)
    assert result.exit_code == 0, result.stderr
    assert rows(result)[0][:3] == [message_id, "+12125550100", "DeliveredToTerminal"]
    batch = history.get(message_id)
    assert batch is not None and batch.final


def test_unknown_id_is_the_services_error_in_one_line(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    use_server(sandbox_http())
    result = cli("status", "SMS0000000000000000")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "Not found" in result.stderr and "SMS0000000000000000" in result.stderr
    assert "30 minutes" not in result.stderr  # not ours: nothing to explain


def test_known_ids_are_shown_before_an_unknown_one_fails_the_run(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    use_server(sandbox_http(delivery_seconds=0))
    message_id = send(cli, "2125550100")
    result = cli("status", message_id, "SMS0000000000000000")
    assert result.exit_code == 1
    assert rows(result)[0][:3] == [message_id, "+12125550100", "DeliveredToTerminal"]
    assert "SMS0000000000000000" in result.stderr


def test_a_status_gone_after_it_was_final_shows_the_last_known_one(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    use_server(sandbox_http(delivery_seconds=0.1, status_retention_seconds=0.8))
    message_id = send(cli, "2125550100", "2125550901")
    waited = cli("status", message_id, "--wait", "--timeout", "5", "--interval", "0.1")
    assert waited.exit_code == 4, waited.stderr  # one impossible
    time.sleep(1.0)  # past the (shortened) retention
    gone = cli("status", message_id)
    assert gone.exit_code == 1
    assert "Not found" in gone.stderr
    assert "AT&T keeps a status only about 30 minutes after it is final" in gone.stderr
    assert "last known" in gone.stderr and "1 delivered, 1 impossible" in gone.stderr
    assert [row[1:3] + row[4:] for row in rows(gone)] == [
        ["+12125550100", "DeliveredToTerminal", "gone from the service; last known"],
        ["+12125550901", "DeliveryImpossible", "gone from the service; last known"],
    ]


@pytest.mark.parametrize(
    ("age", "explanation"),
    [
        (timedelta(minutes=45), "AT&T keeps a status only about 30 minutes after it is final"),
        (timedelta(hours=80), "the network stops retrying after 72 hours"),
        (timedelta(minutes=2), "the service does not: was it sent to another base URL?"),
    ],
)
def test_an_id_the_history_knows_but_the_service_does_not_is_explained(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Any,
    history: HistoryStore,
    monkeypatch: pytest.MonkeyPatch,
    age: timedelta,
    explanation: str,
) -> None:
    use_server(sandbox_http())
    record_at(
        monkeypatch,
        history,
        datetime.now(UTC) - age,
        addresses=["tel:+12125550100"],
        message_id="SMS00000000000000aa",
    )
    result = cli("status", "SMS00000000000000aa")
    assert result.exit_code == 1
    assert explanation in result.stderr
    assert "1 not checked yet" in result.stderr


def test_an_id_sent_with_another_profile_names_it(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    sent = cli("--sandbox", "send", "2125550100", "-m", "hi")  # the in-process sandbox
    message_id = rows(sent)[0][0]
    use_server(sandbox_http())
    result = cli("status", message_id)
    assert result.exit_code == 1
    assert f"try `attsms --sandbox status {message_id}`" in result.stderr


# --- --wait ----------------------------------------------------------------------------------


@both_dialects
def test_wait_prints_each_change_then_exits_0_when_all_delivered(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, history: HistoryStore
) -> None:
    use_server(sandbox_http(delivery_seconds=0.3))
    message_id = send(cli, "2125550100", "2125550801")
    result = cli("status", message_id, "--wait", "--timeout", "10", "--interval", "0.1")
    assert result.exit_code == 0, result.stderr
    assert [row[1:3] for row in rows(result)] == [
        ["+12125550100", "MessageWaiting"],
        ["+12125550801", "MessageWaiting"],
        ["+12125550100", "DeliveredToTerminal"],
        ["+12125550801", "DeliveredToNetwork"],
    ]
    assert "2 delivered, 0 impossible, 0 pending" in result.stderr
    batch = history.get(message_id)
    assert batch is not None and batch.final


def test_wait_does_not_ask_again_what_it_just_asked(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http(delivery_seconds=0))
    final = send(cli, "2125550100")
    waiting = send(cli, "2125550701")  # 07xx: waiting forever
    assert cli("status", final, "--wait").exit_code == 0
    assert status_requests(server) == 1  # final at once: no polling at all
    # --timeout 0: one look at each message, and the first round was that look.
    result = cli("status", waiting, "--wait", "--timeout", "0")
    assert result.exit_code == 75
    assert status_requests(server) == 2


def test_wait_timeout_with_a_message_still_waiting_is_exit_75(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    use_server(sandbox_http(delivery_seconds=0.1))
    message_id = send(cli, "2125550701")  # 07xx: waiting forever
    started = time.monotonic()
    result = cli("status", message_id, "--wait", "--timeout", "0.6", "--interval", "0.1")
    assert result.exit_code == 75
    assert 0.6 <= time.monotonic() - started < 3
    assert rows(result)[-1][1:3] == ["+12125550701", "MessageWaiting"]
    assert "1 recipient(s) still pending" in result.stderr
    assert "attsms status --wait" in result.stderr


@both_dialects
def test_wait_with_an_impossible_delivery_is_exit_4_and_one_json_document(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    use_server(sandbox_http(delivery_seconds=0.2))
    message_id = send(cli, "2125550100", "2125550901")
    result = cli("status", message_id, "--wait", "--interval", "0.1", "--json")
    assert result.exit_code == 4
    [document] = result.json()  # the changes are not streamed into the JSON
    assert {d["to"]: d["status"] for d in document["deliveries"]} == {
        "+12125550100": "DeliveredToTerminal",
        "+12125550901": "DeliveryImpossible",
    }
    assert "could not be delivered" in result.stderr


def test_wait_rides_out_rate_limits(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, no_retry_wait: None
) -> None:
    server = use_server(sandbox_http(delivery_seconds=0.2))
    message_id = send(cli, "2125550100")
    # More 429s than the client's own retries: the wait loop keeps asking until the end.
    server.faults(
        {
            "method": "GET",
            "path_prefix": OUTBOX,
            "status": 429,
            "count": 6,
            "headers": {"Retry-After": "0.05"},
        }
    )
    result = cli("status", message_id, "--wait", "--timeout", "10", "--interval", "0.1")
    assert result.exit_code == 0, result.stderr
    assert rows(result)[-1][1:3] == ["+12125550100", "DeliveredToTerminal"]
    assert status_requests(server) >= 7


@both_dialects
def test_wait_with_requests_waits_for_the_recent_requests(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    use_server(sandbox_http(delivery_seconds=0.3))
    send(cli, "2125550100")
    send(cli, "2125550801")
    result = cli("status", "--requests", "--wait", "--interval", "0.1", "--json")
    assert result.exit_code == 0, result.stderr
    assert [d["summary"] for d in result.json()] == ["1 delivered", "1 delivered"]


# --- --requests: the recent requests ---------------------------------------------------------


def test_without_ids_the_recent_sends_are_refreshed_and_recorded(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, history: HistoryStore
) -> None:
    server = use_server(sandbox_http(delivery_seconds=0.2))
    first = send(cli, "2125550100", "2125550901", text="first")
    second = send(cli, "2125550801", text="second")
    time.sleep(0.3)
    result = cli("status", "--requests")
    assert result.exit_code == 0, result.stderr
    assert [row[:3] for row in rows(result)] == [  # newest first
        [second, "+12125550801", "DeliveredToNetwork"],
        [first, "+12125550100", "DeliveredToTerminal"],
        [first, "+12125550901", "DeliveryImpossible"],
    ]
    assert status_requests(server) == 2
    assert [b.final for b in history.recent()] == [True, True]
    again = cli("status", "--requests")
    assert again.stdout == result.stdout
    assert status_requests(server) == 2  # all final: the history answers


def test_unknown_and_failed_sends_are_shown_and_never_asked_about(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, history: HistoryStore
) -> None:
    server = use_server(sandbox_http())
    history.record_batch(
        profile="default",
        message="lost",
        addresses=["tel:+12125550100"],
        message_id=None,
        outcome=Outcome.UNKNOWN,
    )
    history.record_batch(
        profile="default",
        message="refused",
        addresses=["tel:+12125550101"],
        message_id=None,
        outcome=Outcome.FAILED,
        error="SVC0002 Invalid input value",
    )
    result = cli("status", "--requests")
    assert result.exit_code == 0, result.stderr
    assert rows(result) == [
        ["", "+12125550101", "", rows(result)[0][3], "not sent: SVC0002 Invalid input value"],
        ["", "+12125550100", "", rows(result)[1][3], "outcome unknown: may have been sent"],
    ]
    assert status_requests(server) == 0


def test_final_history_needs_no_credentials_and_shows_the_last_20(
    cli: Cli, history: HistoryStore
) -> None:
    for number in range(25):
        message_id = f"SMS{number:016x}"
        history.record_batch(
            profile="default", message="hi", addresses=["tel:+12125550100"], message_id=message_id
        )
        history.update_statuses(message_id, [_delivered("tel:+12125550100")])
    result = cli("status", "--requests")  # no ATTSMS_CLIENT_ID, no login: nothing needs asking
    assert result.exit_code == 0, result.stderr
    assert len(result.lines) == 20
    assert rows(result)[0][0] == f"SMS{24:016x}"
    assert "--all shows all" in result.stderr
    assert len(cli("status", "--requests", "--all").lines) == 25


def test_since_picks_recent_sends(
    cli: Cli, history: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    for hours, message_id in ((5, "SMS00000000000000a5"), (1, "SMS00000000000000a1")):
        record_at(
            monkeypatch,
            history,
            now - timedelta(hours=hours),
            addresses=["tel:+12125550100"],
            message_id=message_id,
        )
        history.update_statuses(message_id, [_delivered("tel:+12125550100")])
    assert [row[0] for row in rows(cli("status", "--since", "2h"))] == ["SMS00000000000000a1"]
    assert len(cli("status", "--since", "6h").lines) == 2
    since = (now - timedelta(hours=3)).astimezone().strftime("%Y-%m-%dT%H:%M")
    assert [row[0] for row in rows(cli("status", "--since", since))] == ["SMS00000000000000a1"]
    empty = cli("status", "--since", "10m")
    assert (empty.exit_code, empty.stdout) == (0, "")
    assert "Nothing sent since then" in empty.stderr


def test_old_unfinished_sends_are_not_asked_about(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Any,
    history: HistoryStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = use_server(sandbox_http())
    record_at(
        monkeypatch,
        history,
        datetime.now(UTC) - timedelta(hours=73),
        addresses=["tel:+12125550700"],
        message_id="SMS00000000000000b1",
    )
    result = cli("status", "--requests")
    assert result.exit_code == 0, result.stderr
    assert rows(result)[0][4] == "sent over 72 h ago; last known"
    assert status_requests(server) == 0


def test_a_forgotten_message_shows_its_last_known_status(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Any,
    history: HistoryStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_server(sandbox_http())
    record_at(
        monkeypatch,
        history,
        datetime.now(UTC) - timedelta(hours=2),
        addresses=["tel:+12125550100"],
        message_id="SMS00000000000000c1",
    )
    result = cli("status", "--requests")
    assert result.exit_code == 0, result.stderr  # listing history: a gone status is no error
    assert rows(result)[0][2:] == ["", rows(result)[0][3], "gone from the service; last known"]


def test_unreachable_service_shows_history_and_exits_75(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Any,
    history: HistoryStore,
    no_retry_wait: None,
) -> None:
    server = use_server(sandbox_http(delivery_seconds=60))
    message_id = send(cli, "2125550100")
    server.stop()
    result = cli("status", "--requests")
    assert result.exit_code == 75
    assert rows(result)[0][:3] == [message_id, "+12125550100", ""]
    assert rows(result)[0][4] == "could not refresh; last known"
    assert "cannot reach" in result.stderr


# --- usage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["status", "SMS1", "--timeout", "5"],
        ["status", "--interval", "1"],
        ["status", "SMS1", "--all"],
        ["status", "SMS1", "--since", "1h"],
        ["status", "--since", "yesterday"],
        ["status", "--wait", "--interval", "0"],
    ],
)
def test_bad_flags_are_exit_2(cli: Cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.count("\n") == 1


# --- --since and summaries -------------------------------------------------------------------

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@given(st.integers(0, 10**6), st.sampled_from(sorted(_UNIT_SECONDS)), st.booleans())
def test_since_durations_count_back_from_now(amount: int, unit: str, upper: bool) -> None:
    now = 2e9
    assume(amount * _UNIT_SECONDS[unit] <= now)  # back to 1970 at most; further: UsageError
    text = f"{amount}{unit.upper() if upper else unit}"
    expected = now - amount * _UNIT_SECONDS[unit]
    assert parse_since(text, now=now).timestamp() == pytest.approx(expected)


@given(st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2200, 1, 1)))
def test_since_dates_are_read_as_written(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    assert parse_since(aware.isoformat()).timestamp() == pytest.approx(aware.timestamp())
    assert parse_since(aware.isoformat().replace("+00:00", "Z")).timestamp() == pytest.approx(
        aware.timestamp()
    )
    # No zone: local time, as `date` reads it.
    assert parse_since(moment.isoformat()).timestamp() == pytest.approx(moment.timestamp())


@given(st.text(max_size=30))
def test_since_never_crashes(text: str) -> None:
    try:
        result = parse_since(text, now=2e9)
    except UsageError as error:
        assert repr(text) in error.message
    else:
        assert result.tzinfo is UTC


@pytest.mark.parametrize("text", ["99999999999999w", "9" * 5000 + "d"])
def test_since_out_of_reach_is_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_since(text, now=2e9)


@given(
    st.lists(
        st.sampled_from(
            [
                None,
                "DeliveredToTerminal",
                "DeliveredToNetwork",
                "DeliveryImpossible",
                "MessageWaiting",
                "DeliveryUncertain",
            ]
        ),
        min_size=1,
        max_size=50,
    )
)
def test_summary_counts_every_recipient_once(statuses: list[str | None]) -> None:
    summary = summarize(Outcome.ACCEPTED, statuses)
    counted = sum(int(part.split(" ", 1)[0]) for part in summary.split(", "))
    assert counted == len(statuses)
    delivered = sum(s in ("DeliveredToTerminal", "DeliveredToNetwork") for s in statuses)
    assert (f"{delivered} delivered" in summary) == bool(delivered)


def _delivered(address: str) -> Any:
    from attsms.core.models import DeliveryInfo

    return DeliveryInfo(address, "DeliveredToTerminal")


@pytest.mark.parametrize("page", [1, 3, 100])
def test_recent_sends_piped_are_asked_about_and_printed_a_page_at_a_time(
    cli: Cli,
    sandbox_http: Callable[..., SandboxHttp],
    use_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    page: int,
) -> None:
    # Piped or --json, `status` reads the history a page at a time, asks the service about that
    # page's messages and prints them before the next: whatever the page, the same messages,
    # newest first, each asked about once, every answer written back.
    import attsms.store.history as stored

    server = use_server(sandbox_http(delivery_seconds=0))
    sent = [send(cli, f"+1212555{n:04d}", f"+1212556{n:04d}") for n in range(7)]
    monkeypatch.setattr(stored, "PAGE_BATCHES", page)
    asked = status_requests(server)
    document = cli("status", "--requests", "--all", "--json")
    assert document.exit_code == 0, document.stderr
    assert [m["message_id"] for m in document.json()] == sent[::-1]
    assert {d["status"] for m in document.json() for d in m["deliveries"]} == {
        "DeliveredToTerminal"
    }
    assert status_requests(server) == asked + 7
    plain = cli("status", "--requests", "--all")  # final in the history now: nothing to ask
    assert [row[0] for row in rows(plain)] == [i for i in sent[::-1] for _ in range(2)]
    assert status_requests(server) == asked + 7
    newest = cli("status", "--requests", "--json")
    assert len(newest.json()) == 7 and "--all shows all" not in newest.stderr
    monkeypatch.setattr("attsms.track.status.DEFAULT_LIMIT", 3)
    three = cli("status", "--requests", "--json")
    assert [m["message_id"] for m in three.json()] == sent[:-4:-1]
    assert "Showing the newest 3 requests; --all shows all." in three.stderr


def test_status_without_wait_exits_75_when_the_service_is_busy_and_its_help_says_so(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, no_retry_wait: None
) -> None:
    server = use_server(sandbox_http())
    message_id = send(cli, "2125550100")
    server.faults({"method": "GET", "path_prefix": OUTBOX, "status": 503, "count": 100})
    busy = cli("status", message_id)
    assert busy.exit_code == 75, busy
    assert len(busy.stderr.splitlines()) == 1, busy.stderr
    shown = " ".join(cli("status", "--help").stdout.split())
    without_wait = shown.split("Without --wait:", 1)[1].split("Arguments:", 1)[0]
    assert "75" in without_wait and "busy" in without_wait, shown
