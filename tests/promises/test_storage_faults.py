"""A data, cache or config dir that cannot be written: read-only, full, or not a directory at all.

The rule the tests hold the commands to: nothing is asked of the service whose answer cannot be
recorded, and the user gets one line naming the file and the cause (exit 1).

Fault -> what each command does (all errors exit 1, one line, no traceback):

- data dir read-only (new, or holding stores), or under a regular file:
  `inbox pull`, `send` and `status ID` fail before any call to the service.
- disk full (new stores, or existing ones): `inbox pull` and `send` fail before any call.
- disk filling up mid-pull: the batch that could not be stored is printed on stdout (the service
  has forgotten it), the batches before it are stored; exit 1.
- disk filling up mid-send: a batch that cannot be written to the history is not sent (`failed`);
  exit 4 (or 5 when an answer could not be recorded); a re-run with the key sends the rest once.
- config dir unwritable: `login` fails before any token call, and saves nothing.
- cache dir unwritable: every command works, with one warning; each run fetches its own token.

Why a send whose batch cannot be written to the history is not sent: the history is what makes a
re-run with `--dedupe-key` skip what went and what may have gone; a request it does not know of
could be sent again. Why an unwritable token cache is only a warning: it is a cache (XDG: data
that can be lost); a cron job that can send should not stop because a token cannot be kept. The
cost, named in the warning, is one token call per run and no shared refresh between processes.

Read-only and full disks are real: a small tmpfs, remounted read-only or filled up. That needs
root (root ignores permission bits, so chmod cannot make a directory read-only for it); without
root, read-only is chmod 0500 and the disk-full cases are skipped. "Under a regular file" runs
anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from attsms.core.errors import ExitCode
from tests.helpers.support import Cli, Result, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
ALICE = "+12125550100"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


class Disk:
    """A small file system of its own (tmpfs as root), to make read-only or full."""

    def __init__(self, path: Path, *, tmpfs: bool) -> None:
        self.path = path
        self.tmpfs = tmpfs
        self._filler = path / "filler"

    def read_only(self) -> None:
        if self.tmpfs:
            _mount("-o", "remount,ro", str(self.path))
        else:
            self.path.chmod(0o500)
            for sub in self.path.rglob("*"):
                sub.chmod(0o500 if sub.is_dir() else 0o400)

    def writable(self) -> None:
        if self.tmpfs:
            _mount("-o", "remount,rw", str(self.path))
        else:
            self.path.chmod(0o700)
            for sub in self.path.rglob("*"):
                sub.chmod(0o700 if sub.is_dir() else 0o600)

    def fill(self, leave: int = 0) -> None:
        """Take all the free space but `leave` bytes (rounded to blocks)."""
        assert self.tmpfs
        block = os.statvfs(self.path).f_bsize
        with self._filler.open("ab", buffering=0) as f:
            while shutil.disk_usage(self.path).free > leave:
                try:
                    f.write(b"\0" * block)
                except OSError:
                    break

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Callable[..., Disk]]:
    """`disk(size)`: a tmpfs of `size` as root; else a plain directory (chmod for read-only)."""
    mounted: list[Path] = []

    def make(size: str = "4m", *, need_tmpfs: bool = False) -> Disk:
        path = tmp_path / f"disk{len(mounted)}"
        path.mkdir()
        if IS_ROOT:
            try:
                _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path))
            except (OSError, subprocess.CalledProcessError):
                pytest.skip("cannot mount a tmpfs here")
            mounted.append(path)
            return Disk(path, tmpfs=True)
        if need_tmpfs:
            pytest.skip("a full disk needs a tmpfs, and mounting one needs root")
        return Disk(path, tmpfs=False)

    yield make
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Callable[..., SandboxHttp]:
    def point(server: SandboxHttp, **dirs: Path) -> SandboxHttp:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        for kind, path in dirs.items():
            monkeypatch.setenv(f"ATTSMS_{kind.upper()}_DIR", str(path))
        return server

    return point


def one_error_line(result: Result, *words: str) -> str:
    """The run failed with exit 1 and one `attsms: error:` line holding `words`; returns it."""
    assert result.exit_code == ExitCode.ERROR, result
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("attsms: error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def calls(server: SandboxHttp, operation: str) -> int:
    return int(server.stats()["attempts"].get(operation, 0))


def stored_texts(cli: Cli) -> list[str]:
    result = cli("inbox", "export", "--json")  # in the order stored
    assert result.exit_code == 0, result.stderr
    return [m["text"] for m in result.json()]


def send_one(cli: Cli, number: str = ALICE) -> str:
    sent = cli("send", number, "-m", "hello", "--json")
    assert sent.exit_code == 0, sent.stderr
    message_id: str = sent.json()["messages"][0]["message_id"]
    return message_id


# --- read-only ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stores", ["new", "existing"])
def test_read_only_data_dir_is_one_clear_error_and_the_service_is_not_called(
    cli: Cli, sandbox_http: StartSandbox, use: Callable[..., SandboxHttp], disk: Any, stores: str
) -> None:
    fs = disk()
    server = use(sandbox_http(), data=fs.path / "data")
    send_one(cli, "+12125550111")
    if stores == "existing":
        server.inject(ALICE, "before", count=2)
        assert cli("inbox", "pull", "12345", "-q").exit_code == 0
    else:
        shutil.rmtree(fs.path / "data")
    data = fs.path / "data"
    server.inject(ALICE, "while read-only", count=3)
    fs.read_only()
    try:
        before = server.stats()["attempts"]
        pull = cli("inbox", "pull", "12345")
        one_error_line(pull, str(data / "inbox"))
        assert "writable" in pull.stderr
        send = cli("send", ALICE, "-m", "hello")
        one_error_line(send, str(data))
        assert server.stats()["attempts"] == before  # no inbox or send call at all
    finally:
        fs.writable()

    # Nothing was taken from the service: the next pull gets every message.
    assert cli("inbox", "pull", "12345", "-q").exit_code == 0
    assert stored_texts(cli)[-3:] == [f"while read-only #{n}" for n in (1, 2, 3)]


@pytest.mark.parametrize("stores", ["new", "existing"])
def test_read_commands_work_on_a_read_only_data_dir(
    cli: Cli, sandbox_http: StartSandbox, use: Callable[..., SandboxHttp], disk: Any, stores: str
) -> None:
    # history, status, inbox list/export and optout list change nothing: they open read-only.
    fs = disk()
    server = use(sandbox_http(), data=fs.path / "data")
    message_id = send_one(cli, "+12125550111")
    server.inject(ALICE, "before", count=2)
    server.inject("+12125550122", "STOP")
    assert cli("inbox", "pull", "12345", "-q").exit_code == 0
    if stores == "new":
        shutil.rmtree(fs.path / "data")
    fs.read_only()
    try:
        history = cli("history", "--json")
        inbox = cli("inbox", "list", "--json")
        export = cli("inbox", "export")
        optouts = cli("optout", "list", "--json")
        status = cli("status", message_id, "--json")
        listed = [r.exit_code for r in (history, inbox, export, optouts)]
        assert listed == [0, 0, 0, 0], [history, inbox, export, optouts]
    finally:
        fs.writable()
    if stores == "new":
        assert history.json() == [] and inbox.json() == [] and optouts.json() == []
        one_error_line(status, str(fs.path / "data"))  # no history to read, none to write
        return
    assert [b["message_id"] for b in history.json()] == [message_id]
    # (sorted: `inbox list` orders by the messages' own time, one second for all three here)
    assert sorted(m["text"] for m in inbox.json()) == ["STOP", "before #1", "before #2"]
    assert len(export.stdout.splitlines()) == 3
    assert [o["number"] for o in optouts.json()] == ["+12125550122"]
    # status asks the service (which keeps delivery statuses) and shows the answer; the
    # read-only history just does not keep it.
    assert status.exit_code == 0, status.stderr
    assert message_id in status.stdout


def test_data_dir_under_a_regular_file_is_one_clear_error(
    cli: Cli, sandbox_http: StartSandbox, use: Callable[..., SandboxHttp], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be\n")
    server = use(sandbox_http(), data=blocker / "data")
    server.inject(ALICE, "hi")
    for argv in (["inbox", "pull", "12345"], ["send", ALICE, "-m", "x"], ["status", "SMS1"]):
        one_error_line(cli(*argv), str(blocker / "data"))
    assert calls(server, "inbox") + calls(server, "send") + calls(server, "status") == 0


# --- full --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stores", ["new", "existing"])
def test_full_disk_is_one_clear_error_and_the_service_is_not_called(
    cli: Cli, sandbox_http: StartSandbox, use: Callable[..., SandboxHttp], disk: Any, stores: str
) -> None:
    fs = disk(need_tmpfs=True)
    server = use(sandbox_http(), data=fs.path / "data")
    if stores == "existing":
        send_one(cli)
        server.inject(ALICE, "before", count=2)
        assert cli("inbox", "pull", "12345", "-q").exit_code == 0
    server.inject(ALICE, "while full", count=3)
    fs.fill()
    before = server.stats()["attempts"]
    one_error_line(cli("inbox", "pull", "12345"), str(fs.path / "data"), "disk is full")
    one_error_line(cli("send", ALICE, "-m", "hello"), str(fs.path / "data"), "disk is full")
    assert server.stats()["attempts"] == before

    fs.free()
    assert cli("inbox", "pull", "12345", "-q").exit_code == 0
    assert stored_texts(cli)[-3:] == [f"while full #{n}" for n in (1, 2, 3)]


def test_disk_filling_up_mid_pull_prints_what_it_could_not_store(
    cli: Cli, sandbox_http: StartSandbox, use: Callable[..., SandboxHttp], disk: Any
) -> None:
    fs = disk("1m", need_tmpfs=True)
    server = use(sandbox_http(inbox_batch_size=200), data=fs.path / "data")
    assert cli("inbox", "pull", "12345", "-q").exit_code == 0  # the store exists, nearly empty
    text = "y" * 1000
    server.inject(ALICE, text, count=2000)  # ~2 MB of text: more than the disk holds
    fs.fill(leave=600_000)
    pull = cli("inbox", "pull", "12345", "--jsonl")
    line = one_error_line(pull, "could not be stored", "disk")
    assert "printed on stdout" in line
    printed = [json.loads(row)["text"] for row in pull.stdout.splitlines()]
    stored = stored_texts(cli)
    pending = server.inject(ALICE, "probe")["pending"] - 1
    fetched = 2000 - pending
    # Every message the service gave out is in the store or on stdout (the unstored batch).
    assert Counter(stored) + Counter(printed) >= Counter(
        f"{text} #{n}" for n in range(1, fetched + 1)
    )
    assert 0 < len(stored) < fetched and pending > 0
    assert len(printed) == fetched  # the stored ones as they came, then the unstored batch


def test_disk_filling_up_mid_send_sends_no_batch_it_cannot_record(
    cli: Cli, sandbox_http: StartSandbox, use: Callable[..., SandboxHttp], disk: Any, tmp_path: Path
) -> None:
    # Room for the history's write-ahead log once freed: it grows to ~4 MB between checkpoints.
    fs = disk("8m", need_tmpfs=True)
    server = use(sandbox_http(), data=fs.path / "data")
    send_one(cli, "+12125559999")  # the history exists
    recipients = [f"+1212{5000000 + i:07d}" for i in range(4000)]
    to_file = tmp_path / "to.txt"
    to_file.write_text("\n".join(recipients) + "\n")
    argv = ["send", "--to-file", str(to_file), "-m", "z" * 600, "--dedupe-key", "big", "--json"]
    fs.fill(leave=150_000)
    # A process of its own, as cron runs it: with the disk full it may not even release its
    # claim on the key, which the next run takes over because its holder is gone.
    first = cli.process(*argv, "--concurrency", "4")
    assert first.exit_code in (ExitCode.PARTIAL, ExitCode.UNKNOWN_OUTCOME), first.stderr
    assert "Traceback" not in first.stderr
    rows = first.json()["messages"]
    results = Counter(r["result"] for r in rows)
    assert results["failed"] > 0 and results["accepted"] > 0
    delivered = Counter(server.stats()["delivered_to"])
    failed = {r["address"] for r in rows if r["result"] == "failed"}
    assert not failed & set(delivered), "a batch the history could not record was sent"
    assert set(delivered.values()) == {1}

    fs.free()
    again = cli(*argv)
    assert again.exit_code in (0, ExitCode.UNKNOWN_OUTCOME), again.stderr
    delivered = Counter(server.stats()["delivered_to"])
    assert set(delivered.values()) == {1}
    unknown = {r["address"] for r in again.json()["messages"] if r["result"] == "unknown"}
    assert {f"tel:{n}" for n in recipients} - unknown <= set(delivered)


# --- cache and config --------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["read-only", "under a file"])
def test_unwritable_token_cache_warns_once_and_every_command_still_works(
    cli: Cli,
    sandbox_http: StartSandbox,
    use: Callable[..., SandboxHttp],
    disk: Any,
    tmp_path: Path,
    fault: str,
) -> None:
    if fault == "read-only":
        fs = disk()
        cache = fs.path / "cache"
        cache.mkdir(mode=0o700)
        fs.read_only()
    else:
        (tmp_path / "file").write_text("x")
        cache = tmp_path / "file" / "cache"
    server = use(sandbox_http(), cache=cache)
    server.inject(ALICE, "hi")
    for argv in (
        ["send", ALICE, "-m", "hello", "--json"],
        ["inbox", "pull", "12345", "--json"],
        ["status", "--json"],
    ):
        result = cli(*argv)
        assert result.exit_code == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if "warning" in line]
        assert len(warnings) == 1, result.stderr
        assert str(cache) in warnings[0] and "token" in warnings[0]
        json.loads(result.stdout)  # the data on stdout is untouched by the warning
    # No cache: each run fetched its own token.
    assert server.stats()["operations"]["token"] == 3


def test_login_with_an_unwritable_config_dir_fails_before_any_token_call(
    cli: Cli, sandbox_http: StartSandbox, use: Callable[..., SandboxHttp], disk: Any
) -> None:
    fs = disk()
    config = fs.path / "config"
    server = use(sandbox_http(), config=config)
    fs.read_only()
    login = cli(
        "login", "--client-id", server.config.client_id, "--client-secret-stdin",
        "--base-url", server.url, "--store", "file",
        input=server.config.client_secret,
    )  # fmt: skip
    one_error_line(login, str(config))
    assert calls(server, "token") == 0
    fs.writable()
    assert not config.exists() or list(config.iterdir()) == []  # no secret file, no config


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_a_full_temporary_dir_stops_a_template_send_before_anything_is_sent(
    cli: Cli,
    sandbox_http: StartSandbox,
    use: Callable[..., SandboxHttp],
    disk: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    # A template send spills its plan (and stdin's CSV) to TMPDIR: full, it is one line, exit 1,
    # and no request goes out (the plan is on disk before the first one).
    import tempfile

    fs = disk(need_tmpfs=True)
    server = use(sandbox_http(), data=tmp_path / "data")
    people = tmp_path / "people.csv"
    rows = "".join(f"+1212555{i:04d},Guest{i}\n" for i in range(200))
    people.write_text("phone,name\n" + rows, encoding="utf-8")
    monkeypatch.setattr(tempfile, "tempdir", str(fs.path))  # what TMPDIR does in a new process
    fs.fill()
    before = server.stats()["attempts"]
    if source == "file":
        result = cli("send", "--to-file", str(people), "--template", "-m", "Hi {name}")
        one_error_line(result, "the plan of the send", str(fs.path), "No space left")
    else:
        result = cli(
            "send", "--to-file", "-", "--template", "-m", "Hi {name}", input=people.read_text()
        )
        one_error_line(result, "the CSV from stdin", str(fs.path), "No space left")
    assert server.stats()["attempts"] == before

    # A dry run spills the plan as the send does: it fails alike, not "all is well".
    dry = cli("send", "--to-file", str(people), "--template", "-m", "Hi {name}", "--dry-run")
    one_error_line(dry, "the plan of the send", str(fs.path), "No space left")

    fs.free()
    sent = cli("send", "--to-file", str(people), "--template", "-m", "Hi {name}", "-q")
    assert sent.exit_code == 0, sent.stderr
    assert server.stats()["send_requests"] == 200
