"""The PostgreSQL store as a user meets it: choosing it, its secret, its faults (one line, the
right exit code), `store status` and `store copy`.

Against a real throwaway PostgreSQL 15 cluster (tests/conftest_pg.py), and the sandbox over HTTP.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from attsms.core.errors import ExitCode
from tests.helpers import pg
from tests.helpers.support import Cli, Result, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
ALICE, BOB = "+12125550100", "+12125550101"


@pytest.fixture(autouse=True)
def store_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """`attsms store` until app.py lists it (the lead registers commands)."""
    from attsms.cli import app

    if "store" not in app.COMMANDS:
        monkeypatch.setitem(app.COMMANDS, "store", app.Entry("store", "app"))


def one_error(result: Result, code: int, *words: str) -> str:
    assert result.exit_code == code, result
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("attsms: error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- choosing it, and its faults ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user@localhost:port/db",
        "mysql://user@localhost/db",
        "postgresql:///db",
    ],
)
def test_a_bad_url_is_exit_2_in_one_line(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("ATTSMS_DATABASE_URL", url)
    for argv in (["history"], ["optout", "list"], ["inbox", "list"]):
        one_error(cli(*argv), ExitCode.USAGE, "URL")


def test_an_unreachable_database_is_75_and_a_send_sends_nothing(
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_http: StartSandbox,
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    server = sandbox_http()
    use_server(server)
    url = f"postgresql://attsms:s3cret-pw@127.0.0.1:{_closed_port()}/attsms"
    monkeypatch.setenv("ATTSMS_DATABASE_URL", url)
    # An opt-out it cannot check is a reason not to text.
    sent = cli("send", ALICE, "-m", "hello")
    line = one_error(sent, ExitCode.TEMPFAIL, "cannot reach the database", "127.0.0.1")
    assert "s3cret-pw" not in sent.stderr and "s3cret-pw" not in line
    assert server.stats()["attempts"].get("send", 0) == 0
    one_error(cli("history"), ExitCode.TEMPFAIL, "cannot reach the database")


def test_wrong_credentials_are_exit_3_and_the_password_is_never_printed(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, pg_cluster: pg.Cluster
) -> None:
    url = pg_cluster.url().replace(pg_cluster.password, "not-the-password")
    monkeypatch.setenv("ATTSMS_DATABASE_URL", url)
    result = cli("--verbose", "history")
    one_error(result, ExitCode.AUTH, "refused the credentials")
    assert "not-the-password" not in result.stderr + result.stdout


@pytest.mark.parametrize("where", ["PGPASSWORD", "pgpass", "keyring"])
def test_the_password_comes_from_the_environment_or_pgpass(
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    pg_url: str,
    pg_cluster: pg.Cluster,
    tmp_path: Path,
    where: str,
) -> None:
    bare = pg_url.replace(f":{pg_cluster.password}@", "@")
    monkeypatch.setenv("ATTSMS_DATABASE_URL", bare)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    if where == "PGPASSWORD":
        monkeypatch.setenv("PGPASSWORD", pg_cluster.password)
    elif where == "keyring":
        # Saved under service attsms-database, user: the URL (it holds no password).
        store = tmp_path / "keyring.json"
        store.write_text(json.dumps({f"attsms-database/{bare}": pg_cluster.password}))
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.helpers.fake_keyring.FileKeyring")
        monkeypatch.setenv("ATTSMS_TEST_KEYRING_FILE", str(store))
    else:
        pgpass = tmp_path / ".pgpass"
        pgpass.write_text(f"*:*:*:{pg_cluster.user}:{pg_cluster.password}\n")
        pgpass.chmod(0o600)
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("PGPASSFILE", str(pgpass))
    added = cli("optout", "add", ALICE)
    assert added.exit_code == 0, added.stderr
    listed = cli("optout", "list", "--json")
    assert [o["number"] for o in listed.json()] == [ALICE]


def test_store_status_names_the_backend_without_the_password(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, backend: str, pg_cluster: pg.Cluster
) -> None:
    empty = cli("store", "status", "--json")
    assert empty.exit_code == 0, empty.stderr
    assert empty.json()["backend"] == backend
    assert empty.json()["history"] is None and empty.json()["inboxes"] == []
    assert cli("optout", "add", ALICE, BOB).exit_code == 0
    shown = cli("store", "status", "--json")
    document = shown.json()
    assert document["inboxes"] == [
        {"profile": "default", "schema": 2, "messages": 0, "opt_outs": 2}
    ]
    if backend == "postgresql":
        assert pg_cluster.password not in shown.stdout + shown.stderr
        assert document["location"].startswith(f"postgresql://{pg_cluster.user}:***@")
    text = cli("store", "status")
    assert f"backend:   {backend}" in text.stdout


def test_store_copy_moves_history_inbox_and_opt_outs_once(
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_http: StartSandbox,
    use_server: Callable[[SandboxHttp], SandboxHttp],
    pg_url: str,
    pg_cluster: pg.Cluster,
) -> None:
    server = sandbox_http()
    use_server(server)
    # This machine's local files: two sends, two messages (one a STOP), a manual opt-out.
    monkeypatch.delenv("ATTSMS_DATABASE_URL", raising=False)
    assert cli("send", ALICE, "-m", "one").exit_code == 0
    assert cli("send", ALICE, BOB, "-m", "two", "--dedupe-key", "job-1").exit_code == 0
    server.inject(BOB, "STOP")
    server.inject(ALICE, "hello")
    assert cli("inbox", "pull", "12345", "-q").exit_code == 0
    assert cli("optout", "add", "+12125550199").exit_code == 0

    bare = pg_url.replace(f":{pg_cluster.password}@", "@")
    monkeypatch.setenv("PGPASSWORD", pg_cluster.password)
    refused = cli("store", "copy", "--to", pg_url)  # a password on the command line
    one_error(refused, ExitCode.USAGE, "holds a password")
    assert pg_cluster.password not in refused.stderr

    first = cli("store", "copy", "--to", bare, "--json")
    assert first.exit_code == 0, first.stderr
    assert first.json()["batches"] == 2 and first.json()["messages"] == 2
    assert first.json()["opt_outs"] == 2 and first.json()["jobs"] == 1
    again = cli("store", "copy", "--to", bare, "--json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["batches"] == 0 and again.json()["batches_already_there"] == 2
    assert again.json()["messages"] == 0 and again.json()["opt_outs"] == 0

    monkeypatch.setenv("ATTSMS_DATABASE_URL", bare)
    shared = cli("store", "status", "--json").json()
    assert shared["history"]["batches"] == 2 and shared["history"]["recipients"] == 3
    assert shared["inboxes"][0]["messages"] == 2 and shared["inboxes"][0]["opt_outs"] == 2
    history = cli("history", "--json").json()
    assert sorted(b["message"] for b in history) == ["one", "two"]
    # The copied job carries on: a re-run with its key sends nothing again.
    before = server.stats()["delivered_to"]
    rerun = cli("send", ALICE, BOB, "-m", "two", "--dedupe-key", "job-1", "--json")
    assert rerun.exit_code == 0, rerun.stderr
    assert server.stats()["delivered_to"] == before


def test_store_copy_leaves_the_sandbox_out(
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_http: StartSandbox,
    use_server: Callable[[SandboxHttp], SandboxHttp],
    pg_url: str,
    pg_cluster: pg.Cluster,
) -> None:
    # --sandbox's pretend sends, replies and opt-outs live in the same local files, under the
    # profile "sandbox": they must never land in a team's shared database (issue 23 §9).
    server = use_server(sandbox_http())
    monkeypatch.delenv("ATTSMS_DATABASE_URL", raising=False)
    assert cli("send", ALICE, "-m", "real").exit_code == 0
    server.inject(ALICE, "a real reply")
    assert cli("inbox", "pull", "12345", "-q").exit_code == 0
    assert cli("--sandbox", "send", BOB, "-m", "pretend", "--dedupe-key", "demo").exit_code == 0
    assert cli("--sandbox", "sandbox", "inject", "--from", BOB, "STOP").exit_code == 0
    assert cli("--sandbox", "inbox", "pull", "-q").exit_code == 0
    assert cli("--sandbox", "optout", "add", "+12125550177").exit_code == 0

    bare = pg_url.replace(f":{pg_cluster.password}@", "@")
    monkeypatch.setenv("PGPASSWORD", pg_cluster.password)
    copied = cli("store", "copy", "--to", bare, "--json")
    assert copied.exit_code == 0, copied.stderr
    report = copied.json()
    assert (report["batches"], report["jobs"], report["messages"]) == (1, 0, 1), report
    assert report["profiles"] == ["default"] and report["opt_outs"] == 0, report

    monkeypatch.setenv("ATTSMS_DATABASE_URL", bare)
    shared = cli("store", "status", "--json").json()
    assert [i["profile"] for i in shared["inboxes"]] == ["default"], shared
    assert shared["history"]["batches"] == 1, shared
    assert [b["message"] for b in cli("history", "--json").json()] == ["real"]


def test_start_up_and_help_never_load_the_driver(pg_url: str) -> None:
    # psycopg costs ~0.1 s to import: only a command that opens the shared store may pay it.
    probe = (
        "import sys, io, contextlib\n"
        "from attsms.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(sys.argv[1:])\n"
        "sys.__stdout__.write(str(any(m.startswith('psycopg') for m in sys.modules)))\n"
    )
    import os
    import subprocess
    import sys

    env = {**os.environ, "ATTSMS_DATABASE_URL": pg_url}
    loaded = {}
    for argv in (["--help"], ["send", "--help"], ["history"]):
        proc = subprocess.run(
            [sys.executable, "-c", probe, *argv], env=env, capture_output=True, timeout=60
        )
        loaded[" ".join(argv)] = proc.stdout.decode().split()[-1]
    assert loaded == {"--help": "False", "send --help": "False", "history": "True"}


def test_a_shared_store_from_a_newer_attsms_is_refused_in_one_line(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, pg_url: str, pg_cluster: pg.Cluster
) -> None:
    monkeypatch.setenv("ATTSMS_DATABASE_URL", pg_url)
    assert cli("optout", "add", ALICE).exit_code == 0
    assert cli("send", "--dry-run", ALICE, "-m", "x").exit_code in (0, 2)
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute("CREATE SCHEMA IF NOT EXISTS attsms")
        connection.execute("CREATE TABLE IF NOT EXISTS attsms.schema_version (version int)")
        connection.execute("INSERT INTO attsms.schema_version VALUES (99)")
    result = cli("history")
    line = one_error(result, ExitCode.ERROR, "newer attsms (schema 99")
    assert pg_cluster.password not in line


def test_auth_status_names_the_shared_store_without_its_password(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTSMS_CLIENT_ID", "id")
    monkeypatch.setenv("ATTSMS_CLIENT_SECRET", "secret")
    monkeypatch.setenv("ATTSMS_DATABASE_URL", "postgresql://team:hunter2@db.invalid:5432/attsms")
    result = cli("auth", "status", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()[0]["store"] == "postgresql://team:***@db.invalid:5432/attsms"
    assert "hunter2" not in result.stdout + result.stderr
