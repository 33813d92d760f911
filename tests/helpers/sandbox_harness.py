"""Helpers for tests that drive a sandbox: the sandbox's own tests and the client's.

    with inprocess_harness(tmp_path / "state.db") as sb:   # or http_harness()
        sb.send_ok("tel:+12125551234")
        sb.clock.advance(5)

A `Harness` is an httpx.Client on a sandbox plus the `FakeClock` that sandbox runs on, with
shortcuts for the calls tests make all the time. Nothing here is used by the CLI itself.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from attsms.sandbox.config import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REGISTRATION_ID,
    SandboxConfig,
)
from attsms.sandbox.core import Sandbox, SandboxResponse
from attsms.sandbox.state import SandboxState

if TYPE_CHECKING:
    import httpx

SEND_PATH = "/sms/v3/messaging/outbox"
TOKEN_PATH = "/oauth/v4/token"
REVOKE_PATH = "/oauth/v4/revoke"
INBOX_PATH = "/sms/v3/messaging/inbox"
CREDENTIALS = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}
START_TIME = 1_800_000_000.0  # 2027-01-15T08:00:00Z: a fixed "now" makes dates predictable


@dataclass
class FakeClock:
    """A clock that moves only when told to."""

    now: float = START_TIME

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def error_of(resp: httpx.Response | SandboxResponse) -> tuple[str, str, str, str]:
    """(exception kind, MessageId, Text, Variables) of a spec-shaped error answer.

    Raises AssertionError if the body is not exactly that shape.
    """
    body = resp.json()
    errors = body.get("RequestError") if isinstance(body, dict) else None
    if list(body) != ["RequestError"] or not isinstance(errors, dict) or len(errors) != 1:
        raise AssertionError(f"not a spec-shaped error: {body!r}")
    ((kind, detail),) = errors.items()
    if set(detail) != {"MessageId", "Text", "Variables"}:
        raise AssertionError(f"not a spec-shaped error: {body!r}")
    return kind, detail["MessageId"], detail["Text"], detail["Variables"]


@dataclass
class Harness:
    """One sandbox behind an httpx.Client, plus the clock it runs on."""

    client: httpx.Client
    clock: FakeClock
    kind: str  # "inprocess" or "http"
    state_path: Path | None = None
    _token: str | None = field(default=None, repr=False)

    def get_token(self, **form: str) -> httpx.Response:
        data = {"grant_type": "client_credentials", "scope": "SMS", **CREDENTIALS, **form}
        return self.client.post(TOKEN_PATH, data=data)

    @property
    def token(self) -> str:
        """An access token, fetched once per harness."""
        if self._token is None:
            resp = self.get_token()
            resp.raise_for_status()
            self._token = resp.json()["access_token"]
        return self._token

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def send(self, address: Any, message: Any = "hello", **extra: Any) -> httpx.Response:
        body = {"outboundSMSRequest": {"address": address, "message": message, **extra}}
        return self.client.post(SEND_PATH, json=body, headers=self.auth())

    def send_ok(self, address: Any, message: str = "hello") -> str:
        """Send and return the message id; raises if the sandbox did not answer 201."""
        resp = self.send(address, message)
        if resp.status_code != 201:
            raise AssertionError(f"send answered {resp.status_code}: {resp.text}")
        message_id: str = resp.json()["outboundSMSResponse"]["messageId"]
        return message_id

    def status(self, message_id: str) -> httpx.Response:
        return self.client.get(f"{SEND_PATH}/{message_id}", headers=self.auth())

    def statuses(self, message_id: str) -> dict[str, str]:
        """{address: deliveryStatus}; raises unless the status call answered 200."""
        resp = self.status(message_id)
        resp.raise_for_status()
        info = resp.json()["deliveryInfoList"]["deliveryInfo"]
        return {i["address"]: i["deliveryStatus"] for i in info}

    def inbox(self, registration_id: str = DEMO_REGISTRATION_ID) -> httpx.Response:
        return self.client.get(f"{INBOX_PATH}/{registration_id}", headers=self.auth())

    def inbox_with(self, token: str, registration_id: str = DEMO_REGISTRATION_ID) -> httpx.Response:
        """The inbox call with a given token: the cheapest way to test a token."""
        return self.client.get(f"{INBOX_PATH}/{registration_id}", headers=self.auth(token))

    def inject(self, registration_id: str = DEMO_REGISTRATION_ID, **payload: Any) -> httpx.Response:
        body = {"from": "+15555550100", "text": "hi", **payload}
        return self.client.post(f"/sandbox/inbox/{registration_id}", json=body)

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.client.get("/sandbox/stats").json()
        return stats

    def faults(self, *rules: dict[str, Any]) -> httpx.Response:
        return self.client.post("/sandbox/faults", json={"rules": list(rules)})


class MakeSandbox(Protocol):
    """The type of a fixture that makes harnesses (tests/sandbox/conftest.py has one)."""

    def __call__(self, config: SandboxConfig | None = None, timeout: float = 5.0) -> Harness: ...


@contextlib.contextmanager
def inprocess_harness(
    state_path: Path,
    config: SandboxConfig | None = None,
    clock: FakeClock | None = None,
    timeout: float = 5.0,
) -> Iterator[Harness]:
    """A Harness on an InProcessTransport over `state_path`."""
    import httpx

    from attsms.sandbox.transport import InProcessTransport

    clock = clock or FakeClock()
    transport = InProcessTransport(state_path, config, clock=clock)
    base_url = "http://sandbox.local"
    with httpx.Client(transport=transport, base_url=base_url, timeout=timeout) as client:
        yield Harness(client, clock, "inprocess", state_path)


@contextlib.contextmanager
def http_harness(
    config: SandboxConfig | None = None,
    clock: FakeClock | None = None,
    timeout: float = 5.0,
) -> Iterator[Harness]:
    """A Harness on a SandboxServer on an ephemeral 127.0.0.1 port, stopped on exit."""
    import httpx

    from attsms.sandbox.server import SandboxServer

    clock = clock or FakeClock()
    with (
        SandboxServer(config, clock=clock).start() as server,
        # Plain http to 127.0.0.1: verify=False only spares loading the CA bundle (~50 ms).
        httpx.Client(base_url=server.url, timeout=timeout, verify=False) as client,  # noqa: S501
    ):
        yield Harness(client, clock, "http")


def memory(sandbox: Sandbox) -> SandboxState:
    """A bare core's state, in memory (the in-process sandbox's is in SQLite)."""
    state = sandbox.state
    assert isinstance(state, SandboxState)
    return state


def core_request(sandbox: Sandbox, method: str, path: str, **kwargs: Any) -> SandboxResponse:
    """One call on a bare core: `form=` or `json=` body, `token=` for the Bearer header."""
    headers: dict[str, str] = {"Host": "sandbox.local"}
    body = b""
    if "form" in kwargs:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(kwargs["form"]).encode()
    if "json" in kwargs:
        headers["Content-Type"] = "application/json"
        body = json.dumps(kwargs["json"]).encode()
    if "token" in kwargs:
        headers["Authorization"] = f"Bearer {kwargs['token']}"
    return sandbox.handle(method, path, headers, body)


def core_token(sandbox: Sandbox) -> str:
    """An access token from a bare core."""
    form = {"grant_type": "client_credentials", "scope": "SMS", **CREDENTIALS}
    resp = core_request(sandbox, "POST", TOKEN_PATH, form=form)
    if resp.status != 200:
        raise AssertionError(f"token answered {resp.status}: {resp.body!r}")
    token: str = resp.json()["access_token"]
    return token


def core_send(sandbox: Sandbox, token: str, address: Any, message: Any) -> SandboxResponse:
    payload = {"outboundSMSRequest": {"address": address, "message": message}}
    return core_request(sandbox, "POST", SEND_PATH, json=payload, token=token)
