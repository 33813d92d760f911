"""The `attsms login`, `logout` and `auth status` use cases: a profile's credentials checked,
saved, revoked and described. Who a run talks to, and as whom, is `attsms.auth.session`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from attsms.api.client import AttClient, RetryPolicy
from attsms.auth.config import (
    DEFAULT_BASE_URL,
    DEFAULT_SCOPE,
    Profile,
    SecretStoreKind,
    check_base_url,
    load_config,
    refuse_clear_text,
)
from attsms.auth.credentials import (
    LISTEN_TOKEN_ENV,
    CredentialStore,
    listen_token_store,
    secret_file,
)
from attsms.auth.keys import ENV_CLIENT_ID, KEYS
from attsms.auth.profiles import (
    SANDBOX_PROFILE,
    ActiveProfile,
    env_setting,
    profile_name,
    resolve_region,
    resolve_setting,
)
from attsms.auth.session import (
    Session,
    api_client,
    client_timeouts,
    retries_from_env,
    timeout_from_env,
)
from attsms.auth.tokens import TokenCache, TokenManager, usable
from attsms.core.errors import AttsmsError, AuthError, UsageError
from attsms.core.redaction import SECRET_ENV, display_url, redact_url, remember_secret

if TYPE_CHECKING:
    from attsms.auth.credentials import CredentialStore, SecretLocation
    from attsms.auth.tokens import CachedToken


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
    # Where `attsms listen`'s token lives ("environment (…)", "keyring (…)", "file …"), "none",
    # "unavailable: why", or "unknown: …" when the keyring was not read. Never the token.
    listen_token: str = "none"
    # Where the history, inbox and opt-outs live: "local files" or the shared database's URL,
    # without its password.
    store: str = "local files"


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
    insecure_http: bool = False,
    log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> ProfileStatus:
    """Check the credentials by fetching a token, then save settings, secret and token.

    Nothing is saved when the token call fails (wrong credentials: AuthError, exit 3) or when the
    chosen store cannot keep the secret (checked before the token call). Nothing is sent to a
    plain-HTTP base URL that is not loopback unless `insecure_http` (UsageError, exit 2).
    """
    remember_secret(secret)  # before anything can fail with a message that quotes it
    name = profile_name(profile)
    config = load_config()
    saved = config.profile(name) or Profile(name)
    url = login_base_url(saved, base_url, insecure_http=insecure_http)
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
    secret = None
    if env_setting(SECRET_ENV) and env_setting(ENV_CLIENT_ID) == cached.client_id:
        secret = env_setting(SECRET_ENV)
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


def auth_status(
    active: ActiveProfile,
    *,
    database_url: str | None,
    only_active: bool = False,
    sandbox: Session | None = None,
) -> list[ProfileStatus]:
    """`active` first, then (unless `only_active`) every other configured profile.

    `database_url` is the run's store for `active` (--database-url, ATTSMS_DATABASE_URL, its
    own); the others show their own. With --sandbox, `sandbox` is its session (made by the
    command line, which alone wires the sandbox in)."""
    if sandbox is not None:
        session = sandbox
        return [
            _listen_token_status(
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
                ),
                "file",  # as `listen --sandbox` keeps it
                use_env=True,
            )
        ]
    name = active.name
    config = load_config()
    saved = active.saved or Profile(name)
    rows = [
        _listen_token_status(
            _status_of(saved, active=True, use_env=True, database_url=database_url),
            saved.store_kind,
            use_env=True,
        )
    ]
    if not only_active:
        rows += [
            _listen_token_status(
                _status_of(other, active=False, use_env=False), other.store_kind, use_env=False
            )
            for other_name, other in sorted(config.profiles.items())
            if other_name != name
        ]
    return rows


def _listen_token_status(
    status: ProfileStatus, kind: SecretStoreKind, *, use_env: bool
) -> ProfileStatus:
    """Where the profile's listen token lives (issue 18: a secret, shown by place only)."""
    import dataclasses

    if use_env and env_setting(LISTEN_TOKEN_ENV):
        return dataclasses.replace(status, listen_token=f"environment ({LISTEN_TOKEN_ENV})")
    if kind == "keyring" and status.secret_source in ("unavailable", "env"):
        # The same keyring just failed (perhaps by timing out), or credentials from the
        # environment promise a run that never touches the keyring (cron, CI): not read.
        why = "the keyring failed" if status.secret_source == "unavailable" else "not read"
        return dataclasses.replace(status, listen_token=f"unknown: {why}")
    store = listen_token_store(status.profile, kind)
    try:
        found = store.lookup(use_env=False)
    except AttsmsError as error:
        return dataclasses.replace(status, listen_token=f"unavailable: {error.message}")
    where = "none" if found is None else found[1].describe()
    return dataclasses.replace(status, listen_token=where)


def _status_of(
    saved: Profile,
    *,
    active: bool,
    use_env: bool,
    found: SecretLocation | None = None,
    database_url: str | None = None,
) -> ProfileStatus:

    def setting(key: str) -> str | None:  # the one resolution, as the run itself makes it
        return resolve_setting(key, saved, use_env=use_env).value

    env_id = env_setting(ENV_CLIENT_ID) if use_env else None
    client_id = setting("client_id")
    # ATTSMS_BASE_URL may hold a password: never shown
    base_url = display_url(setting("base_url") or DEFAULT_BASE_URL)
    registration_id = setting("registration_id")
    region = resolve_region(saved, use_env=use_env)
    source: str
    location: str | None
    if client_id is None:
        source, location = "missing", None
    elif use_env and env_setting(SECRET_ENV):
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
        store=_store_of(database_url or saved.database_url),
    )
    return _token_status(status)


def login_base_url(saved: Profile | None, base_url: str | None, *, insecure_http: bool) -> str:
    """The base URL `login` would send the secret to (the flag's, else the profile's saved one,
    else AT&T's), refused when it is plain HTTP to another host without `insecure_http`."""
    url = check_base_url(base_url or (saved.base_url if saved else None) or DEFAULT_BASE_URL)
    refuse_clear_text(url, insecure_http=insecure_http)
    return url


def _store_of(url: str | None) -> str:
    """Where a profile's stores are: the run's (--database-url, ATTSMS_DATABASE_URL) for the
    profile in use, else the profile's own `database_url`, else local files."""
    return redact_url(url) if url else "local files"


def _stored_secret(saved: Profile) -> tuple[str, str | None]:
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


@dataclass(frozen=True)
class KnownProfile:
    """A profile `attsms config profiles` lists: saved in config.toml, or made by this run's
    ATTSMS_CLIENT_ID alone (which `auth status` cannot list, having nothing saved)."""

    profile: str
    active: bool
    chosen_by: str | None  # why it is the one in use: --profile, ATTSMS_PROFILE, the default
    source: str  # "config.toml", "environment", "config.toml + environment"
    client_id: str | None
    secret: str  # where a run would look for the secret (not read: `doctor` reads it)


def known_profiles(active: ActiveProfile) -> list[KnownProfile]:
    """Every saved profile, and the active one when only the environment makes it; the active
    one first. Reads config.toml and the environment, never the keyring."""
    config = load_config()
    names = [active.name, *sorted(n for n in config.profiles if n != active.name)]
    rows = []
    for name in names:
        saved = config.profile(name)
        is_active = name == active.name
        env_id = env_setting(ENV_CLIENT_ID) if is_active else None
        if saved is None and not env_id:
            continue  # the default profile, never saved and not given: nothing to list
        source = "environment" if saved is None else "config.toml"
        if (
            saved is not None
            and is_active
            and any(resolve_setting(key, saved).origin == "environment" for key in KEYS)
        ):
            source = "config.toml + environment"
        rows.append(
            KnownProfile(
                profile=name,
                active=is_active,
                chosen_by=active.chosen_by if is_active else None,
                source=source,
                client_id=resolve_setting("client_id", saved, use_env=is_active).value,
                secret=_secret_place(name, saved, use_env=is_active),
            )
        )
    return rows


def _secret_place(name: str, saved: Profile | None, *, use_env: bool) -> str:
    if use_env and env_setting(SECRET_ENV):
        return f"environment ({SECRET_ENV})"
    if saved is None:
        return f"missing (set {SECRET_ENV})"
    if saved.store_kind == "file":
        return f"file {secret_file(name)}"
    return f"keyring (service attsms, user {name})"
