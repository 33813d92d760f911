"""In-process and HTTP give the same answers: one scripted session, byte-for-byte the same JSON.

With a seed, tokens and ids are drawn the same way in both, so whole transcripts compare equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from attsms.sandbox import SandboxConfig
from tests.helpers.sandbox_harness import (
    CREDENTIALS,
    REVOKE_PATH,
    SEND_PATH,
    TOKEN_PATH,
    Harness,
    http_harness,
    inprocess_harness,
)

HEADERS = ("content-type", "retry-after", "allow", "www-authenticate", "cache-control")


def session(sb: Harness) -> list[tuple[str, int, dict[str, str], Any]]:
    """Every endpoint and most errors, as (step, status, headers, body with the base URL cut)."""
    base = str(sb.client.base_url).rstrip("/")
    transcript: list[tuple[str, int, dict[str, str], Any]] = []

    def record(step: str, resp: Any) -> Any:
        headers = {k: v for k, v in resp.headers.items() if k.lower() in HEADERS}
        body = resp.text.replace(base, "BASE")
        transcript.append((step, resp.status_code, headers, body))
        return resp.json() if "json" in resp.headers.get("content-type", "") else None

    tokens = record("token", sb.get_token()) or {}
    access = tokens.get("access_token", "none")
    auth = {"Authorization": f"Bearer {access}"}
    record("bad secret", sb.get_token(client_secret="x"))
    record("bad scope", sb.get_token(scope="MMS"))
    numbers = ["tel:+12125550900", "tel:2125550800", "tel:12125550700", "short:12345"]
    sent = record("send", sb.send(numbers, "hi ☃", notifyDeliveryStatus=True)) or {}
    message_id = sent.get("outboundSMSResponse", {}).get("messageId", "none")
    record("send dup", sb.send(["tel:+12125551234", "tel:2125551234"]))
    record("send many", sb.send([f"tel:+1212555{n:04d}" for n in range(1000, 1051)]))
    record("send bad", sb.send(["tel:+12125551234", "tel:555"]))
    record("send none", sb.send(["nope"]))
    record("send long", sb.send("short:123", "x" * 4097))
    record("send empty", sb.send("short:123", ""))
    record("status", sb.client.get(f"{SEND_PATH}/{message_id}", headers=auth))
    sb.clock.advance(3)
    record("status later", sb.client.get(f"{SEND_PATH}/{message_id}", headers=auth))
    record("status unknown", sb.client.get(f"{SEND_PATH}/SMSnope", headers=auth))
    record("inject", sb.inject(text="yo", count=3))
    record("inbox", sb.client.get("/sms/v3/messaging/inbox/12345", headers=auth))
    record("inbox again", sb.client.get("/sms/v3/messaging/inbox/12345", headers=auth))
    record("inbox unknown", sb.client.get("/sms/v3/messaging/inbox/999", headers=auth))
    refresh_form = {"grant_type": "refresh_token", **CREDENTIALS}
    refresh_form["refresh_token"] = tokens.get("refresh_token", "none")
    record("refresh", sb.client.post(TOKEN_PATH, data=refresh_form))
    record("refresh reused", sb.client.post(TOKEN_PATH, data=refresh_form))
    record("revoke", sb.client.post(REVOKE_PATH, data={"token": access, **CREDENTIALS}))
    record("revoked", sb.client.get("/sms/v3/messaging/inbox/12345", headers=auth))
    record("fault", sb.faults({"status": 502, "body": "<html/>", "content_type": "text/html"}))
    record("faulted", sb.get_token())
    record("404", sb.client.get("/nowhere"))
    record("405", sb.client.delete(SEND_PATH))
    record("stats", sb.client.get("/sandbox/stats"))
    record("reset", sb.client.post("/sandbox/reset"))
    record("stats after reset", sb.client.get("/sandbox/stats"))
    return transcript


@pytest.mark.parametrize(
    ("config", "statuses"),
    [
        (SandboxConfig(seed=42), {200, 201, 400, 401, 403, 404, 405, 502}),
        (SandboxConfig(seed=42, fail_rate=0.3), {200, 201, 400, 401, 503}),
        (SandboxConfig(seed=42, rate_limit=6), {200, 201, 400, 401, 404, 429}),
    ],
    ids=["plain", "fail_rate", "rate_limit"],
)
def test_in_process_and_http_give_the_same_answers(
    tmp_path: Path, config: SandboxConfig, statuses: set[int]
) -> None:
    with inprocess_harness(tmp_path / "state.db", config) as sb:
        in_process = session(sb)
    with http_harness(config) as sb:
        over_http = session(sb)
    for a, b in zip(in_process, over_http, strict=True):
        assert a == b
    assert statuses <= {status for _, status, _, _ in in_process}  # the session covered them
