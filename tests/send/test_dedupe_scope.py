"""A dedupe key names one job per profile AND account: the same key against another account
(ATTSMS_BASE_URL or ATTSMS_CLIENT_ID overrides) is another job, never `already-sent`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers.support import Cli, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]


def test_the_same_key_on_another_account_is_another_job(
    cli: Cli, sandbox_http: StartSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = sandbox_http(), sandbox_http()
    args = ("send", "2125550100", "-m", "hi", "--dedupe-key", "job", "--json")

    def send_with(server: SandboxHttp) -> Any:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        return result.json()["summary"]

    assert send_with(one)["accepted"] == 1
    assert send_with(two)["accepted"] == 1  # before: reported already-sent, and never sent
    assert send_with(one)["already_sent"] == 1
    assert one.stats()["delivered_to"] == {"tel:+12125550100": 1}
    assert two.stats()["delivered_to"] == {"tel:+12125550100": 1}
