"""Fault rules: canned answers queued through POST /sandbox/faults for the next matching calls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attsms.sandbox.responses import (
    JSON_TYPE,
    SandboxError,
    SandboxResponse,
    invalid_input,
    no_resources,
)

# A fault rule as POST /sandbox/faults takes it; every key is optional.
FAULT_RULE_DEFAULTS: dict[str, Any] = {
    "method": "*",  # or GET, POST, …
    "path_prefix": "/",
    "count": 1,  # how many matching requests get this answer
    "status": None,  # None: 503, or with after_processing the real answer
    "body": None,  # None: a spec-shaped error for the status
    "content_type": JSON_TYPE,
    "headers": {},
    "delay_ms": 0,
    "after_processing": False,  # process the request (state changes), then answer this way
    "drop_connection": False,  # close without answering (httpx sees RemoteProtocolError)
}


def parse_fault_rule(raw: Any) -> dict[str, Any]:
    """A complete fault rule from the JSON a client sent, or SandboxError naming the bad key."""
    if not isinstance(raw, dict):
        raise invalid_input("rules")
    unknown = sorted(set(raw) - set(FAULT_RULE_DEFAULTS))
    if unknown:
        raise invalid_input(unknown[0])
    rule = {**FAULT_RULE_DEFAULTS, **raw}
    checks: dict[str, bool] = {
        "method": isinstance(rule["method"], str) and bool(rule["method"]),
        "path_prefix": isinstance(rule["path_prefix"], str) and rule["path_prefix"].startswith("/"),
        "count": type(rule["count"]) is int and rule["count"] >= 1,
        "status": rule["status"] is None
        or (type(rule["status"]) is int and 100 <= rule["status"] <= 599),
        "body": rule["body"] is None or isinstance(rule["body"], str),
        "content_type": isinstance(rule["content_type"], str),
        "headers": isinstance(rule["headers"], dict)
        and all(isinstance(v, str) for v in rule["headers"].values()),
        "delay_ms": type(rule["delay_ms"]) in (int, float) and rule["delay_ms"] >= 0,
        "after_processing": isinstance(rule["after_processing"], bool),
        "drop_connection": isinstance(rule["drop_connection"], bool),
    }
    for key, ok in checks.items():
        if not ok:
            raise invalid_input(key)
    rule["method"] = rule["method"].upper()
    rule["headers"] = dict(rule["headers"])
    return rule


def fault_answer(rule: Mapping[str, Any], real: SandboxResponse | None) -> SandboxResponse:
    """The answer a rule gives; `real` is the processed answer for after_processing rules."""
    if real is not None and rule["status"] is None:
        resp = real  # after_processing with only a delay, headers or a drop: keep the answer
    else:
        status = rule["status"] or 503
        if rule["body"] is not None:
            resp = SandboxResponse(
                status, {"Content-Type": rule["content_type"]}, rule["body"].encode()
            )
        elif status == 503:
            resp = no_resources().response()
        else:
            resp = SandboxError(
                status, "SVC0001", "Injected fault: HTTP %1", str(status)
            ).response()
    resp.headers.update(rule["headers"])
    resp.delay += rule["delay_ms"] / 1000
    resp.drop_connection = rule["drop_connection"]
    return resp
