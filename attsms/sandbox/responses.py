"""Answers and errors in the spec's shapes, shared by the core, the fault rules and the server."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

JSON_TYPE = "application/json"


@dataclass
class SandboxResponse:
    """An answer. `delay` and `drop_connection` are for the caller to act on outside any lock."""

    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0
    drop_connection: bool = False

    def json(self) -> Any:
        return json.loads(self.body)


class SandboxError(Exception):
    """An error answer in the spec's shape; also raised by the in-process helper functions."""

    def __init__(
        self,
        status: int,
        message_id: str,
        text: str,
        variables: str = "",
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.message_id = message_id
        self.text = text
        self.variables = variables
        self.headers = dict(headers or {})
        super().__init__(f"{message_id}: {text.replace('%1', variables)}")

    def response(self) -> SandboxResponse:
        kind = "PolicyException" if self.message_id.startswith("POL") else "ServiceException"
        detail = {"MessageId": self.message_id, "Text": self.text, "Variables": self.variables}
        resp = json_response(self.status, {"RequestError": {kind: detail}})
        resp.headers.update(self.headers)
        return resp


def json_response(
    status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> SandboxResponse:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return SandboxResponse(status, {"Content-Type": JSON_TYPE, **(headers or {})}, body)


def invalid_input(part: str) -> SandboxError:
    return SandboxError(400, "SVC0002", "Invalid input value for message part %1", part)


def bad_value(param: str) -> SandboxError:
    return SandboxError(400, "SVC0003", "Invalid value for parameter %1", param)


def unauthorized(what: str) -> SandboxError:
    return SandboxError(
        401,
        "SVC0001",
        "Invalid or expired %1",
        what,
        headers={"WWW-Authenticate": 'Bearer realm="att-sms-sandbox", error="invalid_token"'},
    )


def no_resources() -> SandboxError:
    return SandboxError(503, "SVC1000", "No server resources available to process the request")


def not_found(what: str) -> SandboxError:
    return SandboxError(404, "SVC0002", "Not found: %1", what)
