"""`attsms send --template`: personal texts from a CSV, sent against the sandbox over HTTP, with
the sandbox's own outbox checking that each person got their own text, once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.support import Cli, SandboxHttp

TEMPLATE = "Hi {first_name}, your table for {party} is ready"


def _number(i: int) -> str:
    return f"+1212555{i:04d}"


def _csv(path: Path, rows: int, *, start: int = 0) -> Path:
    lines = ["phone,first_name,party"]
    lines += [f"{_number(i)},Guest{i},{i % 7 + 1}" for i in range(start, start + rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rendered(i: int) -> str:
    return f"Hi Guest{i}, your table for {i % 7 + 1} is ready"


def _outbox(server: SandboxHttp) -> list[tuple[str, str]]:
    body = server.admin("GET", "/sandbox/outbox")
    return [(e["address"], e["message"]) for e in body["outbox"]]


def test_2000_rows_each_recipient_gets_its_own_text_once_and_a_rerun_sends_nothing(
    cli: Cli,
    tmp_path: Path,
    sandbox_http: Callable[..., SandboxHttp],
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    server = use_server(sandbox_http())
    people = _csv(tmp_path / "people.csv", 2000)
    args = ("send", "--to-file", str(people), "--template", "-m", TEMPLATE)
    first = cli(*args, "--dedupe-key", "dinner", "--json")
    assert first.exit_code == 0, first.stderr
    summary = first.json()["summary"]
    assert summary["accepted"] == 2000 and summary["requests"] == 2000
    sent = _outbox(server)
    assert sorted(sent) == sorted((f"tel:{_number(i)}", _rendered(i)) for i in range(2000))
    assert len(sent) == 2000  # each recipient exactly once

    again = cli(*args, "--dedupe-key", "dinner", "--json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["summary"]["already_sent"] == 2000
    assert again.json()["summary"]["requests"] == 0
    assert len(_outbox(server)) == 2000


def test_identical_texts_share_a_request(
    cli: Cli,
    tmp_path: Path,
    sandbox_http: Callable[..., SandboxHttp],
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    server = use_server(sandbox_http())
    people = tmp_path / "p.csv"
    rows = [f"{_number(i)},{'Ana' if i % 2 else ''}" for i in range(120)]
    people.write_text("phone,first_name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = cli(
        "send", "--to-file", str(people), "--template", "-m", "Hi {first_name}!",
        "--default", "first_name=there", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    # 60 "Hi Ana!" (2 requests of 50 + 10) and 60 "Hi there!" (2 more).
    assert result.json()["summary"]["requests"] == 4
    sent = _outbox(server)
    assert sorted(sent) == sorted(
        (f"tel:{_number(i)}", "Hi Ana!" if i % 2 else "Hi there!") for i in range(120)
    )


def test_a_changed_file_under_the_same_key_is_refused(
    cli: Cli,
    tmp_path: Path,
    sandbox_http: Callable[..., SandboxHttp],
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    server = use_server(sandbox_http())
    people = _csv(tmp_path / "people.csv", 3)
    args = ("send", "--to-file", str(people), "--template", "-m", TEMPLATE, "--dedupe-key", "k")
    assert cli(*args).exit_code == 0
    _csv(people, 3, start=1)
    changed = cli(*args)
    assert changed.exit_code == 2
    assert changed.stderr.startswith("attsms: error: dedupe key 'k' was used")
    assert len(_outbox(server)) == 3


def test_dry_run_shows_samples_segments_and_requests_and_sends_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    people = _csv(tmp_path / "people.csv", 5)
    result = cli(
        "--sandbox", "send", "--to-file", str(people), "--template", "-m", TEMPLATE, "--dry-run"
    )
    assert result.exit_code == 0, result.stderr
    assert result.lines[0] == "5 personal texts in 5 requests"
    assert f"'{_rendered(0)}'" in result.stdout
    assert "segments per text: min 1, max 1; 5 in all" in result.stdout
    assert "nothing was sent" in result.stderr
    as_json = cli(
        "--sandbox", "send", "--to-file", str(people), "--template", "-m", TEMPLATE,
        "--dry-run", "--json",
    ).json()  # fmt: skip
    assert as_json["dry_run"] is True and as_json["requests"] == 5
    assert as_json["samples"][0] == {"line": 2, "to": f"tel:{_number(0)}", "text": _rendered(0)}
    assert cli("sandbox", "outbox", "--json").json()["total"] == 0


def test_template_from_message_file_and_csv_from_stdin(cli: Cli, tmp_path: Path) -> None:
    template = tmp_path / "t.txt"
    template.write_text("Hello {first_name}\n", encoding="utf-8")
    result = cli(
        "--sandbox", "send", "--to-file", "-", "--template", "--message-file", str(template),
        input="phone,first_name\n+12125550100,Ana\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    outbox = cli("sandbox", "outbox", "--json").json()["outbox"]
    assert [(e["address"], e["message"]) for e in outbox] == [("tel:+12125550100", "Hello Ana")]


def test_without_template_braces_are_plain_text(cli: Cli) -> None:
    assert cli("--sandbox", "send", "+12125550100", "-m", "Hi {first_name}").exit_code == 0
    outbox = cli("sandbox", "outbox", "--json").json()["outbox"]
    assert [e["message"] for e in outbox] == ["Hi {first_name}"]


@pytest.mark.parametrize(
    ("template", "csv", "expected"),
    [
        ("Hi {0.__class__}", "phone,first_name\n+12125550100,Ana\n", "attribute access"),
        ("Hi {first_name.upper}", "phone,first_name\n+12125550100,Ana\n", "attribute access"),
        ("Hi {first_name[0]}", "phone,first_name\n+12125550100,Ana\n", "indexing"),
        ("Hi {first_name:>10}", "phone,first_name\n+12125550100,Ana\n", "format spec"),
        ("Hi {first_name", "phone,first_name\n+12125550100,Ana\n", "never closed"),
        ("Hi first_name}", "phone,first_name\n+12125550100,Ana\n", "closes nothing"),
        ("Hi {nme}", "phone,first_name\n+12125550100,Ana\n", "does not have: {nme}"),
        ("Hi {first_name}", "phone,first_name,first_name\n+12125550100,A,B\n", "twice"),
        ("Hi {first_name}", "phone,first_name\n+12125550100,\n", "no value for a template"),
        ("Hi {first_name}", "+12125550100,Ana\n", "needs a CSV header"),
        ("Hi {first_name}", 'phone,first_name\n+12125550100,"Ana\n', "larger than"),
        ("Hi {first_name}", "phone,first_name\n+12125550100,Ana\n", "longer than"),
        ("Hi {first_name}", "phone,first_name\nnot-a-number,Ana\n", "not a phone number"),
    ],
)
def test_hostile_templates_and_csvs_exit_2_with_one_clear_line(
    cli: Cli, tmp_path: Path, template: str, csv: str, expected: str
) -> None:
    people = tmp_path / "people.csv"
    if expected == "larger than":  # an unclosed quote swallowing a 10 MB rest of the file
        csv += ("x" * 1023 + "\n") * (10 << 10)
    if expected == "longer than":  # a 10 MB cell on one line
        csv += "+12125550101," + "x" * (10 << 20) + "\n"
    people.write_text(csv, encoding="utf-8")
    result = cli("--sandbox", "send", "--to-file", str(people), "--template", "-m", template)
    assert result.exit_code == 2, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("attsms: error: ") and expected in first, result.stderr
    assert cli("sandbox", "outbox", "--json").json()["total"] == 0


def test_bom_and_formulas_are_plain_text(cli: Cli, tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_bytes("\ufeffphone,first_name\n+12125550100,=SUM(A1)\n".encode())
    result = cli("--sandbox", "send", "--to-file", str(people), "--template", "-m", "{first_name}")
    assert result.exit_code == 0, result.stderr
    outbox = cli("sandbox", "outbox", "--json").json()["outbox"]
    assert [e["message"] for e in outbox] == ["=SUM(A1)"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("+12125550100", "--template", "-m", "Hi"), "--template needs --to-file"),
        (("+12125550100", "--default", "a=b", "-m", "Hi"), "--default goes with --template"),
    ],
)
def test_template_flag_misuse_exits_2(cli: Cli, args: tuple[str, ...], expected: str) -> None:
    result = cli("--sandbox", "send", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"attsms: error: {expected}")


def test_kill_9_mid_job_then_a_rerun_sends_nobody_twice(
    tmp_path: Path, sandbox_http: Callable[..., SandboxHttp]
) -> None:
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    from collections import Counter

    server = sandbox_http(latency_ms=20)
    rows = 300
    people = _csv(tmp_path / "people.csv", rows)
    argv = [
        sys.executable, "-m", "attsms", "send", "--to-file", str(people), "--template",
        "-m", TEMPLATE, "--dedupe-key", "crash", "--concurrency", "4", "--json",
    ]  # fmt: skip
    env = {**os.environ, **server.env()}
    with (tmp_path / "killed.out").open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 30
    while server.stats()["send_requests"] < 60 and proc.poll() is None:
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert max(Counter(server.stats()["delivered_to"]).values()) == 1

    rerun = subprocess.run(argv, capture_output=True, env=env, timeout=60, check=False)
    report = json.loads(rerun.stdout)
    results = Counter(row["result"] for row in report["messages"])
    assert set(results) <= {"accepted", "already-sent", "unknown"}
    assert sum(results.values()) == rows
    # Batches in flight at the kill are reported unknown (exit 5), not resent.
    assert rerun.returncode == (5 if results["unknown"] else 0), rerun.stderr
    sent = _outbox(server)
    assert max(Counter(address for address, _ in sent).values()) == 1  # nobody twice
    unknown = {row["address"] for row in report["messages"] if row["result"] == "unknown"}
    expected = {(f"tel:{_number(i)}", _rendered(i)) for i in range(rows)}
    assert set(sent) <= expected
    assert {a for a, _ in expected} - {a for a, _ in sent} <= unknown
