"""Issue 12, item 3: a 5xx that comes after the service processed a send never texts anyone twice.

On `POST /sms/v3/messaging/outbox` a 5xx says nothing about whether the message went: a backend
may take it and a proxy, a load balancer or the service itself may still answer 500 or 503. So
any 5xx there, with the service's own error body (SVC0001, SVC1000) or with none, is an unknown
outcome: exit 5, not retried in the run, and not resent by a re-run under the same dedupe key.
Against the sandbox over real HTTP, counting on its own `/sandbox/stats`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from attsms.core.errors import ExitCode
from tests.helpers.support import Cli, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
OUTBOX = "/sms/v3/messaging/outbox"
RECIPIENT = "+12125550100"
ADDRESS = "tel:+12125550100"
KEY = "FH"

# The sandbox processes the send (the number is texted), then answers with the fault.
LATE_FAULTS: dict[str, dict[str, Any]] = {
    # The service's own error shape: {"RequestError": {"ServiceException": SVC0001 ...}}
    "500 service error": {"status": 500},
    # A bare 503 from something in front of the service.
    "503 empty": {"status": 503, "body": ""},
    # The service's own "no server resources" (SVC1000), which a client may take for "refused".
    "503 SVC1000": {"status": 503},
}


def _send(cli: Cli) -> Any:
    return cli("send", RECIPIENT, "-m", "late 5xx", "--dedupe-key", KEY)


@pytest.mark.parametrize("fault", LATE_FAULTS)
def test_a_late_5xx_is_unknown_and_a_keyed_rerun_does_not_resend(
    fault: str,
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Callable[[SandboxHttp], SandboxHttp],
    no_retry_wait: None,
) -> None:
    server = use_server(sandbox_http())
    rule = {"method": "POST", "path_prefix": OUTBOX, "after_processing": True, "count": 10}
    server.faults({**rule, **LATE_FAULTS[fault]})

    first = _send(cli)
    assert first.exit_code == ExitCode.UNKNOWN_OUTCOME, first.stderr
    assert f"{RECIPIENT}\tunknown" in first.stdout
    assert server.stats()["send_requests"] == 1  # not retried in the run
    assert server.stats()["delivered_to"] == {ADDRESS: 1}
    [error] = [line for line in first.stderr.splitlines() if line.startswith("attsms: error:")]
    assert "may or may not have been sent" in error and f"HTTP {LATE_FAULTS[fault]['status']}" in (
        error
    )
    assert [b["outcome"] for b in cli("history", "--json").json()] == ["unknown"]

    server.admin("DELETE", "/sandbox/faults")  # the service is well again; cron runs it again
    again = _send(cli)
    assert again.exit_code == ExitCode.UNKNOWN_OUTCOME, again.stderr
    assert f"{RECIPIENT}\tunknown" in again.stdout
    assert server.stats()["send_requests"] == 1  # nothing went out
    assert server.stats()["delivered_to"] == {ADDRESS: 1}  # texted exactly once


def test_resend_unknown_sends_it_again_when_asked(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    server = use_server(sandbox_http())
    server.faults(
        {"method": "POST", "path_prefix": OUTBOX, "after_processing": True, "status": 500}
    )
    assert _send(cli).exit_code == ExitCode.UNKNOWN_OUTCOME
    resent = cli("send", RECIPIENT, "-m", "late 5xx", "--dedupe-key", KEY, "--resend-unknown")
    assert resent.exit_code == ExitCode.OK, resent.stderr
    assert server.stats()["delivered_to"] == {ADDRESS: 2}  # the user chose a duplicate over a gap


def test_a_4xx_of_the_service_is_a_failure_and_a_keyed_rerun_sends_it(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    server = use_server(sandbox_http())
    # The service's own 400 proves it refused the request before doing anything.
    server.faults({"method": "POST", "path_prefix": OUTBOX, "status": 400})
    first = _send(cli)
    assert first.exit_code == ExitCode.USAGE, first.stderr
    assert server.stats()["delivered_to"] == {}
    again = _send(cli)
    assert again.exit_code == ExitCode.OK, again.stderr
    assert server.stats()["delivered_to"] == {ADDRESS: 1}
