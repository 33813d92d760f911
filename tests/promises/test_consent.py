"""Consent belongs to who the person texted, and follows the order they texted in.

- A STOP pulled by one profile (a cron job) stops every profile that sends as the same account
  and short code (a laptop), on the local files and on a shared PostgreSQL store.
- Keywords apply in the order of the messages' own DateTime, not of their arrival: a START sent
  before a STOP but pushed to `listen` after it leaves the number opted out.
- A list kept per profile by attsms 0.2 is the account's: honoured by every profile that sends
  as it before it is folded in, and folded in once, on the first write by any of them.
- Retention never forgets an opt-out.

Counted on the sandbox server's `/sandbox/stats`: who was texted, how often.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from attsms.core.errors import ExitCode
from tests.cli.test_listen import Listener
from tests.helpers.support import Cli, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
SHORT_CODE = "12345"
ALICE, BOB = "+12125550100", "+12125550101"
TOKEN = "consent-test-token-0123456789"


def _texted(server: SandboxHttp) -> Counter[str]:
    return Counter(server.stats()["delivered_to"])


def _login(cli: Cli, server: SandboxHttp, profile: str, base_url: str | None = None) -> None:
    done = cli(
        "login", "--profile", profile, "--client-id", server.config.client_id,
        "--client-secret-stdin", "--base-url", base_url or server.url,
        "--registration-id", SHORT_CODE, "--store", "file",
        input=server.config.client_secret,
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr


@pytest.fixture
def two_profiles(
    cli: Cli, sandbox_http: StartSandbox, backend: str, monkeypatch: pytest.MonkeyPatch
) -> SandboxHttp:
    """A cron profile and a laptop profile (the backend fixture may point both at a shared
    PostgreSQL store)."""
    return _two_profiles(cli, sandbox_http, monkeypatch)


def _two_profiles(
    cli: Cli, sandbox_http: StartSandbox, monkeypatch: pytest.MonkeyPatch
) -> SandboxHttp:
    """A cron profile and a laptop profile, saved, sending as one account; nothing from the
    environment."""
    for name in ("ATTSMS_CLIENT_ID", "ATTSMS_CLIENT_SECRET", "ATTSMS_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    server = sandbox_http()
    _login(cli, server, "cron")
    # The same service spelled another way is still the same account.
    _login(cli, server, "laptop", base_url=server.url.replace("http://", "HTTP://") + "/")
    return server


def test_a_stop_pulled_by_one_profile_stops_every_profile_of_the_account(
    cli: Cli, two_profiles: SandboxHttp
) -> None:
    server = two_profiles
    server.inject(ALICE, "Stop.", to=SHORT_CODE, at="2026-12-01T12:00:00Z")
    pulled = cli("-p", "cron", "inbox", "pull", "--json")
    assert pulled.exit_code == 0, pulled.stderr

    sent = cli("-p", "laptop", "send", ALICE, BOB, "-m", "promo", "--json")
    assert sent.exit_code == 0, sent.stderr
    results = {row["to"]: row["result"] for row in sent.json()["messages"]}
    assert results == {ALICE: "opted-out", BOB: "accepted"}
    assert _texted(server) == Counter({f"tel:{BOB}": 1})

    # Its dry run says the same, and `optout list` says whose list it is.
    preview = cli("-p", "laptop", "send", ALICE, "-m", "promo", "--dry-run", "--json")
    assert preview.exit_code == 0, preview.stderr
    assert "+12125550100" in str(preview.json())
    listed = cli("-p", "laptop", "optout", "list", "--json")
    assert [(o["number"], o["short_code"]) for o in listed.json()] == [(ALICE, SHORT_CODE)]
    assert listed.json()[0]["account"].startswith(server.config.client_id + "@http://127.0.0.1")
    shown = cli("-p", "laptop", "optout", "list")
    assert f"short code {SHORT_CODE}" in shown.stderr

    # The person opts back in by texting START: every profile reaches them again.
    server.inject(ALICE, "START", to=SHORT_CODE, at="2026-12-01T12:00:01Z")
    assert cli("-p", "cron", "inbox", "pull", "-q").exit_code == 0
    again = cli("-p", "laptop", "send", ALICE, "-m", "welcome back", "--json")
    assert again.exit_code == 0, again.stderr
    assert _texted(server)[f"tel:{ALICE}"] == 1


def test_an_opt_out_by_hand_on_one_profile_binds_the_others(
    cli: Cli, two_profiles: SandboxHttp
) -> None:
    server = two_profiles
    assert cli("-p", "laptop", "optout", "add", ALICE).exit_code == 0
    refused = cli("-p", "cron", "send", ALICE, "-m", "promo")
    assert refused.exit_code == ExitCode.USAGE
    assert "opted out" in refused.stderr
    removed = cli("-p", "cron", "optout", "remove", ALICE, "--json")
    assert removed.json() == [{"number": ALICE, "result": "removed"}]
    assert cli("-p", "laptop", "send", ALICE, "-m", "hi").exit_code == 0
    assert _texted(server) == Counter({f"tel:{ALICE}": 1})


# --- order: the person's, not the network's ----------------------------------------------------


@pytest.fixture
def listening(
    tmp_path: Path, cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> Iterator[tuple[Listener, SandboxHttp]]:
    server = use_server(sandbox_http())
    listener = Listener(tmp_path, env={"ATTSMS_LISTEN_TOKEN": TOKEN, **server.env()}).start()
    try:
        yield listener, server
    finally:
        listener.kill()


def _push(listener: Listener, message_id: str, text: str, when: str) -> None:
    body = {
        "DateTime": when,
        "DestinationAddress": f"short:{SHORT_CODE}",
        "MessageId": message_id,
        "Message": text,
        "SenderAddress": f"tel:{ALICE}",
    }
    answer = httpx.post(listener.inbound_url, json=body, timeout=10)
    assert answer.status_code == 200, answer.text


def test_a_start_older_than_the_last_stop_arriving_after_it_changes_nothing(
    cli: Cli, listening: tuple[Listener, SandboxHttp]
) -> None:
    listener, server = listening
    # Texted START at 12:00, then STOP at 12:05; the network delivers the STOP first.
    _push(listener, "MO-2", "STOP", "2026-12-01T12:05:00Z")
    _push(listener, "MO-1", "START", "2026-12-01T12:00:00Z")
    _push(listener, "MO-1", "START", "2026-12-01T12:00:00Z")  # and retries the START
    refused = cli("send", ALICE, "-m", "promo")
    assert refused.exit_code == ExitCode.USAGE, refused.stderr
    assert "opted out" in refused.stderr
    assert _texted(server) == Counter()

    # A START texted after the STOP (12:10) opts back in, even pushed after an older STOP retry.
    _push(listener, "MO-3", "START", "2026-12-01T12:10:00Z")
    _push(listener, "MO-2", "STOP", "2026-12-01T12:05:00Z")
    sent = cli("send", ALICE, "-m", "welcome back")
    assert sent.exit_code == 0, sent.stderr
    assert _texted(server) == Counter({f"tel:{ALICE}": 1})


def test_keywords_in_one_pulled_batch_apply_in_the_order_they_were_texted(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http())
    # Queued (and so handed out) in the reverse of the order they were texted in.
    server.inject(ALICE, "STOP", to=SHORT_CODE, at="2026-12-01T12:05:00Z")
    server.inject(BOB, "START", to=SHORT_CODE, at="2026-12-01T12:06:00Z")
    server.inject(ALICE, "START", to=SHORT_CODE, at="2026-12-01T12:00:00Z")
    server.inject(BOB, "STOP", to=SHORT_CODE, at="2026-12-01T12:01:00Z")
    pulled = cli("inbox", "pull", SHORT_CODE, "--json")
    assert pulled.exit_code == 0, pulled.stderr
    sent = cli("send", ALICE, BOB, "-m", "promo", "--json")
    assert sent.exit_code == 0, sent.stderr
    results = {row["to"]: row["result"] for row in sent.json()["messages"]}
    assert results == {ALICE: "opted-out", BOB: "accepted"}
    assert _texted(server) == Counter({f"tel:{BOB}": 1})


# --- what attsms 0.2 kept per profile ----------------------------------------------------------


def test_a_profiles_old_list_is_folded_into_its_accounts_on_first_use(
    cli: Cli, sandbox_http: StartSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _two_profiles(cli, sandbox_http, monkeypatch)
    _old_list("cron", ALICE)
    # `cron` never ran since: the laptop, which sends as the same account, honours it all the
    # same (read-only, its dry run and `optout list` too), and its first write folds it in.
    assert cli("-p", "cron", "optout", "list", "--json").json()[0]["number"] == ALICE
    assert cli("-p", "laptop", "optout", "list", "--json").json()[0]["number"] == ALICE
    sent = cli("-p", "laptop", "send", ALICE, BOB, "-m", "promo", "--json")
    assert sent.exit_code == 0, sent.stderr
    assert _texted(server) == Counter({f"tel:{BOB}": 1})
    assert cli("-p", "laptop", "optout", "remove", ALICE).exit_code == 0  # folded, then undone
    assert cli("-p", "cron", "optout", "list", "--json").json() == []  # once, for the account
    again = cli("-p", "cron", "send", ALICE, "-m", "welcome back", "--json")
    assert again.exit_code == 0, again.stderr
    assert _texted(server) == Counter({f"tel:{BOB}": 1, f"tel:{ALICE}": 1})


def test_another_accounts_old_list_is_not_folded_in(
    cli: Cli, sandbox_http: StartSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _two_profiles(cli, sandbox_http, monkeypatch)
    # Another client id, saved as `attsms login` would have (its secret is not needed here).
    config = Path(os.environ["ATTSMS_CONFIG_DIR"]) / "config.toml"
    with config.open("a") as toml:
        toml.write(f'\n[profiles.other]\nclient_id = "someone-else"\nbase_url = "{server.url}"\n')
    _old_list("other", ALICE)
    # Alice said STOP to someone else's account: this one may still text her.
    assert cli("-p", "laptop", "optout", "list", "--json").json() == []
    sent = cli("-p", "laptop", "send", ALICE, "-m", "hello", "--json")
    assert sent.exit_code == 0, sent.stderr
    assert _texted(server) == Counter({f"tel:{ALICE}": 1})


def _old_list(profile: str, number: str) -> None:
    """attsms 0.2's inbox for `profile`, with its own opt-out list holding `number` (schema 1,
    as it wrote it)."""
    from attsms.store.inbox import store_path

    path = store_path(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(_INBOX_V1)
        db.execute(
            "INSERT INTO opt_outs VALUES (?, '2026-01-01T00:00:00Z', 'manual', NULL)",
            (f"tel:{number}",),
        )
    path.chmod(0o600)


_INBOX_V1 = """
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE,
    registration_id TEXT NOT NULL, sender TEXT NOT NULL, destination TEXT NOT NULL,
    text TEXT NOT NULL, received_at TEXT NOT NULL, received_ts REAL NOT NULL,
    stored_at TEXT NOT NULL, keyword TEXT
);
CREATE TABLE opt_outs (
    address TEXT PRIMARY KEY, since TEXT NOT NULL, source TEXT NOT NULL, message_id TEXT
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
PRAGMA user_version = 1;
"""


# --- retention ---------------------------------------------------------------------------------


def test_pruning_the_history_never_forgets_an_opt_out(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = use_server(sandbox_http())
    monkeypatch.setenv("ATTSMS_HISTORY_KEEP_BATCHES", "0")
    monkeypatch.setenv("ATTSMS_HISTORY_KEEP_DAYS", "0")
    server.inject(ALICE, "STOP", to=SHORT_CODE)
    assert cli("inbox", "pull", SHORT_CODE, "-q").exit_code == 0
    for n in range(3):  # each send prunes the history to nothing
        assert cli("send", BOB, "-m", f"hi {n}").exit_code == 0
    assert cli("send", ALICE, "-m", "promo").exit_code == ExitCode.USAGE
    assert _texted(server) == Counter({f"tel:{BOB}": 3})
