"""The one resolution of a profile: which one this run uses, its saved settings, its region.

The order, as in the AWS CLI and gh: `--sandbox` (the built-in emulator: no saved profile), then
`--profile`, `ATTSMS_PROFILE`, else "default"; the profile's settings come from `config.toml`,
with the `ATTSMS_*` variables of one run over them. Resolving asks; it changes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from attsms.auth.config import (
    DEFAULT_PROFILE,
    Profile,
    check_base_url,
    check_profile_name,
    config_path,
    load_config,
)
from attsms.auth.keys import ENV_CLIENT_ID, KEYS
from attsms.core.errors import AuthError, UsageError
from attsms.core.models import SenderIdentity

SANDBOX_PROFILE = "sandbox"

ENV_PROFILE = "ATTSMS_PROFILE"

# Where a setting's value came from, in the order they win (as `git config --show-origin`).
Origin = Literal["flag", "environment", "profile", "default", "unset"]


def env_setting(name: str) -> str | None:
    return os.environ.get(name) or None


@dataclass(frozen=True)
class Resolved:
    """One setting of a run: its value and where it came from. `where` names the flag, the
    variable or the config file's table; None for a default or nothing."""

    key: str
    value: str | None
    origin: Origin
    where: str | None = None


def resolve_setting(
    key: str,
    saved: Profile | None,
    *,
    flag: str | None = None,
    flag_name: str | None = None,
    use_env: bool = True,
) -> Resolved:
    """THE resolution of a setting: the flag, then this run's ATTSMS_* variable (`use_env`),
    then the profile's saved value, then the default. Every reader of a setting (the session,
    the store, `auth status`, `config list`, `doctor`) asks here, so what `config list` says is
    where a value came from is where the command took it from."""
    spec = KEYS[key]
    if flag:
        return Resolved(key, flag, "flag", flag_name)
    if use_env and spec.env is not None and (value := os.environ.get(spec.env, "").strip()):
        return Resolved(key, value, "environment", spec.env)
    kept: str | None = getattr(saved, key) if saved is not None else None
    if kept:
        assert saved is not None
        return Resolved(key, kept, "profile", f"{config_path()} [profiles.{saved.name}]")
    if spec.default is not None:
        return Resolved(key, spec.default, "default")
    return Resolved(key, None, "unset")


def profile_name(profile: str | None) -> str:
    """The profile to use: the one given, else ATTSMS_PROFILE, else "default"; checked.

    "sandbox" names the `--sandbox` state (token cache, inbox, history rows), so a real profile
    of that name would share it, and `--sandbox logout` would log it out: it is refused.
    """
    name = check_profile_name(profile or env_setting(ENV_PROFILE) or DEFAULT_PROFILE)
    if name == SANDBOX_PROFILE:
        raise UsageError(
            f"the profile name {name!r} is kept for --sandbox", hint="choose another name"
        )
    return name


def resolve_region(saved: Profile | None, *, use_env: bool = True) -> str:
    """The region numbers without a country code are read in: ATTSMS_REGION (for this run), else
    the profile's saved region, else US. The one rule for every command, with or without a login."""
    return resolve_setting("region", saved, use_env=use_env).value or ""


@dataclass(frozen=True)
class ActiveProfile:
    """The profile a run uses, resolved once: what every command that needs one is handed."""

    name: str  # "sandbox" with --sandbox
    saved: Profile | None  # its config.toml table; None: nothing saved (or --sandbox)
    region: str  # for reading numbers people type
    # Asked for by name (--profile or ATTSMS_PROFILE), not the default: a missing one is an error
    # worth naming ("no profile named 'work'") rather than "not logged in".
    named: bool = False
    # Why this profile: "--profile", "ATTSMS_PROFILE", "--sandbox" or "the default".
    chosen_by: str = "the default"

    @property
    def sandbox(self) -> bool:
        return self.name == SANDBOX_PROFILE

    @classmethod
    def resolve(cls, *, sandbox: bool, profile: str | None) -> ActiveProfile:
        if sandbox:
            region = resolve_region(None)
            return cls(name=SANDBOX_PROFILE, saved=None, region=region, chosen_by="--sandbox")
        name = profile_name(profile)
        saved = load_config().profile(name)
        named = bool(profile or env_setting(ENV_PROFILE)) and name != DEFAULT_PROFILE
        from_env = env_setting(ENV_PROFILE)  # the global --profile is also fed from it
        chosen_by = "--profile" if profile and profile != from_env else None
        chosen_by = chosen_by or (ENV_PROFILE if from_env else "the default")
        return cls(
            name=name,
            saved=saved,
            region=resolve_region(saved),
            named=named,
            chosen_by=chosen_by,
        )

    def setting(
        self, key: str, *, flag: str | None = None, flag_name: str | None = None
    ) -> Resolved:
        """`key` for this run, and where it came from (`resolve_setting`)."""
        return resolve_setting(key, self.saved, flag=flag, flag_name=flag_name)

    def check_exists(self) -> None:
        """AuthError (exit 3, as `send` says it) when this profile was asked for by name but is
        neither saved in config.toml nor given by this run's ATTSMS_CLIENT_ID: a typo in
        `--profile` must not read an empty list and exit 0. Local commands call it first."""
        if self.named and self.saved is None and not env_setting(ENV_CLIENT_ID):
            raise missing_profile(self.name)

    # Each setting below: this run's ATTSMS_* variable, else the saved one. `Session.open` and
    # `identity` read them here, so a send and the opt-out list it checks agree on who sends.

    @property
    def client_id(self) -> str | None:
        return self.setting("client_id").value

    @property
    def base_url(self) -> str:
        """Checked (UsageError for one that is not an http(s) URL); the default when unset."""
        return check_base_url(self.setting("base_url").value or "")

    @property
    def registration_id(self) -> str | None:
        return (self.setting("registration_id").value or "").strip() or None

    def identity(self) -> SenderIdentity:
        """Who this profile sends as, for consent. A profile with no client id yet (nothing can
        be sent with it) records under its own name (`SenderIdentity.unbound`)."""
        client_id = self.client_id
        if not client_id:
            return SenderIdentity.unbound(self.name, self.registration_id)
        return sender_identity(client_id, self.base_url, self.registration_id, self.name)


def sender_identity(
    client_id: str, base_url: str, short_code: str | None, profile: str
) -> SenderIdentity:
    """Who a run of `profile` sends as: the account `client_id` names at `base_url`, and the
    other saved profiles that send as it (whose 0.2 opt-out lists it folds in)."""
    account = account_of(client_id, base_url)
    also = []
    for other in load_config().profiles.values():
        if other.name == profile or not other.client_id:
            continue
        try:
            url = check_base_url(resolve_setting("base_url", other, use_env=False).value or "")
        except UsageError:  # a saved URL no run could use: no account to share
            continue
        if account_of(other.client_id, url) == account:
            also.append((other.name, (other.registration_id or "").strip() or None))
    return SenderIdentity(account, short_code, profile, tuple(also))


def account_of(client_id: str, base_url: str) -> str:
    """The account a client id names at a service: `<client id>@<base URL>`, the URL's scheme
    and host lower-cased and a default port dropped, so spellings of one service agree."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url.strip().rstrip("/"))
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    port = "" if parts.port in (None, default) else f":{parts.port}"
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{client_id.strip()}@{parts.scheme.lower()}://{host}{port}{parts.path}"


def missing_profile(name: str) -> AuthError:
    """The one error for a profile named but never saved (`attsms -p nosuch …`)."""
    return AuthError(f"no profile named {name!r}", hint=f"run `attsms login --profile {name}`")
