"""`attsms doctor`: check that a run of this profile will work, here or from cron. The checks
are `attsms.auth.doctor`'s, imported inside the command (`--help` loads every command module)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer

from attsms.cli.commands.context import state
from attsms.cli.commands.options import examples, formats
from attsms.cli.output import Format

if TYPE_CHECKING:
    from attsms.auth.profiles import ActiveProfile
    from attsms.store import StoreSettings

EPILOG = examples(
    "attsms doctor",
    "attsms doctor --as-cron          # before adding the crontab line",
    "attsms --profile work doctor --json",
)

AsCron = Annotated[
    bool,
    typer.Option(
        "--as-cron",
        help="Also check the secret as cron would see it: a child run with no D-Bus session,"
        " no display and a minimal PATH (this run's ATTSMS_* variables kept).",
    ),
]
Only = Annotated[str | None, typer.Option("--only", hidden=True)]


@formats(Format.JSON)
def doctor(ctx: typer.Context, as_cron: AsCron = False, only: Only = None) -> None:
    """Check what a run of the profile needs, one line each (✓, or ✗ with the fix): config,
    secret (with --as-cron, from a cron-like environment too), cache and data dirs, the token,
    the store and its schema, the inbox registration, the listen token, and the clock against
    the service's. Sends nothing and changes no store. Exits 0 when all pass, 1 otherwise."""
    from attsms.auth import doctor as checks
    from attsms.core.errors import UsageError

    app_state = state(ctx)
    out = app_state.output()
    if app_state.sandbox:
        raise UsageError("doctor checks a real profile; --sandbox needs no setup")

    def resolve() -> tuple[ActiveProfile, StoreSettings]:
        settings = app_state.settings
        return settings.profile, settings.store

    report = checks.run(resolve, as_cron=as_cron, only=only)
    if out.format is Format.JSON:
        out.json(
            {
                "profile": report.profile,
                "ok": report.ok,
                "checks": [dataclasses.asdict(c) for c in report.checks],
            }
        )
    else:
        for check in report.checks:
            out.check_line(check.status, check.name, check.detail, check.fix)
    if not report.ok:
        raise typer.Exit(1)
