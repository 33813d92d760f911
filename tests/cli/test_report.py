"""`attsms report`: a keyed job with a known mix, sent through the HTTP sandbox, every figure of
`--json` checked exactly; the terminal, the piped lines and the HTML page show the same figures.

The job (60 recipients, sorted into two batches of 50 and 10, sent one request at a time):
the first batch is refused by an injected 400; the second holds 3 numbers delivered to the
handset, 2 `08xx` (DeliveredToNetwork), 2 `09xx` (DeliveryImpossible), 2 `07xx` (waiting
forever) and one number that opted out before the send (skipped). Times are then set in the
store to known values, so that the latency and the timeline are exact too.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.support import Cli

OUTBOX = "/sms/v3/messaging/outbox"
FAILED = [f"+1212555{n:04d}" for n in range(100, 150)]
DELIVERED = ["+12125550150", "+12125550151", "+12125550152"]
OPTED_OUT = "+12125550153"
MIXED = [*DELIVERED, "+12125550700", "+12125550701", "+12125550800", "+12125550801"]
MIXED += ["+12125550900", "+12125550901"]
T0 = 1_900_000_800  # 2030-03-17T17:46:40Z: after the opt-out is recorded, a minute boundary
# Seconds from the send to when each status was recorded.
TOOK = {"0150": 2, "0151": 3, "0152": 4, "0800": 1, "0801": 7, "0900": 12, "0901": 40}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def sent_job(cli: Cli, sandbox_http: Any, use_server: Any, isolated_home: Path) -> Any:
    server = use_server(sandbox_http(delivery_seconds=0))
    assert cli("optout", "add", OPTED_OUT, "-q").exit_code == 0
    server.faults({"path_prefix": OUTBOX, "status": 400, "count": 1})
    numbers = [*FAILED, *MIXED, OPTED_OUT]
    sent = cli(
        "send",
        *numbers,
        "-m",
        "Rehearsal moved to 7 pm",
        "--dedupe-key",
        "job1",
        "--concurrency",
        "1",
        "-q",
    )
    assert sent.exit_code == 4, sent.stderr
    # Another send, outside the job, to the opted-out number: the compliance breach.
    breach = cli("send", OPTED_OUT, "-m", "Oops 😬", "--ignore-opt-out", "--json", "-q")
    assert breach.exit_code == 0, breach.stderr
    refreshed = cli("report", "--key", "job1", "--refresh", "--json")
    assert refreshed.exit_code == 0, refreshed.stderr
    assert refreshed.json()["refreshed"] == 1
    _set_times(isolated_home / "data" / "history.sqlite3")
    server.inject("+12125550150", "Thanks!", at=_iso(T0 + 120))
    server.inject("+12125550151", "Stop.", at=_iso(T0 + 300))
    server.inject("+12125550999", "who is this?", at=_iso(T0 + 200))  # not a recipient
    server.inject("+12125550152", "late", at=_iso(T0 + 73 * 3600))  # after the reply window
    assert cli("inbox", "pull", "12345", "-q").exit_code == 0
    return breach.json()["messages"][0]["message_id"]


def _set_times(path: Path) -> None:
    with sqlite3.connect(path) as db:
        ids = [row[0] for row in db.execute("SELECT id FROM batches ORDER BY id")]
        for offset, batch_id in enumerate(ids):  # the refused batch, the mixed one, the breach
            db.execute("UPDATE batches SET created_at = ? WHERE id = ?", (T0 + offset, batch_id))
        for tail, took in TOOK.items():
            db.execute(
                "UPDATE recipients SET status_at = ? WHERE address = ?",
                (T0 + 1 + took, f"tel:+1212555{tail}"),
            )


def expected_json() -> dict[str, Any]:
    def share(n: int) -> dict[str, Any]:
        return {"count": n, "share": round(n / 60, 4)}

    funnel = {
        "recipients": 60,
        "skipped": 1,
        "opted-out": 1,
        "deferred": 0,
        "failed": 50,
        "unknown": 0,
        "accepted": 9,
        "DeliveredToTerminal": 3,
        "DeliveredToNetwork": 2,
        "DeliveryImpossible": 2,
        "MessageWaiting": 2,
        "DeliveryUncertain": 0,
        "not-checked": 0,
    }
    return {
        "selection": {
            "key": "job1",
            "message_ids": [],
            "send_id": None,
            "since": None,
            "until": None,
            "reply_window_hours": 72.0,
        },
        "batches": 2,
        "first_sent": _iso(T0),
        "last_sent": _iso(T0 + 1),
        "refreshed": 0,
        "funnel": {name: share(n) for name, n in funnel.items()},
        "failures": [
            {
                "reason": "SVC0001",
                "count": 50,
                "words": "sending the message failed: SVC0001 Injected fault: HTTP 400 (HTTP 400)",
                "hint": None,
            },
            {
                "reason": "DeliveryImpossible",
                "count": 2,
                "words": "the network could not deliver it",
                "hint": "check those numbers; the network gave up on them",
            },
        ],
        "latency": {
            "count": 7,
            "p50": 4.0,
            "p90": 40.0,
            "p99": 40.0,
            "max": 40.0,
            "upper_bound": True,
            "histogram": [
                {"bin": "0s–1s", "count": 0},
                {"bin": "1s–2s", "count": 1},
                {"bin": "2s–5s", "count": 3},
                {"bin": "5s–10s", "count": 1},
                {"bin": "10s–30s", "count": 1},
                {"bin": "30s–1m", "count": 1},
            ],
        },
        "timeline": {
            "interval_seconds": 5,
            "bins": [
                {"start": _iso(T0 + 5 * i), "sent": 2 if i == 0 else 0, "reached": reached}
                for i, reached in enumerate([3, 2, 1, 0, 0, 0, 0, 0, 1])
            ],
        },
        "replies": {
            "messages": 2,
            "repliers": 2,
            "stops": 1,
            "opt_out_rate": round(1 / 9, 4),
            "first": [
                {"from": "+12125550150", "at": _iso(T0 + 120), "text": "Thanks!", "stop": False},
                {"from": "+12125550151", "at": _iso(T0 + 300), "text": "Stop.", "stop": True},
            ],
        },
        "compliance": {"sent_after_opt_out": 0, "held_by_quiet_hours": 0, "listed": []},
        "cost": {
            "encodings": {"GSM-7": 9},
            "segments_per_text": {"1": 9},
            "segments_billed": 9,
            "texts": 9,
        },
    }


def test_every_figure_of_the_json_is_exact(cli: Cli, sent_job: str) -> None:
    result = cli("report", "--key", "job1", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json() == expected_json()


def test_a_text_sent_after_its_number_opted_out_is_listed(cli: Cli, sent_job: str) -> None:
    doc = cli("report", "--message-id", sent_job, "--json").json()
    assert doc["compliance"]["sent_after_opt_out"] == 1
    assert doc["compliance"]["listed"][0]["to"] == OPTED_OUT
    assert doc["cost"] == {
        "encodings": {"UCS-2": 1},
        "segments_per_text": {"1": 1},
        "segments_billed": 1,
        "texts": 1,
    }


def figures(doc: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """Each row of each section: its slug, label and figure texts, as the views show them."""
    from attsms.cli.report_view import sections

    return [
        (s.slug, row[0].text, [c.text for c in row if c.key])
        for s in sections(doc)
        for row in s.rows
    ]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_terminal_shows_the_json_figures_in_80_columns(
    cli: Cli, sent_job: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from attsms.cli.main import main

    doc = cli("report", "--key", "job1", "--json").json()
    terminal = _Terminal()
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(["report", "--key", "job1"]) == 0
    text = re.sub(r"\x1b\[[0-9;]*m", "", terminal.getvalue())  # colours, on a terminal
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert "█" in text
    for _slug, label, texts in figures(doc):
        assert any(label in line and all(t in line for t in texts) for line in lines), label


def test_piped_lines_and_html_show_the_json_figures(
    cli: Cli, sent_job: str, tmp_path: Path
) -> None:
    doc = cli("report", "--key", "job1", "--json").json()
    page = tmp_path / "report.html"
    piped = cli("report", "--key", "job1", "--html", str(page))
    assert piped.exit_code == 0, piped.stderr
    lines = [line.split("\t") for line in piped.lines]
    for slug, label, texts in figures(doc):
        assert any(cells[:2] == [slug, label] and set(texts) <= set(cells) for cells in lines)
    html = page.read_text()
    shown = dict(re.findall(r'data-key="([^"]+)">([^<]*)<', html))
    assert shown == expected_page_figures(doc)
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")


def expected_page_figures(doc: dict[str, Any]) -> dict[str, str]:
    from attsms.cli.report_view import sections

    return {c.key: c.text for s in sections(doc) for row in s.rows for c in row if c.key}


def test_nothing_sent_is_said_and_exits_0(cli: Cli) -> None:
    result = cli("report", "--since", "1h", "--json")
    assert result.exit_code == 0
    assert result.json()["funnel"]["recipients"] == {"count": 0, "share": 0.0}
    assert "Nothing sent" in result.stderr


def test_an_unknown_key_is_one_line_exit_2(cli: Cli) -> None:
    result = cli("report", "--key", "nope")
    assert (result.exit_code, result.stdout) == (2, "")
    assert len(result.stderr.strip().splitlines()) <= 2 and "nope" in result.stderr


def test_json_figures_are_json_numbers(cli: Cli, sent_job: str) -> None:
    doc = cli("report", "--key", "job1", "--json").json()
    assert json.loads(json.dumps(doc)) == doc


def test_a_time_window_counts_only_the_sends_inside_it(cli: Cli, sent_job: str) -> None:
    # [T0, T0 + 1): the refused batch only; the mixed batch went at T0 + 1, the breach at T0 + 2.
    result = cli("report", "--since", _iso(T0), "--until", _iso(T0 + 1), "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert (doc["batches"], doc["funnel"]["failed"]["count"]) == (1, 50)
    assert doc["funnel"]["recipients"] == {"count": 50, "share": 1.0}
    assert doc["latency"] is None and doc["cost"]["texts"] == 0
    everything = cli("report", "--json").json()
    assert everything["batches"] == 3 and everything["compliance"]["sent_after_opt_out"] == 1


def test_recipients_held_by_quiet_hours_are_counted_as_deferred(
    cli: Cli, sandbox_http: Any, use_server: Any, backend: str
) -> None:
    # On the local files and on a shared PostgreSQL store (the `backend` fixture).
    use_server(sandbox_http())
    # A window that covers the whole day in every time zone but one minute: both are held.
    held = cli(
        "send", "+12125550150", "+13105550151", "-m", "night shift",
        "--quiet-hours", "00:00-23:59", "--dedupe-key", "nightly", "--json",
    )  # fmt: skip
    assert held.exit_code == 75, held.stderr  # deferred: run it again later
    if {m["result"] for m in held.json()["messages"]} != {"deferred"}:
        pytest.skip("ran in the one minute outside the window")
    doc = cli("report", "--key", "nightly", "--json").json()
    funnel = {name: entry["count"] for name, entry in doc["funnel"].items()}
    assert (funnel["recipients"], funnel["skipped"], funnel["deferred"]) == (2, 2, 2)
    assert funnel["opted-out"] == 0
    assert doc["compliance"]["held_by_quiet_hours"] == 2
