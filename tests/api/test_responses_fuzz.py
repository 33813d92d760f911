"""Server answers nobody planned for: hypothesis-generated bodies for every endpoint.

Two layers, the same contract:
- The API client (`AttClient`) over an httpx MockTransport, 100 examples per endpoint (a few
  milliseconds each): every call returns its dataclass or raises an `AttsmsError`, never anything
  else; a 2xx send whose answer cannot be read is an unknown outcome (never "failed", which would
  invite a resend); what is returned holds only text a UTF-8 store and terminal can take.
- The CLI end to end over real HTTP: the sandbox answers each endpoint with a generated body
  through a fault rule (`status` 200/201, arbitrary `body`). Exit codes stay documented, stderr
  holds one error line and never a crash, a send is never repeated, and `inbox pull` loses no
  message it accepted (each is in `inbox list` afterwards).

Bodies: any JSON (nested, huge numbers, NaN, lone surrogates as \\ud800 escapes), JSON of each
endpoint's shape with wrong leaf types, a few thousand levels of nesting, and text that is not
JSON at all.

What it found (fixed in the core): nesting deep enough to make json raise RecursionError crashed
every command; a lone surrogate in an inbound message or a message ID crashed `inbox pull`
(SQLite cannot store it) and `send`; an access token with a space, a control character or a
non-ASCII letter crashed every API call, and httpx's error quoted it: "Illegal header value
b'Bearer <the token>'" on stderr; ESC sequences in an inbound SMS reached the terminal as
commands (clear screen, window title, OSC 52 clipboard write) in `inbox pull` and `inbox list`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from attsms.api.client import AttClient, RetryPolicy
from attsms.core.errors import AttsmsError, ExitCode, UnknownOutcomeError
from attsms.core.models import DeliveryStatus, InboxBatch, SendResult, Token, header_safe
from tests.helpers.support import Cli, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]

DEEP = "[" * 50_000 + "]" * 50_000
DOCUMENTED = {code.value for code in ExitCode}

# --- bodies ----------------------------------------------------------------------------------

leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)  # surrogates included: json.dumps escapes them as \udXXX
    | st.sampled_from(["", "0", "-1", "1e999", "tel:+12125550100", "DeliveredToTerminal", "\n"])
)
any_json = st.recursive(
    leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The right kind of value, or any JSON at all in its place."""
    return st.one_of(value, value, any_json)


token_shape = st.fixed_dictionaries(
    {},
    optional={
        "access_token": maybe(st.text(min_size=1, max_size=20)),
        "accessToken": maybe(st.text(max_size=20)),
        "refresh_token": maybe(st.text(max_size=20)),
        "expires_in": maybe(st.integers(-5, 10**12)),
        "token_type": any_json,
    },
)
send_shape = st.fixed_dictionaries(
    {
        "outboundSMSResponse": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "messageId": maybe(st.text(max_size=20)),
                    "resourceReference": maybe(st.fixed_dictionaries({"resourceURL": any_json})),
                },
            )
        )
    }
)
delivery = st.fixed_dictionaries(
    {},
    optional={
        "address": maybe(st.sampled_from(["tel:+12125550100", "12125550100", "short:12345"])),
        "deliveryStatus": maybe(st.sampled_from(["DeliveredToTerminal", "MessageWaiting"])),
    },
)
status_shape = st.fixed_dictionaries(
    {
        "deliveryInfoList": maybe(
            st.fixed_dictionaries(
                {"deliveryInfo": maybe(st.lists(delivery, max_size=3) | delivery)},
                optional={"resourceURL": any_json},
            )
        )
    }
)
inbound = st.fixed_dictionaries(
    {"messageId": maybe(st.text(min_size=1, max_size=12))},
    optional={
        "message": maybe(st.text(max_size=40)),
        "senderAddress": maybe(st.sampled_from(["tel:+12125550100", "+1212", ""])),
        "destinationAddress": any_json,
        "dateTime": maybe(st.sampled_from(["2024-05-01T09:30:00Z", "yesterday", ""])),
    },
)
inbox_shape = st.fixed_dictionaries(
    {
        "inboundSMSMessageList": maybe(
            st.fixed_dictionaries(
                {"inboundSMSMessage": maybe(st.lists(inbound, max_size=4) | inbound)},
                optional={
                    "totalNumberOfPendingMessages": maybe(st.integers(-1, 10**20)),
                    "numberOfMessagesInThisBatch": any_json,
                },
            )
        )
    }
)
not_json = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]), max_size=60
) | st.sampled_from(
    ["", "<html>ok</html>", "{", '{"a": 1', "null", DEEP, '{"a":' + "1" * 5_000 + "}"]
)


def bodies(shape: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """Text of a body: the endpoint's shape, any JSON, or not JSON at all."""
    as_json = st.one_of(shape, shape, any_json).map(json.dumps)  # ASCII: surrogates as \udXXX
    return st.one_of(as_json, as_json, not_json)


# --- the client ------------------------------------------------------------------------------


class FixedToken:
    def access_token(self, *, stale: str | None = None) -> str:
        return "t0k3n"


class Answer:
    """What the mock service answers next; one client serves every example of a test."""

    status = 200
    body = ""
    content_type = "application/json"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": self.content_type}
        return httpx.Response(self.status, content=self.body.encode(), headers=headers)


ANSWER = Answer()
CLIENT = AttClient(
    "http://fuzz.invalid",
    tokens=FixedToken(),
    transport=httpx.MockTransport(ANSWER),
    retry=RetryPolicy(attempts=2),
    sleep=lambda _seconds: None,
)


def encodable(*texts: str | None) -> bool:
    try:
        for text in texts:
            (text or "").encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


statuses = st.sampled_from([200, 201, 202, 204, 400, 401, 403, 404, 429, 500, 502, 503])
content_types = st.sampled_from(["application/json", "text/html", "text/plain", ""])
core = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def call(operation: Callable[[AttClient], Any], status: int, body: str, content_type: str) -> Any:
    ANSWER.status, ANSWER.body, ANSWER.content_type = status, body, content_type
    try:
        return operation(CLIENT)
    except AttsmsError as error:
        assert str(error) and int(error.exit_code) in DOCUMENTED
        return error


@core
@given(statuses, bodies(token_shape), content_types)
@example(200, DEEP, "application/json")
@example(200, '{"access_token": "\\ud800", "expires_in": "1e999"}', "application/json")
@example(200, '{"access_token": "ab\\r\\nX-Evil: 1"}', "application/json")
def test_token_answers(status: int, body: str, content_type: str) -> None:
    result = call(lambda c: c.fetch_token("id", "secret"), status, body, content_type)
    if isinstance(result, Token):
        # It goes in a header as it is: anything else made httpx quote it in an error.
        assert header_safe(result.access_token) and encodable(result.refresh_token)
        assert result.expires_at is None or math.isfinite(result.expires_at)


@core
@given(statuses, bodies(send_shape), content_types)
@example(201, DEEP, "application/json")
@example(201, '{"outboundSMSResponse": {"messageId": "\\udcff"}}', "application/json")
def test_send_answers(status: int, body: str, content_type: str) -> None:
    result = call(lambda c: c.send(["tel:+12125550100"], "hi"), status, body, content_type)
    if isinstance(result, SendResult):
        assert result.message_id and encodable(result.message_id, result.resource_url)
    elif 200 <= status < 300:
        # Accepted, but no readable ID: it may well have gone, so never report it "failed".
        assert isinstance(result, UnknownOutcomeError), result


@core
@given(statuses, bodies(status_shape), content_types)
@example(200, DEEP, "application/json")
def test_delivery_status_answers(status: int, body: str, content_type: str) -> None:
    result = call(lambda c: c.delivery_status("SMS1"), status, body, content_type)
    if isinstance(result, DeliveryStatus):
        assert all(encodable(d.address, d.status) for d in result.deliveries)


@core
@given(statuses, bodies(inbox_shape), content_types)
@example(200, DEEP, "application/json")
@example(
    200,
    '{"inboundSMSMessageList": {"inboundSMSMessage": [{"messageId": "m\\ud800", "message":'
    ' "\\udfff"}], "totalNumberOfPendingMessages": 0}}',
    "application/json",
)
def test_inbox_answers(status: int, body: str, content_type: str) -> None:
    result = call(lambda c: c.inbox("12345"), status, body, content_type)
    if isinstance(result, InboxBatch):
        for m in result.messages:
            assert m.message_id and encodable(m.message_id, m.message, m.sender, m.received_at)


@core
@given(statuses, bodies(st.just({})), content_types)
def test_revoke_answers(status: int, body: str, content_type: str) -> None:
    result = call(lambda c: c.revoke("id", "secret", "tok"), status, body, content_type)
    assert result is None or isinstance(result, AttsmsError)


# --- the CLI over HTTP -----------------------------------------------------------------------


class Served:
    """The sandbox over HTTP, made to answer one path with a given body (admin calls over one
    kept-alive connection: a new one per call costs ~40 ms)."""

    def __init__(self, server: SandboxHttp) -> None:
        self.server = server
        self.admin = httpx.Client(base_url=server.url, timeout=10)

    def answer(self, path: str, body: str, status: int) -> None:
        self.admin.delete("/sandbox/faults").raise_for_status()
        rule = {"path_prefix": path, "status": status, "body": body}
        self.admin.post("/sandbox/faults", json={"rules": [rule]}).raise_for_status()

    def send_attempts(self) -> int:
        stats = self.admin.get("/sandbox/stats").raise_for_status().json()
        return int(stats["attempts"].get("send", 0))


@pytest.fixture
def served(sandbox_http: StartSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    server = sandbox_http(delivery_seconds=0)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ATTSMS_REGISTRATION_ID", "12345")
    monkeypatch.setattr(RetryPolicy, "delay", lambda _self, _attempt, _retry_after: 0.0)
    served = Served(server)
    yield served
    served.admin.close()


def one_line_outcome(result: Any) -> None:
    assert result.exit_code in DOCUMENTED, result.exit_code
    assert "Traceback" not in result.stderr and "error: unexpected" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("attsms: error")]
    assert len(errors) == (0 if result.exit_code == 0 else 1), result.stderr


cli_level = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@cli_level
@given(bodies(send_shape), st.sampled_from([200, 201]))
@example(DEEP, 201)
@example('{"outboundSMSResponse": {"messageId": "\\udcff"}}', 201)
def test_cli_send_with_odd_answers(cli: Cli, served: Served, body: str, status: int) -> None:
    served.answer("/sms/v3/messaging/outbox", body, status)
    before = served.send_attempts()
    result = cli("send", "+12125550100", "-m", "hi", "--json")
    one_line_outcome(result)
    assert result.exit_code in (0, 5), result.stderr  # accepted, or "may have been sent"
    assert served.send_attempts() == before + 1  # never sent twice
    if result.exit_code == 0:
        [message] = result.json()["messages"]
        assert message["result"] == "accepted" and message["message_id"]
    history = cli("history", "--json", "--limit", "1")
    assert history.exit_code == 0, history.stderr  # the store took whatever came back


@cli_level
@given(bodies(status_shape), st.sampled_from([200, 201]))
@example(DEEP, 200)
def test_cli_status_with_odd_answers(cli: Cli, served: Served, body: str, status: int) -> None:
    served.answer("/sms/v3/messaging/outbox/", body, status)
    result = cli("status", "SMS0123456789abcdef", "--json")
    one_line_outcome(result)
    assert result.exit_code in (0, 1, 4), result.stderr


@cli_level
@given(bodies(inbox_shape), st.sampled_from([200, 201]))
@example(DEEP, 200)
@example(
    '{"inboundSMSMessageList": {"inboundSMSMessage": [{"messageId": "m\\ud800", "message":'
    ' "\\udfff", "senderAddress": "tel:+12125550100"}], "totalNumberOfPendingMessages": 0}}',
    200,
)
def test_cli_inbox_pull_with_odd_answers(cli: Cli, served: Served, body: str, status: int) -> None:
    served.answer("/sms/v3/messaging/inbox", body, status)
    result = cli("inbox", "pull", "--json")
    one_line_outcome(result)
    assert result.exit_code in (0, 1, 75), result.stderr
    if result.exit_code == 0:
        pulled = {m["message_id"] for m in result.json()["messages"]}
        stored = cli("inbox", "list", "--json", "--limit", "0")
        assert stored.exit_code == 0, stored.stderr
        assert pulled <= {m["message_id"] for m in stored.json()}  # nothing printed unstored


@cli_level
@given(bodies(token_shape), st.sampled_from([200, 201]))
@example(DEEP, 200)
@example('{"accessToken": "\\ud800abc", "expiresIn": 60}', 200)
def test_cli_token_with_odd_answers(cli: Cli, served: Served, body: str, status: int) -> None:
    served.answer("/oauth/v4/token", body, status)
    cli("logout")  # no cached token: the next command asks for one
    result = cli("auth", "token")
    one_line_outcome(result)
    assert result.exit_code in (0, 1, 3), result.stderr
    if result.exit_code == 0:
        assert result.stdout.strip() and "\n" not in result.stdout.strip()


def test_inbound_text_cannot_drive_the_terminal(sandbox_http: StartSandbox) -> None:
    """An SMS is text from anyone: ESC sequences in it (clear the screen, set the title, write
    the clipboard with OSC 52) must reach a terminal as visible escapes, not as commands."""
    import os
    import subprocess
    import sys

    server = sandbox_http()
    hostile = "hi\x1b[2J\x1b]52;c;ZXZpbA==\x07\x1b]0;pwned\x07\x9b31m\x08there"
    server.inject("+12125550100", hostile)
    env = {**os.environ, **server.env(), "ATTSMS_REGISTRATION_ID": "12345", "NO_COLOR": "1"}
    for args in (("inbox", "pull"), ("inbox", "list")):
        main, terminal = os.openpty()  # stdout and stderr on a terminal: the table output
        proc = subprocess.Popen(
            [sys.executable, "-m", "attsms", *args], stdout=terminal, stderr=terminal, env=env
        )
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the terminal's other end closed
                break
            if not chunk:
                break
            shown += chunk
        os.close(main)
        assert proc.wait(timeout=30) == 0, shown
        text = shown.decode("utf-8", "replace")
        assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text, repr(text)
        assert "\\x1b[2J" in text and "\\x1b]52;c;ZXZpbA==\\x07" in text, repr(text)
