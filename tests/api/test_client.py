"""The API client against the sandbox over real HTTP: every operation and every error shape."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from attsms.api.client import AttClient, RetryPolicy, rate_limit_timeout_from_env
from attsms.auth.tokens import TokenCache, TokenManager
from attsms.core.errors import (
    ApiError,
    AuthError,
    ExitCode,
    NetworkError,
    UnknownOutcomeError,
    UsageError,
)
from attsms.sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from tests.helpers.support import SandboxHttp

StartSandbox = Callable[..., SandboxHttp]

POL0001 = (
    '{"RequestError": {"PolicyException": {"MessageId": "POL0001",'
    ' "Text": "Rate limit exceeded: %1", "Variables": "quota"}}}'
)


class Sleeps(list[float]):
    """Stands in for time.sleep: records each wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(url: str, sleeps: Sleeps | None = None, **kwargs: Any) -> AttClient:
    client = AttClient(
        url,
        retry=RetryPolicy(base_delay=0.01, max_delay=0.05),
        sleep=sleeps if sleeps is not None else (lambda _s: None),
        **kwargs,
    )
    client.tokens = TokenManager(
        client, TokenCache("test"), client_id=DEMO_CLIENT_ID, secret=lambda: DEMO_CLIENT_SECRET
    )
    return client


@pytest.fixture
def sandbox(sandbox_http: StartSandbox) -> SandboxHttp:
    return sandbox_http(delivery_seconds=0.3)


@pytest.fixture
def client(sandbox: SandboxHttp, sleeps: Sleeps) -> Iterator[AttClient]:
    with make_client(sandbox.url, sleeps) as c:
        yield c


# --- every operation -------------------------------------------------------------------------


def test_token_client_credentials(client: AttClient) -> None:
    token = client.fetch_token(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    assert token.access_token
    assert token.refresh_token
    assert token.expires_at is not None
    assert token.expires_at > time.time() + 172_000


def test_token_wrong_secret_is_auth_error(client: AttClient) -> None:
    with pytest.raises(AuthError) as caught:
        client.fetch_token(DEMO_CLIENT_ID, "wrong")
    assert caught.value.exit_code == ExitCode.AUTH
    assert "HTTP 401" in str(caught.value)
    assert "wrong" not in str(caught.value)


def test_refresh_rotates_and_old_refresh_token_dies(client: AttClient) -> None:
    first = client.fetch_token(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    assert first.refresh_token
    second = client.refresh_token(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, first.refresh_token)
    assert second.access_token != first.access_token
    assert second.refresh_token and second.refresh_token != first.refresh_token
    with pytest.raises(AuthError):
        client.refresh_token(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, first.refresh_token)


def test_send_then_status_moves_to_final(client: AttClient) -> None:
    sent = client.send(["tel:+12125550100", "tel:+12125550901"], "hello")
    assert sent.message_id
    assert sent.resource_url and sent.resource_url.endswith(sent.message_id)
    status = client.delivery_status(sent.message_id)
    assert {d.status for d in status.deliveries} == {"MessageWaiting"}
    assert not status.final
    time.sleep(0.4)
    status = client.delivery_status(sent.message_id)
    assert status.final
    assert {d.address: d.status for d in status.deliveries} == {
        "tel:+12125550100": "DeliveredToTerminal",
        "tel:+12125550901": "DeliveryImpossible",
    }


def test_status_of_unknown_id_is_one_line_exit_1(client: AttClient) -> None:
    with pytest.raises(ApiError) as caught:
        client.delivery_status("msg-nope")
    assert caught.value.status == 404
    assert caught.value.exit_code == ExitCode.ERROR
    assert "\n" not in str(caught.value)


def test_inbox_batches_until_nothing_pending(sandbox_http: StartSandbox) -> None:
    sandbox = sandbox_http(inbox_batch_size=2)
    sandbox.inject("+12125550100", "hi", count=5)
    with make_client(sandbox.url) as client:
        batches = []
        while True:
            batch = client.inbox("12345")
            batches.append(batch)
            if batch.pending == 0:
                break
    assert [len(b.messages) for b in batches] == [2, 2, 1]
    assert [b.pending for b in batches] == [3, 1, 0]
    texts = [m.message for b in batches for m in b.messages]
    assert texts == [f"hi #{n}" for n in range(1, 6)]
    assert {m.sender for b in batches for m in b.messages} == {"tel:+12125550100"}


def test_revoked_token_gets_one_new_token_and_one_retry(sandbox: SandboxHttp) -> None:
    with make_client(sandbox.url) as client:
        client.send(["tel:+12125550100"], "one")
        assert client.tokens is not None
        token = client.tokens.access_token()
        client.revoke(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, token)
        client.send(["tel:+12125550100"], "two")
    stats = sandbox.stats()
    assert stats["delivered_to"]["tel:+12125550100"] == 2


# --- error shapes ----------------------------------------------------------------------------


def test_policy_exception_substitutes_variables(client: AttClient, sandbox: SandboxHttp) -> None:
    sandbox.faults(
        {
            "path_prefix": "/sms/v3/messaging/outbox",
            "status": 400,
            "body": '{"RequestError": {"PolicyException": {"MessageId": "POL0003",'
            ' "Text": "Too many addresses specified in %1 (max %2)",'
            ' "Variables": ["address", "50"]}}}',
        }
    )
    with pytest.raises(ApiError) as caught:
        client.send(["tel:+12125550100"], "x")
    message = str(caught.value)
    assert "POL0003 Too many addresses specified in address (max 50) (HTTP 400)" in message
    assert caught.value.exit_code == ExitCode.USAGE


def test_service_exception_from_the_real_validation(client: AttClient) -> None:
    with pytest.raises(ApiError) as caught:
        client.send(["tel:+12125550100", "tel:12125550100"], "dup")
    assert caught.value.code == "POL0013"
    assert "%1" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "content_type", "expected"),
    [
        (502, "<html><body>Bad Gateway</body></html>", "text/html", "HTTP 502 with an HTML page"),
        (500, "", "application/json", "HTTP 500 with an empty body"),
        (503, '{"RequestError": {', "application/json", "HTTP 503 with a body that is not"),
    ],
)
def test_gateway_errors_on_get_are_retried_then_exit_75(
    client: AttClient,
    sandbox: SandboxHttp,
    sleeps: Sleeps,
    status: int,
    body: str,
    content_type: str,
    expected: str,
) -> None:
    sent = client.send(["tel:+12125550100"], "x")
    sandbox.faults(
        {
            "method": "GET",
            "path_prefix": "/sms/v3/messaging/outbox",
            "status": status,
            "body": body,
            "content_type": content_type,
            "count": 10,
        }
    )
    with pytest.raises(ApiError) as caught:
        client.delivery_status(sent.message_id)
    assert expected in str(caught.value)
    assert caught.value.exit_code == ExitCode.TEMPFAIL
    assert len(sleeps) == client.retry.attempts - 1


def test_get_recovers_after_transient_5xx(client: AttClient, sandbox: SandboxHttp) -> None:
    sent = client.send(["tel:+12125550100"], "x")
    sandbox.faults({"method": "GET", "status": 500, "body": "", "count": 2})
    assert client.delivery_status(sent.message_id).message_id == sent.message_id


def test_429_honours_retry_after(client: AttClient, sandbox: SandboxHttp, sleeps: Sleeps) -> None:
    sandbox.faults(
        {
            "path_prefix": "/sms/v3/messaging/outbox",
            "status": 429,
            "headers": {"Retry-After": "3"},
            "count": 1,
        }
    )
    client.send(["tel:+12125550100"], "x")
    assert len(sleeps) == 1 and sleeps[0] == pytest.approx(3.0, abs=0.1)
    assert sandbox.stats()["delivered_to"]["tel:+12125550100"] == 1


@pytest.mark.parametrize(
    "refusal",
    [
        {"status": 429},
        {"status": 403, "body": POL0001, "headers": {"Retry-After": "0"}},
    ],
    ids=["429", "403-pol0001"],
)
def test_a_rate_limited_send_is_retried_until_the_deadline_then_75_naming_rate(
    sandbox: SandboxHttp, sleeps: Sleeps, refusal: dict[str, Any]
) -> None:
    sandbox.faults({"path_prefix": "/sms/v3/messaging/outbox", "count": 99, **refusal})
    with make_client(sandbox.url, sleeps, rate_limit_timeout=20) as client:
        client.tokens.access_token()  # type: ignore[union-attr]
        with pytest.raises(ApiError) as caught:
            client.send(["tel:+12125550100"], "x")
    assert caught.value.exit_code == ExitCode.TEMPFAIL
    message = str(caught.value)
    assert "rate limited by the service for" in message and "a lower --rate avoids" in message
    assert "\n" not in message
    # More tries than the 4 of a request safe to repeat, waits growing, all within the deadline.
    assert sandbox.stats()["send_requests"] > client.retry.attempts
    assert sleeps[-1] > sleeps[0] and sum(sleeps) <= 20
    assert sandbox.stats()["delivered_to"] == {}


def test_a_rate_limit_timeout_of_0_gives_up_at_the_first_rate_limit(
    sandbox: SandboxHttp, sleeps: Sleeps
) -> None:
    sandbox.faults({"path_prefix": "/sms/v3/messaging/outbox", "status": 429, "count": 9})
    with (
        make_client(sandbox.url, sleeps, rate_limit_timeout=0) as client,
        pytest.raises(ApiError) as caught,
    ):
        client.send(["tel:+12125550100"], "x")
    assert "rate limited by the service for 0 s" in str(caught.value)
    assert (sandbox.stats()["send_requests"], sleeps) == (1, [])


def test_get_429_without_retry_after_backs_off_and_gives_up_with_75(
    client: AttClient, sandbox: SandboxHttp, sleeps: Sleeps
) -> None:
    sent = client.send(["tel:+12125550100"], "x")
    sandbox.faults(
        {"method": "GET", "path_prefix": "/sms/v3/messaging/outbox", "status": 429, "count": 10}
    )
    with pytest.raises(ApiError) as caught:
        client.delivery_status(sent.message_id)
    assert caught.value.exit_code == ExitCode.TEMPFAIL
    assert "rate limited" in str(caught.value)
    assert len(sleeps) == client.retry.attempts - 1
    assert all(0 <= s <= 0.05 for s in sleeps)


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503},  # SVC1000, the service's own "no server resources"
        {"status": 503, "after_processing": True},
        {"status": 500, "after_processing": True},  # the service's own SVC0001
        {"status": 500, "body": "", "after_processing": True},
        {"status": 504, "body": "<html>Gateway Timeout</html>", "content_type": "text/html"},
    ],
    ids=["503-svc1000", "503-svc1000-late", "500-late", "500-empty-late", "504-html"],
)
def test_a_send_answered_5xx_is_unknown_outcome_and_not_retried(
    client: AttClient, sandbox: SandboxHttp, fault: dict[str, Any]
) -> None:
    sandbox.faults({"path_prefix": "/sms/v3/messaging/outbox", "count": 9, **fault})
    with pytest.raises(UnknownOutcomeError) as caught:
        client.send(["tel:+12125550100"], "x")
    assert caught.value.exit_code == ExitCode.UNKNOWN_OUTCOME
    assert f"HTTP {fault['status']}" in str(caught.value)
    assert "may or may not have been sent" in str(caught.value)
    assert sandbox.stats()["send_requests"] == 1
    late = fault.get("after_processing", False)
    assert sandbox.stats()["delivered_to"] == ({"tel:+12125550100": 1} if late else {})


def test_a_send_refused_by_a_connect_error_is_retried(sandbox: SandboxHttp) -> None:
    import httpx

    refusals = iter([httpx.ConnectError("refused"), httpx.ConnectError("refused")])
    real = httpx.HTTPTransport()

    class Flaky(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/sms/v3/messaging/outbox":
                error = next(refusals, None)
                if error is not None:
                    raise error
            return real.handle_request(request)

    with make_client(sandbox.url, transport=Flaky()) as client:
        client.send(["tel:+12125550100"], "x")
    assert sandbox.stats()["delivered_to"] == {"tel:+12125550100": 1}


@pytest.mark.parametrize(
    ("raw", "seconds"), [(None, 300.0), ("", 300.0), ("0", 0.0), (" 12.5 ", 12.5)]
)
def test_rate_limit_timeout_from_env(raw: str | None, seconds: float) -> None:
    environ = {} if raw is None else {"ATTSMS_RATE_LIMIT_TIMEOUT": raw}
    assert rate_limit_timeout_from_env(environ) == seconds


@pytest.mark.parametrize("raw", ["soon", "-1", "inf", "nan"])
def test_a_bad_rate_limit_timeout_is_a_usage_error(raw: str) -> None:
    with pytest.raises(UsageError) as caught:
        rate_limit_timeout_from_env({"ATTSMS_RATE_LIMIT_TIMEOUT": raw})
    assert caught.value.exit_code == ExitCode.USAGE
    assert f"ATTSMS_RATE_LIMIT_TIMEOUT={raw!r}" in str(caught.value)


def test_send_gateway_502_is_unknown_outcome_not_resent(
    client: AttClient, sandbox: SandboxHttp
) -> None:
    sandbox.faults(
        {
            "path_prefix": "/sms/v3/messaging/outbox",
            "status": 502,
            "body": "<html>Bad Gateway</html>",
            "content_type": "text/html",
            "after_processing": True,
        }
    )
    with pytest.raises(UnknownOutcomeError) as caught:
        client.send(["tel:+12125550100"], "x")
    assert caught.value.exit_code == ExitCode.UNKNOWN_OUTCOME
    assert sandbox.stats()["send_requests"] == 1


def test_send_timeout_after_request_written_is_unknown_and_not_resent(
    sandbox: SandboxHttp,
) -> None:
    sandbox.faults(
        {"path_prefix": "/sms/v3/messaging/outbox", "after_processing": True, "delay_ms": 1500}
    )
    with make_client(sandbox.url, timeout=0.5) as client:
        client.tokens.access_token()  # type: ignore[union-attr]
        with pytest.raises(UnknownOutcomeError) as caught:
            client.send(["tel:+12125550100"], "x")
    assert "may or may not have been sent" in str(caught.value)
    assert sandbox.stats()["delivered_to"] == {"tel:+12125550100": 1}
    assert sandbox.stats()["send_requests"] == 1


def test_send_connection_dropped_is_unknown(client: AttClient, sandbox: SandboxHttp) -> None:
    sandbox.faults(
        {
            "path_prefix": "/sms/v3/messaging/outbox",
            "drop_connection": True,
            "after_processing": True,
        }
    )
    with pytest.raises(UnknownOutcomeError):
        client.send(["tel:+12125550100"], "x")
    assert sandbox.stats()["send_requests"] == 1


def test_get_timeout_is_retried(sandbox: SandboxHttp) -> None:
    with make_client(sandbox.url, timeout=0.3) as client:
        sent = client.send(["tel:+12125550100"], "x")
        sandbox.faults({"method": "GET", "after_processing": True, "delay_ms": 600})
        assert client.delivery_status(sent.message_id).message_id == sent.message_id


def test_connect_refused_is_network_error_75(sleeps: Sleeps) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        make_client(f"http://127.0.0.1:{port}", sleeps) as client,
        pytest.raises(NetworkError) as caught,
    ):
        client.fetch_token(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    assert caught.value.exit_code == ExitCode.TEMPFAIL
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert len(sleeps) == 3


def test_2xx_with_wrong_shape_is_a_clear_error(client: AttClient, sandbox: SandboxHttp) -> None:
    sandbox.faults(
        {"method": "GET", "path_prefix": "/sms/v3/messaging/inbox", "status": 200, "body": "[1]"}
    )
    with pytest.raises(ApiError) as caught:
        client.inbox("12345")
    assert "unexpected shape" in str(caught.value)


def test_send_2xx_with_garbage_body_is_unknown_outcome(
    client: AttClient, sandbox: SandboxHttp
) -> None:
    sandbox.faults(
        {
            "path_prefix": "/sms/v3/messaging/outbox",
            "status": 201,
            "body": "{not json",
            "after_processing": True,
        }
    )
    with pytest.raises(UnknownOutcomeError) as caught:
        client.send(["tel:+12125550100"], "x")
    assert "probably sent" in str(caught.value)


def test_verbose_log_redacts_secrets(sandbox: SandboxHttp) -> None:
    lines: list[str] = []
    with make_client(sandbox.url, log=lines.append) as client:
        client.send(["tel:+12125550100"], "x")
        cached = client.tokens.cached()  # type: ignore[union-attr]
    assert cached is not None
    log = "\n".join(lines)
    assert "POST" in log and "/oauth/v4/token" in log
    assert "authorization: ***" in log.lower()
    for secret in (DEMO_CLIENT_SECRET, cached.token.access_token, cached.token.refresh_token):
        assert secret and secret not in log
