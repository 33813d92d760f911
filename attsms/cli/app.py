"""The root command: the global options, and the registry of commands (a fixed map, loaded lazily).

How to add a command: docs/architecture.md.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer._click.core import ParameterSource
from typer.core import TyperGroup, TyperOption

from attsms import __version__
from attsms.cli.commands.completion import COMPLETE_VAR, enable_shell_completion

# AppState and state() live in commands/context.py (re-exported here).
from attsms.cli.commands.context import AppState, complete_profile, state
from attsms.cli.commands.options import examples
from attsms.cli.output import FORMAT_FLAGS

if TYPE_CHECKING:
    from typer import _click as click

    from attsms.cli.output import Format

__all__ = ["COMMANDS", "AppState", "Entry", "app", "build_command", "state"]

HELP = """\
Send SMS and read replies through the AT&T SMS API.

Exit codes: 0 ok, 1 error, 2 bad usage or input, 3 credentials, 4 partial failure,
5 unknown outcome (do not resend blindly), 75 try again later, 130 interrupted (Ctrl-C),
143 stopped by SIGTERM, 129 by SIGHUP.
"""

EPILOG = examples(
    "attsms --sandbox send +12125550100 -m 'Hello'   # the built-in sandbox, no login",
    "attsms send '(212) 555-0100' -m 'Your code is 4821' --json",
    "attsms status SMSd535f0137358ec3a   # an ID as send prints it",
)


@dataclass(frozen=True)
class Entry:
    """Where a command lives: `attsms.cli.commands.<module>`, its `attribute` (a Typer app for a
    group, else the command's function) and, for a function, the module attribute holding its
    `examples(...)` epilog."""

    module: str
    attribute: str
    epilog: str | None = None


# The registry: every command, in the order `--help`, the man pages and docs/help.md list them.
# Running a command imports only its module; help and completion import them all.
COMMANDS: Mapping[str, Entry] = {
    "send": Entry("send", "send", "EPILOG"),
    "status": Entry("status", "status", "EPILOG"),
    "history": Entry("history", "history", "EPILOG"),
    "report": Entry("report", "report", "EPILOG"),
    "inbox": Entry("inbox", "app"),
    "optout": Entry("optout", "app"),
    "listen": Entry("listen", "listen", "EPILOG"),
    "login": Entry("auth", "login", "LOGIN_EPILOG"),
    "logout": Entry("auth", "logout", "LOGOUT_EPILOG"),
    "auth": Entry("auth", "app"),
    "config": Entry("config", "app"),
    "doctor": Entry("doctor", "doctor", "EPILOG"),
    "store": Entry("store", "app"),
    "sandbox": Entry("sandbox", "app"),
    "completion": Entry("completion", "completion", "EPILOG"),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"attsms {__version__}")
        raise typer.Exit()


class HelpGroup(TyperGroup):
    """A group that, run with no arguments, prints its help and exits 0, as gh does.

    (click's own no_args_is_help raises a usage error holding the help, which would be printed
    as one squeezed `attsms: error:` line and exit 2.)
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            typer.echo(ctx.get_help(), color=ctx.color)
            ctx.exit(0)
        return super().parse_args(ctx, args)


class _Registry(Mapping[str, "click.Command"]):
    """COMMANDS as click commands, each built on first use."""

    def __getitem__(self, name: str) -> click.Command:
        if name not in COMMANDS:
            raise KeyError(name)
        return _load(name)

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


class RootGroup(HelpGroup):
    """`attsms`: its commands come from COMMANDS, in that order, whatever ran before."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Registry()  # type: ignore[assignment]  # read-only: add_command is unused


@functools.cache
def _load(name: str) -> click.Command:
    """The click command for COMMANDS[name], with the global options accepted after its name."""
    entry = COMMANDS[name]
    module = importlib.import_module(f"attsms.cli.commands.{entry.module}")
    target = getattr(module, entry.attribute)
    command: click.Command
    if isinstance(target, typer.Typer):
        info = typer.models.TyperInfo(target, name=name, cls=HelpGroup)
        command = typer.main.get_group_from_info(
            info,
            pretty_exceptions_short=app.pretty_exceptions_short,
            suggest_commands=True,
            rich_markup_mode=None,
        )
    else:
        epilog = getattr(module, entry.epilog) if entry.epilog else None
        info_ = typer.models.CommandInfo(name=name, callback=target, epilog=epilog)
        command = typer.main.get_command_from_info(
            info_, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=None
        )
    _accept_global_options(command)
    _accept_format_options(command)
    return command


def _accept_format_options(command: click.Command) -> None:
    """Give `command` (and its subcommands) the flags of the output formats it offers
    (`commands.options.formats`), each setting the run's one format."""
    for chosen in getattr(command.callback, "output_formats", ()):
        flag, help_text = FORMAT_FLAGS[chosen]
        command.params.append(
            TyperOption(
                param_decls=[flag, f"format_{chosen.value}"],
                is_flag=True,
                default=False,
                help=help_text,
                callback=functools.partial(_set_format, chosen),
                expose_value=False,
            )
        )
    for sub in getattr(command, "commands", {}).values():
        _accept_format_options(sub)


def _set_format(chosen: Format, ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _root_state(ctx).choose_format(chosen)


# Global options after a command name --------------------------------------------------------
# `attsms send … --sandbox` works as `attsms --sandbox send …` does (aws, gh and kubectl take
# theirs anywhere). Each command and group gets hidden copies of the root's options whose
# callbacks set the run's AppState, so click's own parser decides what is an option: `-m --sandbox`
# stays a message, and after `--` nothing is an option.


def _root_state(ctx: click.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):  # completion parses without running the root
        root.obj = AppState()
    obj: AppState = root.obj
    return obj


def _set_sandbox(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _root_state(ctx).sandbox = True


def _set_profile(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        obj = _root_state(ctx)
        obj.profile = obj.profile_given = value


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _root_state(ctx).verbose = True


def _set_database_url(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        _root_state(ctx).database_url = checked_database_url(value)


def checked_database_url(url: str) -> str:
    """`--database-url`: over ATTSMS_DATABASE_URL and the profile's; never with a password, which
    every user of the host could read on a command line (ps, /proc)."""
    from attsms.store.postgres import refuse_password

    refuse_password(url, "the command line (--database-url)")
    return url


def _accept_global_options(command: click.Command) -> None:
    """Add the hidden global options to `command` and its subcommands, leaving out any name the
    command uses itself (login and logout have their own --profile)."""
    taken = {name for param in command.params for name in param.opts + param.secondary_opts}

    def free(*names: str) -> list[str]:
        # The last entry is the parameter's name: never one of the command's own.
        kept = [name for name in names if name not in taken]
        return [*kept, f"global_{names[0].lstrip('-').replace('-', '_')}"] if kept else []

    copies: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
        (("--sandbox",), {"is_flag": True, "default": False, "callback": _set_sandbox}),
        (
            ("--profile", "-p"),
            {"metavar": "NAME", "callback": _set_profile, "autocompletion": complete_profile},
        ),
        (("--verbose", "-v"), {"is_flag": True, "default": False, "callback": _set_verbose}),
        (("--database-url",), {"metavar": "URL", "callback": _set_database_url}),
    )
    for flags, settings in copies:
        if names := free(*flags):
            command.params.append(
                TyperOption(param_decls=names, hidden=True, expose_value=False, **settings)
            )
    for sub in getattr(command, "commands", {}).values():
        _accept_global_options(sub)


app = typer.Typer(
    name="attsms",
    cls=RootGroup,
    help=HELP,
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    # Plain click help: rich help costs ~150 ms of start-up on every --help.
    rich_markup_mode=None,
    # Tracebacks with locals could print a secret; cli.main prints one line instead.
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


@app.callback()
def main(
    ctx: typer.Context,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            envvar="ATTSMS_SANDBOX",
            help="Talk to the built-in sandbox (in-process, no login needed) instead of AT&T.",
        ),
    ] = False,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            envvar="ATTSMS_PROFILE",
            metavar="NAME",
            help="Credentials profile.",
            autocompletion=complete_profile,
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Log HTTP exchanges to stderr (secrets redacted)."),
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            metavar="URL",
            help="A PostgreSQL store several hosts share (postgresql://USER@HOST/DB; the password"
            " from PGPASSWORD, ~/.pgpass or the keyring). Default: ATTSMS_DATABASE_URL, the"
            " profile's database_url, else local SQLite files.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    # Only a --profile typed here is worth the warning that --sandbox ignores it: an exported
    # ATTSMS_PROFILE is not something this command line asked for.
    typed = ctx.get_parameter_source("profile") is ParameterSource.COMMANDLINE
    ctx.obj = AppState(
        sandbox=sandbox,
        profile=profile,
        verbose=verbose,
        profile_given=profile if typed else None,
        database_url=None if database_url is None else checked_database_url(database_url),
    )


def build_command(args: Sequence[str] | None = None) -> click.Command:
    """The root click command. Its commands load when used: running one imports one module.

    `args` is accepted for callers of the old signature and not needed any more.
    """
    del args
    if os.environ.get(COMPLETE_VAR):  # a shell asking what to complete: see commands/completion
        enable_shell_completion()
    return typer.main.get_command(app)
