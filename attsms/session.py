"""Who we talk to and as whom: global options and environment turned into a ready client.

The order, as in the AWS CLI and gh: `--sandbox` (built-in emulator, demo credentials), then
`ATTSMS_CLIENT_ID` / `ATTSMS_CLIENT_SECRET` / `ATTSMS_BASE_URL` for one run, then the profile's
saved settings and secret.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from attsms.errors import AuthError

if TYPE_CHECKING:
    import httpx

    from attsms.api import AttClient
    from attsms.tokens import TokenManager

DEFAULT_BASE_URL = "https://api.att.com"
DEFAULT_PROFILE = "default"
SANDBOX_PROFILE = "sandbox"
# The in-process sandbox answers on this made-up host; nothing leaves the process.
SANDBOX_BASE_URL = "http://sandbox.attsms.invalid"


@dataclass
class Session:
    profile: str
    base_url: str
    client_id: str
    secret: Callable[[], str]
    sandbox: bool = False
    registration_id: str | None = None
    region: str = "US"
    secret_source: str = "environment"
    log: Callable[[str], None] | None = None
    _client: AttClient | None = field(default=None, repr=False)
    _tokens: TokenManager | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls,
        *,
        sandbox: bool = False,
        profile: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> Session:
        if sandbox:
            from attsms.sandbox import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REGISTRATION_ID

            return cls(
                profile=SANDBOX_PROFILE,
                base_url=SANDBOX_BASE_URL,
                client_id=DEMO_CLIENT_ID,
                secret=lambda: DEMO_CLIENT_SECRET,
                sandbox=True,
                registration_id=DEMO_REGISTRATION_ID,
                secret_source="sandbox",
                log=log,
            )
        name = profile or DEFAULT_PROFILE
        client_id = os.environ.get("ATTSMS_CLIENT_ID")
        secret = os.environ.get("ATTSMS_CLIENT_SECRET")
        if not client_id or not secret:
            raise AuthError(
                f"no credentials for profile {name!r}",
                hint="run `attsms login`, set ATTSMS_CLIENT_ID and ATTSMS_CLIENT_SECRET,"
                " or try `attsms --sandbox`",
            )
        return cls(
            profile=name,
            base_url=os.environ.get("ATTSMS_BASE_URL") or DEFAULT_BASE_URL,
            client_id=client_id,
            secret=lambda: secret,
            registration_id=os.environ.get("ATTSMS_REGISTRATION_ID"),
            log=log,
        )

    @property
    def client(self) -> AttClient:
        """The API client, with a token source backed by this profile's token cache."""
        if self._client is None:
            from attsms.api import AttClient
            from attsms.tokens import TokenCache, TokenManager

            self._client = AttClient(self.base_url, transport=self._transport(), log=self.log)
            self._tokens = TokenManager(
                self._client, TokenCache(self.profile), client_id=self.client_id, secret=self.secret
            )
            self._client.tokens = self._tokens
        return self._client

    @property
    def tokens(self) -> TokenManager:
        _ = self.client
        assert self._tokens is not None
        return self._tokens

    def _transport(self) -> httpx.BaseTransport | None:
        if not self.sandbox:
            return None
        from attsms.sandbox import SandboxConfig
        from attsms.sandbox.transport import InProcessTransport
        from attsms.sandbox_admin import sandbox_state_path

        return InProcessTransport(sandbox_state_path(), SandboxConfig())

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
