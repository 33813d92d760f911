"""Retention never forgets a promise: pruning the history (ATTSMS_HISTORY_KEEP_BATCHES / _DAYS)
never makes a keyed job's re-run send to someone twice.

- A keyed job whose batches are not all settled (one failed, one deferred) keeps its rows: the
  re-run needs them to send only the rest.
- A settled keyed job's rows may go; its key is then retired (the job's record stays, without
  its batches) and a re-run with it is refused with one line, exit 2, nothing sent.

Counted on the HTTP sandbox's own `/sandbox/stats` `delivered_to`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from attsms.core.errors import ExitCode
from tests.helpers.support import Cli, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
UsePoint = Callable[[SandboxHttp], SandboxHttp]


def _delivered(server: SandboxHttp) -> Counter[str]:
    return Counter(server.stats()["delivered_to"])


def _keyed_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], tuple[str, ...]]:
    """A 120-recipient job (3 batches) under the key K, with a history that keeps one batch."""
    monkeypatch.setenv("ATTSMS_HISTORY_KEEP_BATCHES", "1")
    to = tmp_path / "to.txt"
    numbers = [f"+1212555{i:04d}" for i in range(120)]
    to.write_text("\n".join(numbers) + "\n")
    return numbers, ("send", "--to-file", str(to), "-m", "nightly", "--dedupe-key", "K", "--json")


def test_a_pruned_keyed_job_is_refused_on_re_run_never_resent(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: UsePoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = use_server(sandbox_http())
    numbers, job = _keyed_job(tmp_path, monkeypatch)

    first = cli(*job)
    assert first.exit_code == 0, first.stderr
    other = cli("send", "+12125559999", "-m", "something else")
    assert other.exit_code == 0, other.stderr
    # The job's batches are gone from the history: its re-run cannot tell who got it.
    again = cli(*job)
    assert again.exit_code == ExitCode.USAGE, again.stderr
    assert again.stdout == ""
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1, again.stderr
    assert "'K'" in lines[0] and "pruned" in lines[0] and "new key" in lines[0]
    assert "Traceback" not in again.stderr

    delivered = _delivered(server)
    assert all(count == 1 for count in delivered.values()), delivered
    assert len(delivered) == len(numbers) + 1
    # Refused again, however often cron tries.
    assert cli(*job).exit_code == ExitCode.USAGE
    assert _delivered(server) == delivered


def test_an_unfinished_keyed_job_keeps_its_rows_and_its_re_run_sends_only_the_rest(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: UsePoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = use_server(sandbox_http())
    numbers, job = _keyed_job(tmp_path, monkeypatch)
    # The first batch is refused (surely not sent): the job is not finished.
    server.faults({"path_prefix": "/sms/v3/messaging/outbox", "status": 400, "count": 1})
    first = cli(*job, "--concurrency", "1")
    assert first.exit_code == ExitCode.PARTIAL, first.stderr
    assert len(_delivered(server)) == 70  # batches of 50, 50, 20

    for n in range(3):  # unrelated sends, each pruning to the newest batch
        other = cli("send", f"+1212555990{n}", "-m", "something else")
        assert other.exit_code == 0, other.stderr

    again = cli(*job)
    assert again.exit_code == 0, again.stderr
    delivered = _delivered(server)
    assert all(count == 1 for count in delivered.values()), delivered
    assert len(delivered) == len(numbers) + 3
