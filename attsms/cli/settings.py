"""The composition root: this run's flags, environment and config.toml, resolved once.

`resolve_settings` is called once per run (by `AppState.settings`) and its frozen `Settings` is
handed down: the profile in use (`ActiveProfile`: name, saved settings, region) and where the
stores are and what they keep (`StoreSettings`). No module below the command line reads a setting
from a global, and no question (which region? which database?) changes any state.

The order everywhere is the AWS CLI's and gh's: a flag, then the environment of this run, then
the profile's saved setting, then the default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from attsms.auth.profiles import ActiveProfile, Resolved
from attsms.core.errors import UsageError
from attsms.core.models import SenderIdentity
from attsms.store import StoreSettings

ENV_SANDBOX_DIALECT = "ATTSMS_SANDBOX_DIALECT"

DATABASE_URL_FLAG = "--database-url"


@dataclass(frozen=True)
class Settings:
    """Everything a run's flags, environment and config decide, resolved once."""

    profile: ActiveProfile
    store: StoreSettings
    database_url_flag: str | None = None  # --database-url, as given

    def setting(self, key: str) -> Resolved:
        """`key` for this run and where it came from: the resolution the run itself made
        (`store_settings`, `ActiveProfile`), for `config list` and `doctor`."""
        if key == "database_url" and self.sandbox:
            return Resolved(key, None, "default", "--sandbox keeps to local files")
        flag = self.database_url_flag if key == "database_url" else None
        return self.profile.setting(key, flag=flag, flag_name=DATABASE_URL_FLAG)

    @property
    def sandbox(self) -> bool:
        return self.profile.sandbox

    @property
    def sender(self) -> SenderIdentity:
        """Who this run sends as, for consent (`attsms.store.opted_out` and `optout`): the
        sandbox's demo account with --sandbox, else the profile's client id and base URL."""
        if not self.profile.sandbox:
            return self.profile.identity()
        from attsms.auth.profiles import account_of
        from attsms.auth.session import SANDBOX_BASE_URL
        from attsms.cli.sandbox_admin import sandbox_client_id, sandbox_registration_id

        account = account_of(sandbox_client_id(), SANDBOX_BASE_URL)
        return SenderIdentity(account, sandbox_registration_id(), self.profile.name)

    @property
    def sandbox_dialect(self) -> str:
        """How the in-process sandbox answers: ATTSMS_SANDBOX_DIALECT, `spec` (the default) or
        `codekit` (the shapes AT&T's own SDKs parse), as `sandbox serve --dialect`."""
        dialect = os.environ.get(ENV_SANDBOX_DIALECT, "").strip() or "spec"
        if dialect not in ("spec", "codekit"):
            raise UsageError(
                f"{ENV_SANDBOX_DIALECT} must be spec or codekit, not {dialect!r}",
                hint=f"unset {ENV_SANDBOX_DIALECT} for the spec's shapes",
            )
        return dialect

    @property
    def quiet_hours(self) -> str | None:
        """The profile's `quiet_hours` setting (`send --quiet-hours` wins over it)."""
        saved = self.profile.saved
        return saved.quiet_hours if saved else None


def resolve_settings(
    *, sandbox: bool, profile: str | None, database_url: str | None = None
) -> Settings:
    """`--sandbox`, `--profile` and `--database-url` (already checked for a password), with the
    environment and config.toml, as one frozen `Settings`."""
    active = ActiveProfile.resolve(sandbox=sandbox, profile=profile)
    return Settings(
        profile=active,
        store=store_settings(active, flag_url=database_url),
        database_url_flag=database_url,
    )


def store_settings(active: ActiveProfile, *, flag_url: str | None = None) -> StoreSettings:
    """Where `active`'s stores are and how much history they keep.

    The database: `--database-url`, else ATTSMS_DATABASE_URL, else the profile's `database_url`;
    none (local SQLite files) with --sandbox, whose pretend sends and replies must never land in a
    team's shared database. Retention: ATTSMS_HISTORY_KEEP_DAYS / _BATCHES, else the profile's.
    Each asks `active.setting` (`auth.profiles.resolve_setting`), which `config list` shows.
    """
    saved = active.saved
    url: str | None = None
    if not active.sandbox:
        profile_url = saved.database_url if saved else None
        if profile_url:
            from attsms.auth.config import config_path
            from attsms.store.postgres import refuse_password

            refuse_password(profile_url, str(config_path()))
        url = active.setting("database_url", flag=flag_url, flag_name=DATABASE_URL_FLAG).value
    days = _retention(active.setting("history_keep_days"), whole=False)
    batches = _retention(active.setting("history_keep_batches"), whole=True)
    return StoreSettings(
        database_url=url,
        keep_days=days,
        keep_batches=None if batches is None else int(batches),
    )


def _retention(resolved: Resolved, *, whole: bool) -> float | None:
    """A retention setting as a number (None: keep all), by config.toml's own rule
    (`check_count`); a variable that breaks it is a usage error naming it."""
    from attsms.auth.config import check_count

    text = resolved.value
    if text is None:
        return None
    value = check_count(text, whole=whole)
    if value is None:
        what = "whole number of batches" if whole else "number of days"
        raise UsageError(
            f"{resolved.where or resolved.key} must be a {what} (0 or more), not {text!r}",
            hint=f"unset {resolved.where or resolved.key} to keep the whole history",
        )
    return value
