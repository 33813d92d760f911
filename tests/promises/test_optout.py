"""Nobody who texted STOP is texted again, and one opt-out does not stop every later job.

A STOP pulled from the sandbox's inbox (the real path: `inbox pull` over HTTP) makes later sends
skip that number and report it `opted-out`, while the rest go and the command exits 0. A keyed
job's identity is the text and the SET of recipients: skipping someone, or the same numbers in
another order, is still the same job. Counted on the sandbox server's `/sandbox/stats`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attsms.core.errors import ExitCode
from tests.helpers.support import Cli, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
SHORT_CODE = "12345"


def _numbers(count: int) -> list[str]:
    return [f"+1212{5000000 + i:07d}" for i in range(count)]


def _texted(server: SandboxHttp) -> Counter[str]:
    return Counter(server.stats()["delivered_to"])


def _stop(cli: Cli, server: SandboxHttp, number: str, text: str = "Stop.") -> None:
    server.inject(number, text, to=SHORT_CODE)
    pulled = cli("inbox", "pull", SHORT_CODE, "-q")
    assert pulled.exit_code == 0, pulled.stderr


def _write(path: Path, numbers: list[str]) -> Path:
    path.write_text("\n".join(numbers) + "\n")
    return path


def test_a_nightly_keyed_job_goes_on_after_one_recipient_opts_out(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, tmp_path: Path
) -> None:
    server = use_server(sandbox_http())
    numbers = _numbers(150)
    to = _write(tmp_path / "to.txt", numbers)
    first = cli("send", "--to-file", str(to), "-m", "nightly", "--dedupe-key", "T1", "--json")
    assert first.exit_code == 0, first.stderr
    _stop(cli, server, numbers[7])

    again = cli("send", "--to-file", str(to), "-m", "nightly", "--dedupe-key", "T1", "--json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["summary"]["already_sent"] == 150  # the STOP came after it went

    # The next night's job: a new key, the same list. The one who said STOP is skipped.
    tomorrow = cli("send", "--to-file", str(to), "-m", "nightly", "--dedupe-key", "T2", "--json")
    assert tomorrow.exit_code == 0, tomorrow.stderr
    document = tomorrow.json()
    assert document["summary"]["accepted"] == 149
    assert document["summary"]["opted_out"] == 1
    rows = {row["to"]: row["result"] for row in document["messages"]}
    assert rows[numbers[7]] == "opted-out"
    texted = _texted(server)
    assert texted[f"tel:{numbers[7]}"] == 1  # the first night only
    assert all(texted[f"tel:{n}"] == 2 for n in numbers if n != numbers[7])

    # The same job again, its numbers in another order: nothing is sent, nobody twice.
    shuffled = numbers[:]
    random.Random(5).shuffle(shuffled)
    reordered = _write(tmp_path / "shuffled.txt", shuffled)
    rerun = cli(
        "send", "--to-file", str(reordered), "-m", "nightly", "--dedupe-key", "T2", "--json"
    )
    assert rerun.exit_code == 0, rerun.stderr
    assert rerun.json()["summary"]["already_sent"] == 149
    assert rerun.json()["summary"]["opted_out"] == 1
    assert _texted(server) == texted


def test_opted_out_numbers_are_skipped_and_reported_in_every_format(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http())
    _stop(cli, server, "+12125550101", "OPT OUT")
    plain = cli("send", "2125550100", "2125550101", "2125550102", "-m", "hi")
    assert plain.exit_code == 0, plain.stderr
    results = {line.split("\t")[1]: line.split("\t")[2] for line in plain.lines}
    assert results == {
        "+12125550100": "accepted",
        "+12125550101": "opted-out",
        "+12125550102": "accepted",
    }
    assert "1 opted out" in plain.stderr
    assert server.stats()["delivered_to"].get("tel:+12125550101") is None

    dry = cli("send", "2125550100", "2125550101", "-m", "hi", "--dry-run", "--json")
    assert dry.exit_code == 0
    assert dry.json()["opted_out"] == ["+12125550101"]
    assert dry.json()["requests"] == 1
    dry_plain = cli("send", "2125550100", "2125550101", "-m", "hi", "--dry-run")
    assert "opted out (skipped)\t1: +12125550101" in dry_plain.stdout

    forced = cli("send", "2125550101", "-m", "hi", "--ignore-opt-out")
    assert forced.exit_code == 0
    assert server.stats()["delivered_to"]["tel:+12125550101"] == 1


def test_a_send_in_which_everyone_opted_out_sends_nothing_and_exits_2(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http())
    _stop(cli, server, "+12125550101")
    before = server.stats()["send_requests"]
    result = cli("send", "2125550101", "-m", "hi", "--dedupe-key", "all-out")
    assert result.exit_code == ExitCode.USAGE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "opted out" in lines[0] and "+12125550101" in lines[0]
    assert result.stdout == ""
    assert server.stats()["send_requests"] == before


def test_a_template_dry_run_names_the_opted_out_and_the_send_skips_them(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, tmp_path: Path
) -> None:
    server = use_server(sandbox_http())
    _stop(cli, server, "+12125550101", "Stop.")
    people = tmp_path / "people.csv"
    people.write_text(
        "phone,name\n+12125550100,Ann\n+12125550101,Bo\n+12125550102,Cy\n", encoding="utf-8"
    )
    base = ("send", "--to-file", str(people), "--template", "-m", "Hi {name}")
    dry = cli(*base, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert dry.json()["opted_out"] == ["+12125550101"]
    assert dry.json()["recipients"] == 3
    dry_plain = cli(*base, "--dry-run")
    assert "opted out (texted STOP), would be skipped: 1: +12125550101" in dry_plain.stdout
    forced = cli(*base, "--dry-run", "--json", "--ignore-opt-out")
    assert forced.json()["opted_out"] == []
    assert server.stats()["send_requests"] == 0  # dry runs send nothing

    sent = cli(*base, "--json")
    assert sent.exit_code == 0, sent.stderr
    rows = {row["to"]: row["result"] for row in sent.json()["messages"]}
    assert rows == {
        "+12125550100": "accepted",
        "+12125550101": "opted-out",
        "+12125550102": "accepted",
    }
    assert server.stats()["delivered_to"].get("tel:+12125550101") is None
