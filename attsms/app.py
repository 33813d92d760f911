"""The Typer app: global options, and the command groups joined in one place."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attsms import __version__
from attsms.commands.completion import COMPLETE_VAR, complete_profile
from attsms.commands.options import examples

if TYPE_CHECKING:
    from attsms.output import Output
    from attsms.session import Session

HELP = """\
Send SMS and read replies through the AT&T SMS API.

Exit codes: 0 ok, 1 error, 2 bad usage or input, 3 credentials, 4 partial failure,
5 unknown outcome (do not resend blindly), 75 try again later, 130 interrupted.
"""

EPILOG = examples(
    "attsms --sandbox send +12125550100 -m 'Hello'   # the built-in sandbox, no login",
    "attsms send '(212) 555-0100' -m 'Your code is 4821' --json",
    "attsms status msg-1a2b3c4d",
)


@dataclass
class AppState:
    """Global options, handed to every command through the Typer context."""

    sandbox: bool = False
    profile: str | None = None
    verbose: bool = False

    def output(self, *, json: bool = False, jsonl: bool = False, quiet: bool = False) -> Output:
        from attsms.output import Output

        return Output(json=json, jsonl=jsonl, quiet=quiet)

    def session(self, output: Output) -> Session:
        from attsms.session import Session

        return Session.open(
            sandbox=self.sandbox,
            profile=self.profile,
            log=output.stderr_line if self.verbose else None,
            warn=output.warn,
        )


def _version(value: bool) -> None:
    if value:
        typer.echo(f"attsms {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="attsms",
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
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    ctx.obj = AppState(sandbox=sandbox, profile=profile, verbose=verbose)


def state(ctx: typer.Context) -> AppState:
    obj: Any = ctx.find_root().obj
    return obj if isinstance(obj, AppState) else AppState()


# Command name -> the module that defines it. Running one command imports only its module (a
# third of the start-up the others would cost); help and completion import them all.
_COMMANDS = {
    "send": "send",
    "status": "status",
    "history": "history",
    "login": "auth",
    "logout": "auth",
    "auth": "auth",
    "inbox": "inbox",
    "optout": "optout",
    "sandbox": "sandbox",
    "completion": "completion",
}
# Global options that take a value, so the scan below can step over it.
_GLOBAL_VALUE_OPTIONS = frozenset({"--profile", "-p"})


_registered: set[str] = set()


def _register(names: Iterable[str]) -> None:
    import importlib

    for name in names:
        if name in _registered:
            continue
        _registered.add(name)
        module: Any = importlib.import_module(f"attsms.commands.{_COMMANDS[name]}")
        if name in ("login", "logout"):
            command = getattr(module, name)
            app.command(name, epilog=getattr(module, f"{name.upper()}_EPILOG"))(command)
        elif hasattr(module, "app"):
            app.add_typer(module.app, name=name)
        else:
            app.command(name, epilog=module.EPILOG)(getattr(module, name))


def _command_name(args: Sequence[str]) -> str | None:
    """The subcommand named in `args`, if it is one of ours (skipping global options)."""
    position = 0
    while position < len(args):
        arg = args[position]
        if arg in _GLOBAL_VALUE_OPTIONS:
            position += 2
            continue
        if arg.startswith("-"):
            position += 1
            continue
        return arg if arg in _COMMANDS else None
    return None


def build_command(args: Sequence[str] | None = None) -> Any:
    """The click command behind the Typer app: with `args`, only what they run is loaded."""
    name = _command_name(args) if args is not None else None
    _register([name] if name else _COMMANDS)
    if os.environ.get(COMPLETE_VAR):  # a shell asking what to complete: see commands/completion
        from attsms.commands.completion import enable_shell_completion

        enable_shell_completion()
    return typer.main.get_command(app)
