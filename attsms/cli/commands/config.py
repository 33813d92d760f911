"""`attsms config`: see and change a profile's settings without editing config.toml, and list
the profiles. Features are imported inside the commands (`--help` loads every command module)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from attsms.cli.commands.context import complete_profile, state
from attsms.cli.commands.options import examples, formats
from attsms.cli.output import Column, Format

if TYPE_CHECKING:
    from attsms.auth.profiles import Resolved
    from attsms.cli.commands.context import AppState
    from attsms.cli.output import Output

app = typer.Typer(
    help="A profile's settings (base URL, registration ID, region, quiet hours, database,"
    " retention, …) and where each comes from; the profiles. Never secrets: `attsms login`.",
    epilog=examples(
        "attsms config list",
        "attsms config set quiet_hours 21:00-08:00 --profile work",
        "attsms config profiles",
    ),
    no_args_is_help=True,
)


LIST_EPILOG = examples("attsms config list", "attsms config list --profile work --json")
GET_EPILOG = examples("attsms config get region", "attsms config get database_url --json")
SET_EPILOG = examples(
    "attsms config set quiet_hours 21:00-08:00",
    "attsms config set registration_id 12345 --profile work",
)
UNSET_EPILOG = examples(
    "attsms config unset quiet_hours", "attsms config unset database_url --profile work"
)
PROFILES_EPILOG = examples("attsms config profiles", "attsms config profiles --json")


def complete_key(incomplete: str) -> list[tuple[str, str]]:
    """The settings' names, each with what it takes as the hint."""
    from attsms.auth.keys import KEYS

    return [(k.name, k.takes) for k in KEYS.values() if k.name.startswith(incomplete)]


ProfileFlag = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        metavar="NAME",
        autocompletion=complete_profile,
        help="The profile (default: the global --profile, ATTSMS_PROFILE, or 'default').",
    ),
]
KeyArgument = Annotated[
    str, typer.Argument(metavar="KEY", autocompletion=complete_key, help="A setting's name.")
]

COLUMNS = [
    Column("key", "KEY"),
    Column("value", "VALUE"),
    Column("origin", "ORIGIN"),
    Column("where", "WHERE"),
]


def _row(resolved: Resolved) -> dict[str, Any]:
    from attsms.core.redaction import display_url, redact_url

    value = resolved.value  # a variable may hold a password: never shown
    if value is not None and resolved.key == "base_url":
        value = display_url(value)
    elif value is not None and resolved.key == "database_url":
        value = redact_url(value)
    return {
        "key": resolved.key,
        "value": value,
        "origin": resolved.origin,
        "where": resolved.where,
    }


@app.command("list", epilog=LIST_EPILOG)
@formats(Format.JSON)
def list_(ctx: typer.Context, profile: ProfileFlag = None) -> None:
    """Show every setting of the profile, its value and where it comes from: a flag, the
    environment, the profile in config.toml, or the default."""
    from attsms.auth.keys import KEYS

    app_state = state(ctx)
    out = app_state.output()
    settings = app_state.settings_for(profile)
    rows = [_row(settings.setting(key)) for key in KEYS]
    out.records(rows, COLUMNS)


@app.command("get", epilog=GET_EPILOG)
@formats(Format.JSON)
def get(ctx: typer.Context, key: KeyArgument, profile: ProfileFlag = None) -> None:
    """Print one setting's value (exit 1 when it has none); --json adds where it comes from."""
    from attsms.auth.keys import key_named

    app_state = state(ctx)
    out = app_state.output()
    row = _row(app_state.settings_for(profile).setting(key_named(key).name))
    if out.format is Format.JSON:
        out.json(row)
        return
    if row["value"] is None:
        out.info(f"{key} is not set")
        raise typer.Exit(1)
    out.text(row["value"])


# A value may start with a dash (`history_keep_days -1` is refused by its check, not by click).
@app.command("set", epilog=SET_EPILOG, context_settings={"ignore_unknown_options": True})
@formats(Format.JSON)
def set_(
    ctx: typer.Context,
    key: KeyArgument,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="The new value.")],
    profile: ProfileFlag = None,
) -> None:
    """Save a setting in the profile (made if need be), checked as the command using it checks
    it: a bad value exits 2 and nothing is written."""
    from attsms.auth.keys import set_value

    app_state = state(ctx)
    out = app_state.output()
    name = _writable_profile(app_state, profile)
    saved = set_value(name, key, value)
    if out.format is Format.JSON:
        out.json({"profile": name, "key": key, "value": saved, "changed": True})
    else:
        out.success(f"Profile {name}: {key} = {saved}")
    _warn_if_overridden(app_state, out, name, key)


@app.command("unset", epilog=UNSET_EPILOG)
@formats(Format.JSON)
def unset(ctx: typer.Context, key: KeyArgument, profile: ProfileFlag = None) -> None:
    """Remove a setting from the profile: its default (or the environment's) applies again."""
    from attsms.auth.keys import unset_value

    app_state = state(ctx)
    out = app_state.output()
    name = _writable_profile(app_state, profile)
    removed = unset_value(name, key)
    if out.format is Format.JSON:
        out.json({"profile": name, "key": key, "value": None, "changed": removed})
    elif removed:
        out.success(f"Profile {name}: {key} removed")
    else:
        out.info(f"Profile {name} had no {key} saved.")


@app.command("profiles", epilog=PROFILES_EPILOG)
@formats(Format.JSON)
def profiles(ctx: typer.Context) -> None:
    """List every profile in config.toml and the one the environment makes (ATTSMS_CLIENT_ID),
    which one is in use and why, and where its secret is kept."""
    from attsms.auth.accounts import known_profiles

    app_state = state(ctx)
    out = app_state.output()
    rows = known_profiles(app_state.settings.profile)
    records = [
        {
            "profile": row.profile,
            "in_use": f"yes ({row.chosen_by})" if row.active else "",
            "source": row.source,
            "client_id": row.client_id or "-",
            "secret": row.secret,
        }
        for row in rows
    ]
    columns = [
        Column("profile", "PROFILE"),
        Column("in_use", "IN USE"),
        Column("source", "FROM"),
        Column("client_id", "CLIENT ID"),
        Column("secret", "SECRET"),
    ]
    out.records(records, columns, document=rows)
    if not rows:
        out.info("No profiles yet: run `attsms login`, or set ATTSMS_CLIENT_ID.")


def _writable_profile(app_state: AppState, profile: str | None) -> str:
    """The profile `set`/`unset` change: never the sandbox, which saves nothing."""
    from attsms.auth.profiles import profile_name
    from attsms.core.errors import UsageError

    if app_state.sandbox:
        raise UsageError("--sandbox has no saved settings", hint="drop --sandbox")
    return profile_name(profile or app_state.profile)


def _warn_if_overridden(app_state: AppState, out: Output, profile: str, key: str) -> None:
    resolved = app_state.settings_for(profile).setting(key)
    if resolved.origin in ("environment", "flag"):
        out.warn(f"{resolved.where} wins over the saved {key} in this run")
