"""An httpx transport that answers from the file-backed sandbox, with no server and no socket.

`httpx.Client(transport=InProcessTransport(path, config), base_url="http://sandbox.local")`.
The one module of the sandbox that imports httpx; the client loads it only for `--sandbox`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx  # noqa: TID253 - this module is imported lazily, only when the sandbox is used
from filelock import Timeout

from attsms.sandbox.config import SandboxConfig
from attsms.sandbox.store import LOCK_TIMEOUT_SECONDS, StateConnection, exchange


class InProcessTransport(httpx.BaseTransport):
    """Each request: file lock, one SQLite transaction around `Sandbox.process`, unlock, sleep.

    Faults behave as they would on the wire: `drop_connection` raises httpx.RemoteProtocolError,
    and a delay longer than the request's read timeout sleeps that long and raises
    httpx.ReadTimeout (after the request was processed, if the rule said so). A state file that
    is not sandbox state raises store.SandboxStateError, no httpx error: retrying cannot help.
    """

    def __init__(
        self,
        state_path: Path,
        config: SandboxConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    ) -> None:
        self.state_path = state_path
        self.config = config or SandboxConfig()
        self._clock = clock
        self._sleep = sleep
        self._lock_timeout = lock_timeout
        # Kept open between requests (a close checkpoints and syncs), closed with the client.
        self._keep = StateConnection(state_path, lock_timeout)

    def close(self) -> None:
        self._keep.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        try:
            resp = exchange(
                self.state_path,
                self.config,
                request.method,
                request.url.raw_path.decode("ascii"),
                request.headers,
                body,
                scheme=request.url.scheme,
                clock=self._clock,
                lock_timeout=self._lock_timeout,
                keep=self._keep,
            )
        except (Timeout, OSError) as exc:
            # The state was not changed (one transaction), like a connection that never opened:
            # an httpx error the client already handles, not a foreign exception.
            raise httpx.ConnectError(
                f"sandbox state {self.state_path}: {exc}", request=request
            ) from exc
        # Sleep with no lock held, so one slow answer does not hold up other processes.
        timeout = request.extensions.get("timeout", {}).get("read")
        if timeout is not None and resp.delay > timeout:
            self._sleep(timeout)
            raise httpx.ReadTimeout("sandbox: timed out waiting for the answer", request=request)
        if resp.delay > 0:
            self._sleep(resp.delay)
        if resp.drop_connection:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.Response(resp.status, headers=resp.headers, content=resp.body, request=request)
