"""Tokens: grants, credentials, expiry, refresh rotation, revocation, Bearer checks."""

from __future__ import annotations

from typing import Any

import pytest

from attsms.sandbox import SandboxConfig
from tests.helpers.sandbox_harness import (
    CREDENTIALS,
    REVOKE_PATH,
    TOKEN_PATH,
    Harness,
    MakeSandbox,
    error_of,
)


def refresh(sb: Harness, refresh_token: str) -> tuple[int, dict[str, Any]]:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **CREDENTIALS}
    resp = sb.client.post(TOKEN_PATH, data=form)
    return resp.status_code, resp.json()


def revoke(sb: Harness, token: str, hint: str = "access_token", **form: str) -> int:
    data = {"token": token, "token_type_hint": hint, **CREDENTIALS, **form}
    return sb.client.post(REVOKE_PATH, data=data).status_code


def test_client_credentials_grant_answers_the_spec_shape(sb: Harness) -> None:
    resp = sb.get_token()
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "BEARER"
    assert body["expires_in"] == 172800
    assert len(body["access_token"]) == 32
    int(body["access_token"], 16)  # random hex
    assert body["access_token"] != body["refresh_token"]
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("scope", ["SMS", "MMS SMS", "SMS,MMS", " SMS "])
def test_any_scope_list_with_sms_is_accepted(sb: Harness, scope: str) -> None:
    assert sb.get_token(scope=scope).status_code == 200


@pytest.mark.parametrize(
    ("form", "status", "message_id", "variables"),
    [
        ({"client_secret": "wrong"}, 401, "SVC0001", "sandbox-client-id"),
        ({"client_id": "someone-else"}, 401, "SVC0001", "someone-else"),
        ({"client_id": ""}, 400, "SVC0002", "client_id"),
        ({"client_secret": ""}, 400, "SVC0002", "client_secret"),
        ({"grant_type": ""}, 400, "SVC0002", "grant_type"),
        ({"grant_type": "password"}, 400, "SVC0003", "grant_type"),
        ({"grant_type": "authorization_code"}, 400, "SVC0003", "grant_type"),
        ({"scope": ""}, 400, "SVC0002", "scope"),
        ({"scope": "MMS"}, 403, "POL1009", "MMS"),
        ({"grant_type": "refresh_token"}, 400, "SVC0002", "refresh_token"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, 401, "SVC0001", "refresh token"),
    ],
)
def test_token_errors(
    sb: Harness, form: dict[str, str], status: int, message_id: str, variables: str
) -> None:
    resp = sb.get_token(**form)
    assert resp.status_code == status
    _, got_id, text, got_variables = error_of(resp)
    assert (got_id, got_variables) == (message_id, variables)
    assert "%1" in text


def test_token_request_must_be_form_encoded(sb: Harness) -> None:
    form = {"grant_type": "client_credentials", "scope": "SMS", **CREDENTIALS}
    resp = sb.client.post(TOKEN_PATH, json=form)
    assert resp.status_code == 400
    assert error_of(resp)[1:] == (
        "SVC0002",
        "Invalid input value for message part %1",
        "Content-Type",
    )


def test_token_expires_after_its_lifetime(make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox(SandboxConfig(token_lifetime=60))
    assert sb.get_token().json()["expires_in"] == 60
    assert sb.inbox().status_code == 200
    sb.clock.advance(59.9)
    assert sb.inbox().status_code == 200
    sb.clock.advance(0.1)
    resp = sb.inbox()
    assert resp.status_code == 401
    assert error_of(resp)[1:] == ("SVC0001", "Invalid or expired %1", "access token")


def test_lifetime_zero_means_never_expires(make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox(SandboxConfig(token_lifetime=0))
    assert sb.get_token().json()["expires_in"] == 0
    sb.clock.advance(10 * 365 * 86400)
    assert sb.inbox().status_code == 200


def test_refresh_rotates_the_refresh_token(sb: Harness) -> None:
    first = sb.get_token().json()
    status, second = refresh(sb, first["refresh_token"])
    assert status == 200
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert sb.inbox_with(second["access_token"]).status_code == 200
    # The old refresh token was used up; the new one works once.
    status, body = refresh(sb, first["refresh_token"])
    assert status == 401
    assert body["RequestError"]["ServiceException"]["Variables"] == "refresh token"
    assert refresh(sb, second["refresh_token"])[0] == 200
    # An access token stays good until it expires even after its grant was refreshed.
    assert sb.inbox_with(first["access_token"]).status_code == 200
    assert sb.stats()["operations"]["refresh"] == 2
    assert sb.stats()["attempts"]["refresh"] == 3


def test_refresh_token_expires(make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox(SandboxConfig(refresh_lifetime=100))
    first = sb.get_token().json()
    sb.clock.advance(100)
    assert refresh(sb, first["refresh_token"])[0] == 401


def test_refresh_needs_client_credentials(sb: Harness) -> None:
    first = sb.get_token().json()
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    resp = sb.client.post(TOKEN_PATH, data={**form, **CREDENTIALS, "client_secret": "x"})
    assert resp.status_code == 401
    assert refresh(sb, first["refresh_token"])[0] == 200  # a failed attempt does not use it up


def test_revoked_access_token_is_refused(sb: Harness) -> None:
    token = sb.get_token().json()["access_token"]
    assert sb.inbox_with(token).status_code == 200
    assert revoke(sb, token) == 200
    assert sb.client.post(REVOKE_PATH, data={"token": "x", **CREDENTIALS}).json() == {}
    resp = sb.inbox_with(token)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoking_a_refresh_token_ends_its_grant(sb: Harness) -> None:
    first = sb.get_token().json()
    other = sb.get_token().json()
    assert revoke(sb, first["refresh_token"], hint="refresh_token") == 200
    assert refresh(sb, first["refresh_token"])[0] == 401
    assert sb.inbox_with(first["access_token"]).status_code == 401
    assert sb.inbox_with(other["access_token"]).status_code == 200  # another grant is untouched


def test_revoke_hint_is_only_a_hint_and_unknown_tokens_are_fine(sb: Harness) -> None:
    token = sb.get_token().json()["access_token"]
    assert revoke(sb, token, hint="refresh_token") == 200
    assert sb.inbox_with(token).status_code == 401
    assert revoke(sb, "never-issued") == 200


@pytest.mark.parametrize(
    ("form", "status", "message_id", "variables"),
    [
        ({"client_secret": "wrong"}, 401, "SVC0001", "sandbox-client-id"),
        ({"token": ""}, 400, "SVC0002", "token"),
        ({"token_type_hint": "id_token"}, 400, "SVC0003", "token_type_hint"),
    ],
)
def test_revoke_errors(
    sb: Harness, form: dict[str, str], status: int, message_id: str, variables: str
) -> None:
    resp = sb.client.post(REVOKE_PATH, data={"token": sb.token, **CREDENTIALS, **form})
    assert resp.status_code == status
    assert error_of(resp)[1] == message_id
    assert error_of(resp)[3] == variables
    assert sb.inbox().status_code == 200  # the token survived the failed revoke


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer nonsense", "Basic c2FuZGJveDpzYW5kYm94", "Token abc"],
)
def test_api_calls_need_a_valid_bearer_token(sb: Harness, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for resp in (
        sb.client.get("/sms/v3/messaging/inbox/12345", headers=headers),
        sb.client.get("/sms/v3/messaging/outbox/SMS1", headers=headers),
        sb.client.post(
            "/sms/v3/messaging/outbox",
            headers=headers,
            json={"outboundSMSRequest": {"address": ["tel:+12125551234"], "message": "x"}},
        ),
    ):
        assert resp.status_code == 401
        assert error_of(resp) == (
            "ServiceException",
            "SVC0001",
            "Invalid or expired %1",
            "access token",
        )
    assert sb.stats()["delivered_to"] == {}


def test_bearer_scheme_is_case_insensitive(sb: Harness) -> None:
    resp = sb.client.get(
        "/sms/v3/messaging/inbox/12345", headers={"Authorization": f"bearer {sb.token}"}
    )
    assert resp.status_code == 200
