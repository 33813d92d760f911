"""Who we talk to and as whom: global options, environment and config turned into a ready client.

The order, as in the AWS CLI and gh: `--sandbox` (built-in emulator, demo credentials), then
`ATTSMS_CLIENT_ID` / `ATTSMS_CLIENT_SECRET` / `ATTSMS_BASE_URL` / `ATTSMS_REGISTRATION_ID` /
`ATTSMS_REGION` for one run, then the profile's saved settings (`config.toml`) and secret (keyring,
or the file the user asked for).

The secret is looked up lazily: only when a token must be fetched. A command whose cached token is
valid never opens the keyring, nor imports it. `login`, `logout` and `auth_status` below are the
core of the `attsms login / logout / auth` commands.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from attsms.config import (
    DEFAULT_BASE_URL,
    DEFAULT_PROFILE,
    DEFAULT_REGION,
    DEFAULT_SCOPE,
    Profile,
    SecretStoreKind,
    check_base_url,
    check_profile_name,
    load_config,
)
from attsms.errors import AttsmsError, AuthError, UsageError
from attsms.redaction import display_url, remember_secret

if TYPE_CHECKING:
    import httpx

    from attsms.api import AttClient
    from attsms.credentials import CredentialStore, SecretLocation
    from attsms.tokens import CachedToken, TokenManager

TIMEOUT_ENV = "ATTSMS_TIMEOUT"
DEFAULT_TIMEOUT = 30.0  # seconds to wait for one answer
RETRIES_ENV = "ATTSMS_MAX_RETRIES"
MAX_RETRIES = 10  # the most ATTSMS_MAX_RETRIES takes: more only hides an outage for longer

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_PROFILE",
    "SANDBOX_BASE_URL",
    "SANDBOX_PROFILE",
    "LogoutResult",
    "ProfileStatus",
    "Session",
    "auth_status",
    "login",
    "logout",
]

SANDBOX_PROFILE = "sandbox"
# The in-process sandbox answers on this made-up host; nothing leaves the process.
SANDBOX_BASE_URL = "http://sandbox.attsms.invalid"

ENV_CLIENT_ID = "ATTSMS_CLIENT_ID"
ENV_SECRET = "ATTSMS_CLIENT_SECRET"
ENV_BASE_URL = "ATTSMS_BASE_URL"
ENV_REGISTRATION_ID = "ATTSMS_REGISTRATION_ID"
ENV_REGION = "ATTSMS_REGION"
ENV_PROFILE = "ATTSMS_PROFILE"

LOGIN_HINT = (
    "run `attsms login`, set ATTSMS_CLIENT_ID and ATTSMS_CLIENT_SECRET, or try `attsms --sandbox`"
)


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def profile_name(profile: str | None) -> str:
    """The profile to use: the one given, else ATTSMS_PROFILE, else "default"; checked.

    "sandbox" names the `--sandbox` state (token cache, inbox, history rows), so a real profile
    of that name would share it, and `--sandbox logout` would log it out: it is refused.
    """
    name = check_profile_name(profile or _env(ENV_PROFILE) or DEFAULT_PROFILE)
    if name == SANDBOX_PROFILE:
        raise UsageError(
            f"the profile name {name!r} is kept for --sandbox", hint="choose another name"
        )
    return name


@dataclass
class Session:
    profile: str
    base_url: str
    client_id: str
    secret: Callable[[], str]
    sandbox: bool = False
    registration_id: str | None = None
    region: str = DEFAULT_REGION
    # "env", "keyring", "file" or "sandbox": where the secret is (or would be) read from.
    secret_source: str = "env"
    log: Callable[[str], None] | None = None
    scope: str = DEFAULT_SCOPE
    # Told about a token cache that cannot be written (the command goes on without it).
    warn: Callable[[str], None] | None = None
    _client: AttClient | None = field(default=None, repr=False)
    _tokens: TokenManager | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls,
        *,
        sandbox: bool = False,
        profile: str | None = None,
        log: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
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
                warn=warn,
            )
        name = profile_name(profile)
        saved = load_config().profile(name)
        env_id = _env(ENV_CLIENT_ID)
        client_id = env_id or (saved.client_id if saved else None)
        if not client_id:
            if saved is None and (profile or _env(ENV_PROFILE)) and name != DEFAULT_PROFILE:
                raise AuthError(
                    f"no profile named {name!r}", hint=f"run `attsms login --profile {name}`"
                )
            raise AuthError(f"no credentials for profile {name!r}", hint=LOGIN_HINT)
        base_url = check_base_url(
            _env(ENV_BASE_URL) or (saved.base_url if saved else None) or DEFAULT_BASE_URL
        )
        secret, source = _secret_resolver(name, saved, client_id, env_id)
        return cls(
            profile=name,
            base_url=base_url,
            client_id=client_id,
            secret=secret,
            registration_id=_env(ENV_REGISTRATION_ID) or (saved.registration_id if saved else None),
            region=_env(ENV_REGION) or (saved.region if saved else None) or DEFAULT_REGION,
            secret_source=source,
            log=log,
            scope=(saved.scope if saved else None) or DEFAULT_SCOPE,
            warn=warn,
        )

    @property
    def client(self) -> AttClient:
        """The API client, with a token source backed by this profile's token cache."""
        if self._client is None:
            from attsms.tokens import TokenCache, TokenManager

            self._client = api_client(self.base_url, transport=self._transport(), log=self.log)
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


def _secret_resolver(
    name: str, saved: Profile | None, client_id: str, env_id: str | None
) -> tuple[Callable[[], str], str]:
    """A function that finds the secret when first called (then remembers it), and its source."""
    env_secret = _env(ENV_SECRET)
    if env_secret:  # attsms.redaction reads the variable itself
        return (lambda: env_secret), "env"
    if saved is None or (env_id and env_id != saved.client_id):
        # The stored secret belongs to the profile's client id, not to the one given for this run.
        def missing() -> str:
            raise AuthError(
                f"{ENV_CLIENT_ID} is set but {ENV_SECRET} is not",
                hint=f"set {ENV_SECRET} too, or unset {ENV_CLIENT_ID} to use profile {name!r}",
            )

        return missing, "env"
    kind = saved.store_kind
    found: list[str] = []

    def stored() -> str:
        if not found:
            from attsms.credentials import CredentialStore

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


# --- login, logout, status ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileStatus:
    """What `attsms auth status` shows for one profile. Never holds a secret or a token."""

    profile: str
    active: bool
    logged_in: bool
    client_id: str | None
    base_url: str
    registration_id: str | None
    region: str
    # "env", "keyring", "file", "sandbox"; "missing" (no secret), "unavailable" (store failed).
    secret_source: str
    # The variable, keyring backend, file path, or why the store is unavailable.
    secret_location: str | None
    token: str  # "valid", "expired" or "none"
    token_expires_in: int | None  # seconds; None without a token or when it never expires


def login(
    *,
    profile: str | None,
    client_id: str,
    secret: str,
    base_url: str | None = None,
    registration_id: str | None = None,
    scope: str | None = None,
    region: str | None = None,
    store: SecretStoreKind = "keyring",
    log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> ProfileStatus:
    """Check the credentials by fetching a token, then save settings, secret and token.

    Nothing is saved when the token call fails (wrong credentials: AuthError, exit 3) or when the
    chosen store cannot keep the secret (checked before the token call).
    """
    from attsms.credentials import CredentialStore
    from attsms.tokens import TokenCache, TokenManager

    remember_secret(secret)  # before anything can fail with a message that quotes it
    name = profile_name(profile)
    config = load_config()
    saved = config.profile(name) or Profile(name)
    url = check_base_url(base_url or saved.base_url or DEFAULT_BASE_URL)
    scope = scope or saved.scope or DEFAULT_SCOPE
    if not client_id:
        raise AuthError("no client id", hint="pass --client-id")
    if not secret:
        raise AuthError("no client secret", hint="pass it on stdin with --client-secret-stdin")
    if not secret.isascii():
        try:  # stdin's bytes that are not UTF-8 arrive as lone surrogates
            secret.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError("the client secret is not valid UTF-8 text") from None
    credentials = CredentialStore(name, store)
    credentials.check()  # no usable keyring, or a locked one: say so before anything happens
    config.check_writable()  # and a settings file that cannot be saved, before a secret is
    with api_client(url, log=log) as client:
        timeout, connect_timeout = client_timeouts()
        manager = TokenManager(
            client,
            TokenCache(name),
            client_id=client_id,
            secret=lambda: secret,
            scope=scope,
            warn=warn,
            timeout=timeout,
            connect_timeout=connect_timeout,
        )
        token = manager.fetch_new()
        location = credentials.save(secret)
        if saved.store_kind != store and saved.client_id is not None:
            # One store per profile: do not leave the old copy behind.
            with contextlib.suppress(AttsmsError):
                CredentialStore(name, saved.store_kind).delete()
        new_profile = Profile(
            name=name,
            client_id=client_id,
            base_url=url,
            registration_id=registration_id or saved.registration_id,
            region=region or saved.region,
            scope=None if scope == DEFAULT_SCOPE else scope,
            store=store,
        )
        config.with_profile(new_profile).save()
        manager.adopt(token)
    return _status_of(new_profile, active=True, use_env=False, found=location)


@dataclass(frozen=True)
class LogoutResult:
    profile: str
    revoked: bool  # the service confirmed the tokens are revoked
    token_deleted: bool  # the token cache was deleted
    secret_deleted: bool  # the secret was removed from its store
    warnings: tuple[str, ...] = ()
    # Set when the secret could not be removed (e.g. no keyring here): the command fails.
    secret_error: str | None = None


def logout(
    *, profile: str | None, log: Callable[[str], None] | None = None, sandbox: bool = False
) -> LogoutResult:
    """Revoke the cached tokens at the service when possible, delete the token cache and secret.

    With `sandbox` only the sandbox's own cached token is forgotten: no profile, no secret, and
    no request to any service is touched.
    """
    from attsms.credentials import CredentialStore
    from attsms.tokens import TokenCache

    if sandbox:
        deleted = TokenCache(SANDBOX_PROFILE).clear()
        return LogoutResult(
            SANDBOX_PROFILE, revoked=False, token_deleted=deleted, secret_deleted=False
        )
    name = profile_name(profile)
    saved = load_config().profile(name)
    cache = TokenCache(name)
    cached = cache.load()
    warnings: list[str] = []
    revoked = False
    store = CredentialStore(name, saved.store_kind) if saved else None
    if cached is not None:
        try:
            revoked = _revoke(cached, saved, store, log)
        except AttsmsError as error:
            warnings.append(
                f"could not revoke the token at {cached.base_url} ({error.message});"
                " it stays valid until it expires"
            )
    token_deleted = cache.clear()
    secret_deleted = False
    secret_error: str | None = None
    if store is not None:
        try:
            secret_deleted = store.delete()
        except AttsmsError as error:
            secret_error = str(error)
    return LogoutResult(
        profile=name,
        revoked=revoked,
        token_deleted=token_deleted,
        secret_deleted=secret_deleted,
        warnings=tuple(warnings),
        secret_error=secret_error,
    )


def _revoke(
    cached: CachedToken,
    saved: Profile | None,
    store: CredentialStore | None,
    log: Callable[[str], None] | None,
) -> bool:
    """Revoke the refresh token (which ends its grant), then the access token."""
    from attsms.api import AttClient, RetryPolicy

    secret = None
    if _env(ENV_SECRET) and _env(ENV_CLIENT_ID) == cached.client_id:
        secret = _env(ENV_SECRET)
    elif store is not None and saved is not None and saved.client_id == cached.client_id:
        secret = store.get()
    if secret is None:
        raise AuthError("no client secret for it")
    # Logging out must not hang on a dead service: 10 s and one retry unless told otherwise.
    timeout = timeout_from_env() or 10.0
    retries = retries_from_env()
    retry = RetryPolicy(attempts=2 if retries is None else retries + 1)
    with AttClient(cached.base_url, log=log, retry=retry, timeout=timeout) as client:
        if cached.token.refresh_token:
            client.revoke(cached.client_id, secret, cached.token.refresh_token, "refresh_token")
        client.revoke(cached.client_id, secret, cached.token.access_token, "access_token")
    return True


def auth_status(*, profile: str | None, sandbox: bool = False) -> list[ProfileStatus]:
    """The active profile first, then every other configured profile."""
    if sandbox:
        session = Session.open(sandbox=True)
        return [
            _token_status(
                ProfileStatus(
                    profile=session.profile,
                    active=True,
                    logged_in=True,
                    client_id=session.client_id,
                    base_url=session.base_url,
                    registration_id=session.registration_id,
                    region=session.region,
                    secret_source="sandbox",
                    secret_location="built-in demo credentials",
                    token="none",
                    token_expires_in=None,
                )
            )
        ]
    name = profile_name(profile)
    config = load_config()
    active = config.profile(name) or Profile(name)
    rows = [_status_of(active, active=True, use_env=True)]
    if profile is None:
        rows += [
            _status_of(other, active=False, use_env=False)
            for other_name, other in sorted(config.profiles.items())
            if other_name != name
        ]
    return rows


def _status_of(
    saved: Profile, *, active: bool, use_env: bool, found: SecretLocation | None = None
) -> ProfileStatus:
    from attsms.credentials import SECRET_ENV

    env_id = _env(ENV_CLIENT_ID) if use_env else None
    client_id = env_id or saved.client_id
    base_url = (_env(ENV_BASE_URL) if use_env else None) or saved.base_url or DEFAULT_BASE_URL
    base_url = display_url(base_url)  # ATTSMS_BASE_URL may hold a password: never shown
    registration_id = (_env(ENV_REGISTRATION_ID) if use_env else None) or saved.registration_id
    region = (_env(ENV_REGION) if use_env else None) or saved.region or DEFAULT_REGION
    source: str
    location: str | None
    if client_id is None:
        source, location = "missing", None
    elif use_env and _env(SECRET_ENV):
        source, location = "env", SECRET_ENV
    elif found is not None:
        source, location = found.kind, found.detail
    elif saved.client_id is None or (env_id and env_id != saved.client_id):
        source, location = "missing", SECRET_ENV
    else:
        source, location = _stored_secret(saved)
    status = ProfileStatus(
        profile=saved.name,
        active=active,
        logged_in=source in ("env", "keyring", "file"),
        client_id=client_id,
        base_url=base_url,
        registration_id=registration_id,
        region=region,
        secret_source=source,
        secret_location=location,
        token="none",
        token_expires_in=None,
    )
    return _token_status(status)


def _stored_secret(saved: Profile) -> tuple[str, str | None]:
    from attsms.credentials import CredentialStore

    store = CredentialStore(saved.name, saved.store_kind)
    try:
        found = store.lookup(use_env=False)
        if found is None:
            return "missing", store.location().describe()
    except AttsmsError as error:
        return "unavailable", error.message
    return found[1].kind, found[1].detail


def _token_status(status: ProfileStatus) -> ProfileStatus:
    import dataclasses

    from attsms.tokens import TokenCache, usable

    cached = TokenCache(status.profile).load()
    if (
        cached is None
        or cached.client_id != status.client_id
        or cached.base_url.rstrip("/") != status.base_url.rstrip("/")
    ):
        return status
    now = time.time()
    expires_at = cached.token.expires_at
    return dataclasses.replace(
        status,
        token="valid" if usable(cached, now) else "expired",
        token_expires_in=None if expires_at is None else max(0, int(expires_at - now)),
    )


def api_client(
    base_url: str,
    *,
    log: Callable[[str], None] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> AttClient:
    """An API client with this run's ATTSMS_TIMEOUT and ATTSMS_MAX_RETRIES."""
    from attsms.api import AttClient, RetryPolicy

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
