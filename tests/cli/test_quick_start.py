"""The quick-start path end to end: real processes, the sandbox over real HTTP."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from attsms.sandbox import DEMO_CLIENT_SECRET
from tests.helpers.support import Cli, SandboxHttp, both_dialects

StartSandbox = Callable[..., SandboxHttp]


@both_dialects
def test_send_then_status_over_http(cli: Cli, sandbox_http: StartSandbox) -> None:
    server = sandbox_http(delivery_seconds=0.2)
    sent = cli.process("send", "(212) 555-0100", "212.555.0901", "-m", "hi", env=server.env())
    assert sent.exit_code == 0, sent.stderr
    rows = [line.split("\t") for line in sent.lines]
    assert [row[1:] for row in rows] == [
        ["+12125550100", "accepted"],
        ["+12125550901", "accepted"],
    ]
    message_id = rows[0][0]
    time.sleep(0.3)
    status = cli.process("status", message_id, "--json", env=server.env())
    assert status.exit_code == 0, status.stderr
    [document] = status.json()
    assert document["message_id"] == message_id
    assert {d["address"]: d["status"] for d in document["deliveries"]} == {
        "tel:+12125550100": "DeliveredToTerminal",
        "tel:+12125550901": "DeliveryImpossible",
    }
    assert server.stats()["operations"]["token"] == 1  # the second process reused the cache


def test_send_json_is_one_document(cli: Cli, sandbox_http: StartSandbox) -> None:
    server = sandbox_http()
    result = cli.process("send", "+12125550100", "-m", "hi", "--json", env=server.env())
    assert result.exit_code == 0
    document = result.json()
    [message] = document["messages"]
    assert (message["address"], message["result"]) == ("tel:+12125550100", "accepted")
    assert message["message_id"].startswith("SMS")


def test_verbose_logs_exchanges_without_secrets(cli: Cli, sandbox_http: StartSandbox) -> None:
    server = sandbox_http()
    result = cli.process("--verbose", "send", "+12125550100", "-m", "hi", env=server.env())
    assert result.exit_code == 0
    assert "> POST " in result.stderr and "/oauth/v4/token" in result.stderr
    assert "client_secret=***" in result.stderr
    assert DEMO_CLIENT_SECRET not in result.stderr + result.stdout
    assert '"access_token": "***"' in result.stderr or '"access_token":"***"' in result.stderr


def test_server_error_is_one_line_with_its_exit_code(cli: Cli, sandbox_http: StartSandbox) -> None:
    server = sandbox_http()
    server.faults(
        {
            "path_prefix": "/oauth/v4/token",
            "status": 502,
            "body": "<html>bad gateway</html>",
            "content_type": "text/html",
            "count": 10,
        }
    )
    result = cli.process("send", "+12125550100", "-m", "hi", env=server.env())
    assert result.exit_code == 75
    assert result.stderr.count("\n") == 1
    assert "HTTP 502 with an HTML page" in result.stderr
    assert "Traceback" not in result.stderr


def test_connection_refused_is_one_line(cli: Cli) -> None:
    env = {
        "ATTSMS_BASE_URL": "http://127.0.0.1:9",
        "ATTSMS_CLIENT_ID": "id",
        "ATTSMS_CLIENT_SECRET": "s3cret-value",
    }
    result = cli.process("status", "m1", env=env)
    assert result.exit_code == 75
    assert result.stderr.count("\n") == 1
    assert "cannot reach http://127.0.0.1:9" in result.stderr
    assert "s3cret-value" not in result.stderr


def test_unexpected_error_is_one_line_unless_verbose(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import attsms.send.plan

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("something odd\nsecond line")

    monkeypatch.setattr(attsms.send.plan, "plan_send", broken)
    result = cli("--sandbox", "send", "+12125550100", "-m", "hi")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "attsms: error: unexpected RuntimeError: something odd",
        "attsms: run with --verbose for details",
    ]
    verbose = cli("--sandbox", "--verbose", "send", "+12125550100", "-m", "hi")
    assert "Traceback" in verbose.stderr


def test_sandbox_serve_prints_url_and_ctrl_c_exits_zero(tmp_path: object) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "attsms", "sandbox", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("attsms sandbox listening on http://127.0.0.1:")
        url = first.split()[-1]
        import httpx

        assert httpx.get(url + "/sandbox/stats", timeout=5).status_code == 200
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_in_process_sandbox_persists_between_runs(cli: Cli) -> None:
    sent = cli("--sandbox", "send", "+12125550100", "-m", "hi")
    assert sent.exit_code == 0, sent.stderr
    message_id = sent.stdout.split("\t")[0]
    status = cli.process("--sandbox", "status", message_id)
    assert status.exit_code == 0, status.stderr
    assert status.stdout.startswith(f"{message_id}\t+12125550100\t")


def test_sandbox_inject_in_process(cli: Cli) -> None:
    result = cli("sandbox", "inject", "--from", "+12125550100", "--count", "3", "hi", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json() == {"injected": 3, "pending": 3}
    bad = cli("sandbox", "inject", "--from", "nobody", "hi")
    assert bad.exit_code == 2
    assert "nobody" in bad.stderr
