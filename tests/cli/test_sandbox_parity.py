"""The in-process sandbox and the HTTP sandbox give the client the same answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from attsms.api.client import AttClient, RetryPolicy
from attsms.auth.tokens import TokenCache, TokenManager
from attsms.core.errors import AttsmsError
from attsms.sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxConfig
from attsms.sandbox.transport import InProcessTransport
from tests.helpers.support import SandboxHttp


def _scenario(client: AttClient, inject: Callable[[str, str, int], Any]) -> list[Any]:
    """A session touching every operation and several errors; returns what the client saw."""
    client.tokens = TokenManager(
        client, TokenCache("parity"), client_id=DEMO_CLIENT_ID, secret=lambda: DEMO_CLIENT_SECRET
    )
    seen: list[Any] = []

    def attempt(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except AttsmsError as error:
            seen.append(("error", type(error).__name__, int(error.exit_code), _no_ids(str(error))))
            return None

    sent = client.send(["tel:+12125550100", "tel:+12125550901", "short:12345"], "hello")
    seen.append(("sent", sent.addresses))
    status = client.delivery_status(sent.message_id)
    seen.append(("status", [(d.address, d.status) for d in status.deliveries]))
    attempt(lambda: client.send(["tel:+12125550100", "tel:12125550100"], "dup"))
    attempt(lambda: client.send(["tel:+1212555010"], "bad"))
    attempt(lambda: client.send(["tel:+12125550100"], ""))
    attempt(lambda: client.send(["tel:+12125550100"], "x" * 4097))
    attempt(lambda: client.delivery_status("nope"))
    attempt(lambda: client.inbox("99999"))
    attempt(lambda: client.fetch_token(DEMO_CLIENT_ID, "wrong"))
    inject("+12125550100", "STOP", 3)
    batch = client.inbox("12345")
    seen.append(("inbox", [(m.message, m.sender, m.destination) for m in batch.messages]))
    seen.append(("pending", batch.pending))
    return seen


def _no_ids(text: str) -> str:
    import re

    return re.sub(r"SMS[0-9a-f]+|127\.0\.0\.1:\d+|sandbox\.attsms\.invalid", "<x>", text)


def test_in_process_and_http_agree(
    tmp_path: Path, sandbox_http: Callable[..., SandboxHttp]
) -> None:
    retry = RetryPolicy(attempts=1)
    server = sandbox_http()
    with AttClient(server.url, retry=retry) as http_client:
        over_http = _scenario(http_client, lambda f, t, n: server.inject(f, t, n))

    from attsms.sandbox.store import inject_inbound

    state = tmp_path / "state.db"
    transport = InProcessTransport(state, SandboxConfig())
    with AttClient("http://sandbox.local", transport=transport, retry=retry) as local_client:
        in_process = _scenario(
            local_client, lambda f, t, n: inject_inbound(state, "12345", f, t, n)
        )
    assert in_process == over_http
    errors = [entry for entry in over_http if entry[0] == "error"]
    assert len(errors) == 7
    assert [e[2] for e in errors] == [2, 2, 2, 2, 1, 1, 3]


def test_the_client_and_the_sandbox_agree_on_every_area_code_outside_the_us() -> None:
    # Two tables written apart (the client's from libphonenumber and its own reserved list, the
    # sandbox's by hand): a send the client lets through must not be refused by the sandbox, nor
    # the other way round.
    from attsms.core.numbers import is_us_area_code
    from attsms.sandbox.addresses import normalize as sandbox_accepts

    differ = [
        code
        for code in map(str, range(200, 1000))
        if is_us_area_code(code) != (sandbox_accepts(f"tel:+1{code}2345678") is not None)
    ]
    assert differ == []
