"""What every command shares: the global options (`AppState`, `state(ctx)`) and the completers fed
by the config. Depends on no command module and not on `attsms.cli.app`, so any of them may
import it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typer import Context

    from attsms.auth.session import Session
    from attsms.cli.output import Format, Output
    from attsms.cli.settings import Settings


@dataclass
class AppState:
    """Global options, handed to every command through the root context's `obj`.

    `profile_given` is the --profile typed on the command line (not ATTSMS_PROFILE), which
    --sandbox ignores: `state()` says so once.
    """

    sandbox: bool = False
    profile: str | None = None
    verbose: bool = False
    profile_given: str | None = None
    format: Format | None = None  # --json, --jsonl; None: a table on a terminal, else lines
    database_url: str | None = None  # --database-url (checked: never with a password)
    _checked: bool = field(default=False, repr=False, compare=False)
    _settings: Settings | None = field(default=None, repr=False, compare=False)

    @property
    def settings(self) -> Settings:
        """This run's settings, resolved from the flags, environment and config the first time
        a command asks (`--help` never does), then the same frozen object for the whole run."""
        if self._settings is None:
            from attsms.cli.settings import resolve_settings

            self._settings = resolve_settings(
                sandbox=self.sandbox, profile=self.profile, database_url=self.database_url
            )
        return self._settings

    def settings_for(self, profile: str | None) -> Settings:
        """The settings of a command's own --profile (`auth status --profile P`), else this
        run's."""
        if profile is None:
            return self.settings
        from attsms.cli.settings import resolve_settings

        return resolve_settings(
            sandbox=self.sandbox, profile=profile, database_url=self.database_url
        )

    def output(self, *, quiet: bool = False) -> Output:
        from attsms.cli.output import Output

        return Output(format=self.format, quiet=quiet)

    def choose_format(self, chosen: Format) -> None:
        """A format flag (--json, --jsonl) was given: one per run."""
        if self.format is not None and self.format != chosen:
            from attsms.cli.output import FORMAT_FLAGS
            from attsms.core.errors import UsageError

            flags = " or ".join(FORMAT_FLAGS[f][0] for f in (self.format, chosen))
            raise UsageError(f"give one output format: {flags}, not both")
        self.format = chosen

    def session(self, output: Output) -> Session:
        log = output.stderr_line if self.verbose else None
        if self.sandbox:
            from attsms.cli.sandbox_admin import check_state, sandbox_session

            check_state()  # a broken state file: fail now, naming the reset
            settings = self.settings
            return sandbox_session(
                region=settings.profile.region,
                log=log,
                warn=output.warn,
                dialect=settings.sandbox_dialect,
            )
        from attsms.auth.session import Session

        return Session.open(self.settings.profile, log=log, warn=output.warn)

    def check(self) -> None:
        """Warn (once) about global options that contradict each other."""
        if self._checked:
            return
        self._checked = True
        if self.sandbox and self.profile_given is not None:
            # Written directly: a command's Output is not made yet, and --quiet must not hide it.
            sys.stderr.write(
                f"attsms: warning: --profile {self.profile_given} is ignored with --sandbox\n"
            )


def state(ctx: Context) -> AppState:
    """The global options of this run (set by the root and by global options after a command)."""
    obj: Any = ctx.find_root().obj
    if not isinstance(obj, AppState):
        return AppState()
    obj.check()
    return obj


# Completers --------------------------------------------------------------------------------


def complete_profile(incomplete: str) -> list[tuple[str, str]]:
    """Profile names from the config, each with its registration ID as the hint."""
    return [
        (name, f"registration ID {registration_id}" if registration_id else "profile")
        for name, registration_id in configured_profiles().items()
        if name.startswith(incomplete)
    ]


def complete_registration_id(incomplete: str) -> list[tuple[str, str]]:
    """Registration IDs (short codes) from the config, each with its profile as the hint."""
    choices: dict[str, str] = {}
    for name, registration_id in configured_profiles().items():
        if registration_id and registration_id.startswith(incomplete):
            choices.setdefault(registration_id, f"profile {name}")
    return list(choices.items())


def configured_profiles() -> dict[str, str | None]:
    """{profile name: its registration ID or None}, from config.toml.

    A TAB must never print an error into the user's command line, so a missing, unreadable or
    malformed config simply completes nothing.
    """
    from attsms.auth.config import load_config
    from attsms.core.errors import AttsmsError

    try:
        profiles = load_config().profiles
    except (AttsmsError, OSError, ValueError):
        return {}
    return {name: profile.registration_id or None for name, profile in profiles.items()}
