"""Who we talk to and as whom: a resolved profile and this run's environment, as a ready client.

The profile is resolved once (`attsms.auth.profiles.ActiveProfile`); here its credentials are:
`ATTSMS_CLIENT_ID` / `ATTSMS_CLIENT_SECRET` / `ATTSMS_BASE_URL` / `ATTSMS_REGISTRATION_ID` for one
run, then the profile's saved settings (`config.toml`) and secret (keyring, or the file the user
asked for). The `--sandbox` session (demo credentials, the in-process transport) is made by the
command line, the one place that wires the sandbox in.

The secret is looked up lazily: only when a token must be fetched. A command whose cached token is
valid never opens the keyring, nor imports it. The `login`, `logout` and `auth status` use cases
are in `attsms.auth.accounts`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from attsms.api.client import AttClient, RetryPolicy
from attsms.auth.config import (
    DEFAULT_BASE_URL,
    DEFAULT_PROFILE,
    DEFAULT_REGION,
    DEFAULT_SCOPE,
    Profile,
)
from attsms.auth.credentials import CredentialStore
from attsms.auth.keys import ENV_CLIENT_ID
from attsms.auth.profiles import (
    SANDBOX_PROFILE,
    ActiveProfile,
    env_setting,
    missing_profile,
    sender_identity,
)
from attsms.auth.tokens import TokenCache, TokenManager
from attsms.core.errors import AuthError, UsageError
from attsms.core.models import SenderIdentity
from attsms.core.redaction import SECRET_ENV

if TYPE_CHECKING:
    import httpx

    from attsms.api.client import AttClient
    from attsms.auth.tokens import TokenManager

TIMEOUT_ENV = "ATTSMS_TIMEOUT"
DEFAULT_TIMEOUT = 30.0  # seconds to wait for one answer
RETRIES_ENV = "ATTSMS_MAX_RETRIES"
MAX_RETRIES = 10  # the most ATTSMS_MAX_RETRIES takes: more only hides an outage for longer

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_PROFILE",
    "SANDBOX_BASE_URL",
    "SANDBOX_PROFILE",
    "Session",
]

# The in-process sandbox answers on this made-up host; nothing leaves the process.
SANDBOX_BASE_URL = "http://sandbox.attsms.invalid"


LOGIN_HINT = (
    "run `attsms login`, set ATTSMS_CLIENT_ID and ATTSMS_CLIENT_SECRET, or try `attsms --sandbox`"
)


@dataclass
class Session:
    profile: str
    base_url: str
    client_id: str
    secret: Callable[[], str]
    registration_id: str | None = None
    region: str = DEFAULT_REGION
    # "env", "keyring", "file" or "sandbox": where the secret is (or would be) read from.
    secret_source: str = "env"
    log: Callable[[str], None] | None = None
    scope: str = DEFAULT_SCOPE
    # Told about a token cache that cannot be written (the command goes on without it).
    warn: Callable[[str], None] | None = None
    # What carries the requests, made when the client is: None for the network; the command line
    # passes the in-process sandbox here (only it may wire the sandbox in).
    transport: Callable[[], httpx.BaseTransport] | None = field(default=None, repr=False)
    _client: AttClient | None = field(default=None, repr=False)
    _tokens: TokenManager | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls,
        active: ActiveProfile,
        *,
        log: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> Session:
        """A session for `active`, a real profile: its client id, base URL and registration ID
        from this run's ATTSMS_* variables, else its saved settings; its secret found lazily."""
        name, saved = active.name, active.saved
        client_id = active.client_id
        if not client_id:
            if saved is None and active.named:
                raise missing_profile(name)
            raise AuthError(f"no credentials for profile {name!r}", hint=LOGIN_HINT)
        secret, source = _secret_resolver(name, saved, client_id, env_setting(ENV_CLIENT_ID))
        return cls(
            profile=name,
            base_url=active.base_url,
            client_id=client_id,
            secret=secret,
            registration_id=active.registration_id,
            region=active.region,
            secret_source=source,
            log=log,
            scope=(saved.scope if saved else None) or DEFAULT_SCOPE,
            warn=warn,
        )

    @property
    def identity(self) -> SenderIdentity:
        """Who this session sends as: whose opt-outs its sends honour and its pulls record."""
        short_code = (self.registration_id or "").strip() or None
        return sender_identity(self.client_id, self.base_url, short_code, self.profile)

    @property
    def client(self) -> AttClient:
        """The API client, with a token source backed by this profile's token cache."""
        if self._client is None:
            transport = None if self.transport is None else self.transport()
            self._client = api_client(self.base_url, transport=transport, log=self.log)
            timeout, connect_timeout = client_timeouts()
            self._tokens = TokenManager(
                self._client,
                TokenCache(self.profile),
                client_id=self.client_id,
                secret=self.secret,
                scope=self.scope,
                warn=self.warn,
                timeout=timeout,
                connect_timeout=connect_timeout,
            )
            self._client.tokens = self._tokens
        return self._client

    @property
    def tokens(self) -> TokenManager:
        _ = self.client
        assert self._tokens is not None
        return self._tokens

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _secret_resolver(
    name: str, saved: Profile | None, client_id: str, env_id: str | None
) -> tuple[Callable[[], str], str]:
    """A function that finds the secret when first called (then remembers it), and its source."""
    env_secret = env_setting(SECRET_ENV)
    if env_secret:  # attsms.core.redaction reads the variable itself
        return (lambda: env_secret), "env"
    if saved is None or (env_id and env_id != saved.client_id):
        # The stored secret belongs to the profile's client id, not to the one given for this run.
        def missing() -> str:
            raise AuthError(
                f"{ENV_CLIENT_ID} is set but {SECRET_ENV} is not",
                hint=f"set {SECRET_ENV} too, or unset {ENV_CLIENT_ID} to use profile {name!r}",
            )

        return missing, "env"
    kind = saved.store_kind
    found: list[str] = []

    def stored() -> str:
        if not found:
            secret = CredentialStore(name, kind).get()
            if secret is None:
                raise AuthError(
                    f"no client secret for profile {name!r} in the {kind} store",
                    hint=f"run `attsms login{_profile_flag(name)}`",
                )
            found.append(secret)
        return found[0]

    return stored, kind


def _profile_flag(name: str) -> str:
    return "" if name == DEFAULT_PROFILE else f" --profile {name}"


def api_client(
    base_url: str,
    *,
    log: Callable[[str], None] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> AttClient:
    """An API client with this run's ATTSMS_TIMEOUT and ATTSMS_MAX_RETRIES."""
    timeout, connect_timeout = client_timeouts()
    retries = retries_from_env()
    return AttClient(
        base_url,
        transport=transport,
        log=log,
        timeout=timeout,
        connect_timeout=connect_timeout,
        retry=None if retries is None else RetryPolicy(attempts=retries + 1),
    )


def client_timeouts() -> tuple[float, float]:
    """(timeout, connect timeout) of this run's `api_client`s, from ATTSMS_TIMEOUT."""
    timeout = timeout_from_env() or DEFAULT_TIMEOUT
    return timeout, min(timeout, 10.0)


def retries_from_env(environ: Mapping[str, str] | None = None) -> int | None:
    """`ATTSMS_MAX_RETRIES`: how many times a request safe to repeat is retried; None when unset.

    0 suits a cron job that runs again anyway; it never makes attsms resend a send whose outcome
    is unknown, which is never retried at all.
    """
    raw = (os.environ if environ is None else environ).get(RETRIES_ENV, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_RETRIES:
        raise UsageError(
            f"{RETRIES_ENV}={raw!r} is not a whole number from 0 to {MAX_RETRIES}", hint="e.g. 3"
        )
    return int(raw)


def timeout_from_env(environ: Mapping[str, str] | None = None) -> float | None:
    """`ATTSMS_TIMEOUT`: seconds to wait for an answer to one request; None when unset."""
    raw = (os.environ if environ is None else environ).get(TIMEOUT_ENV, "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not (seconds > 0 and math.isfinite(seconds)):
        raise UsageError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds", hint="e.g. 30")
    return seconds
