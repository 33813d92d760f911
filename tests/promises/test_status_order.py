"""Delivery statuses only move forward, end to end: receipts pushed to a real `attsms listen`
late, twice and out of order after the final one, or a poll answer behind the history (the HTTP
sandbox answering an older status), never move `history` or `status` back.

Pushes are unordered and retried (docs/sandbox.md): a `DeliveredToNetwork` or `MessageWaiting`
that arrives after `DeliveredToTerminal` is answered 2xx (the service must not retry it) and
stored as nothing new. The rule is the store's (`HistoryStore.update_statuses`); its unit tests,
on both backends and through the poll path, are in tests/store/test_statuses.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from attsms.sandbox.server import SandboxServer
from tests.cli.test_listen import (  # noqa: F401  (fixtures)
    NUMBER,
    Listener,
    listener,
    push_sandbox,
    stats,
    until,
)
from tests.helpers.support import Cli, SandboxHttp


def _shown(cli: Cli, *args: str) -> list[str]:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.stderr
    text = json.dumps(result.json())
    return [s for s in ("DeliveredToTerminal", "DeliveredToNetwork", "MessageWaiting") if s in text]


def test_a_late_receipt_after_the_final_one_never_moves_the_status_back(
    cli: Cli,
    listener: Callable[..., Listener],  # noqa: F811
    push_sandbox: Callable[..., SandboxServer],  # noqa: F811
) -> None:
    lis = listener("--jsonl")
    server = push_sandbox(delivery_url=lis.delivery_url)
    sent = cli("send", NUMBER, "-m", "hello", "--notify", "--json")
    assert sent.exit_code == 0, sent.stderr
    message_id = sent.json()["messages"][0]["message_id"]
    until(lambda: stats(server)["callbacks"]["delivery"]["acknowledged"] == 1)
    assert _shown(cli, "history") == ["DeliveredToTerminal"]

    def push(status: str) -> object:
        receipt = {
            "deliveryInfoNotification": {
                "messageId": message_id,
                "deliveryInfo": {"address": NUMBER[1:], "deliveryStatus": status},
            }
        }
        answer = httpx.post(lis.delivery_url, json=receipt)
        assert answer.status_code == 200
        return answer.json()

    # Late, out of order, and twice: each answered 2xx, none stored.
    for status in (
        "DeliveredToNetwork",
        "MessageWaiting",
        "DeliveredToTerminal",
        "DeliveredToNetwork",
    ):
        assert push(status) == {"stored": False}, status

    assert _shown(cli, "history") == ["DeliveredToTerminal"]
    assert _shown(cli, "status") == ["DeliveredToTerminal"]
    assert stats(server)["attempts"]["status"] == 0  # the stored final status was the answer
    # listen printed the one receipt it stored, and only that one.
    rows = [json.loads(line) for line in lis.stdout.splitlines()]
    assert [r["deliveries"][0]["status"] for r in rows] == ["DeliveredToTerminal"]


def test_a_poll_answer_behind_the_history_never_moves_it_back(
    cli: Cli, sandbox_http: Callable[..., SandboxHttp], use_server: Callable[..., SandboxHttp]
) -> None:
    server = use_server(sandbox_http(delivery_seconds=0.1))
    sent = cli("send", NUMBER, "-m", "hello", "--wait", "--timeout", "20", "--json")
    assert sent.exit_code == 0, sent.stderr
    message_id = sent.json()["messages"][0]["message_id"]
    assert _shown(cli, "history") == ["DeliveredToTerminal"]
    # The service answers late and behind (a lagging replica): waiting, then only on the network.
    for status in ("MessageWaiting", "DeliveredToNetwork"):
        body = {
            "deliveryInfoList": {
                "deliveryInfo": [{"address": f"tel:{NUMBER}", "deliveryStatus": status}],
                "resourceURL": f"{server.url}/sms/v3/messaging/outbox/{message_id}",
            }
        }
        server.faults(
            {"method": "GET", "path_prefix": "/sms/v3/messaging/outbox/", "status": 200,
             "body": json.dumps(body)}
        )  # fmt: skip
        asked = server.stats()["attempts"]["status"]
        assert _shown(cli, "status", message_id) == ["DeliveredToTerminal"], status
        assert server.stats()["attempts"]["status"] == asked + 1  # it was asked, and answered
        assert _shown(cli, "history") == ["DeliveredToTerminal"], status
    assert _shown(cli, "status") == ["DeliveredToTerminal"]
