"""Faults: latency, seeded random failures, rate limits and queued fault rules."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from attsms.sandbox import SandboxConfig
from tests.helpers.sandbox_harness import SEND_PATH, Harness, MakeSandbox, error_of

A = "tel:+12125551234"


def token_statuses(sb: Harness, n: int) -> list[int]:
    return [sb.get_token().status_code for _ in range(n)]


def test_fail_rate_is_deterministic_for_a_seed(make_sandbox: MakeSandbox) -> None:
    config = SandboxConfig(fail_rate=0.3, seed=7)
    first = token_statuses(make_sandbox(config), 40)
    assert first == token_statuses(make_sandbox(config), 40)
    assert set(first) == {200, 503}
    assert 4 <= first.count(503) <= 20
    other = token_statuses(make_sandbox(SandboxConfig(fail_rate=0.3, seed=8)), 40)
    assert other != first


def test_a_random_failure_changes_nothing(make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox(SandboxConfig(fail_rate=0.5, seed=3))
    while (token := sb.get_token()).status_code != 200:
        assert token.status_code == 503
    headers = sb.auth(token.json()["access_token"])
    accepted = failed = 0
    body = {"outboundSMSRequest": {"address": [A], "message": "hi"}}
    while failed < 3 or accepted < 3:
        resp = sb.client.post(SEND_PATH, json=body, headers=headers)
        if resp.status_code == 503:
            assert error_of(resp) == (
                "ServiceException",
                "SVC1000",
                "No server resources available to process the request",
                "",
            )
            failed += 1
        else:
            assert resp.status_code == 201
            accepted += 1
    stats = sb.stats()
    assert stats["delivered_to"] == {A: accepted}
    assert stats["operations"]["send"] == accepted
    assert stats["send_requests"] == accepted + failed


def test_rate_limit_answers_429_with_retry_after_and_changes_nothing(
    make_sandbox: MakeSandbox,
) -> None:
    sb = make_sandbox(SandboxConfig(rate_limit=3))
    token = sb.token  # request 1 in this (fake) second
    assert sb.send(A).status_code == 201  # 2
    assert sb.send(A).status_code == 201  # 3
    resp = sb.send(A)
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "1"
    assert error_of(resp) == (
        "PolicyException",
        "POL0001",
        "Rate limit exceeded: more than %1 requests per second",
        "3",
    )
    assert sb.inbox_with(token).status_code == 429
    assert sb.stats()["delivered_to"] == {A: 2}  # sandbox endpoints are never limited
    sb.clock.advance(1)
    assert sb.send(A).status_code == 201
    assert sb.stats()["delivered_to"] == {A: 3}


def test_a_fault_rule_answers_the_next_matching_requests(sb: Harness) -> None:
    sb.token  # noqa: B018 - fetch before the rule is queued
    rule = {
        "method": "POST",
        "path_prefix": SEND_PATH,
        "count": 2,
        "status": 502,
        "body": "<html>bad gateway</html>",
        "content_type": "text/html",
        "headers": {"X-Upstream": "down"},
    }
    assert sb.faults(rule).json() == {"queued": 1}
    assert sb.inbox().status_code == 200  # another path: untouched, rule not used up
    for _ in range(2):
        resp = sb.send(A)
        assert resp.status_code == 502
        assert resp.text == "<html>bad gateway</html>"
        assert resp.headers["Content-Type"] == "text/html"
        assert resp.headers["X-Upstream"] == "down"
    assert sb.send(A).status_code == 201
    stats = sb.stats()
    assert stats["delivered_to"] == {A: 1}
    assert stats["send_requests"] == 3
    assert stats["operations"]["send"] == 1


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, ("SVC1000", "No server resources available to process the request", "")),
        (503, ("SVC1000", "No server resources available to process the request", "")),
        (500, ("SVC0001", "Injected fault: HTTP %1", "500")),
        (401, ("SVC0001", "Injected fault: HTTP %1", "401")),
    ],
)
def test_default_fault_bodies_are_spec_shaped(
    sb: Harness, status: int | None, expected: tuple[str, str, str]
) -> None:
    sb.faults({"path_prefix": "/oauth", "status": status})
    resp = sb.get_token()
    assert resp.status_code == (status or 503)
    assert error_of(resp)[1:] == expected
    assert sb.get_token().status_code == 200


def test_rules_match_in_order_and_by_method(sb: Harness) -> None:
    sb.token  # noqa: B018
    sb.faults(
        {"method": "GET", "path_prefix": "/sms/v3/messaging/inbox", "status": 500},
        {"path_prefix": "/sms", "status": 504},
    )
    assert sb.send(A).status_code == 504  # the GET rule does not match a POST
    assert sb.inbox().status_code == 500
    assert sb.inbox().status_code == 200


def test_after_processing_the_send_happened_though_the_client_saw_an_error(sb: Harness) -> None:
    sb.token  # noqa: B018
    sb.faults({"path_prefix": SEND_PATH, "status": 500, "after_processing": True})
    assert sb.send(A).status_code == 500
    assert sb.stats()["delivered_to"] == {A: 1}
    assert sb.send(A).status_code == 201  # a blind retry sends twice: the stats prove it
    assert sb.stats()["delivered_to"] == {A: 2}


@pytest.mark.parametrize(("after_processing", "recorded"), [(True, {A: 1}), (False, {})])
def test_a_delay_past_the_client_timeout(
    make_sandbox: MakeSandbox, after_processing: bool, recorded: dict[str, int]
) -> None:
    sb = make_sandbox(timeout=0.2)
    sb.token  # noqa: B018
    sb.faults({"path_prefix": SEND_PATH, "delay_ms": 600, "after_processing": after_processing})
    started = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        sb.send(A)
    assert 0.15 < time.perf_counter() - started < 0.55
    assert sb.stats()["delivered_to"] == recorded


def test_a_delay_within_the_timeout_just_slows_the_real_answer(sb: Harness) -> None:
    sb.token  # noqa: B018
    sb.faults({"path_prefix": SEND_PATH, "delay_ms": 100, "after_processing": True})
    started = time.perf_counter()
    assert sb.send(A).status_code == 201
    assert time.perf_counter() - started >= 0.1


@pytest.mark.parametrize(("after_processing", "recorded"), [(True, {A: 1}), (False, {})])
def test_drop_connection(sb: Harness, after_processing: bool, recorded: dict[str, int]) -> None:
    sb.token  # noqa: B018
    rule = {"path_prefix": SEND_PATH, "drop_connection": True, "after_processing": after_processing}
    sb.faults(rule)
    with pytest.raises(httpx.RemoteProtocolError):
        sb.send(A)
    assert sb.stats()["delivered_to"] == recorded
    assert sb.send(A).status_code == 201  # the client reconnects as usual


def test_sandbox_endpoints_are_never_faulted_and_delete_clears(sb: Harness) -> None:
    sb.faults({"status": 500, "count": 5})
    assert sb.client.get("/sandbox/stats").status_code == 200
    assert sb.inject().status_code == 200
    assert sb.get_token().status_code == 500
    assert sb.client.delete("/sandbox/faults").json() == {"cleared": 1}
    assert sb.get_token().status_code == 200
    assert sb.client.delete("/sandbox/faults").json() == {"cleared": 0}


@pytest.mark.parametrize(
    ("rule", "variables"),
    [
        ({"bogus": 1}, "bogus"),
        ({"count": 0}, "count"),
        ({"count": 1.5}, "count"),
        ({"status": 99}, "status"),
        ({"status": "500"}, "status"),
        ({"path_prefix": "sms"}, "path_prefix"),
        ({"method": ""}, "method"),
        ({"headers": {"X": 1}}, "headers"),
        ({"delay_ms": -1}, "delay_ms"),
        ({"after_processing": "yes"}, "after_processing"),
        ({"drop_connection": 1}, "drop_connection"),
        ({"body": 5}, "body"),
        ("rule", "rules"),
    ],
)
def test_bad_fault_rules_are_refused_whole(sb: Harness, rule: Any, variables: str) -> None:
    resp = sb.client.post("/sandbox/faults", json={"rules": [{"status": 500}, rule]})
    assert resp.status_code == 400
    assert error_of(resp)[1:] == ("SVC0002", "Invalid input value for message part %1", variables)
    assert sb.get_token().status_code == 200  # the good rule before it was not queued either


def test_faults_needs_a_rules_list(sb: Harness) -> None:
    assert error_of(sb.client.post("/sandbox/faults", json={}))[3] == "rules"


def test_latency_applies_to_api_calls_only(make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox(SandboxConfig(latency_ms=100))
    started = time.perf_counter()
    assert sb.get_token().status_code == 200
    assert time.perf_counter() - started >= 0.1
    started = time.perf_counter()
    assert sb.client.get("/sandbox/stats").status_code == 200
    assert time.perf_counter() - started < 0.1


def test_reset_forgets_everything(sb: Harness) -> None:
    sb.send_ok(A)
    sb.inject("55555")
    sb.faults({"status": 500})
    assert sb.client.post("/sandbox/reset").json() == {"reset": True}
    stats = sb.stats()
    assert stats["delivered_to"] == {}
    assert stats["send_requests"] == 0
    assert sb.inbox_with(sb.token).status_code == 401  # the old token is gone
    token = sb.get_token()
    assert token.status_code == 200  # no fault left
    assert sb.inbox_with(token.json()["access_token"], "55555").status_code == 404
