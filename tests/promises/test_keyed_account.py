"""A keyed job belongs to the account it is sent as, however the service's URL is spelled, and a
job an older attsms kept under its own name for the account carries on: nothing is sent twice.

Counted on the sandbox server's `/sandbox/stats`: who was texted, how often.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from attsms.store.history import history_path
from tests.helpers.support import Cli, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
PEOPLE = [f"+1212555{n:04d}" for n in range(100)]  # 2 requests of 50


def _texted(server: SandboxHttp) -> Counter[str]:
    return Counter(server.stats()["delivered_to"])


def _found(document: Any, name: str) -> Any:
    """The value of `name` wherever it sits in a `--json` document."""
    if isinstance(document, dict):
        if name in document:
            return document[name]
        document = list(document.values())
    if isinstance(document, list):
        for item in document:
            if (value := _found(item, name)) is not None:
                return value
    return None


def _spelled_otherwise(url: str) -> str:
    """The same service: scheme in capitals, the default port spelled out, a trailing slash."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.upper()}://{rest}/"


def test_a_keyed_job_rerun_with_the_url_spelled_otherwise_sends_nothing_twice(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = use_server(sandbox_http())
    first = cli("send", *PEOPLE, "-m", "Hi", "--dedupe-key", "nightly")
    assert first.exit_code == 0, first.stderr
    monkeypatch.setenv("ATTSMS_BASE_URL", _spelled_otherwise(server.url))
    preview = cli("send", *PEOPLE, "-m", "Hi", "--dedupe-key", "nightly", "--dry-run", "--json")
    assert preview.exit_code == 0, preview.stderr
    assert (_found(preview.json(), "already_sent"), _found(preview.json(), "to_send")) == (100, 0)
    again = cli("send", *PEOPLE, "-m", "Hi", "--dedupe-key", "nightly", "--json")
    assert again.exit_code == 0, again.stderr
    assert {m["result"] for m in again.json()["messages"]} == {"already-sent"}
    assert _texted(server) == Counter({f"tel:{p}": 1 for p in PEOPLE})


def test_a_job_kept_under_the_old_name_of_its_account_carries_on(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http())
    # Half a job, sent by an attsms that named the account by a hash of the client id and URL.
    server.faults(
        {"method": "POST", "path_prefix": "/sms/v3/messaging/outbox", "status": 400, "count": 1}
    )
    first = cli("send", *PEOPLE, "-m", "Hi", "--dedupe-key", "nightly")
    assert first.exit_code == 4, first.stderr
    old = hashlib.sha256(f"{server.config.client_id}\n{server.url}".encode()).hexdigest()[:16]
    with sqlite3.connect(history_path()) as db:
        for table in ("jobs", "batches", "skips"):
            db.execute(f"UPDATE {table} SET account = ?", (old,))  # noqa: S608
    texted = _texted(server)
    assert sum(texted.values()) == 50  # the refused request's 50 were not sent

    preview = cli("send", *PEOPLE, "-m", "Hi", "--dedupe-key", "nightly", "--dry-run", "--json")
    assert preview.exit_code == 0, preview.stderr
    assert (_found(preview.json(), "already_sent"), _found(preview.json(), "to_send")) == (50, 50)
    again = cli("send", *PEOPLE, "-m", "Hi", "--dedupe-key", "nightly")
    assert again.exit_code == 0, again.stderr
    assert _texted(server) == Counter({f"tel:{p}": 1 for p in PEOPLE})  # each once, in all
    with sqlite3.connect(history_path()) as db:
        accounts = {row[0] for row in db.execute("SELECT account FROM jobs")}
    assert accounts == {f"{server.config.client_id}@{server.url}"}  # taken over, by its name
