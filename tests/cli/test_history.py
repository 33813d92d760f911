"""`attsms history`: what was sent, from the local store alone.

It never calls the service: the tests run it with no credentials and a base URL that refuses
connections, and check the sandbox's counters did not move.
"""

from __future__ import annotations

import io
import socket
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from attsms.core.models import DeliveryInfo
from attsms.store.history import HistoryStore, history_path
from tests.helpers.support import Cli, Result, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]


@pytest.fixture
def history() -> Iterator[HistoryStore]:
    with HistoryStore.open() as store:
        yield store


def rows(result: Result) -> list[list[str]]:
    return [line.split("\t") for line in result.lines]


def refused_url() -> str:
    """A local address where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def record(
    store: HistoryStore,
    message_id: str | None,
    addresses: list[str],
    statuses: list[str] | None = None,
    *,
    message: str = "hi",
    profile: str = "default",
    **batch: Any,
) -> None:
    store.record_batch(
        profile=profile, message=message, addresses=addresses, message_id=message_id, **batch
    )
    if message_id and statuses:
        store.update_statuses(
            message_id, [DeliveryInfo(a, s) for a, s in zip(addresses, statuses, strict=True)]
        )


def test_history_lists_sends_with_their_last_status_and_calls_no_one(
    cli: Cli, sandbox_http: StartSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox_http(delivery_seconds=0)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    sent = cli("send", "2125550100", "2125550901", "2125550701", "-m", "three\tof\nthem")
    one = cli("send", "2125550102", "-m", "just one")
    assert cli("status", one.stdout.split("\t")[0]).exit_code == 0
    before = server.stats()["attempts"]
    result = cli("history")
    assert result.exit_code == 0, result.stderr
    assert server.stats()["attempts"] == before
    newest, oldest = rows(result)
    assert newest[1:] == [one.stdout.split("\t")[0], "+12125550102", "1 delivered", "just one"]
    assert oldest[1:] == [
        sent.stdout.split("\t")[0],
        "3 recipients",
        "3 not checked yet",
        "three of them",
    ]
    for row in (newest, oldest):
        sent_at = datetime.strptime(row[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs(datetime.now(UTC) - sent_at) < timedelta(minutes=1)


def test_history_works_with_no_credentials_and_no_service(
    cli: Cli, history: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTSMS_BASE_URL", refused_url())
    record(history, "SMS0000000000000001", ["tel:+12125550100"], ["MessageWaiting"])
    result = cli("history", "--json")
    assert result.exit_code == 0, result.stderr
    [document] = result.json()
    assert document["summary"] == "1 waiting"
    assert document["recipients"][0]["status"] == "MessageWaiting"


def test_json_keeps_everything(cli: Cli, history: HistoryStore) -> None:
    text = "Line one\n\tline two, ☺ " + "x" * 200
    record(
        history,
        "SMS0000000000000001",
        ["tel:+12125550100", "tel:+12125550901"],
        ["DeliveredToTerminal", "DeliveryImpossible"],
        message=text,
    )
    record(history, None, ["tel:+12125550102"], outcome="failed", error="SVC0002 bad input")
    record(history, None, ["tel:+12125550103"], outcome="unknown")
    result = cli("history", "--json")
    assert result.exit_code == 0
    unknown, failed, accepted = result.json()
    assert accepted["message"] == text
    assert accepted["summary"] == "1 delivered, 1 impossible"
    assert [r["to"] for r in accepted["recipients"]] == ["+12125550100", "+12125550901"]
    assert accepted["recipients"][1]["status_at"].endswith("Z")
    assert (failed["outcome"], failed["summary"], failed["error"]) == (
        "failed",
        "not sent",
        "SVC0002 bad input",
    )
    assert (unknown["outcome"], unknown["message_id"], unknown["summary"]) == (
        "unknown",
        None,
        "outcome unknown",
    )


def test_limit_and_since(cli: Cli, history: HistoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    for hours in range(30, 0, -1):  # one send an hour, the newest an hour ago
        with monkeypatch.context() as patch:
            patch.setattr(
                "attsms.store.history.time.time",
                lambda h=hours: (now - timedelta(hours=h)).timestamp(),
            )
            record(history, f"SMS{hours:016d}", ["tel:+12125550100"])
    default = cli("history")
    assert [row[1] for row in rows(default)] == [f"SMS{h:016d}" for h in range(1, 21)]
    assert "Showing the newest 20; --limit 0 shows all." in default.stderr
    assert len(cli("history", "--limit", "0").lines) == 30
    assert len(cli("history", "--limit", "3").lines) == 3
    since = cli("history", "--since", "330m")
    assert [row[1] for row in rows(since)] == [f"SMS{h:016d}" for h in range(1, 6)]
    assert "Showing" not in since.stderr


def test_other_profiles_sends_are_not_listed(cli: Cli, history: HistoryStore) -> None:
    record(history, "SMS0000000000000001", ["tel:+12125550100"], profile="work")
    record(history, "SMS0000000000000002", ["tel:+12125550100"], profile="sandbox")
    assert [row[1] for row in rows(cli("--profile", "work", "history"))] == ["SMS0000000000000001"]
    assert [row[1] for row in rows(cli("--sandbox", "history"))] == ["SMS0000000000000002"]
    assert cli("history").stdout == ""


def test_empty_history_says_so_and_creates_nothing(cli: Cli) -> None:
    result = cli("history")
    assert (result.exit_code, result.stdout) == (0, "")
    assert "Nothing sent yet." in result.stderr
    assert not history_path().exists()
    assert cli("history", "--json").json() == []


def test_bad_since_is_exit_2(cli: Cli) -> None:
    result = cli("history", "--since", "last tuesday")
    assert result.exit_code == 2
    assert "last tuesday" in result.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_text_is_cut_to_the_line(
    history: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from attsms.cli.main import main

    long_text = "Your table for four is ready at the front desk; please come in " * 3
    record(history, "SMS0000000000000001", ["tel:+12125550100"], message=long_text)
    terminal = _Terminal()
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(sys, "stdout", terminal)
    # Issue 29: at a terminal `history` lists sends; --requests is the per-request view.
    assert main(["history", "--requests"]) == 0
    header, row = terminal.getvalue().splitlines()
    assert header.split() == ["SENT", "MESSAGE", "ID", "TO", "STATUS", "MESSAGE"]
    assert len(row.rstrip()) <= 80
    assert row.rstrip().endswith("…") and "Your table for fo" in row
    assert "SMS0000000000000001" in row and "+12125550100" in row


@pytest.mark.parametrize("page", [1, 4, 500])
def test_pages_read_one_at_a_time_print_what_one_read_would(
    cli: Cli, history: HistoryStore, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    # Piped and --json, the history is read and written a page at a time: the text must be what
    # reading it whole gave, whatever the page size, ties of the same second included.
    import attsms.store.history as stored

    clock = iter(float(1_700_000_000 + t // 3) for t in range(100))  # 3 sends a second
    with monkeypatch.context() as patch:
        patch.setattr("attsms.store.history.time.time", lambda: next(clock))
        for n in range(11):
            record(history, f"SMS{n:016d}", [f"tel:+1212555{n:04d}"], message=f"text {n}")
        record(history, None, ["tel:+12125550999"], outcome="failed", error="boom")
    whole = cli("history", "--limit", "0", "--json").json()
    assert [b["message_id"] for b in whole] == [None, *(f"SMS{n:016d}" for n in range(10, -1, -1))]
    monkeypatch.setattr(stored, "PAGE_BATCHES", page)
    for args in (["--json"], []):
        for limit in ("0", "5", "12", "13"):
            paged = cli("history", "--limit", limit, *args)
            assert paged.exit_code == 0, paged.stderr
            shown = whole[: int(limit) or None]
            if args:
                assert paged.json() == shown
                assert paged.stdout.startswith("[\n  {") and paged.stdout.endswith("}\n]\n")
            else:
                assert [row[1] for row in rows(paged)] == [b["message_id"] or "" for b in shown]
            more = limit == "5"
            assert ("Showing the newest 5; --limit 0 shows all." in paged.stderr) == more
    empty = cli("history", "--since", "1m", "--json")
    assert empty.stdout == "[]\n" and "Nothing sent since then." in empty.stderr
