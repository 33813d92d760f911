"""The fault matrix: `send`, `status`, `inbox pull` and `login`, each run as a real `attsms`
process against the sandbox over real HTTP, under each fault (16 x 4 = 64 cases).

Faults come from the sandbox's fault rules, from `tests/hostile_server.py` (a proxy that spoils
answers the sandbox has really processed: a reset mid-body, a 50 MB body) and from a closed port.
The fault hits the command's own request: `POST /outbox` (send), `GET /outbox/{id}` (status),
the SECOND `GET /inbox/{id}` of a drain of 3 batches (inbox pull: the first batch is stored), and
`POST /oauth/v4/token` (login). Runs use `ATTSMS_MAX_RETRIES=1` (one retry, to keep the matrix
fast; the default of 3 is tested on its own), `ATTSMS_RATE_LIMIT_TIMEOUT=1.5` (a rate-limited send
is retried until that deadline, default 300 s: here one retry), and `ATTSMS_TIMEOUT=1` for the
timeout rows; the 5xx and 403 faults carry `Retry-After: 0`, so their retry does not wait out a
backoff. A send answered with any 5xx is an unknown outcome (5), never retried: a backend may
have taken it before the error was answered.

Each cell: exit code; `a` = requests that reached the faulted endpoint in that run (retries
included); `d` = times the recipient got the text (sandbox `delivered_to`); `lost` = inbound
messages the service handed out in an answer the client never got (the service forgets what it
returns: no client can get those back, the error says so).

    fault                   send            status      inbox pull          login
    500 (every try)         5  a1 d0        75 a2       75 a3               75 a2
    500 once                5  a1 d0        0  a2       0  a4               0  a2
    502 HTML page           5  a1 d0        75 a2       75 a3               75 a2
    503 SVC1000             5  a1 d0        75 a2       75 a3               75 a2
    429 Retry-After: 1      75 a2 d0        75 a2       75 a3               75 a2
    429, no Retry-After     75 a2 d0        75 a2       75 a3               75 a2
    403 POL0001             75 a2 d0        75 a2       75 a3               75 a2
    401 token revoked       0  a2 d1        0  a2       0  a4               3  a1
    connect refused         75    d0        75          75                  75
    timeout before work     5  a1 d0        0  a2       75 a2               0  a2
    timeout after work      5  a1 d1        0  a2       75 a2 lost 2        0  a2
    reset mid-body          5  a1 d1        0  a2       75 a2 lost 2        0  a2
    2xx, empty body         5  a1 d1        1  a1       1  a2 lost 2        1  a1
    2xx, truncated JSON     5  a1 d1        1  a1       1  a2 lost 2        1  a1
    2xx, JSON wrong shape   5  a1 d1        1  a1       1  a2 lost 2        1  a1
    200, 50 MB body         5  a1 d1        1  a1       1  a2 lost 2        1  a1

Every case also checks: no traceback; exactly one `attsms: error:` line when it fails and none
when it succeeds; a send with an unknown outcome (5) is recorded `unknown` and never resent, and
re-running it with its `--dedupe-key` once the fault is gone sends only what surely did not go
(nothing after 0 or 5, the message after a failure); a failed login saves nothing; after an
inbox fault a clean pull gets the rest, and `inbox list` holds every message not lost exactly
once, each printed exactly once over both runs; no run's peak memory comes near the size of a
huge body. docs/fault-matrix.md has the same table with what each cell guarantees, and tests
keep both tables in step with `EXPECTED`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from attsms.core.errors import ExitCode
from tests.helpers.hostile_server import Action, HostileProxy
from tests.helpers.support import Cli, SandboxHttp

if TYPE_CHECKING:
    import httpx

Server = Callable[..., SandboxHttp]

TOKEN_PATH = "/oauth/v4/token"
OUTBOX_PATH = "/sms/v3/messaging/outbox"
INBOX_PATH = "/sms/v3/messaging/inbox"
REGISTRATION = "12345"
RECIPIENT = "+12125550100"
RECIPIENT_ADDRESS = "tel:+12125550100"
SENDER = "+12125550199"
INBOX_BATCH = 2
INBOX_MESSAGES = 6  # 3 batches: the fault hits the second
ROOT = Path(__file__).resolve().parents[2]

# attsms takes ~50 MB; a run that read a 50 MB answer whole would peak above 130 MB.
MAX_RSS_KB = 90 * 1024

COMMANDS = ("send", "status", "inbox", "login")
# The sandbox operation (its stats key) behind each command's own request.
OPERATION = {"send": "send", "status": "status", "inbox": "inbox", "login": "token"}
# Where each command's own request goes (a status is a GET below the outbox, a send the POST).
TARGET = {
    "send": ("POST", OUTBOX_PATH),
    "status": ("GET", OUTBOX_PATH + "/"),
    "inbox": ("GET", INBOX_PATH + "/"),
    "login": ("POST", TOKEN_PATH),
}

POL0001_BODY = json.dumps(
    {
        "RequestError": {
            "PolicyException": {
                "MessageId": "POL0001",
                "Text": "A policy error occurred. For example, rate limit error: %1",
                "Variables": "quota exceeded",
            }
        }
    }
)
TRUNCATED = {
    "send": '{"outboundSMSResponse": {"messageId": "SMS0123',
    "status": '{"deliveryInfoList": {"deliveryInfo": [{"address": "tel:+1212',
    "inbox": '{"inboundSMSMessageList": {"inboundSMSMessage": [{"messageId": "',
    "login": '{"access_token": "0123456789abcdef", "token_',
}
EVERY_TRY = 99  # a fault rule count no run exhausts
SEND = ("send", RECIPIENT, "-m", "fault matrix", "--dedupe-key", "fault-matrix")


@dataclass(frozen=True)
class Expect:
    code: ExitCode
    attempts: int | None  # requests reaching the faulted endpoint; None: not counted (refused)
    delivered: int = 0  # send: how many times the recipient got the text
    lost: int = 0  # inbox: messages handed out in an answer the client never got
    says: str = ""  # a fragment of the one error line


OK, ERROR, AUTH, UNKNOWN, LATER = (
    ExitCode.OK,
    ExitCode.ERROR,
    ExitCode.AUTH,
    ExitCode.UNKNOWN_OUTCOME,
    ExitCode.TEMPFAIL,
)
E = Expect


def _row(send: Expect, status: Expect, inbox: Expect, login: Expect) -> dict[str, Expect]:
    return {"send": send, "status": status, "inbox": inbox, "login": login}


EXPECTED: dict[str, dict[str, Expect]] = {
    "500": _row(
        E(UNKNOWN, 1, says="HTTP 500"), E(LATER, 2), E(LATER, 3), E(LATER, 2, says="HTTP 500")
    ),
    "500-once": _row(E(UNKNOWN, 1, says="HTTP 500"), E(OK, 2), E(OK, 4), E(OK, 2)),
    "502-html": _row(
        E(UNKNOWN, 1, says="HTML page"),
        E(LATER, 2, says="HTML page"),
        E(LATER, 3, says="HTML page"),
        E(LATER, 2, says="HTML page"),
    ),
    "503-svc1000": _row(
        E(UNKNOWN, 1, says="SVC1000"), E(LATER, 2), E(LATER, 3), E(LATER, 2, says="SVC1000")
    ),
    "429-retry-after": _row(
        E(LATER, 2, says="rate limited by the service for 1 s"),
        E(LATER, 2, says="try again after 1 s"),
        E(LATER, 3),
        E(LATER, 2, says="HTTP 429"),
    ),
    "429": _row(E(LATER, 2, says="a lower --rate avoids"), E(LATER, 2), E(LATER, 3), E(LATER, 2)),
    "403-pol0001": _row(
        E(LATER, 2, says="POL0001"), E(LATER, 2), E(LATER, 3), E(LATER, 2, says="POL0001")
    ),
    "401-revoked": _row(E(OK, 2, delivered=1), E(OK, 2), E(OK, 4), E(AUTH, 1, says="HTTP 401")),
    "refused": _row(
        E(LATER, None, says="cannot reach"),
        E(LATER, None, says="cannot reach"),
        E(LATER, None, says="cannot reach"),
        E(LATER, None, says="cannot reach"),
    ),
    "timeout-before": _row(
        E(UNKNOWN, 1, says="may or may not"),
        E(OK, 2),
        E(LATER, 2, says="handed out"),
        E(OK, 2),
    ),
    "timeout-after": _row(
        E(UNKNOWN, 1, delivered=1, says="may or may not"),
        E(OK, 2),
        E(LATER, 2, lost=2, says="handed out"),
        E(OK, 2),
    ),
    "reset-mid-body": _row(
        E(UNKNOWN, 1, delivered=1, says="may or may not"),
        E(OK, 2),
        E(LATER, 2, lost=2, says="handed out"),
        E(OK, 2),
    ),
    "empty-body": _row(
        E(UNKNOWN, 1, delivered=1, says="could not be read"),
        E(ERROR, 1, says="empty body"),
        E(ERROR, 2, lost=2, says="handed out"),
        E(ERROR, 1, says="empty body"),
    ),
    "truncated-json": _row(
        E(UNKNOWN, 1, delivered=1, says="could not be read"),
        E(ERROR, 1, says="not the service's JSON"),
        E(ERROR, 2, lost=2, says="handed out"),
        E(ERROR, 1, says="not the service's JSON"),
    ),
    "wrong-shape": _row(
        E(UNKNOWN, 1, delivered=1, says="could not be read"),
        E(ERROR, 1, says="unexpected shape"),
        E(ERROR, 2, lost=2, says="handed out"),
        E(ERROR, 1, says="no access_token"),
    ),
    "huge-body": _row(
        E(UNKNOWN, 1, delivered=1, says="MB"),
        E(ERROR, 1, says="MB"),
        E(ERROR, 2, lost=2, says="handed out"),
        E(ERROR, 1, says="MB"),
    ),
}
FAULTS = tuple(EXPECTED)


# --- running a real attsms process -------------------------------------------------------------


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str
    max_rss_kb: int

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("attsms: error:")]


# A small go-between that starts attsms and reports the peak memory of attsms alone. Measured
# from the pytest worker itself, ru_maxrss would include the worker's own memory, which the
# child holds between fork and exec (hundreds of MB after a few hypothesis tests).
_MEASURE = """
import os, subprocess, sys
child = subprocess.Popen([sys.executable, *sys.argv[1:]])
_, status, usage = os.wait4(child.pid, 0)
with open(os.environ["ATTSMS_TEST_RSS_FILE"], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_attsms(
    *args: str, env: dict[str, str], input: str | None = None, timeout: float = 60
) -> Run:
    """`python -m attsms ARGS` as a child process, with its own peak memory."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as scratch,
    ):
        rss_file = Path(scratch) / "rss"
        proc = subprocess.Popen(
            [sys.executable, "-c", _MEASURE, "-m", "attsms", *args],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            env={**os.environ, **env, "ATTSMS_TEST_RSS_FILE": str(rss_file)},
        )
        try:
            proc.communicate((input or "").encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(
                f"attsms {' '.join(args)} still running after {timeout} s"
            ) from None
        out.seek(0)
        err.seek(0)
        max_rss_kb = int(rss_file.read_text())
        return Run(
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            max_rss_kb,
        )


# --- the sandbox side ------------------------------------------------------------------------

_clients: list[httpx.Client] = []


def http() -> httpx.Client:
    """One client for all set-up and checks: each new httpx client costs ~50 ms of TLS set-up."""
    import httpx

    if not _clients:
        # No keep-alive: a connection left open would hold a thread of a stopped sandbox.
        _clients.append(httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)))
    return _clients[0]


def admin(server: SandboxHttp, method: str, path: str, payload: Any = None) -> Any:
    response = http().request(method, server.url + path, json=payload)
    response.raise_for_status()
    return response.json()


def post_form(url: str, form: dict[str, str]) -> Any:
    response = http().post(url, data=form)
    response.raise_for_status()
    return response.json()


def sent_message(server: SandboxHttp) -> str:
    """A message sent straight to the sandbox (not through attsms): its ID, for `status`."""
    token = post_form(
        server.url + TOKEN_PATH,
        {
            "grant_type": "client_credentials",
            "client_id": server.config.client_id,
            "client_secret": server.config.client_secret,
            "scope": "SMS",
        },
    )["access_token"]
    response = http().post(
        server.url + OUTBOX_PATH,
        json={"outboundSMSRequest": {"address": [RECIPIENT_ADDRESS], "message": "hello"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    return str(response.json()["outboundSMSResponse"]["messageId"])


def stats(server: SandboxHttp) -> Any:
    return admin(server, "GET", "/sandbox/stats")


def attempts(server: SandboxHttp, operation: str) -> int:
    return int(stats(server)["attempts"].get(operation, 0))


def refusing_url(stack: contextlib.ExitStack) -> str:
    """A URL whose port is bound and never listened on: connections are refused, and no other
    server can take the port while the test runs."""
    sock = stack.enter_context(socket.socket())
    sock.bind(("127.0.0.1", 0))
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


def inbox_texts(n: int) -> list[str]:
    return [f"reply #{i}" for i in range(1, n + 1)]


# --- arming a fault ----------------------------------------------------------------------------


def sandbox_rule(fault: str, command: str) -> dict[str, Any] | None:
    """The sandbox fault rule for `fault` on `command`'s request, or None (made another way)."""
    method, path = TARGET[command]
    base: dict[str, Any] = {"method": method, "path_prefix": path}
    processed_200 = {"after_processing": True, "status": 200}
    # Retry at once: what is checked here is whether a retry happens, not the backoff (which
    # test_api.py times); "429" and "refused" keep the jittered backoff of a bare error.
    now = {"headers": {"Retry-After": "0"}}
    rules: dict[str, dict[str, Any]] = {
        "500": {**now, "status": 500, "count": EVERY_TRY},
        "500-once": {**now, "status": 500},
        "502-html": {
            **now,
            "status": 502,
            "body": "<html><body><h1>502 Bad Gateway</h1></body></html>",
            "content_type": "text/html",
            "count": EVERY_TRY,
        },
        "503-svc1000": {**now, "status": 503, "count": EVERY_TRY},
        "429-retry-after": {"status": 429, "headers": {"Retry-After": "1"}, "count": EVERY_TRY},
        "429": {"status": 429, "count": EVERY_TRY},
        "403-pol0001": {**now, "status": 403, "body": POL0001_BODY, "count": EVERY_TRY},
        "timeout-before": {"delay_ms": 3000},
        "timeout-after": {"after_processing": True, "delay_ms": 3000},
        "empty-body": {**processed_200, "body": ""},
        "truncated-json": {**processed_200, "body": TRUNCATED[command]},
        "wrong-shape": {**processed_200, "body": '{"status": "ok"}'},
    }
    if fault == "401-revoked" and command == "login":
        # login has no bearer call to revoke under it: its 401 is the token endpoint refusing.
        return {**base, "status": 401, "count": EVERY_TRY}
    rule = rules.get(fault)
    return None if rule is None else {**base, **rule}


@dataclass
class Armed:
    base_url: str
    env: dict[str, str]
    proxy: HostileProxy | None = None


def warm_then_revoke(cli: Cli, server: SandboxHttp, isolated_home: Path) -> None:
    """Cache a token as attsms does, then revoke its whole grant at the service."""
    warmed = cli("auth", "token")
    assert warmed.exit_code == 0, warmed.stderr
    cached = json.loads((isolated_home / "cache" / "tokens" / "default.json").read_text())
    post_form(
        server.url + "/oauth/v4/revoke",
        {
            "client_id": server.config.client_id,
            "client_secret": server.config.client_secret,
            "token": cached["refresh_token"],
            "token_type_hint": "refresh_token",
        },
    )


def arm(
    fault: str,
    command: str,
    server: SandboxHttp,
    stack: contextlib.ExitStack,
    cli: Cli,
    isolated_home: Path,
) -> Armed:
    # A rate-limited send is retried until the rate-limit deadline, not ATTSMS_MAX_RETRIES: 1.5 s
    # lets it wait out one round (Retry-After, and the throttle's pacing of 1 s) and no second.
    armed = Armed(server.url, {"ATTSMS_MAX_RETRIES": "1", "ATTSMS_RATE_LIMIT_TIMEOUT": "1.5"})
    if fault.startswith("timeout"):
        armed.env["ATTSMS_TIMEOUT"] = "1"
    rule = sandbox_rule(fault, command)
    if rule is not None:
        if command == "inbox":  # the first batch comes through as it is; the fault hits the next
            rules = [{"path_prefix": INBOX_PATH, "after_processing": True}, rule]
        else:
            rules = [rule]
        admin(server, "POST", "/sandbox/faults", {"rules": rules})
    elif fault == "refused":
        armed.base_url = refusing_url(stack)
    elif fault == "401-revoked":
        warm_then_revoke(cli, server, isolated_home)
    elif fault in ("reset-mid-body", "huge-body"):
        proxy = stack.enter_context(HostileProxy(server.url))
        action: Action = "reset_mid_body" if fault == "reset-mid-body" else "huge_body"
        proxy.mangle(TARGET[command][1], action, skip=1 if command == "inbox" else 0)
        armed.base_url, armed.proxy = proxy.url, proxy
    else:
        raise AssertionError(f"no way to make {fault}")
    return armed


# --- the matrix ------------------------------------------------------------------------------


def _check_one_line(run: Run, expect: Expect) -> None:
    assert "Traceback" not in run.stderr, run.stderr
    assert not re.search(r"error: unexpected \w+:", run.stderr), run.stderr  # the catch-all
    assert run.exit_code == expect.code, run.stderr
    if expect.code == OK:
        assert run.error_lines == [], run.stderr
        return
    assert len(run.error_lines) == 1, run.stderr
    assert run.stderr.splitlines()[-1] == run.error_lines[0]  # the error is the last word
    assert expect.says in run.error_lines[0], run.error_lines[0]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("fault", FAULTS)
def test_fault_matrix(
    fault: str,
    command: str,
    cli: Cli,
    sandbox_http: Server,
    use_server: Callable[[SandboxHttp], None],
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expect = EXPECTED[fault][command]
    server = sandbox_http(inbox_batch_size=INBOX_BATCH, delivery_seconds=0)
    use_server(server)
    with contextlib.ExitStack() as stack:
        message_id = sent_message(server) if command == "status" else ""
        if command == "inbox":
            injected = {"from": SENDER, "text": "reply", "count": INBOX_MESSAGES}
            admin(server, "POST", f"/sandbox/inbox/{REGISTRATION}", injected)
        armed = arm(fault, command, server, stack, cli, isolated_home)
        before = attempts(server, OPERATION[command])
        env = {**armed.env, "ATTSMS_BASE_URL": armed.base_url}
        if command == "send":
            run = run_attsms(*SEND, env=env)
        elif command == "status":
            run = run_attsms("status", message_id, env=env)
        elif command == "inbox":
            run = run_attsms("inbox", "pull", REGISTRATION, "--jsonl", env=env)
        else:
            run = run_attsms(
                "login",
                "--client-id",
                server.config.client_id,
                "--client-secret-stdin",
                "--base-url",
                armed.base_url,
                "--store",
                "file",
                env={**env, "ATTSMS_CLIENT_ID": "", "ATTSMS_CLIENT_SECRET": ""},
                input=server.config.client_secret,
            )
        if armed.proxy is not None and fault == "huge-body":
            # attsms refused it on its Content-Length: the proxy got no further than what the
            # sockets buffer before its writes failed.
            assert armed.proxy.huge_written() < 20 * 2**20
        _check_one_line(run, expect)
        assert run.max_rss_kb < MAX_RSS_KB, f"peak memory {run.max_rss_kb} KB"
        if expect.attempts is not None:
            assert attempts(server, OPERATION[command]) - before == expect.attempts
        admin(server, "DELETE", "/sandbox/faults")
        if armed.proxy is not None:
            # The next run goes where this one went (a keyed job is one per service account and
            # base URL); the proxy spoiled one answer and now passes everything through.
            monkeypatch.setenv("ATTSMS_BASE_URL", armed.proxy.url)
        CHECKS[command](run, expect, server, cli, isolated_home)


def check_send(
    run: Run, expect: Expect, server: SandboxHttp, cli: Cli, isolated_home: Path
) -> None:
    def delivered() -> int:
        return int(stats(server)["delivered_to"].get(RECIPIENT_ADDRESS, 0))

    assert delivered() == expect.delivered
    history = cli("history", "--json").json()
    # The same command again, the fault gone (a cron job's next run): it sends only what surely
    # did not go.
    sends = attempts(server, "send")
    rerun = cli(*SEND)
    if expect.code == OK:
        assert [b["outcome"] for b in history] == ["accepted"]
        assert "\taccepted" in run.stdout
        assert (rerun.exit_code, delivered()) == (OK, 1)
        assert f"{RECIPIENT}\talready-sent" in rerun.stdout
    elif expect.code == UNKNOWN:
        # Recorded as "may have gone", so neither the re-run nor a person resends it blindly.
        assert [b["outcome"] for b in history] == ["unknown"]
        assert f"{RECIPIENT}\tunknown" in run.stdout
        assert (rerun.exit_code, delivered()) == (UNKNOWN, expect.delivered)
        assert attempts(server, "send") == sends
    else:
        assert all(b["outcome"] == "failed" for b in history)  # none when the token call failed
        assert run.stdout == ""
        assert (rerun.exit_code, delivered()) == (OK, 1)


def check_status(
    run: Run, expect: Expect, server: SandboxHttp, cli: Cli, isolated_home: Path
) -> None:
    if expect.code == OK:
        assert f"{RECIPIENT}\tDeliveredToTerminal" in run.stdout
    else:
        assert "DeliveredToTerminal" not in run.stdout


def check_inbox(
    run: Run, expect: Expect, server: SandboxHttp, cli: Cli, isolated_home: Path
) -> None:
    everything = inbox_texts(INBOX_MESSAGES)
    # The lost ones are the second batch, the one whose answer the fault spoiled.
    lost = everything[INBOX_BATCH : INBOX_BATCH + expect.lost]
    first = [json.loads(line)["text"] for line in run.stdout.splitlines()]
    if expect.code == OK:
        assert first == [t for t in everything if t not in lost]
    elif expect.attempts is not None:  # the first batch was stored and printed before the fault
        assert first == everything[:INBOX_BATCH]
    else:
        assert first == []
    clean = cli("inbox", "pull", REGISTRATION, "--jsonl")
    assert clean.exit_code == 0, clean.stderr
    second = [json.loads(line)["text"] for line in clean.stdout.splitlines()]
    stored = [m["text"] for m in cli("inbox", "list", "--limit", "0", "--json").json()]
    assert sorted(stored) == sorted(t for t in everything if t not in lost)  # each exactly once
    assert sorted(first + second) == sorted(stored)  # each printed exactly once, over both runs


def check_login(
    run: Run, expect: Expect, server: SandboxHttp, cli: Cli, isolated_home: Path
) -> None:
    config = isolated_home / "config" / "config.toml"
    token_cache = isolated_home / "cache" / "tokens" / "default.json"
    if expect.code == OK:
        assert server.config.client_id in config.read_text()
        assert token_cache.exists()
    else:
        assert not config.exists()  # nothing saved: not the settings, the secret or a token
        assert not token_cache.exists()
        assert not list((isolated_home / "config").rglob("*secret*"))


CHECKS = {"send": check_send, "status": check_status, "inbox": check_inbox, "login": check_login}


# --- around the matrix -----------------------------------------------------------------------


def test_the_docs_table_says_what_the_matrix_checks() -> None:
    """docs/fault-matrix.md: one row per fault, `**code**` first in each command's cell."""
    text = (ROOT / "docs" / "fault-matrix.md").read_text()
    documented: dict[str, list[int]] = {}
    for line in text.splitlines():
        match = re.match(r"\|\s*`([\w-]+)`", line)
        if match:
            cells = line.strip().strip("|").split("|")[1:]
            codes = [re.match(r"\s*\*\*(\d+)\*\*", cell) for cell in cells]
            assert all(codes), line
            documented[match.group(1)] = [int(c.group(1)) for c in codes if c]
    assert documented == {
        fault: [EXPECTED[fault][command].code for command in COMMANDS] for fault in FAULTS
    }


def test_a_huge_answer_of_no_stated_length_is_read_only_up_to_the_cap(
    sandbox_http: Server,
) -> None:
    from attsms.api.client import MAX_ANSWER_BYTES

    server = sandbox_http(delivery_seconds=0)
    message_id = sent_message(server)
    with HostileProxy(server.url) as proxy:
        proxy.mangle(OUTBOX_PATH + "/", "huge_body", declare_length=False)
        run = run_attsms("status", message_id, env={**server.env(), "ATTSMS_BASE_URL": proxy.url})
        written = proxy.huge_written()
    _check_one_line(run, Expect(ERROR, None, says="over 8 MB"))
    assert MAX_ANSWER_BYTES < written < 30 * 2**20  # read to the cap, then the connection closed
    assert run.max_rss_kb < MAX_RSS_KB, f"peak memory {run.max_rss_kb} KB"


def test_max_retries_sets_how_often_a_request_safe_to_repeat_is_tried(
    cli: Cli,
    sandbox_http: Server,
    use_server: Callable[[SandboxHttp], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = sandbox_http(delivery_seconds=0)
    message_id = sent_message(server)
    use_server(server)
    busy = {
        "method": "GET",
        "path_prefix": OUTBOX_PATH + "/",
        "status": 503,
        "headers": {"Retry-After": "0"},
        "count": EVERY_TRY,
    }
    admin(server, "POST", "/sandbox/faults", {"rules": [busy]})
    for setting, tries in ((None, 4), ("0", 1), ("2", 3), (" 10 ", 11)):
        if setting is None:
            monkeypatch.delenv("ATTSMS_MAX_RETRIES", raising=False)
        else:
            monkeypatch.setenv("ATTSMS_MAX_RETRIES", setting)
        before = attempts(server, "status")
        result = cli("status", message_id)
        assert result.exit_code == LATER, result.stderr
        assert attempts(server, "status") - before == tries
    for bad in ("many", "-1", "11", "1.5", "٣"):
        monkeypatch.setenv("ATTSMS_MAX_RETRIES", bad)
        before = attempts(server, "status")
        result = cli("status", message_id)
        assert result.exit_code == ExitCode.USAGE
        assert result.stderr == (
            f"attsms: error: ATTSMS_MAX_RETRIES={bad!r} is not a whole number from 0 to 10;"
            " e.g. 3\n"
        )
        assert attempts(server, "status") == before  # refused before anything was asked


def test_the_docstring_table_is_the_table_the_matrix_checks() -> None:
    lines = (__doc__ or "").splitlines()
    start = next(i for i, line in enumerate(lines) if line.split() == ["fault", *HEADER_WORDS])
    header = lines[start]
    edges = [header.index(word) for word in ("send", "status", "inbox pull", "login")] + [None]
    table: dict[str, list[tuple[int, int | None, int, int]]] = {}
    for fault, line in zip(FAULTS, lines[start + 1 : start + 1 + len(FAULTS)], strict=True):
        cells = [line[edges[i] : edges[i + 1]] for i in range(4)]
        table[fault] = [_parse_cell(cell) for cell in cells]
    assert table == {
        fault: [
            (e.code, e.attempts, e.delivered, e.lost)
            for e in (EXPECTED[fault][command] for command in COMMANDS)
        ]
        for fault in FAULTS
    }


HEADER_WORDS = ["send", "status", "inbox", "pull", "login"]


def _parse_cell(cell: str) -> tuple[int, int | None, int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*(?:a(\d+))?\s*(?:d(\d+))?\s*(?:lost (\d+))?\s*", cell)
    assert match, cell
    code, tried, delivered, lost = match.groups()
    return int(code), None if tried is None else int(tried), int(delivered or 0), int(lost or 0)
